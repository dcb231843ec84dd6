"""What a report chapter works with: the run it needs, the split Q1-Q5 analyse, and the results they quote.

Q1 trains the CNN its notebook builds (``train_cnn``) and records it as the CNN of that profile, data and seed;
Q2-Q5 find it there (``trained_cnn``), in JupyterLab and ``fer-workbook run`` alike; Q2 trains the DNN its notebook
builds (``train_dnn``). Every chapter analyses the same split (``evaluate.resolve_split``: PrivateTest when
labeled, else validation), with the run's test-time augmentation.
"""

import dataclasses
import functools
import json
import sys
from pathlib import Path

import numpy as np

from fer_utils import config as config_module
from fer_utils import CLASS_NAMES, data, evaluate, glue, paths, provenance, runs


@dataclasses.dataclass
class Chapter:
    """A chapter's run and data: the resolved config, the data, the run's parts of it and the analysed split.

    Attributes:
        config: the resolved ``Config`` the run was trained with.
        dataset: the data loaded.
        parts: {part: Dataset} from the run's stored split (``Run.parts``).
        run: the finished ``fer_utils.runs.Run``.
        split: the key of the analysed part ("PrivateTest", ... or "val").
    """

    config: config_module.Config
    dataset: data.Dataset
    parts: dict
    run: runs.Run
    split: str

    @property
    def analysed(self):
        """The Dataset of the analysed split."""
        return self.parts[self.split]

    @functools.cached_property
    def probabilities(self):
        """(N, 7) probabilities on the analysed split, with the run's test-time augmentation."""
        return evaluate.run_probabilities(self.run, self.analysed.x)

    @property
    def predicted(self):
        """(N,) predicted classes on the analysed split (argmax of ``probabilities``)."""
        return self.probabilities.argmax(axis=1)

    @property
    def synthetic(self):
        """True when the run's data are generated faces (decided by the data's origin, not by a parameter)."""
        return provenance.is_synthetic(self.run.data_origin)


def cnn_options(profile=config_module.DEFAULT_PROFILE):
    """The options of Q1's ``build_cnn`` that write out the profile's own CNN (``models.vgg_options``).

    Raises:
        fer_utils.errors.InputError: an unknown profile, or one whose model is not VGG-style.
    """
    from fer_utils import errors, models  # Keras

    preset = config_module.resolve(profile).model
    try:
        return models.vgg_options(preset)
    except ValueError as error:
        raise errors.InputError(f"profile {profile!r}: {error}; build its model with models.build({preset!r})") from None


def train_cnn(cnn, profile=config_module.DEFAULT_PROFILE, data_path="", seed=0, progress=True):
    """Q1: train the CNN the notebook built, with the profile's recipe, or reuse its finished run.

    The run is keyed by the model's architecture (``fer_utils.identity``) with the data, the profile's settings
    and the seed, so an edited network trains anew and an unchanged one is reused. The run is recorded as this
    profile's, data's and seed's CNN for Q2-Q5 (``trained_cnn``).

    Args:
        cnn: a Keras model from ``keras.Input((48, 48, 1))`` of raw pixels to 7 probabilities; its name (letters,
            digits, _) names the run.
        profile: a profile name (its optimizer, schedule, augmentation, time budget and test-time augmentation).
        data_path: the data ("" for the embedded synthetic set).
        seed: seeds the split and the training.
        progress: show progress bars.
    Returns:
        A ``Chapter`` analysing the default split.
    Raises:
        fer_utils.errors.InputError: bad data, profile, seed or model name.
    """
    from fer_utils import train  # TensorFlow: imported when a chapter trains, not when `render` reads glue

    config = config_module.resolve(profile, seed=seed, split_seed=seed, model=cnn.name)
    dataset = train.load_data(data_path or None, progress)
    run = train.train(config, dataset=dataset, model=cnn, progress=progress)
    _write_latest(config, dataset, run)
    return _chapter(config, dataset, run, "")


