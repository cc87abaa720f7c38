"""Errors meant for the user: one line that names the problem, no traceback; and the exit
statuses of the ``studio`` command."""

EXIT_FAILED = 1  # the task ran and failed
EXIT_USAGE = 2  # bad input: a flag, file or value refused
EXIT_CANCELLED = 130  # Ctrl-C


class UserError(Exception):
    """Bad input or a refused request. The CLI prints ``studio: error: <message>`` and exits 2;
    the window shows the message as a notification."""


def first_line(exc: BaseException) -> str:
    """The first line of an exception's message (its type's name when it has none): what a
    one-line error keeps of a library's message."""
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__
