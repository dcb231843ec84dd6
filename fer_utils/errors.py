"""Every error ``fer-workbook`` turns into one line: bad input (``InputError`` and its kinds ``DataError`` and
``TrainingDiverged``, exit 2), a notebook or render that failed (``WorkbookError``, ``LayoutError``, exit 1) and
Ctrl-C during training (``Interrupted``, exit 130). Anything else that escapes is a bug and keeps its traceback."""


class InputError(ValueError):
    """Bad input from the user: a file, a path, a setting or a parameter.

    The message names what the user must fix. ``fer-workbook`` prints it as one line and exits with 2, and a
    notebook shows it as one line too (``_render_traceback_``); every other exception is a bug in the workbook
    and is shown with its traceback.
    """

    def _render_traceback_(self):
        """What IPython (JupyterLab, papermill) shows instead of a traceback: the one line (``FER_DEBUG=1``: all)."""
        import os
        import traceback

        if os.environ.get("FER_DEBUG"):
            return traceback.format_exception(type(self), self, self.__traceback__)
        return [f"{type(self).__name__}: {self}"]


class TrainingDiverged(InputError):
    """Training whose loss became NaN or infinite: the settings (the learning rate first) or the data must change.

    An ``InputError`` because the user fixes it, like a bad setting: one line, exit code 2. The run is left
    unfinished, its last committed epoch the last one before the loss went bad.
    """


class UnreadablePhoto(InputError):
    """A file of ``fer-workbook faces`` that is not a readable image; ``reason`` says why (for the skipped list)."""

    def __init__(self, path, reason):
        super().__init__(f"{path}: not a readable image ({reason}); remove it or pass --skip-unreadable")
        self.path, self.reason = path, reason


class DataError(InputError):
    """Unusable input data; the message names the file and line (or the image) and what was expected.

    Raised by ``fer_utils.data`` and its readers (``csvfile``, ``imagefolders``); importable as
    ``fer_utils.data.DataError``.
    """


class WorkbookError(RuntimeError):
    """A notebook failed or the report could not be rendered; the message names the notebook and cell."""


class LayoutError(WorkbookError):
    """The report was written, but its layout check (``fer_utils.layout``) found problems.

    Attributes:
        problems: the problems, as ``layout.layout_problems`` returns them.
    """

    def __init__(self, html_path, problems):
        from fer_utils import layout

        super().__init__("\n".join([f"{html_path}: the layout check found {len(problems)} problem(s)",
                                    *map(layout.describe, problems)]))
        self.problems = problems


class Interrupted(KeyboardInterrupt):
    """Training was interrupted (Ctrl-C); the message says after which epoch and how to resume."""
