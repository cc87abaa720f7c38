"""The Drive tab's two split buttons: Record (with the video's format and panes) and Dream
(with where a dream starts)."""

from __future__ import annotations

from typing import Any

from PySide6.QtCore import Signal
from PySide6.QtGui import QActionGroup
from PySide6.QtWidgets import QMenu, QToolButton, QWidget


def choice_group(owner: QWidget, menu: QMenu, choices: tuple[tuple[str, str], ...]
                 ) -> QActionGroup:
    """Checkable, exclusive actions in ``menu``, one per (label, key), the key as each one's
    data; the first checked."""
    group = QActionGroup(owner)
    for label, key in choices:
        a = menu.addAction(label)
        a.setData(key)
        a.setCheckable(True)
        group.addAction(a)
    group.actions()[0].setChecked(True)
    return group


def check_key(group: QActionGroup, key: Any) -> None:
    """Check the action of ``group`` whose key is ``key`` (none when no action has it)."""
    for a in group.actions():
        if a.data() == key:
            a.setChecked(True)


class RecordButton(QToolButton):
    """Record (checked while recording), with a menu of the video's format and panes."""

    panes_changed = Signal()

    def __init__(self, parent: QWidget | None = None):
        super().__init__(parent)
        self.setText("Record")
        self.setCheckable(True)
        self.setPopupMode(QToolButton.MenuButtonPopup)
        self.setToolTip("Record what is shown to a video in the gallery; press again to stop "
                        "(an episode's end stops it too). The arrow: MP4 or GIF, which panes")
        menu = QMenu(self)
        self.formats = choice_group(self, menu, (("MP4 video", "mp4"),
                                                 ("GIF animation", "gif")))
        menu.addSeparator()
        self.pane_choices = choice_group(self, menu, (
            ("All panes side by side", "all"), ("The track", "view"),
            ("What it sees (64x64)", "input"), ("V's reconstruction", "reconstruction"),
            ("M's prediction", "prediction")))
        self.pane_choices.triggered.connect(lambda _: self.panes_changed.emit())
        self.setMenu(menu)
        self.toggled.connect(lambda on: self.setText("Stop recording" if on else "Record"))

    def fmt(self) -> str:
        return self.formats.checkedAction().data()

    def panes(self) -> str:
        return self.pane_choices.checkedAction().data()

    def choose(self, fmt: Any = None, panes: Any = None) -> None:
        check_key(self.formats, fmt)
        check_key(self.pane_choices, panes)

    def set_quietly(self, on: bool) -> None:
        """Checked or not without asking the run (it stopped recording by itself)."""
        self.blockSignals(True)
        self.setChecked(on)
        self.setText("Stop recording" if on else "Record")
        self.blockSignals(False)


class DreamButton(QToolButton):
    """Dream (or Wake while dreaming), with a menu of where a dream starts when nothing is
    being watched: a real frame of the track, or nothing."""

    def __init__(self, parent: QWidget | None = None):
        super().__init__(parent)
        self.setText("Dream")
        self.setPopupMode(QToolButton.MenuButtonPopup)
        self.setToolTip("Drive inside M's dream: from the frame on screen while watching; "
                        "else (the arrow) from the track's start or from nothing")
        menu = QMenu(self)
        self.starts = choice_group(self, menu, (("From the track's start", "track"),
                                                ("From nothing", "nothing")))
        self.setMenu(menu)

    def start(self) -> str:
        return self.starts.checkedAction().data()

    def choose(self, start: Any) -> None:
        check_key(self.starts, start)
