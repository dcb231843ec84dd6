"""The exception types for bad user input: ``InputError`` and its kinds (``DataError`` for unusable data,
``TrainingDiverged``); anything else that escapes is a bug and keeps its traceback."""


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


class DataError(InputError):
    """Unusable input data; the message names the file and line (or the image) and what was expected.

    Raised by ``fer_utils.data`` and its readers (``csvfile``, ``imagefolders``); importable as
    ``fer_utils.data.DataError``.
    """
