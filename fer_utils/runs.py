"""Saved training runs: what a run directory holds, loading it, its split and data origin, listing and pruning.

A run directory ``runs/<model>-<profile>-<hash>/`` is named by a hash of everything that shaped the run
(``fer_utils.train.run_identity``: the data's content hash, the resolved config, the model's architecture and
the training-code version) and holds:

- ``identity.json``: that identity, so ``prune`` can tell whether the current code still produces the run;
- ``config.json``: the resolved config plus facts about the run (parameters, rows, ``data_origin``);
- ``split.npz``: the row indices of the train and validation parts in the data (``train``, ``val``);
- ``model.keras`` (the best epoch on validation), ``history.csv``/``history.json`` and ``metrics.json``,
  written last: a run is finished when it has ``metrics.json``.

An ensemble's directory (``ensemble<N>-...``) has ``members.json`` (its member runs) instead of weights.
"""

import contextlib
import dataclasses
import datetime
import json
import os
import shutil
import sys
import zipfile
from pathlib import Path

try:
    import fcntl  # POSIX advisory locks; released by the kernel when the holding process dies
except ImportError:  # pragma: no cover - Windows: runs are not locked
    fcntl = None

import numpy as np

from fer_utils import errors, narrative, paths

SPLIT_FILE = "split.npz"
IDENTITY_FILE = "identity.json"
LOCK_FILE = ".lock"


class Interrupted(KeyboardInterrupt):
    """Training was interrupted (Ctrl-C); the message says after which epoch and how to resume."""


@contextlib.contextmanager
def lock(directory, doing="trained"):
    """Hold an OS file lock on a run directory (made if missing) while training it.

    A second process asking for the same run waits, after saying which process trains it; the lock of a
    process that died is released by the kernel, so it is taken over at once.

    Args:
        directory: the run directory (or any folder whose contents one process at a time may write).
        doing: the verb of the waiting message, "<folder> is being <doing> by process N".
    """
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    with open(directory / LOCK_FILE, "a+") as handle:
        if fcntl is not None:
            try:
                fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                handle.seek(0)
                holder = handle.read().strip() or "another process"
                print(f"{directory.name} is being {doing} by process {holder}; waiting for it to finish",
                      file=sys.stderr, flush=True)
                fcntl.flock(handle, fcntl.LOCK_EX)
        handle.seek(0)
        handle.truncate()
        handle.write(str(os.getpid()))
        handle.flush()
        try:
            yield directory
        finally:
            if fcntl is not None:
                fcntl.flock(handle, fcntl.LOCK_UN)


def holder(directory):
    """The process id (as text) holding a run directory's lock, or "" when nobody trains it now."""
    path = Path(directory) / LOCK_FILE
    if fcntl is None or not path.exists():
        return ""
    with open(path, "a+") as handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            handle.seek(0)
            return handle.read().strip() or "?"
        fcntl.flock(handle, fcntl.LOCK_UN)
    return ""


def unfinished_reason(directory):
    """Why a run directory is not a finished run ("" when it is).

    Finished means: ``metrics.json`` (written last) parses, and the weights (``model.keras``, a zip whose
    members all pass their CRC check) or an ensemble's ``members.json`` are whole.
    """
    directory = Path(directory)
    metrics = directory / "metrics.json"
    if not metrics.exists():
        return "metrics.json is missing"
    try:
        json.loads(metrics.read_text())
    except (OSError, json.JSONDecodeError, UnicodeDecodeError):
        return "metrics.json is unreadable (cut short?)"
    if (directory / "members.json").exists():
        return ""
    try:
        with zipfile.ZipFile(directory / "model.keras") as archive:
            if archive.testzip() is not None:
                return "model.keras is damaged"
    except (OSError, zipfile.BadZipFile):
        return "model.keras is missing or unreadable (cut short?)"
    return ""


def clear(directory):
    """Delete everything in a run directory but its lock (``train --force``)."""
    for path in Path(directory).iterdir():
        if path.name == LOCK_FILE:
            continue
        shutil.rmtree(path) if path.is_dir() else path.unlink()


