"""The Drive tab's two split buttons: Record (with the video's format and panes) and Dream
(with where a dream starts)."""

from __future__ import annotations

from typing import Any

from PySide6.QtCore import Signal
from PySide6.QtGui import QActionGroup
from PySide6.QtWidgets import QMenu, QToolButton, QWidget


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
        self.formats = QActionGroup(self)
        for label, key in (("MP4 video", "mp4"), ("GIF animation", "gif")):
            a = menu.addAction(label)
            a.setData(key)
            a.setCheckable(True)
            self.formats.addAction(a)
        menu.addSeparator()
        self.pane_choices = QActionGroup(self)
        for label, key in (("All panes side by side", "all"), ("The track", "view"),
                           ("What it sees (64x64)", "input"),
                           ("V's reconstruction", "reconstruction"),
                           ("M's prediction", "prediction")):
            a = menu.addAction(label)
            a.setData(key)
            a.setCheckable(True)
            self.pane_choices.addAction(a)
        self.formats.actions()[0].setChecked(True)
        self.pane_choices.actions()[0].setChecked(True)
        self.pane_choices.triggered.connect(lambda _: self.panes_changed.emit())
        self.setMenu(menu)
        self.toggled.connect(lambda on: self.setText("Stop recording" if on else "Record"))

    def fmt(self) -> str:
        return self.formats.checkedAction().data()

    def panes(self) -> str:
        return self.pane_choices.checkedAction().data()

    def choose(self, fmt: Any = None, panes: Any = None) -> None:
        for group, key in ((self.formats, fmt), (self.pane_choices, panes)):
            for a in group.actions():
                if a.data() == key:
                    a.setChecked(True)

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
        self.starts = QActionGroup(self)
        for label, key in (("From the track's start", "track"), ("From nothing", "nothing")):
            a = menu.addAction(label)
            a.setData(key)
            a.setCheckable(True)
            self.starts.addAction(a)
        self.starts.actions()[0].setChecked(True)
        self.setMenu(menu)

    def start(self) -> str:
        return self.starts.checkedAction().data()

    def choose(self, start: Any) -> None:
        for a in self.starts.actions():
            if a.data() == start:
                a.setChecked(True)
