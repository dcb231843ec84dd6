"""The exception type for bad user input (``InputError``, and ``TrainingDiverged``, a kind of it); anything else
that escapes is a bug and keeps its traceback."""


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
