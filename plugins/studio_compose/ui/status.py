"""Status lines: a label's text, coloured as an error or muted."""

from __future__ import annotations

from PySide6.QtWidgets import QLabel


def show_status(label: QLabel, text: str, error: bool = False) -> None:
    """Set ``label``'s text, styled "error" or "muted" (restyled only when that changes)."""
    label.setText(text)
    name = "error" if error else "muted"
    if label.objectName() != name:
        label.setObjectName(name)
        label.style().unpolish(label)
        label.style().polish(label)
