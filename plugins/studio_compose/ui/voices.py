"""The voices above the roll: for each voice of the shown piece a tag in its colour with Mute
and Solo buttons. A piece with other voices (an opened file with six parts) gets its own set;
the voices wrap onto another line where the width ends."""

from __future__ import annotations

from collections.abc import Sequence

from PySide6.QtCore import Signal
from PySide6.QtWidgets import QHBoxLayout, QLabel, QSizePolicy, QToolButton, QWidget

from studio.ui import theme
from studio.ui.widgets import FlowLayout
from studio_compose.score import SATB
from studio_compose.ui.pianoroll import voice_colour


def _initials(names: Sequence[str]) -> list[str]:
    """Short tags: first letters (S A T B), or numbers where those would repeat."""
    firsts = [n[:1].upper() or "?" for n in names]
    return firsts if len(set(firsts)) == len(firsts) else [str(i + 1) for i in range(len(names))]


class VoiceStrip(QWidget):
    changed = Signal()  # a mute or solo was toggled

    def __init__(self, names: Sequence[str] = SATB, parent: QWidget | None = None):
        super().__init__(parent)
        self.names: list[str] = []
        self.mute_buttons: list[QToolButton] = []
        self.solo_buttons: list[QToolButton] = []
        self._grid = FlowLayout(self, spacing=theme.SPACE)
        self.setSizePolicy(QSizePolicy.Preferred, QSizePolicy.Preferred)
        self.set_voices(names)

    def set_voices(self, names: Sequence[str]) -> None:
        """One tag and two buttons per voice. The same voices as before keep their mutes and
        solos; other voices start all sounding."""
        names = list(names)
        if names == self.names:
            return
        while self._grid.count():
            old = self._grid.takeAt(0).widget()
            old.hide()  # at once: deleteLater waits for the event loop
            old.deleteLater()
        self.names, self.mute_buttons, self.solo_buttons = names, [], []
        for v, (name, initial) in enumerate(zip(names, _initials(names), strict=True)):
            colour = voice_colour(v).name()
            cell = QWidget()
            row = QHBoxLayout(cell)
            theme.pad(row, 0, 2)
            tag = QLabel(f"■ {initial}")
            tag.setStyleSheet(f"color: {colour}; font-weight: 600;")
            tag.setToolTip(name)
            tag.setMinimumWidth(tag.sizeHint().width())  # never under its buttons
            row.addWidget(tag)
            for letter, group, tip in (("M", self.mute_buttons, "Mute"),
                                       ("S", self.solo_buttons, "Solo")):
                b = QToolButton()
                b.setText(letter)
                b.setCheckable(True)
                b.setToolTip(f"{tip} the {name}")
                b.setMinimumWidth(26)
                b.setStyleSheet(f"QToolButton {{ padding: 2px 6px; }}"
                                f"QToolButton:checked {{ background: {colour}; color: #1b1b1b; }}")
                b.toggled.connect(self.changed)
                group.append(b)
                row.addWidget(b)
            self._grid.addWidget(cell)

    def sounding(self) -> set[int]:
        """The voices that play: the soloed ones if any, else all but the muted."""
        solo = {v for v, b in enumerate(self.solo_buttons) if b.isChecked()}
        if solo:
            return solo
        return {v for v, b in enumerate(self.mute_buttons) if not b.isChecked()}
