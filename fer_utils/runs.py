"""Saved training runs: what a run directory holds, loading it, its split and data origin, listing and pruning.

A run directory ``runs/<model>-<profile>-<hash>/`` is named by a hash of everything that shaped the run
(``fer_utils.identity``: the data's content hash, the resolved config, the model's architecture and
the training-code version) and holds:

- ``identity.json``: that identity, so ``prune`` can tell whether the current code still produces the run;
- ``architecture.json``: the Keras JSON of the model, when a notebook passed its own model in (a run of a preset
  is judged by rebuilding the preset);
- ``config.json``: the resolved config plus facts about the run (parameters, rows, ``data_origin``);
- ``split.npz``: the row indices of the train and validation parts in the data (``train``, ``val``);
- ``model.keras`` (the best epoch on validation), ``history.csv``/``history.json`` and ``metrics.json``,
  written last: a run is finished when it has ``metrics.json``.

An ensemble's directory (``ensemble<N>-...``) has ``members.json`` (its member runs) instead of weights.

What counts as a run (``is_run``; ``prune`` deletes nothing else): a real folder, not a symbolic link, named as
``identity.run_key`` names runs (``[ensemble<N>-]<model>-<profile>-<12 hex digits>``, the profile one of
``config.PROFILE_NAMES``) that holds, as regular files or folders:

- ``identity.json`` (every run since identities are stored: written first, right after the lock); or
- ``config.json`` with ``metrics.json``, ``members.json`` or ``backup/`` (a run made before identities were
  stored: finished, an ensemble, or interrupted); or
- nothing but ``.lock`` (and a half-written ``identity.json`` temporary): a run killed between taking its
  lock and writing its identity, which holds nothing to lose.

Anything else in the runs folder (files, symbolic links, folders named or filled otherwise) is "not a run":
listed, never deleted, never followed, and ``prune`` refuses to run beside it unless told to leave it alone.
A finished run is reused and listed without writing to its folder (no lock is taken), so a read-only runs
folder of finished runs works.
"""

import contextlib
import dataclasses
import datetime
import json
import os
import re
import shutil
import stat
import sys
import zipfile
from pathlib import Path

import numpy as np

from fer_utils import config as config_module
from fer_utils import atomic, data, errors, narrative, paths

SPLIT_FILE = "split.npz"
IDENTITY_FILE = "identity.json"
LOCK_FILE = ".lock"
#: ``fer_utils.callbacks.BACKUP_DIR`` (importing callbacks loads Keras): an interrupted run's resumable state.
BACKUP_DIR = "backup"
#: The name ``identity.run_key`` gives a run directory; the model part may be e.g. ``dnn_vgg_small``.
RUN_NAME = re.compile(rf"(ensemble[0-9]+-)?[A-Za-z0-9_]+-"
                      rf"({'|'.join(map(re.escape, config_module.PROFILE_NAMES))})-[0-9a-f]{{12}}")
#: The temporary ``paths.atomic_write`` writes a run's identity to before renaming it into place.
_IDENTITY_TEMPORARY = re.compile(r"\.identity\.json\.[0-9a-f]{8}\.tmp")
#: The runs folder's own files (not runs, not foreign either).
OWN_FILES = frozenset({LOCK_FILE, ".workbook"})  # .workbook: which CNN Q1 trained last (fer_utils.workbook)
#: ``list_runs`` states ``prune`` looks at: stale runs go; anything that is not a run makes it refuse.
STALE, NOT_A_RUN = "stale", "not a run"


@contextlib.contextmanager
def lock(directory, doing="trained"):
    """Hold an OS file lock (``.lock``, ``fer_utils.atomic.lock``) on a run directory, made if missing, while
    training it.

    A second process asking for the same run waits, after saying which process trains it; the lock of a
    process that died is released by the kernel, so it is taken over at once.

    Args:
        directory: the run directory (or any folder whose contents one process at a time may write).
        doing: the verb of the waiting message, "<folder> is being <doing> by process N".
    """
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    with atomic.lock(directory / LOCK_FILE, doing=doing, label=directory.name):
        yield directory


