"""The one exception type that reaches users as a one-line message, and the one-line warning."""

import sys


class SuiteError(Exception):
    """A problem with the user's input: the message says what is wrong and what to do.

    ``run_all.py`` prints it as a single line and exits with status 2, so every
    message must be one sentence that names the thing and the fix.
    """


def warn(message: str) -> None:
    """A warning in the suite's one-line format on stderr: ``warning: <what happened>; <what it means or does>``.

    Not Python's ``warnings``: those print the source line that raised them, which says nothing to a user.
    """
    print(f"warning: {message}", file=sys.stderr)