def trained_cnn(profile=config_module.DEFAULT_PROFILE, data_path="", seed=0, split="", progress=True):
    """Q2-Q5: the CNN Q1 trained last for this profile, data and seed (in JupyterLab or ``fer-workbook run``).

    Args:
        profile, data_path, seed: as Q1 was run.
        split: the split to analyse ("" for PrivateTest when labeled, else validation).
    Returns:
        A ``Chapter``.
    Raises:
        fer_utils.errors.InputError: Q1 has not trained a CNN for these settings (the message says what to
            run), or a bad split.
    """
    from fer_utils import errors, train

    config_module.resolve(profile, seed=seed, split_seed=seed)  # a bad profile or seed says so first
    dataset = train.load_data(data_path or None, progress)
    latest = _latest_path(profile, dataset, seed)
    try:
        run = runs.load_run(latest.parent.parent / json.loads(latest.read_text())["run"])
    except (OSError, ValueError, KeyError, errors.InputError):
        raise errors.InputError(
            f"Q1 has not trained a CNN for profile {profile!r}, data {Path(str(dataset.source)).name} and seed "
            f"{seed}: run notebooks/01-cnn.ipynb with these parameters first (or `fer-workbook run`)") from None
    stored = run.config
    print(f"the CNN Q1 trained: {run.directory.name} ({stored.get('parameters', 0):,} parameters)", file=sys.stderr)
    fields = [field.name for field in dataclasses.fields(config_module.Config) if field.name != "profile"]
    config = config_module.resolve(stored["profile"], **{key: stored[key] for key in fields if key in stored})
    return _chapter(config, dataset, run, split)


def train_dnn(dnn, cnn_chapter, progress=True):
    """Q2: train the DNN the notebook built, on the CNN's data, seed and recipe (with the profile's DNN budget).

    Args:
        dnn: a Keras model (raw pixels to 7 probabilities).
        cnn_chapter: Q1's ``Chapter`` (``trained_cnn``).
        progress: show progress bars.
    Returns:
        A ``Chapter`` analysing the CNN chapter's split.
    """
    from fer_utils import train

    config = cnn_chapter.config  # the profile may give the DNN a budget of its own (it stops improving sooner)
    config = dataclasses.replace(config, model="dnn", match=config.model,
                                 time_budget=config.dnn_time_budget or config.time_budget)
    run = train.train(config, dataset=cnn_chapter.dataset, model=dnn, progress=progress)
    return _chapter(config, cnn_chapter.dataset, run, cnn_chapter.split)


#: Inside the runs folder: which CNN run Q1 trained last, one file per profile, data and seed.
LATEST_DIR = ".workbook"


def _latest_path(profile, dataset, seed):
    return paths.RUNS_DIR / LATEST_DIR / f"cnn-{profile}-{dataset.content_hash[:16]}-seed{seed}.json"


def _write_latest(config, dataset, run):
    """Record ``run`` as the CNN of this profile, data and seed (``trained_cnn`` reads it)."""
    with paths.atomic_write(_latest_path(config.profile, dataset, config.seed), "w") as handle:
        handle.write(json.dumps({"run": run.directory.name}))


def _chapter(config, dataset, run, split):
    """A ``Chapter`` of ``run`` on ``dataset``, recorded for the report (``record``) inside a notebook."""
    parts = run.parts(dataset)
    chapter = Chapter(config, dataset, parts, run, evaluate.resolve_split(parts, split))
    if glue.in_kernel():
        glue.record("run", record(chapter))  # `render` checks that every chapter analysed the same data and CNN
    return chapter


def record(chapter):
    """What identifies the run a chapter analysed, for ``report.check_together``.

    Returns:
        {"data_hash", "data" (the file's name), "profile", "seed", "cnn" (the CNN preset, the one a DNN matches),
         "model" (the run's model), "run" (its directory name), "split" (the analysed split), "train_seconds" (its
         training time), "finished" (when its metrics were written, ISO 8601 UTC: before the workbook started, the
         run was reused), "precision" (the policy it trained in)}.
    """
    import datetime

    config = chapter.config
    metrics_file = chapter.run.directory / "metrics.json"
    finished = datetime.datetime.fromtimestamp(metrics_file.stat().st_mtime, datetime.timezone.utc).isoformat() \
        if metrics_file.exists() else None
    return {"data_hash": chapter.dataset.content_hash, "data": Path(str(chapter.dataset.source)).name,
            "profile": config.profile, "seed": config.seed, "cnn": config.match if config.model == "dnn" else config.model,
            "model": config.model, "run": chapter.run.directory.name, "split": chapter.split,
            "train_seconds": chapter.run.metrics.get("train_seconds"), "finished": finished,
            "precision": chapter.run.metrics.get("precision", "float32")}


#: Smallest value of each count parameter of the notebooks (a parameter not listed is not a count).
COUNT_MINIMUMS = {"gallery_size": 1, "smoothgrad_samples": 1, "ig_steps": 1, "faces_per_class": 1,
                  "check_faces_per_class": 1, "ascent_steps": 1, "top_k": 1, "face_index": 0,
                  "faces_shown": 1}


