"""Project paths, resolved from the project root so code runs the same from any working directory."""

import contextlib
import os
import secrets
from pathlib import Path

#: The project root (the folder holding ``fer_utils/``); ``FER_WORKBOOK_ROOT`` overrides it.
PROJECT_ROOT = Path(os.environ.get("FER_WORKBOOK_ROOT", Path(__file__).resolve().parent.parent))
DATA_DIR = PROJECT_ROOT / "data"
#: The embedded default: the seeded synthetic face set in the Kaggle ``fer2013.csv`` form.
SYNTHETIC_CSV = DATA_DIR / "synthetic" / "fer2013.csv.gz"
#: Parsed-array caches of data files, keyed by content hash (``FER_CACHE_DIR`` overrides).
CACHE_DIR = Path(os.environ.get("FER_CACHE_DIR", DATA_DIR / "cache"))
#: Training runs, one folder per (data, model, profile, seed) hash (``FER_RUNS_DIR`` overrides).
RUNS_DIR = Path(os.environ.get("FER_RUNS_DIR", PROJECT_ROOT / "runs"))
NOTEBOOKS_DIR = PROJECT_ROOT / "notebooks"
REPORT_DIR = PROJECT_ROOT / "report"


def candidates(path):
    """The places a user path is looked for, in order: an absolute path itself; else the cwd, then the project root.

    Args:
        path: a str or Path.
    Returns:
        A list of one or two absolute Paths.
    """
    path = Path(path).expanduser()
    if path.is_absolute():
        return [path]
    return [Path.cwd() / path, PROJECT_ROOT / path]


def resolve(path):
    """Resolve a user path: absolute stays, relative is tried from the cwd, then the project root.

    Args:
        path: a str or Path.
    Returns:
        The first of ``candidates(path)`` that exists, else the first (the cwd's): a new file goes where the
        user is. Callers of a missing input name every candidate in their error.
    """
    places = candidates(path)
    return next((place.resolve() for place in places if place.exists()), places[0])


@contextlib.contextmanager
def atomic_write(path, mode="w", encoding="utf-8", newline=None):
    """Open a file for writing so that readers see the old file whole or the new file whole, never a part.

    Writes go to a temporary file in the same folder (``.<name>.<random>.tmp``), which is flushed, fsynced and
    ``os.replace``d into place when the block ends; on any exception it is removed and the previous file is
    left untouched. A new file gets mode ``0o666 & ~umask``, like ``open(path, "w")``. Parent folders are created.
    (The pattern of jupyter_server's ``atomic_writing``.)

    Args:
        path: the file to write (str or Path).
        mode: "w" (text) or "wb" (bytes).
        encoding, newline: as for ``open``, text mode only.
    Yields:
        The open file object.
    Raises:
        IsADirectoryError: path is a folder (raised before anything is written).
        OSError: the write failed (e.g. disk full); it names ``path`` when the system error named no file.
        ValueError: a mode other than "w" or "wb".
    """
    if mode not in ("w", "wb"):
        raise ValueError(f"atomic_write: mode must be 'w' or 'wb', got {mode!r}")
    path = Path(path)
    if path.is_dir():
        raise IsADirectoryError(f"{path}: is a folder; expected a file name")
    path.parent.mkdir(parents=True, exist_ok=True)
    while True:  # O_EXCL with mode 0o666: the kernel applies the umask, unlike tempfile.mkstemp's 0o600
        temporary = path.parent / f".{path.name}.{secrets.token_hex(4)}.tmp"
        try:
            descriptor = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_BINARY", 0), 0o666)
            break
        except FileExistsError:  # pragma: no cover - 1 in 4 billion
            continue
    try:
        text_options = {} if mode == "wb" else {"encoding": encoding, "newline": newline}
        with open(descriptor, mode, **text_options) as handle:
            yield handle
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(temporary, path)
    except OSError as error:
        temporary.unlink(missing_ok=True)
        if error.filename is None:  # a failed write() or fsync (disk full) names no file: name the one meant
            raise OSError(error.errno, error.strerror or str(error), str(path)) from error
        raise
    except BaseException:
        temporary.unlink(missing_ok=True)
        raise

