"""The one exception type that reaches users as a one-line message."""


class SuiteError(Exception):
    """A problem with the user's input: the message says what is wrong and what to do.

    ``run_all.py`` prints it as a single line and exits with status 2, so every
    message must be one sentence that names the thing and the fix.
    """
