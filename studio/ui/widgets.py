"""Shared widgets: capability tiles, an image view with zoom, numpy-to-QImage, a model picker."""

from __future__ import annotations

import zlib

import numpy as np
from PySide6.QtCore import QPoint, QRect, QRectF, QSize, Qt
from PySide6.QtGui import QColor, QFont, QIcon, QImage, QPainter, QPixmap, QWheelEvent
from PySide6.QtWidgets import (
    QComboBox,
    QGraphicsPixmapItem,
    QGraphicsScene,
    QGraphicsView,
    QHBoxLayout,
    QLabel,
    QLayout,
    QLayoutItem,
    QListView,
    QListWidget,
    QScrollArea,
    QSplitter,
    QVBoxLayout,
    QWidget,
)

from studio.ui import theme


def tile_icon(text: str, key: str, size: int = 64, letters: int = 1) -> QIcon:
    """A rounded tile with the first ``letters`` of ``text``, coloured by a stable hash of
    ``key``."""
    colour = QColor(theme.TILE_COLOURS[zlib.crc32(key.encode()) % len(theme.TILE_COLOURS)])
    pix = QPixmap(size, size)
    pix.fill(Qt.transparent)
    p = QPainter(pix)
    p.setRenderHint(QPainter.Antialiasing)
    p.setBrush(colour)
    p.setPen(Qt.NoPen)
    p.drawRoundedRect(QRectF(2, 2, size - 4, size - 4), size * 0.22, size * 0.22)
    font = QFont()
    font.setPixelSize(int(size * (0.5 if letters == 1 else 0.3)))
    font.setBold(True)
    p.setFont(font)
    p.setPen(QColor("#1b1b1b"))
    p.drawText(pix.rect(), Qt.AlignCenter, (text[:letters] or "?").upper())
    p.end()
    return QIcon(pix)


def capability_icon(icon: object, title: str, key: str) -> QIcon:
    if icon:
        qicon = QIcon(str(icon))
        if not qicon.isNull():
            return qicon
    return tile_icon(title, key)


RAIL_WIDTH = 80  # the capability rail: room for "Compose" under its icon