def holder(directory):
    """Who holds a run directory's lock (``fer_utils.atomic.holder``: read-only safe; "" when nobody trains
    the run now, "?" when its lock file cannot be read: then it counts as being trained, never pruned)."""
    return atomic.holder(Path(directory) / LOCK_FILE)


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
    """Delete everything in a run directory but its lock (``train --force``).

    ``metrics.json`` goes first, so the run stops counting as finished (``is_reusable``, which takes no lock)
    before any other file goes; symbolic links are removed, never followed.
    """
    directory = Path(directory)
    (directory / "metrics.json").unlink(missing_ok=True)
    for path in directory.iterdir():
        if path.name == LOCK_FILE:
            continue
        shutil.rmtree(path) if path.is_dir() and not path.is_symlink() else path.unlink()


def is_reusable(directory, identity):
    """Whether ``directory`` holds a finished run whose stored identity is ``identity``.

    Reads only: ``train`` reuses such a run without taking its lock or writing to it, so a read-only runs
    folder of finished runs can be reused.

    Args:
        directory: a run directory (it may not exist).
        identity: the identity the current code computes for the run (``identity.run_identity``).
    Returns:
        True when the run is finished (``unfinished_reason``) and its ``identity.json`` equals ``identity``;
        False when anything is missing, unreadable or different.
    """
    directory = Path(directory)
    try:
        stored = json.loads((directory / IDENTITY_FILE).read_text())
    except (OSError, ValueError):
        return False
    return stored == json.loads(json.dumps(identity)) and not unfinished_reason(directory)


def is_run(path):
    """Whether ``path`` is provably a run directory (see the module docstring); symbolic links are never runs.

    Args:
        path: an entry of a runs folder.
    Returns:
        True for a real folder named like a run that holds a run's files; False for anything else,
        including a folder that cannot be read.
    """
    path = Path(path)
    if path.is_symlink() or not path.is_dir() or not RUN_NAME.fullmatch(path.name):
        return False
    try:
        with os.scandir(path) as listing:
            entries = {entry.name: entry for entry in listing}
    except OSError:
        return False

    def has(name, folder=False):
        entry = entries.get(name)
        try:
            return entry is not None and (entry.is_dir if folder else entry.is_file)(follow_symlinks=False)
        except OSError:
            return False

    if has(IDENTITY_FILE):
        return True
    if has("config.json") and (has("metrics.json") or has("members.json") or has(BACKUP_DIR, folder=True)):
        return True
    return has(LOCK_FILE) and all(name == LOCK_FILE or _IDENTITY_TEMPORARY.fullmatch(name) for name in entries)


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
        return data.parts_from_rows(dataset, *self.split_rows())

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
    """Write ``value`` as indented JSON to ``path`` atomically (a temporary file renamed into place).

    Raises:
        ValueError: ``value`` holds NaN or an infinity, which JSON cannot hold (nothing is written).
    """
    text = json.dumps(value, indent=2, allow_nan=False)
    with paths.atomic_write(path, "w") as handle:
        handle.write(text)


def write_split(directory, train_rows, val_rows):
    """Store the row indices of a run's train and validation parts (``split.npz``), atomically."""
    with paths.atomic_write(Path(directory) / SPLIT_FILE, "wb") as handle:
        np.savez(handle, train=np.asarray(train_rows, np.int64), val=np.asarray(val_rows, np.int64))


def _disk_usage(directory):
    """(newest modification time, bytes) of a run directory and what is under it.

    Symbolic links count as themselves and are never followed; entries that cannot be read are skipped.
    """
    newest, total = _modified(directory) or 0.0, 0
    for root, folders, files in os.walk(directory, onerror=lambda error: None):  # followlinks=False
        for name in folders + files:
            try:
                info = os.lstat(os.path.join(root, name))
            except OSError:
                continue
            newest = max(newest, info.st_mtime)
            total += info.st_size if stat.S_ISREG(info.st_mode) else 0
    return newest, total


def _modified(path):
    """The modification time of ``path`` itself (a symbolic link's own), or None when it cannot be read."""
    try:
        return os.lstat(path).st_mtime
    except OSError:
        return None


