"""Results a notebook records for the report (the scrapbook/MyST-NB ``glue`` habit): written into the executed
notebook as display data, read back by ``fer_utils.chapters`` when the report is rendered."""

import sys

import numpy as np

#: The MIME type of a value a notebook glues for the report.
GLUE_MIME = "application/vnd.fer-workbook.glue+json"


def plain(value):
    """A value made JSON-safe: numpy scalars and arrays to Python numbers and lists, tuples to lists."""
    if isinstance(value, dict):
        return {str(key): plain(item) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [plain(item) for item in value]
    if isinstance(value, np.ndarray):
        return plain(value.tolist())
    if isinstance(value, np.generic):
        return value.item()
    return value


def in_kernel():
    """True inside a Jupyter kernel (JupyterLab, papermill), where ``record`` writes into the notebook."""
    shell = sys.modules.get("IPython")
    return bool(shell) and getattr(shell.get_ipython(), "kernel", None) is not None


def record(name, value):
    """Record a result in the executed notebook for the report (``chapters.glued`` reads it back).

    The value is displayed under ``GLUE_MIME`` with a one-line text fallback, so JupyterLab shows the name
    and the report renders nothing for it: the render reads the executed notebooks and re-runs nothing.

    Args:
        name: the key on the report's side ("cnn", "dnn", "confusions", "regions", "environment", ...).
        value: a JSON-able value (numpy numbers are converted).
    """
    from IPython.display import display

    display({GLUE_MIME: {name: plain(value)}, "text/plain": f"glued for the report: {name}"}, raw=True)