@dataclasses.dataclass
class Run:
    """A training run on disk: one model, or an ensemble whose ``members.json`` lists its runs."""

    directory: Path

    def _json(self, name):
        path = self.directory / name
        try:
            return json.loads(path.read_text())
        except json.JSONDecodeError as error:
            raise errors.InputError(f"{path}: not valid JSON ({error}); delete the run or train with --force") from None

    @property
    def config(self):
        """The resolved config and run facts (``config.json``)."""
        return self._json("config.json")

    @property
    def metrics(self):
        """Evaluation and training facts (``metrics.json``; keys documented in ``fer_utils.train.train``)."""
        return self._json("metrics.json")

    @property
    def identity(self):
        """What the run's name hashes ({} for runs made before identities were stored)."""
        return self._json(IDENTITY_FILE) if (self.directory / IDENTITY_FILE).exists() else {}

    @property
    def finished(self):
        """True when the run wrote its metrics (the last file written) and its weights are whole."""
        return not unfinished_reason(self.directory)

    @property
    def members(self):
        """The member runs of an ensemble ([] for a single model)."""
        listing = self.directory / "members.json"
        if not listing.exists():
            return []
        return [Run(self.directory.parent / name) for name in json.loads(listing.read_text())]

    @property
    def history(self):
        """Per-epoch metrics as a DataFrame (an ensemble's: its first member's)."""
        import pandas as pd

        members = self.members
        return members[0].history if members else pd.read_csv(self.directory / "history.csv")

    @property
    def tta(self):
        """The test-time augmentation the run's config asks for."""
        return self.config.get("tta", "none")

    @property
    def data_origin(self):
        """Where the run's data came from (see ``fer_utils.provenance.data_origin``); {} if unknown."""
        return self.config.get("data_origin", {})

    def split_rows(self):
        """(train rows, val rows): the int64 row indices into the data of the run's two training parts."""
        directory = self.members[0].directory if self.members else self.directory
        with np.load(directory / SPLIT_FILE) as stored:
            return stored["train"], stored["val"]

    def parts(self, dataset):
        """The run's parts of ``dataset``: {"train", "val"} from the stored split, each other usage whole.

        Args:
            dataset: the data the run was trained on (checked by content hash).
        Returns:
            {"train": Dataset, "val": Dataset, "PublicTest": ..., "PrivateTest": ..., "Test": ...} (those present).
        Raises:
            fer_utils.errors.InputError: the dataset is not the run's data.
        """
        expected = self.config.get("data_hash")
        if expected != dataset.content_hash:
            raise errors.InputError(f"{self.directory}: trained on data with sha256 {str(expected)[:12]}, "
                                    f"not {dataset.source} ({dataset.content_hash[:12]})")
        return parts_from_rows(dataset, *self.split_rows())

    def load_model(self):
        """The best model of the run, or the ensemble of its members (inference only, not compiled)."""
        import keras

        from fer_utils import models  # noqa: F401  (registers the custom layers for loading)

        members = self.members
        if members:
            return ensemble_model([member.load_model() for member in members])
        path = self.directory / "model.keras"
        try:
            return keras.models.load_model(path, compile=False)
        except (TypeError, ValueError, KeyError, OSError, zipfile.BadZipFile) as error:
            raise errors.InputError(f"{path}: not a model this workbook can load ({type(error).__name__}: "
                                    f"{str(error)[:200]})") from None

    def predict_probabilities(self, x, tta=None):
        """(N, 7) probabilities for raw-pixel faces, with the run's test-time augmentation unless ``tta`` is given."""
        from fer_utils import evaluate

        return evaluate.predict_probabilities(self.load_model(), x, tta=tta or self.tta)


def parts_from_rows(dataset, train_rows, val_rows):
    """{"train": rows ``train_rows``, "val": rows ``val_rows``, and each usage other than Training whole}."""
    parts = {"train": dataset.subset(train_rows), "val": dataset.subset(val_rows)}
    parts.update({usage: dataset.split(usage) for usage in dataset.usages if usage != "Training"})
    return parts


def ensemble_model(members):
    """One Keras model that averages the class probabilities of ``members`` (same input, 48x48x1).

    Args:
        members: Keras models ending in softmax probabilities.
    Returns:
        A ``keras.Model`` named ``ensemble`` whose output is the mean of the members' outputs.
    """
    import keras

    from fer_utils import models

    inputs = keras.Input(models.INPUT_SHAPE, name="pixels")
    outputs = []
    for index, member in enumerate(members):
        wrapped = keras.Model(member.input, member.output, name=f"member{index}")
        outputs.append(wrapped(inputs))
    averaged = keras.layers.Average(name="probabilities")(outputs) if len(outputs) > 1 else outputs[0]
    return keras.Model(inputs, averaged, name="ensemble")


def load_run(directory):
    """Open a finished run (or ensemble) directory.

    Args:
        directory: a run directory (as ``fer-workbook train`` prints it).
    Raises:
        fer_utils.errors.InputError: the directory or its metrics.json/model.keras/config.json is missing.
    """
    directory = paths.resolve(directory)
    if not directory.is_dir():
        raise errors.InputError(f"{directory}: not a finished run (no such folder); train it with `fer-workbook train`")
    problem = unfinished_reason(directory) or ("" if (directory / "config.json").exists() else "config.json is missing")
    if problem:
        raise errors.InputError(f"{directory}: not a finished run ({problem}); run the `fer-workbook train` command "
                                "that made it again to finish or rebuild it")
    return Run(directory)