def _date(timestamp):
    return "" if timestamp is None else datetime.datetime.fromtimestamp(timestamp).isoformat(timespec="minutes")


def list_runs(runs_dir=None):
    """One row per entry of the runs folder: name, model, profile, data origin, accuracy, date, size and state.

    Args:
        runs_dir: the parent of run directories (default ``paths.RUNS_DIR``).
    Returns:
        A list of dicts, sorted by name, with keys ``run``, ``model``, ``profile``, ``data``, ``accuracy``
        (validation, or None), ``date`` (ISO, of the newest file), ``megabytes`` (None for what is not a run:
        it is not walked), ``state`` ("finished", "unfinished", "stale": the current code no longer produces
        it, "training (process N)": locked by a running ``train``, never pruned, "unreadable", never pruned,
        or "not a run": anything ``is_run`` does not recognise, never pruned) and ``reason`` (why stale,
        unreadable or not a run, else ""). The runs folder's own files (``OWN_FILES``) are not listed.
    """
    runs_dir = Path(runs_dir or paths.RUNS_DIR)
    entries = sorted(path for path in runs_dir.iterdir() if path.name not in OWN_FILES) if runs_dir.is_dir() else []
    return [_run_row(path) if is_run(path) else _other_row(path) for path in entries]


def _run_row(directory):
    """The ``list_runs`` row of a run directory."""
    run = Run(directory)
    newest, size = _disk_usage(directory)
    training, problem = holder(directory), ""
    try:
        settings = run.config if (directory / "config.json").exists() else {}
        metrics = run.metrics if run.finished else {}
    except errors.InputError:
        settings, metrics = {}, {}
    except OSError as error:
        settings, metrics, problem = {}, {}, f"{error.strerror or error}: {error.filename}"
    try:
        reason = "" if training or problem else stale_reason(run)
    except OSError as error:
        reason, problem = "", f"{error.strerror or error}: {error.filename}"
    settings, metrics = (value if isinstance(value, dict) else {} for value in (settings, metrics))
    origin = settings.get("data_origin", {})
    return {
        "run": directory.name,
        "model": settings.get("model", "?") if settings.get("model") != "dnn" else f"dnn ~ {settings.get('match')}",
        "profile": settings.get("profile", "?"),
        "data": narrative.origin(origin) if origin else settings.get("data_source", "?"),
        "accuracy": metrics.get("splits", {}).get("val", {}).get("accuracy"),
        "date": _date(newest),
        "megabytes": size / 1e6,
        "state": (f"training (process {training})" if training else "unreadable" if problem else STALE if reason
                  else "finished" if run.finished else "unfinished"),
        "reason": reason or problem,
    }


def _other_row(path):
    """The ``list_runs`` row of an entry that is not a run (nothing under it is read)."""
    return {"run": path.name, "model": "", "profile": "", "data": "", "accuracy": None,
            "date": _date(_modified(path)), "megabytes": None, "state": NOT_A_RUN, "reason": _why_not_a_run(path)}


def _why_not_a_run(path):
    """Why ``is_run`` does not recognise ``path``, in a few words for the listing."""
    if path.is_symlink():
        return "a symbolic link"
    if not path.is_dir():
        return "a file"
    if not RUN_NAME.fullmatch(path.name):
        return "not named like a run"
    return "holds no run's files"


def runs_table(rows):
    """``list_runs`` rows as a printable DataFrame (accuracy in %, size in MB, the reason beside the state)."""
    import pandas as pd

    return pd.DataFrame({
        "run": [row["run"] for row in rows], "model": [row["model"] for row in rows],
        "profile": [row["profile"] for row in rows], "data": [row["data"] for row in rows],
        "val acc": ["" if row["accuracy"] is None else f"{row['accuracy']:.1%}" for row in rows],
        "date": [row["date"] for row in rows],
        "MB": ["" if row["megabytes"] is None else f"{row['megabytes']:.1f}" for row in rows],
        "state": [row["state"] + (f" ({row['reason']})" if row["reason"] else "") for row in rows],
    })


