"""Project paths, resolved from the project root so code runs the same from any working directory."""

import os
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


def resolve(path):
    """Resolve a user path: absolute stays, relative is tried from the cwd, then the project root.

    Args:
        path: a str or Path.
    Returns:
        An absolute Path (which may not exist; callers raise with the name).
    """
    path = Path(path).expanduser()
    if path.is_absolute():
        return path
    if path.exists():
        return path.resolve()
    return PROJECT_ROOT / path
