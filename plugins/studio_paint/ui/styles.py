"""The strip of style thumbnails and the weights of the chosen ones.

``StyleStrip`` shows paintings as thumbnails in one scrolling row: the styles of the shipped
fast models and every painting the user has opened or dropped. A click chooses a style or
leaves it (several may be chosen: they blend). ``StyleWeights`` lists the chosen ones, each
with its weight.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from PySide6.QtCore import QSize, Qt, Signal
from PySide6.QtGui import QColor, QFont, QIcon, QPainter, QPixmap
from PySide6.QtWidgets import (
    QAbstractItemView,
    QDoubleSpinBox,
    QGridLayout,
    QLabel,
    QListView,
    QListWidget,
    QListWidgetItem,
    QMenu,
    QPushButton,
    QSizePolicy,
    QWidget,
)

from studio.ui import theme
from studio_paint.ui.models import read_thumbnail, screen_ratio

THUMB = 72
PATH_ROLE = Qt.UserRole
ORIGIN_ROLE = Qt.UserRole + 1  # "model" (a shipped fast model's style) or "user"
MODEL_ROLE = Qt.UserRole + 2  # the fast model whose style it is ("" for the user's)
TITLE_ROLE = Qt.UserRole + 3


@dataclass
class Style:
    path: Path
    title: str
    origin: str = "user"
    model: str = ""


def missing_tile(side: int, title: str = "") -> QPixmap:
    """A plain tile naming a style that has no picture of its painting."""
    ratio = screen_ratio()
    pix = QPixmap(round(side * ratio), round(side * ratio))
    pix.setDevicePixelRatio(ratio)
    pix.fill(QColor(theme.RAISED))
    if title:
        p = QPainter(pix)
        font = QFont()
        font.setPixelSize(max(9, side // 7))
        p.setFont(font)
        p.setPen(QColor(theme.TEXT))
        p.drawText(pix.rect().adjusted(4, 4, -4, -4), Qt.AlignCenter | Qt.TextWordWrap, title)
        p.end()
    return pix


class StyleStrip(QListWidget):
    """``chosen()`` gives the chosen styles' paths in the order of the strip;
    ``chosen_changed`` fires when the choice changes."""

    chosen_changed = Signal()

    def __init__(self, parent: QWidget | None = None):
        super().__init__(parent)
        self.setViewMode(QListView.IconMode)
        self.setFlow(QListView.LeftToRight)
        self.setWrapping(False)
        self.setMovement(QListView.Static)
        self.setResizeMode(QListView.Adjust)
        self.setIconSize(QSize(THUMB, THUMB))
        self.setGridSize(QSize(THUMB + 16, THUMB + 28))
        self.setSelectionMode(QAbstractItemView.MultiSelection)
        self.setHorizontalScrollBarPolicy(Qt.ScrollBarAsNeeded)
        self.setVerticalScrollBarPolicy(Qt.ScrollBarAlwaysOff)
        self.setTextElideMode(Qt.ElideRight)
        self.setWordWrap(False)
        self.setUniformItemSizes(True)
        height = THUMB + 28 + self.horizontalScrollBar().sizeHint().height() + 12
        self.setFixedHeight(height)
        self.setSizePolicy(QSizePolicy.Expanding, QSizePolicy.Fixed)
        self.setToolTip("Click a painting to paint in its style; click several to blend them")
        self.setContextMenuPolicy(Qt.CustomContextMenu)
        self.customContextMenuRequested.connect(self._menu)
        self.itemSelectionChanged.connect(self.chosen_changed)

    def sizeHint(self) -> QSize:  # noqa: N802 (Qt's name)
        return QSize(5 * (THUMB + 16), self.height())

    def minimumSizeHint(self) -> QSize:  # noqa: N802
        return QSize(2 * (THUMB + 16), self.height())

    def styles(self) -> list[Style]:
        return [self._style(self.item(i)) for i in range(self.count())]

    def user_paintings(self) -> list[str]:
        return [str(s.path) for s in self.styles() if s.origin == "user"]

    def _style(self, item: QListWidgetItem) -> Style:
        return Style(Path(item.data(PATH_ROLE)), item.data(TITLE_ROLE),
                     item.data(ORIGIN_ROLE), item.data(MODEL_ROLE) or "")

    def find(self, path: Path) -> QListWidgetItem | None:
        key = str(Path(path))
        for i in range(self.count()):
            if self.item(i).data(PATH_ROLE) == key:
                return self.item(i)
        return None

    def add(self, style: Style, choose: bool = False) -> QListWidgetItem:
        """Put a painting in the strip (once: a path already there is only chosen)."""
        item = self.find(style.path)
        if item is None:
            pix = read_thumbnail(style.path, THUMB) if style.path.is_file() else None
            title = ("⚡ " if style.model else "") + style.title  # ⚡: a fast model's style
            item = QListWidgetItem(QIcon(pix or missing_tile(THUMB, style.title)), title)
            item.setData(PATH_ROLE, str(Path(style.path)))
            item.setData(ORIGIN_ROLE, style.origin)
            item.setData(MODEL_ROLE, style.model)
            item.setData(TITLE_ROLE, style.title)
            tip = style.title + (f"\nthe style of the fast model {style.model}: the Fast "
                                 "method paints in it in about a second" if style.model
                                 else f"\n{style.path}")
            item.setToolTip(tip)
            item.setSizeHint(self.gridSize())
            if style.origin == "model":  # the shipped ones first
                row = sum(1 for s in self.styles() if s.origin == "model")
                self.insertItem(row, item)
            else:
                self.addItem(item)
        if choose:
            item.setSelected(True)
            self.scrollToItem(item)
        return item

    def remove(self, path: Path) -> None:
        item = self.find(path)
        if item is not None:
            self.takeItem(self.row(item))
            self.chosen_changed.emit()

    def chosen(self) -> list[Style]:
        return [self._style(self.item(i)) for i in range(self.count())
                if self.item(i).isSelected()]

    def choose(self, paths: list[str]) -> None:
        self.blockSignals(True)
        wanted = {str(Path(p)) for p in paths}
        for i in range(self.count()):
            self.item(i).setSelected(self.item(i).data(PATH_ROLE) in wanted)
        self.blockSignals(False)
        self.chosen_changed.emit()

    def _menu(self, pos) -> None:
        item = self.itemAt(pos)
        if item is None or item.data(ORIGIN_ROLE) != "user":
            return
        menu = QMenu(self)
        path = Path(item.data(PATH_ROLE))
        menu.addAction("Remove from the strip", lambda: self.remove(path))
        menu.exec(self.viewport().mapToGlobal(pos))


class ElidedLabel(QLabel):
    """A one-line label that ends in "…" when it is narrower than its text."""

    def __init__(self, text: str, parent: QWidget | None = None):
        super().__init__(text, parent)
        self.full = text
        self.setSizePolicy(QSizePolicy.Ignored, QSizePolicy.Preferred)
        self.setMinimumWidth(self.fontMetrics().horizontalAdvance("Mmmm…"))

    def resizeEvent(self, event) -> None:  # noqa: N802 (Qt's name)
        super().resizeEvent(event)
        self.setText(self.fontMetrics().elidedText(self.full, Qt.ElideMiddle, self.width()))


class StyleWeights(QWidget):
    """One row per chosen style: its name, its weight, and × to leave it."""

    changed = Signal()
    removed = Signal(object)  # the Path of a style left out with ×

    def __init__(self, parent: QWidget | None = None):
        super().__init__(parent)
        self.grid = theme.pad(QGridLayout(self), 0)
        self.grid.setVerticalSpacing(theme.SPACE_S)
        self.grid.setColumnStretch(0, 1)
        self.spins: dict[str, QDoubleSpinBox] = {}
        self.weights: dict[str, float] = {}  # kept for a style chosen again
        self.empty = QLabel("Choose a painting in the strip, or open one")
        self.empty.setObjectName("muted")
        self.empty.setWordWrap(True)
        self.set_styles([])

    def set_styles(self, styles: list[Style]) -> None:
        for spin in self.spins.values():
            self.weights[spin.objectName()] = spin.value()
        while self.grid.count():
            w = self.grid.takeAt(0).widget()
            if w is not None and w is not self.empty:
                w.hide()  # gone from the screen now, deleted when the event loop comes round
                w.deleteLater()
        self.spins = {}
        if not styles:
            self.grid.addWidget(self.empty, 0, 0, 1, 3)
            self.empty.show()
        else:
            self.empty.hide()
        for row, style in enumerate(styles):
            key = str(style.path)
            name = ElidedLabel(style.title)
            name.setToolTip(f"{style.title}\n{key}")
            spin = QDoubleSpinBox()
            spin.setObjectName(key)
            spin.setRange(0.05, 10.0)
            spin.setSingleStep(0.1)
            spin.setDecimals(2)
            spin.setValue(self.weights.get(key, 1.0))
            spin.setToolTip("How much of this painting's style, against the others chosen")
            spin.valueChanged.connect(self.changed)
            drop = QPushButton("×")
            drop.setToolTip("Leave this style out")
            drop.setFixedWidth(drop.fontMetrics().horizontalAdvance("×") + 24)
            drop.clicked.connect(lambda _=False, p=style.path: self.removed.emit(p))
            self.grid.addWidget(name, row, 0)
            self.grid.addWidget(spin, row, 1)
            self.grid.addWidget(drop, row, 2)
            self.spins[key] = spin
        self.changed.emit()

    def weight(self, path: Path) -> float:
        spin = self.spins.get(str(path))
        return spin.value() if spin is not None else self.weights.get(str(path), 1.0)

    def all_weights(self) -> dict[str, float]:
        return {**self.weights, **{k: s.value() for k, s in self.spins.items()}}

    def restore(self, weights: Any) -> None:
        if isinstance(weights, dict):
            self.weights.update({str(k): float(v) for k, v in weights.items()
                                 if isinstance(v, int | float) and 0.05 <= v <= 10})
            for k, spin in self.spins.items():
                if k in self.weights:
                    spin.setValue(self.weights[k])