def stale_reason(run):
    """Why the current code can no longer produce ``run`` ("" when it can).

    A run is stale when it stored no identity (made before identities existed), or when the identity the
    current code computes from its stored config and data hash (model architecture, training-code version,
    config fields) names another directory.
    """
    from fer_utils import identity as identities  # Keras, for the architecture: imported when judging

    identity = run.identity
    if not identity:
        if {path.name for path in run.directory.iterdir()} <= {LOCK_FILE}:
            return "stopped before it wrote anything"
        return "made before runs stored their identity"
    try:
        stored = run.directory / identities.ARCHITECTURE_FILE  # the model a notebook passed in, if it did
        current = identities.identity_from(identity["config"], identity["data"],
                                           stored.read_text() if stored.exists() else None)
    except (errors.InputError, KeyError, TypeError) as error:
        return f"its config no longer resolves ({error})"
    if current == identity:
        return ""
    changed = [key for key in ("code", "model", "config") if current.get(key) != identity.get(key)]
    return {"code": "the training code changed", "model": "the model architecture changed",
            "config": "the settings changed meaning"}[changed[0]] if changed else "its identity changed"


def prune(runs_dir=None, dry_run=False, ignore_others=False):
    """Delete the runs the current code can no longer produce (see ``stale_reason``), and nothing else.

    Only what ``is_run`` recognises is ever deleted. A runs folder that holds anything else (your files, a
    git repository, symbolic links) is refused unless ``ignore_others``, which leaves those entries untouched.
    The table of the runs that will go is printed (stderr) before any is deleted.

    Args:
        runs_dir: the parent of run directories (default ``paths.RUNS_DIR``).
        dry_run: only list them (the refusal applies too: it shows what pruning would do).
        ignore_others: prune beside entries that are not runs, leaving them alone.
    Returns:
        The rows of ``list_runs`` that were (or, with dry_run, would be) deleted.
    Raises:
        fer_utils.errors.InputError: the runs folder holds entries that are not runs and ``ignore_others`` is
            False; nothing was deleted.
        OSError: a run could not be deleted (the message names it; the runs listed before it are gone).
    """
    runs_dir = Path(runs_dir or paths.RUNS_DIR)
    rows = list_runs(runs_dir)
    others = [row["run"] for row in rows if row["state"] == NOT_A_RUN]
    if others and not ignore_others:
        raise errors.InputError(_refusal(runs_dir, others))
    stale = [row for row in rows if row["state"] == STALE]
    if stale and not dry_run:
        print(f"deleting {len(stale)} stale run(s) from {runs_dir}:\n{runs_table(stale).to_string(index=False)}",
              file=sys.stderr, flush=True)
        for row in stale:
            _delete_run(runs_dir / row["run"])
            print(f"deleted {row['run']}: {row['reason']}", file=sys.stderr, flush=True)
    return stale


def _refusal(runs_dir, others, shown=5):
    """The one-line message of a prune refused because ``runs_dir`` holds ``others`` (names), which are not runs."""
    listed = ", ".join(others[:shown]) + (f" and {len(others) - shown} more" if len(others) > shown else "")
    verb = "is not a run" if len(others) == 1 else "are not runs"
    return (f"{runs_dir}: holds {listed}, which {verb}; prune deletes only from a folder of runs: move them out, or "
            "add --ignore-others (ignore_others=True) to leave them alone and delete only the stale runs")


def _delete_run(directory):
    """Delete one run directory, never through a symbolic link.

    Raises:
        OSError: ``directory`` is no longer a run folder (e.g. replaced by a symbolic link since it was listed),
            or deleting it failed; the message names it.
    """
    if directory.is_symlink() or not is_run(directory):
        raise OSError(f"{directory}: no longer a run folder (a symbolic link or replaced since it was listed); "
                      "left alone, prune stopped")
    try:
        shutil.rmtree(directory)
    except OSError as error:
        raise OSError(f"{directory}: could not delete this stale run ({error}); delete it by hand or fix its "
                      "permissions") from error
