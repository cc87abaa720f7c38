"""Errors meant for the user: one line that names the problem, no traceback."""


class UserError(Exception):
    """Bad input or a refused request. The CLI prints ``studio: error: <message>`` and exits 2;
    the window shows the message as a notification."""
