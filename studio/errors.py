"""Errors meant for the user: one line that names the problem, no traceback; and the exit
statuses of the ``studio`` command."""

EXIT_FAILED = 1  # the task ran and failed
EXIT_USAGE = 2  # bad input: a flag, file or value refused
EXIT_CANCELLED = 130  # Ctrl-C


class UserError(Exception):
    """Bad input or a refused request. The CLI prints ``studio: error: <message>`` and exits 2;
    the window shows the message as a notification."""
