"""The one exception type that reaches users as a one-line message, the one-line warning, and the one line of an
exception raised by someone else's code (a user's model, factory or file) that such a message quotes."""

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


def one_line(err: BaseException, limit: int = 160) -> str:
    """The exception's type and the first line of its message, cut at ``limit`` characters, for quoting in a
    SuiteError: ``one_line(ValueError("bad\\nmore"))`` is ``"ValueError: bad"``; an empty message gives the type alone."""
    text = str(err).strip().splitlines()
    return f"{type(err).__name__}: {text[0][:limit]}" if text else type(err).__name__
