"""The latent explorer: V's latent values as sliders; moving one asks for the decoded frame at
once (the tab sends the values to the running drive or dream, or to ``drive.explore`` when
none runs, all on the compute lane); a button sets them from the frame on screen."""

from __future__ import annotations

import numpy as np
from PySide6.QtCore import Qt, QTimer, Signal
from PySide6.QtWidgets import (
    QGridLayout,
    QHBoxLayout,
    QLabel,
    QPushButton,
    QScrollArea,
    QSlider,
    QVBoxLayout,
    QWidget,
)

from studio.ui import theme
from studio_drive.ui.views import FrameView

SCALE = 100  # slider steps per unit of z
LIMIT = 4.0  # sliders span -LIMIT .. LIMIT (the prior N(0, 1) lies well inside)


class LatentExplorer(QWidget):
    """``changed`` carries the values (a list of floats) each time a slider moves (or a button
    sets them); ``show_image`` draws the decoding that comes back."""

    changed = Signal(list)

    def __init__(self, z_size: int = 32, parent: QWidget | None = None):
        super().__init__(parent)
        self.view = FrameView("V's decoding of these values",
                              "Move a slider, or take the values of the frame on screen",
                              sharp=True, aspect=1.0)
        self.view.setMinimumSize(120, 120 + 20)
        self.from_frame = QPushButton("From the frame")
        self.from_frame.setToolTip("Set the sliders to z of the frame the agent sees now")
        self.from_frame.setEnabled(False)
        self.zero = QPushButton("Zero")
        self.zero.setToolTip("Every value 0: the middle of V's prior")
        self.zero.clicked.connect(lambda: self.set_values(np.zeros(self.z_size), emit=True))
        self.random = QPushButton("Random")
        self.random.setToolTip("Values drawn from N(0, 1), V's prior")
        self.random.clicked.connect(self._random)
        self._rng = np.random.default_rng()
        self.status = QLabel("")
        self.status.setObjectName("muted")
        self.status.setWordWrap(True)
        self.sliders: list[QSlider] = []
        self.numbers: list[QLabel] = []
        self._quiet = False
        self._grid_host = QWidget()
        self._grid = theme.pad(QGridLayout(self._grid_host), (0, 0, theme.SPACE_S, 0))
        self._grid.setVerticalSpacing(theme.SPACE_S // 2)  # many sliders, close together
        scroll = QScrollArea()
        scroll.setWidgetResizable(True)
        scroll.setHorizontalScrollBarPolicy(Qt.ScrollBarAlwaysOff)
        scroll.setWidget(self._grid_host)
        buttons = theme.pad(QHBoxLayout(), 0)
        for b in (self.from_frame, self.zero, self.random):
            buttons.addWidget(b)
        lay = theme.pad(QVBoxLayout(self), 0)
        lay.addWidget(self.view, 2)
        lay.addLayout(buttons)
        lay.addWidget(self.status)
        lay.addWidget(scroll, 3)
        # slider moves are sent at most every 15 ms (the newest wins), so a drag never queues
        # more decodes than the lane can draw
        self._send = QTimer(self)
        self._send.setSingleShot(True)
        self._send.setInterval(15)
        self._send.timeout.connect(lambda: self.changed.emit(self.values()))
        self.z_size = 0
        self.set_size(z_size)

    def set_size(self, z_size: int) -> None:
        """One slider per value of z (the model's z size)."""
        if z_size == self.z_size:
            return
        for w in self.sliders + self.numbers:
            w.deleteLater()
        while self._grid.count():
            item = self._grid.takeAt(0)
            if item.widget() is not None:
                item.widget().deleteLater()
        self.sliders, self.numbers = [], []
        self.z_size = z_size
        rows = (z_size + 1) // 2
        for i in range(z_size):
            name = QLabel(f"z{i}")
            name.setObjectName("muted")
            slider = QSlider(Qt.Horizontal)
            slider.setRange(int(-LIMIT * SCALE), int(LIMIT * SCALE))
            slider.setMinimumWidth(60)
            slider.valueChanged.connect(lambda v, i=i: self._moved(i, v))
            number = QLabel("0.00")
            number.setMinimumWidth(number.fontMetrics().horizontalAdvance("-0.00") + 2)
            number.setAlignment(Qt.AlignRight | Qt.AlignVCenter)
            r, c = i % rows, (i // rows) * 3
            self._grid.addWidget(name, r, c)
            self._grid.addWidget(slider, r, c + 1)
            self._grid.addWidget(number, r, c + 2)
            self.sliders.append(slider)
            self.numbers.append(number)

    def values(self) -> list[float]:
        return [s.value() / SCALE for s in self.sliders]

    def set_values(self, values, emit: bool = False) -> None:
        values = np.asarray(values, np.float32).reshape(-1)
        self.set_size(len(values))
        self._quiet = True
        try:
            for slider, number, v in zip(self.sliders, self.numbers, values, strict=True):
                slider.setValue(int(round(float(np.clip(v, -LIMIT, LIMIT)) * SCALE)))
                number.setText(f"{float(v):.2f}")
        finally:
            self._quiet = False
        if emit:
            self.changed.emit(self.values())

    def _moved(self, i: int, value: int) -> None:
        self.numbers[i].setText(f"{value / SCALE:.2f}")
        if not self._quiet and not self._send.isActive():
            self._send.start()

    def _random(self) -> None:
        self.set_values(self._rng.standard_normal(self.z_size), emit=True)

    def show_image(self, image: np.ndarray | None) -> None:
        self.view.set_frame(image)

    def say(self, text: str) -> None:
        self.status.setText(text)