def write_json(path, value):
    """Write ``value`` as indented JSON to ``path`` atomically (a temporary file renamed into place)."""
    with paths.atomic_write(path, "w") as handle:
        handle.write(json.dumps(value, indent=2))


def write_split(directory, train_rows, val_rows):
    """Store the row indices of a run's train and validation parts (``split.npz``), atomically."""
    with paths.atomic_write(Path(directory) / SPLIT_FILE, "wb") as handle:
        np.savez(handle, train=np.asarray(train_rows, np.int64), val=np.asarray(val_rows, np.int64))


def _directory_bytes(directory):
    return sum(path.stat().st_size for path in directory.rglob("*") if path.is_file())


def list_runs(runs_dir=None):
    """One row per run directory: name, model, profile, data origin, accuracy, date, size and state.

    Args:
        runs_dir: the parent of run directories (default ``paths.RUNS_DIR``).
    Returns:
        A list of dicts with keys ``run``, ``model``, ``profile``, ``data``, ``accuracy`` (validation, or
        None), ``date`` (ISO, of the newest file), ``megabytes``, ``state`` ("finished", "unfinished",
        "stale": the current code no longer produces it, "training (process N)": locked by a running
        ``train``, never pruned) and ``reason`` (why stale, else "").
    """
    runs_dir = Path(runs_dir or paths.RUNS_DIR)
    rows = []
    for directory in sorted(path for path in runs_dir.glob("*") if path.is_dir()) if runs_dir.exists() else []:
        run = Run(directory)
        try:
            settings = run.config if (directory / "config.json").exists() else {}
            metrics = run.metrics if run.finished else {}
        except errors.InputError:
            settings, metrics = {}, {}
        origin = settings.get("data_origin", {})
        training = holder(directory)
        reason = "" if training else stale_reason(run)
        newest = max((path.stat().st_mtime for path in directory.rglob("*")), default=directory.stat().st_mtime)
        rows.append({
            "run": directory.name,
            "model": settings.get("model", "?") if settings.get("model") != "dnn" else f"dnn ~ {settings.get('match')}",
            "profile": settings.get("profile", "?"),
            "data": narrative.origin(origin) if origin else settings.get("data_source", "?"),
            "accuracy": metrics.get("splits", {}).get("val", {}).get("accuracy"),
            "date": datetime.datetime.fromtimestamp(newest).isoformat(timespec="minutes"),
            "megabytes": _directory_bytes(directory) / 1e6,
            "state": (f"training (process {training})" if training else "stale" if reason
                      else "finished" if run.finished else "unfinished"),
            "reason": reason,
        })
    return rows


def runs_table(rows):
    """``list_runs`` rows as a printable DataFrame (accuracy in %, size in MB, the reason beside a stale state)."""
    import pandas as pd

    return pd.DataFrame({
        "run": [row["run"] for row in rows], "model": [row["model"] for row in rows],
        "profile": [row["profile"] for row in rows], "data": [row["data"] for row in rows],
        "val acc": ["" if row["accuracy"] is None else f"{row['accuracy']:.1%}" for row in rows],
        "date": [row["date"] for row in rows], "MB": [f"{row['megabytes']:.1f}" for row in rows],
        "state": [row["state"] + (f" ({row['reason']})" if row["reason"] else "") for row in rows],
    })


def stale_reason(run):
    """Why the current code can no longer produce ``run`` ("" when it can).

    A run is stale when it stored no identity (made before identities existed), or when the identity the
    current code computes from its stored config and data hash (model architecture, training-code version,
    config fields) names another directory.
    """
    from fer_utils import train  # train imports this module

    identity = run.identity
    if not identity:
        return "made before runs stored their identity"
    try:
        current = train.identity_from(identity["config"], identity["data"])
    except (errors.InputError, KeyError, TypeError) as error:
        return f"its config no longer resolves ({error})"
    if current == identity:
        return ""
    changed = [key for key in ("code", "model", "config") if current.get(key) != identity.get(key)]
    return {"code": "the training code changed", "model": "the model architecture changed",
            "config": "the settings changed meaning"}[changed[0]] if changed else "its identity changed"


def prune(runs_dir=None, dry_run=False):
    """Delete the runs the current code can no longer produce (see ``stale_reason``).

    Args:
        runs_dir: the parent of run directories (default ``paths.RUNS_DIR``).
        dry_run: only list them.
    Returns:
        The rows of ``list_runs`` that were (or, with dry_run, would be) deleted.
    """
    stale = [row for row in list_runs(runs_dir) if row["state"] == "stale"]
    for row in stale:
        if not dry_run:
            shutil.rmtree(Path(runs_dir or paths.RUNS_DIR) / row["run"])
            print(f"deleted {row['run']}: {row['reason']}", file=sys.stderr)
    return stale