class FlowLayout(QLayout):
    """Items left to right, wrapping onto the next line where the width ends (a row of buttons
    that a narrow window folds rather than cuts). An item wider than a line gets the line."""

    def __init__(self, parent: QWidget | None = None, spacing: int = theme.SPACE):
        super().__init__(parent)
        self._items: list[QLayoutItem] = []
        self.setContentsMargins(0, 0, 0, 0)
        self.setSpacing(spacing)

    def addItem(self, item: QLayoutItem) -> None:  # noqa: N802 (Qt's names)
        self._items.append(item)

    def count(self) -> int:
        return len(self._items)

    def itemAt(self, index: int) -> QLayoutItem | None:  # noqa: N802
        return self._items[index] if 0 <= index < len(self._items) else None

    def takeAt(self, index: int) -> QLayoutItem | None:  # noqa: N802
        return self._items.pop(index) if 0 <= index < len(self._items) else None

    def expandingDirections(self) -> Qt.Orientations:  # noqa: N802
        return Qt.Orientations(0)

    def hasHeightForWidth(self) -> bool:  # noqa: N802
        return True

    def heightForWidth(self, width: int) -> int:  # noqa: N802
        return self._place(QRect(0, 0, width, 0), move=False)

    def setGeometry(self, rect: QRect) -> None:  # noqa: N802
        super().setGeometry(rect)
        self._place(rect, move=True)

    def sizeHint(self) -> QSize:  # noqa: N802
        """All on one line."""
        widths = [i.sizeHint().width() for i in self._shown()]
        m = self.contentsMargins()
        height = max((i.sizeHint().height() for i in self._shown()), default=0)
        return QSize(sum(widths) + self.spacing() * max(0, len(widths) - 1)
                     + m.left() + m.right(), height + m.top() + m.bottom())

    def minimumSize(self) -> QSize:  # noqa: N802
        """The widest item's minimum: everything else can wrap."""
        size = QSize()
        for item in self._shown():
            size = size.expandedTo(item.minimumSize())
        m = self.contentsMargins()
        return size + QSize(m.left() + m.right(), m.top() + m.bottom())

    def _shown(self) -> list[QLayoutItem]:
        return [i for i in self._items if not (i.widget() and i.widget().isHidden())]

    def _place(self, rect: QRect, move: bool) -> int:
        """Lay the items out in ``rect`` (only measuring unless ``move``), each centred in its
        line's height; the height used."""
        m = self.contentsMargins()
        left, right = rect.x() + m.left(), rect.right() - m.right()
        gap = self.spacing()
        lines: list[list[tuple[QLayoutItem, QSize]]] = [[]]
        x = left
        for item in self._shown():
            width = min(item.sizeHint().width(), right - left + 1)
            if lines[-1] and x + width - 1 > right:  # next line
                lines.append([])
                x = left
            height = (item.heightForWidth(width) if item.hasHeightForWidth()
                      else item.sizeHint().height())
            lines[-1].append((item, QSize(width, height)))
            x += width + gap
        y = rect.y() + m.top()
        for line in (line for line in lines if line):
            tall = max(size.height() for _, size in line)
            x = left
            for item, size in line:
                if move:
                    item.setGeometry(QRect(QPoint(x, y + (tall - size.height()) // 2), size))
                x += size.width() + gap
            y += tall + gap
        used = y - gap if any(lines) else y
        return used + m.bottom() - rect.y()


def group_row(*widgets: QWidget) -> QWidget:
    """Widgets kept together on one row (of a FlowLayout that folds between groups, never
    inside one), ``SPACE_S`` apart."""
    box = QWidget()
    lay = theme.pad(QHBoxLayout(box), 0, theme.SPACE_S)
    for widget in widgets:
        lay.addWidget(widget)
    return box


def capability_switcher() -> QListWidget:
    """The window's capability rail: a narrow column of icons, each titled underneath."""
    rail = QListWidget()
    rail.setObjectName("switcher")
    rail.setViewMode(QListView.IconMode)
    rail.setFlow(QListView.TopToBottom)
    rail.setWrapping(False)
    rail.setMovement(QListView.Static)
    rail.setResizeMode(QListView.Adjust)
    rail.setIconSize(QSize(32, 32))
    rail.setGridSize(QSize(RAIL_WIDTH - 2 * theme.SPACE_S, 64))
    rail.setSpacing(0)
    rail.setFixedWidth(RAIL_WIDTH)
    rail.setHorizontalScrollBarPolicy(Qt.ScrollBarAlwaysOff)
    rail.setVerticalScrollBarPolicy(Qt.ScrollBarAsNeeded)
    return rail


def to_qimage(array: np.ndarray) -> QImage:
    """A QImage owning a copy of a uint8 (H, W), (H, W, 3) or (H, W, 4) array. Safe to build off
    the GUI thread (QPixmap is not)."""
    a = np.asarray(array)
    if a.dtype != np.uint8:
        a = (np.clip(a.astype(np.float32), 0, 1) * 255).astype(np.uint8)
    a = np.ascontiguousarray(a)
    if a.ndim == 2:
        fmt = QImage.Format_Grayscale8
    elif a.ndim == 3 and a.shape[2] == 3:
        fmt = QImage.Format_RGB888
    elif a.ndim == 3 and a.shape[2] == 4:
        fmt = QImage.Format_RGBA8888
    else:
        raise ValueError(f"cannot show an array of shape {a.shape} as an image")
    h, w = a.shape[:2]
    return QImage(a.data, w, h, a.strides[0], fmt).copy()


class ImageView(QGraphicsView):
    """Shows an image fitted to the view; the wheel zooms, double-click fits again."""

    def __init__(self, parent=None):
        super().__init__(parent)
        self._scene = QGraphicsScene(self)
        self._item = QGraphicsPixmapItem()
        self._item.setTransformationMode(Qt.SmoothTransformation)
        self._scene.addItem(self._item)
        self.setScene(self._scene)
        self.setDragMode(QGraphicsView.ScrollHandDrag)
        self.setTransformationAnchor(QGraphicsView.AnchorUnderMouse)
        self.setBackgroundBrush(QColor(theme.SURFACE))
        self.setFrameShape(QGraphicsView.NoFrame)
        self._fit = True

    def set_image(self, image: QImage | np.ndarray) -> None:
        if isinstance(image, np.ndarray):
            image = to_qimage(image)
        self._item.setPixmap(QPixmap.fromImage(image))
        self._scene.setSceneRect(self._item.boundingRect())
        if self._fit:
            self.fit()

    def has_image(self) -> bool:
        return not self._item.pixmap().isNull()

    def fit(self) -> None:
        self._fit = True
        if self.has_image():
            self.fitInView(self._item, Qt.KeepAspectRatio)

    def wheelEvent(self, event: QWheelEvent) -> None:
        factor = 1.25 if event.angleDelta().y() > 0 else 0.8
        self._fit = False
        self.scale(factor, factor)

    def mouseDoubleClickEvent(self, event) -> None:
        self.fit()

    def resizeEvent(self, event) -> None:
        super().resizeEvent(event)
        if self._fit:
            self.fit()


class ModelPicker(QComboBox):
    """An editable list of one capability's models in the store: ``model_id()`` is the chosen
    card's id, or what the user typed. ``blank``: the label of a first entry that names no
    model (its id is "")."""

    def __init__(self, models: object, capability: str, default: str, parent=None,
                 blank: str = ""):
        super().__init__(parent)
        self.models, self.capability, self.default, self.blank = models, capability, default, blank
        self.setEditable(True)
        # a long model title shows its start rather than widening the form around it
        self.setSizeAdjustPolicy(QComboBox.AdjustToMinimumContentsLengthWithIcon)
        self.setMinimumContentsLength(16)
        self.refresh()

    def cards(self) -> list:
        try:
            return [c for c in self.models.cards() if c.capability == self.capability]
        except Exception:  # an unreadable store lists nothing rather than failing the panel
            return []

    def model_id(self) -> str:
        text = self.currentText().strip()
        i = self.findText(text)
        return self.itemData(i) if i >= 0 and self.itemData(i) is not None else text

    def select(self, model_id: str | None) -> None:
        i = self.findData(model_id) if model_id is not None else -1
        if i >= 0:
            self.setCurrentIndex(i)
            self.lineEdit().setCursorPosition(0)

    def refresh(self, select: str | None = None) -> None:
        """List the models (again), keeping the current one, or making ``select`` current when
        the store has it."""
        current = self.model_id() if self.count() else ""
        self.blockSignals(True)
        self.clear()
        if self.blank:
            self.addItem(self.blank, "")
        for card in self.cards():
            self.addItem(card.title or card.id, card.id)
        if self.count() == 0 and self.default:
            self.addItem(self.default, self.default)
        if select and self.findData(select) >= 0:
            current = select
        i = self.findData(current) if current else -1
        if i >= 0:
            self.setCurrentIndex(i)
        elif current:
            self.setEditText(current)
        self.lineEdit().setCursorPosition(0)  # a long title shows its start
        self.blockSignals(False)


def training_split(form: QWidget, buttons: list[QWidget], below: list[QWidget],
                   right: list[tuple[QWidget, int]], sizes: tuple[int, int]) -> QSplitter:
    """A training tab: the parameter form (scrolling) over a row of buttons (the first one
    stretching) and ``below``, on the left; ``right``'s (widget, stretch) stacked on the right."""
    left = QWidget()
    lv = theme.pad(QVBoxLayout(left))
    lv.addWidget(form_scroll(form), 1)
    row = theme.pad(QHBoxLayout(), 0)
    for i, button in enumerate(buttons):
        row.addWidget(button, 1 if i == 0 else 0)
    lv.addLayout(row)
    for widget in below:
        lv.addWidget(widget)
    side = QWidget()
    rv = theme.pad(QVBoxLayout(side), (0, theme.SPACE, theme.SPACE, theme.SPACE))
    for widget, stretch in right:
        rv.addWidget(widget, stretch)
    split = side_by_side(left, side, sizes, stretch=(2, 3))
    split.setChildrenCollapsible(False)
    return split


def form_scroll(form: QWidget) -> QScrollArea:
    """``form`` in a scroll area as wide as the form needs: it scrolls up and down, never
    sideways (a Browse button is never out of sight)."""
    scroll = QScrollArea()
    scroll.setWidgetResizable(True)
    scroll.setWidget(form)
    scroll.setHorizontalScrollBarPolicy(Qt.ScrollBarAlwaysOff)
    scroll.setMinimumWidth(form.minimumSizeHint().width()
                           + scroll.verticalScrollBar().sizeHint().width() + theme.SPACE_S)
    form.setContentsMargins(0, 0, theme.SPACE_S, 0)
    return scroll


def side_by_side(left: QWidget, right: QWidget, sizes: tuple[int, int],
                 stretch: tuple[int, int] | None = None) -> QSplitter:
    """Two panes in a horizontal splitter, first ``sizes`` pixels wide; ``stretch`` shares out
    width the window gains (Qt's default when None)."""
    split = QSplitter(Qt.Horizontal)
    split.addWidget(left)
    split.addWidget(right)
    if stretch is not None:
        split.setStretchFactor(0, stretch[0])
        split.setStretchFactor(1, stretch[1])
    split.setSizes(list(sizes))
    return split


def show_status(label: QLabel, text: str, error: bool = False) -> None:
    """Set ``label``'s text, styled "error" or "muted" (restyled only when that changes)."""
    label.setText(text)
    name = "error" if error else "muted"
    if label.objectName() != name:
        label.setObjectName(name)
        label.style().unpolish(label)
        label.style().polish(label)