def check_parameters(parameters):
    """Refuse notebook parameters that would only fail inside a notebook, before any notebook runs.

    Checks the profile and the settings it resolves to with ``seed`` (``config.resolve``), that ``model`` names
    a CNN preset, that ``split`` is a split name, the count parameters (``COUNT_MINIMUMS``) and that the
    appendix's ``photos`` exist.

    Args:
        parameters: {name: typed value} as ``fer-workbook run`` passes them to the notebooks.
    Raises:
        fer_utils.errors.InputError: the first bad parameter, named.
    """
    from fer_utils import errors

    profile = parameters.get("profile", config_module.DEFAULT_PROFILE)
    seed = parameters.get("seed", 0)
    try:
        config_module.resolve(profile, seed=seed, split_seed=seed)
    except errors.InputError as error:
        raise errors.InputError(f"--param: {error}") from None
    model = parameters.get("model", "")
    if model:
        from fer_utils import models  # Keras: only when a model is named

        if model not in models.PRESETS:
            raise errors.InputError(f"--param model={model}: not a CNN preset; choose one of {', '.join(models.PRESETS)}")
    split = parameters.get("split", "")
    splits = ("train", "val", *evaluate.TEST_SPLITS)
    if split and split not in splits:
        raise errors.InputError(f"--param split={split}: choose one of {', '.join(splits)} (or leave it empty)")
    for name, minimum in COUNT_MINIMUMS.items():
        if name in parameters and parameters[name] < minimum:
            raise errors.InputError(f"--param {name}={parameters[name]}: must be at least {minimum}")
    if parameters.get("photos"):  # the appendix's photos: a missing one would fail after the hour of Q1
        from fer_utils import photofaces, photos

        try:
            photos.photo_paths(photofaces.notebook_inputs(parameters["photos"]))
        except errors.InputError as error:
            raise errors.InputError(f"--param photos: {error}") from None


def comparison(chapters):
    """The Q2 comparison: each run's size, speed, and accuracy on training and on the analysed split.

    Both accuracies of a run use its test-time augmentation (the same for every run of a workbook), so the
    train-test gap compares like with like; training accuracy is measured on the sample ``train.train`` uses.

    Args:
        chapters: {label: Chapter}, e.g. {"CNN": ..., "DNN": ...}, all analysing the same split.
    Returns:
        {"split": the analysed split, "tta": the runs' test-time augmentation, "models": {label: {"parameters",
         "train_accuracy", "validation_accuracy", "accuracy" (analysed split), "macro_f1", "gap" (train minus
         analysed), "test_accuracies" ({test split: accuracy}, every labeled test split), "epochs", "best_epoch", "stopped_by", "seconds_per_epoch", "largest_layer": {"name",
         "parameters", "share"}}}, "paired": ``evaluate.mcnemar`` of the first model against the second on the
         analysed faces (with two chapters)}.
    Raises:
        ValueError: the chapters analyse different splits or use different test-time augmentation.
    """
    splits = {chapter.split for chapter in chapters.values()}
    ttas = {chapter.run.tta for chapter in chapters.values()}
    if len(splits) != 1 or len(ttas) != 1:
        raise ValueError(f"chapters to compare must share the analysed split and TTA; got {splits} and {ttas}")
    split = splits.pop()
    models = {}
    for label, chapter in chapters.items():
        metrics = chapter.run.metrics
        tested = metrics["splits"][split]
        models[label] = {
            "parameters": chapter.run.config["parameters"], "train_accuracy": metrics["splits"]["train"]["accuracy"],
            "validation_accuracy": metrics["splits"]["val"]["accuracy"], "accuracy": tested["accuracy"],
            "macro_f1": tested["macro_f1"], "gap": metrics["splits"]["train"]["accuracy"] - tested["accuracy"],
            "test_accuracies": {name: metrics["splits"][name]["accuracy"] for name in evaluate.TEST_SPLITS
                                if name in metrics["splits"]},
            "epochs": metrics["epochs_run"], "best_epoch": metrics["best_epoch"], "stopped_by": metrics["stopped_by"],
            "seconds_per_epoch": metrics["seconds_per_epoch"], "largest_layer": _largest_layer(chapter.run),
        }
    result = {"split": split, "tta": ttas.pop(), "models": models}
    if len(chapters) == 2:
        first, second = chapters.values()
        if not np.array_equal(first.analysed.y, second.analysed.y):
            raise ValueError("chapters to compare must analyse the same faces in the same order")
        result["paired"] = evaluate.mcnemar(first.analysed.y, first.predicted, second.predicted)
    return result


def _largest_layer(run):
    """{"name", "parameters", "share"} of the block (``models.layer_blocks``, as the layer table shows it) holding
    most of a run's model's parameters."""
    from fer_utils import models

    model = run.load_model()
    block = max(models.layer_blocks(models.layer_table(model)), key=lambda item: item["parameters"])
    return {"name": block["layer"], "parameters": int(block["parameters"]),
            "share": block["parameters"] / max(model.count_params(), 1)}


