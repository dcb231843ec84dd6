"""Run identity: what a run's directory name hashes, so a run is reused only when everything that shaped it is the same.

A run is identified by the data's content hash, the resolved config, the model's architecture (the SHA-256 of its
Keras config) and ``TRAINING_CODE_VERSION``. The architecture is the model a notebook built and passed in
(``architecture``, the JSON of its Keras config, stored in the run as ``ARCHITECTURE_FILE``), or else the preset
the config names. ``fer_utils.train`` trains under this name and ``fer_utils.runs`` uses it to tell stale runs.
"""

import hashlib
import json

from fer_utils import config as config_module
from fer_utils import errors, precision

#: Bump whenever a change to training (pipeline, schedule, callbacks, evaluation) changes what a run
#: learns or reports: every run made before then stops being reused and ``fer-workbook runs --prune`` drops it.
TRAINING_CODE_VERSION = 6  # 5: a network a notebook wrote out trains under the mixed-precision policy (it trained
#                               in float32 before), and a bfloat16 run is evaluated and saved in float32
#                            6: a GPU's mixed-float16 run is evaluated and saved in float32 too (it was float16)
#: A run's architecture (the Keras JSON of the model it trained), written when the model was passed in.
ARCHITECTURE_FILE = "architecture.json"


def build_model(config, architecture=None):
    """The model a run trains: ``architecture`` rebuilt when given, else the preset ``config.model`` names (a DNN
    matched to ``config.match`` when it is "dnn"). Fresh weights, drawn from Keras's seeded generator.

    Raises:
        fer_utils.errors.InputError: model "dnn" without ``match``, an unknown preset, or an architecture that
            does not rebuild.
    """
    from fer_utils import models  # Keras

    if architecture is not None:  # built in float32 by the notebook: rebuilt under the training policy
        return models.under_global_policy(models.from_architecture(architecture))
    try:
        if config.model == "dnn":
            if not config.match:
                raise errors.InputError("model=dnn needs match=<preset>, the CNN whose parameter count it matches")
            return models.dnn_matching(models.build(config.match))
        return models.build(config.model)
    except errors.InputError:
        raise
    except ValueError as error:  # models.build: unknown preset or option
        raise errors.InputError(f"model={config.model!r}: {error}") from None


def identity_from(config_dict, data_hash, architecture=None):
    """What a run's name hashes: data, resolved config, model architecture and training-code version.

    Args:
        config_dict: a ``Config.to_dict()`` (as stored in a run's identity).
        data_hash: the data's SHA-256 (``Dataset.content_hash``).
        architecture: the Keras JSON of the model trained (``models.architecture``), or None for the preset
            the config names.
    Returns:
        {"data", "config", "model" (SHA-256 of the model's Keras config, built in float32), "code", "precision"
         (the one training uses on this machine: ``precision.resolve``, so "auto" names what it chose)}.
    Raises:
        fer_utils.errors.InputError: a config that no longer resolves or names an unknown model.
    """
    from fer_utils import models  # Keras

    settings = dict(config_dict)
    config = config_module.resolve(settings.pop("profile"), **settings)
    with models.float32_policy():  # the architecture, not the device, names the run
        described = models.architecture(build_model(config, architecture))
    return {"data": data_hash, "config": config.to_dict(), "model": hashlib.sha256(described.encode()).hexdigest(),
            "code": TRAINING_CODE_VERSION, "precision": precision.resolve(config.precision)}


def run_identity(config, dataset, architecture=None):
    """``identity_from`` for a Config, a Dataset and the architecture of a model passed in (or None)."""
    return identity_from(config.to_dict(), dataset.content_hash, architecture)


def run_key(config, identity):
    """The run-directory name: model, profile and a hash of the identity (an ensemble's starts "ensembleN-").

    Args:
        config: the run's Config (``model`` names the model: a preset, a notebook's own model's name, or "dnn"
            with ``match`` naming its CNN).
        identity: ``run_identity``'s result.
    """
    digest = hashlib.sha256(json.dumps(identity, sort_keys=True).encode()).hexdigest()[:12]
    model_name = f"dnn_{config.match}" if config.model == "dnn" else config.model
    prefix = f"ensemble{config.ensemble}-" if config.ensemble > 1 else ""
    return f"{prefix}{model_name}-{config.profile}-{digest}"
