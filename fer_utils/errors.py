"""The one exception type for bad user input; anything else that escapes is a bug and keeps its traceback."""


class InputError(ValueError):
    """Bad input from the user: a file, a path, a setting or a parameter.

    The message names what the user must fix. ``fer-workbook`` prints it as one line and exits with 2;
    every other exception is a bug in the workbook and is shown with its traceback.
    """
