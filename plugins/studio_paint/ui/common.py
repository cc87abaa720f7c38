"""Pieces the Translate and Style tabs share: a settings column that scrolls up and down but
never sideways, a task's form with the fields a tab draws itself taken out, the Run / Stop /
progress / status block, and a slider for a share (strength)."""

from __future__ import annotations

from typing import Any

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import (
    QHBoxLayout,
    QLabel,
    QProgressBar,
    QPushButton,
    QScrollArea,
    QSizePolicy,
    QSlider,
    QVBoxLayout,
    QWidget,
)

from studio.tasks import Task
from studio.ui.forms import ParamForm
from studio.ui.widgets import show_status


def scroll_column(content: QWidget) -> QScrollArea:
    """``content`` in a scroll area as wide as it needs: it scrolls vertically only."""
    scroll = QScrollArea()
    scroll.setWidgetResizable(True)
    scroll.setFrameShape(QScrollArea.NoFrame)
    scroll.setHorizontalScrollBarPolicy(Qt.ScrollBarAlwaysOff)
    scroll.setWidget(content)
    scroll.setMinimumWidth(content.minimumSizeHint().width()
                           + scroll.verticalScrollBar().sizeHint().width() + 4)
    return scroll


def heading(text: str) -> QLabel:
    label = QLabel(text)
    label.setObjectName("muted")
    return label


def task_form(task: Task | None, models: Any, own: tuple[str, ...]) -> ParamForm | None:
    """The task's form with the fields in ``own`` hidden (the tab shows them its own way)."""
    if task is None:
        return None
    form = ParamForm(task, models=models)
    for name in own:
        if name in form.widgets:
            form.set_field_visible(name, False)
    return form


class RunBox(QWidget):
    """A primary Run button and Stop on one row, a thin progress bar and a status line under
    them. ``set_busy`` swaps which of the two is enabled."""

    run_clicked = Signal()
    stop_clicked = Signal()

    def __init__(self, run_text: str, run_tip: str = "", parent: QWidget | None = None):
        super().__init__(parent)
        self.run_button = QPushButton(run_text)
        self.run_button.setObjectName("primary")
        self.run_button.setToolTip(run_tip)
        self.run_button.clicked.connect(self.run_clicked)
        self.stop_button = QPushButton("Stop")
        self.stop_button.setToolTip("Stop (Esc)")
        self.stop_button.clicked.connect(self.stop_clicked)
        self.progress = QProgressBar()
        self.progress.setRange(0, 1000)
        self.progress.setValue(0)
        self.progress.setTextVisible(False)
        self.status = QLabel("")
        self.status.setObjectName("muted")
        self.status.setWordWrap(True)
        self.status.setTextInteractionFlags(Qt.TextSelectableByMouse)
        row = QHBoxLayout()
        row.setContentsMargins(0, 0, 0, 0)
        row.addWidget(self.run_button, 1)
        row.addWidget(self.stop_button)
        lay = QVBoxLayout(self)
        lay.setContentsMargins(0, 0, 0, 0)
        lay.setSpacing(6)
        lay.addLayout(row)
        lay.addWidget(self.progress)
        lay.addWidget(self.status)
        self.set_busy(False)

    def set_busy(self, busy: bool, can_run: bool = True) -> None:
        self.run_button.setEnabled(can_run and not busy)
        self.stop_button.setEnabled(busy)
        if not busy:
            self.progress.setRange(0, 1000)

    def set_progress(self, fraction: float | None) -> None:
        if fraction is None:
            self.progress.setRange(0, 0)  # busy, no measure
        else:
            self.progress.setRange(0, 1000)
            self.progress.setValue(round(1000 * min(max(fraction, 0.0), 1.0)))

    def say(self, text: str, error: bool = False) -> None:
        show_status(self.status, text, error)
        self.status.setToolTip(text)


class ShareSlider(QWidget):
    """A slider from ``lo`` to ``hi`` in hundredths, with its value as a percentage of ``hi``
    beside it (a strength from 0 to 1 reads "80 %")."""

    changed = Signal(float)

    def __init__(self, lo: float = 0.0, hi: float = 1.0, value: float = 1.0,
                 parent: QWidget | None = None):
        super().__init__(parent)
        self.lo, self.hi = lo, hi
        self.slider = QSlider(Qt.Horizontal)
        self.slider.setRange(0, 100)
        self.slider.setMinimumWidth(80)
        self.slider.setSizePolicy(QSizePolicy.Expanding, QSizePolicy.Fixed)
        self.label = QLabel()
        self.label.setMinimumWidth(self.label.fontMetrics().horizontalAdvance("100 %") + 4)
        self.label.setAlignment(Qt.AlignRight | Qt.AlignVCenter)
        lay = QHBoxLayout(self)
        lay.setContentsMargins(0, 0, 0, 0)
        lay.addWidget(self.slider, 1)
        lay.addWidget(self.label)
        self.slider.valueChanged.connect(self._moved)
        self.set_value(value)
        self._moved()

    def value(self) -> float:
        return self.lo + (self.hi - self.lo) * self.slider.value() / 100

    def set_value(self, value: float) -> None:
        span = (self.hi - self.lo) or 1.0
        self.slider.setValue(round(100 * (float(value) - self.lo) / span))

    def _moved(self, *_: Any) -> None:
        self.label.setText(f"{100 * self.value() / (self.hi or 1):.0f} %")
        self.changed.emit(self.value())