#: The classes Q4's grid of saliency maps shows, one face each (four rows keep every label legible on A4).
SALIENCY_CLASSES = ("angry", "happy", "sad", "surprise")


def saliency_faces(chapter, classes=SALIENCY_CLASSES):
    """One face of each of ``classes`` in the analysed split: the first the run classifies correctly (with its
    TTA), else the class's first face; classes without faces are left out."""
    faces = evaluate.one_per_class(chapter.analysed.y, chapter.predicted)
    wanted = {CLASS_NAMES.index(name) for name in classes}
    return faces[np.isin(chapter.analysed.y[faces], list(wanted))]


def training_rows(chapter):
    """(faces the run trained on, training faces it could have: the Training rows outside validation)."""
    available = int(np.sum(chapter.dataset.usage == "Training")) - len(chapter.parts["val"])
    return len(chapter.parts["train"]), available


def split_counts(chapter):
    """Faces per part and class as the run used them: "train" (trained on), "unused" (Training faces left out by
    the profile's subsample, when any), "val", then each test split; an "all" row; a "total" column.

    Returns:
        A pandas DataFrame of ints, one row per part, one column per class and "total".
    """
    import pandas as pd

    def tally(labels):
        return np.bincount(labels[labels >= 0], minlength=len(CLASS_NAMES))

    training = chapter.dataset.y[(chapter.dataset.usage == "Training") & (chapter.dataset.y >= 0)]
    rows = {"train": tally(chapter.parts["train"].y)}
    unused = tally(training) - rows["train"] - tally(chapter.parts["val"].y)  # left out by the subsample
    if unused.any():
        rows["unused"] = unused
    rows["val"] = tally(chapter.parts["val"].y)
    rows.update({name: tally(chapter.parts[name].y) for name in evaluate.TEST_SPLITS if name in chapter.parts})
    table = pd.DataFrame.from_dict(rows, orient="index", columns=list(CLASS_NAMES), dtype=np.int64)
    table["total"] = table.sum(axis=1)
    table.loc["all"] = table.sum()
    return table


def validation_shares(chapter):
    """How much of each class's labeled Training faces validation holds.

    Returns:
        {"training": labeled Training faces, "val": validation faces, "overall": their ratio, "per_class": {class:
         share} (classes with Training faces), "tests": the labeled test splits kept whole, in canonical order}.
    """
    dataset = chapter.dataset
    training = dataset.y[(dataset.usage == "Training") & (dataset.y >= 0)]
    val = chapter.parts["val"].y
    per_class = {name: float(np.sum(val == index) / np.sum(training == index))
                 for index, name in enumerate(CLASS_NAMES) if np.any(training == index)}
    tests = [split for split in evaluate.TEST_SPLITS if split in chapter.parts and np.any(chapter.parts[split].y >= 0)]
    return {"training": int(len(training)), "val": int(len(val)), "overall": len(val) / max(len(training), 1),
            "per_class": per_class, "tests": tests}


def profile_configs():
    """The resolved config of every profile, in ``PROFILE_NAMES`` order (for ``narrative.profiles``)."""
    return [config_module.resolve(name) for name in config_module.PROFILE_NAMES]


def accuracy_on_analysed(chapter):
    """(faces, accuracy) of the run on the analysed split, with its test-time augmentation."""
    return len(chapter.analysed), float(np.mean(chapter.predicted == chapter.analysed.y))


def headline(chapter):
    """A run's headline for the report's first page and Q1's explanation.

    Returns:
        {"model", "parameters", "splits": the run's metrics per split, "split": the analysed split, "synthetic",
         "blocks": ``models.conv_blocks`` of the run's model}.
    """
    from fer_utils import models

    return {"model": chapter.run.config.get("model", chapter.config.model),
            "parameters": chapter.run.config["parameters"], "splits": chapter.run.metrics["splits"],
            "split": chapter.split, "synthetic": chapter.synthetic,
            "blocks": models.conv_blocks(chapter.run.load_model())}


def accuracy_table(splits):
    """Samples, accuracy and macro-F1 per split (the narrow half of ``evaluate.summary_table``, fits a page)."""
    return evaluate.summary_table(splits)[["n", "accuracy", "macro_f1"]]


def recall_table(splits):
    """The recall of each class per split, columns named by class (the other half of ``evaluate.summary_table``)."""
    table = evaluate.summary_table(splits)
    recall = table[[column for column in table.columns if column.startswith("recall_")]]
    return recall.rename(columns=lambda column: column[len("recall_"):])
