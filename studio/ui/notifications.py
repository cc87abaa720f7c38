"""Notifications: a banner at the top of the window, with the details (a traceback) a click away
and an optional action such as "Run on the CPU". Errors never take the window down."""

from __future__ import annotations

from collections.abc import Callable

from PySide6.QtCore import Qt, QTimer
from PySide6.QtWidgets import (
    QDialog,
    QDialogButtonBox,
    QFrame,
    QHBoxLayout,
    QLabel,
    QPlainTextEdit,
    QPushButton,
    QVBoxLayout,
    QWidget,
)


class DetailsDialog(QDialog):
    def __init__(self, message: str, details: str, parent=None):
        super().__init__(parent)
        self.setWindowTitle("Details")
        self.resize(760, 420)
        label = QLabel(message)
        label.setWordWrap(True)
        text = QPlainTextEdit(details)
        text.setReadOnly(True)
        text.setLineWrapMode(QPlainTextEdit.NoWrap)
        buttons = QDialogButtonBox(QDialogButtonBox.Close)
        buttons.rejected.connect(self.reject)
        copy = buttons.addButton("Copy", QDialogButtonBox.ActionRole)
        copy.clicked.connect(lambda: text.selectAll() or text.copy())
        lay = QVBoxLayout(self)
        lay.addWidget(label)
        lay.addWidget(text, 1)
        lay.addWidget(buttons)


class Notification(QFrame):
    def __init__(self, message: str, level: str, details: str = "",
                 action: tuple[str, Callable[[], None]] | None = None, parent=None):
        super().__init__(parent)
        self.setObjectName("notification")
        self.setProperty("level", level)
        self.message, self.details, self.level = message, details, level
        label = QLabel(message)
        label.setWordWrap(True)
        label.setTextInteractionFlags(Qt.TextSelectableByMouse)
        lay = QHBoxLayout(self)
        lay.setContentsMargins(12, 8, 8, 8)
        lay.addWidget(label, 1)
        if action is not None:
            name, fn = action
            b = QPushButton(name)
            b.clicked.connect(lambda: (fn(), self.close_()))
            lay.addWidget(b)
        if details:
            b = QPushButton("Details…")
            b.clicked.connect(lambda: DetailsDialog(message, details, self.window()).exec())
            lay.addWidget(b)
        close = QPushButton("✕")
        close.setFlat(True)
        close.setToolTip("Dismiss")
        close.clicked.connect(self.close_)
        lay.addWidget(close)

    def close_(self) -> None:
        self.hide()
        self.deleteLater()


class NotificationArea(QWidget):
    """A stack of banners; info ones fade after a few seconds, errors stay until dismissed."""

    MAX = 4

    def __init__(self, parent=None):
        super().__init__(parent)
        self.lay = QVBoxLayout(self)
        self.lay.setContentsMargins(8, 8, 8, 0)
        self.lay.setSpacing(4)
        self.history: list[tuple[str, str]] = []

    def show_message(self, message: str, level: str = "info", details: str = "",
                     action: tuple[str, Callable[[], None]] | None = None) -> Notification:
        self.history.append((level, message))
        n = Notification(message, level, details, action, self)
        self.lay.addWidget(n)
        shown = [self.lay.itemAt(i).widget() for i in range(self.lay.count())]
        for old in shown[: max(0, len(shown) - self.MAX)]:
            old.close_()
        if level == "info":
            QTimer.singleShot(6000, n, n.close_)
        return n
