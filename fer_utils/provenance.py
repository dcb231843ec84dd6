"""Where results came from: the origin of a data file (synthetic generator and seed, or a file and its hash)."""

import hashlib
import json
from pathlib import Path

#: A file written by ``fer_utils.synth.write_csv`` has this sidecar beside it: ``fer2013.csv.gz.origin.json``.
ORIGIN_SUFFIX = ".origin.json"
SYNTHETIC_GENERATOR = "fer_utils.synth"


def file_sha256(path, block=1 << 22):
    """The SHA-256 hex digest of a file's bytes, read in blocks."""
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for chunk in iter(lambda: handle.read(block), b""):
            digest.update(chunk)
    return digest.hexdigest()


def sidecar(path):
    """The origin sidecar's path for a data file."""
    path = Path(path)
    return path.with_name(path.name + ORIGIN_SUFFIX)


def record_synthetic(path, rows, seed):
    """Write the sidecar that marks ``path`` as generated: generator, seed, rows and the file's SHA-256.

    Returns:
        The origin dict written (see ``data_origin``).
    """
    from fer_utils import paths

    origin = {"kind": "synthetic", "generator": SYNTHETIC_GENERATOR, "seed": int(seed), "rows": int(rows),
              "path": str(Path(path)), "sha256": file_sha256(path)}
    with paths.atomic_write(sidecar(path), "w") as handle:
        handle.write(json.dumps(origin, indent=2))
    return origin


def data_origin(path, sha256=None):
    """Where a data file or folder came from, decided by the data, not by how it was named on the command line.

    A file whose sidecar (``<name>.origin.json``, written by ``synth.write_csv``) records the same SHA-256 is
    synthetic; any other file or folder is the user's data.

    Args:
        path: the data file or folder.
        sha256: its content hash when already known (``Dataset.content_hash``); computed otherwise.
    Returns:
        {"kind": "synthetic", "generator", "seed", "rows", "path", "sha256"} or
        {"kind": "file" | "folder", "path", "sha256"}.
    """
    path = Path(path)
    if path.is_dir():
        return {"kind": "folder", "path": str(path), "sha256": sha256 or ""}
    sha256 = sha256 or file_sha256(path)
    marker = sidecar(path)
    if marker.exists():
        try:
            recorded = json.loads(marker.read_text())
        except (json.JSONDecodeError, OSError):
            recorded = {}
        if recorded.get("sha256") == sha256 and recorded.get("generator") == SYNTHETIC_GENERATOR:
            return {**recorded, "path": str(path)}
    return {"kind": "file", "path": str(path), "sha256": sha256}


def is_synthetic(origin):
    """True for the origin of generated faces."""
    return origin.get("kind") == "synthetic"


def git_commit(directory=None):
    """The checkout's commit ("abc123def456", "+ local changes" when the tree differs) or "not a git checkout"."""
    import subprocess

    from fer_utils import paths

    directory = str(directory or paths.PROJECT_ROOT)
    try:
        commit = subprocess.run(["git", "-C", directory, "rev-parse", "--short=12", "HEAD"], capture_output=True,
                                text=True, timeout=20)
        if commit.returncode != 0:
            return "not a git checkout"
        dirty = subprocess.run(["git", "-C", directory, "status", "--porcelain", "--untracked-files=no"],
                               capture_output=True, text=True, timeout=20).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return "not a git checkout"
    return commit.stdout.strip() + (" + local changes" if dirty else "")


def cpu_model():
    """The CPU's model name (``/proc/cpuinfo`` on Linux, ``platform.processor()`` elsewhere)."""
    import platform

    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.lower().startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine() or "unknown"


def environment():
    """What produced a run's numbers, for the report's reproducibility stamp (recorded when the workbook runs).

    Returns:
        {"date" (UTC, ISO), "git", "python", "tensorflow", "keras", "cpu", "cores", "gpu" (names, or "")}.
    """
    import datetime
    import os
    import platform

    import keras
    import tensorflow as tf

    gpus = [device.name for device in tf.config.list_physical_devices("GPU")]
    return {"date": datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC"), "git": git_commit(),
            "python": platform.python_version(), "tensorflow": tf.__version__, "keras": keras.__version__,
            "cpu": cpu_model(), "cores": os.cpu_count(), "gpu": ", ".join(gpus)}
