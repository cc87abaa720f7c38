"""The drive panel's pictures and gauges: a frame fitted to its box (sharp pixels for what the
agent sees, smooth for the track and the dream), the stage that lays out the large view beside
the column of 64x64 panes, and a meter (steering, gas, brake, the dream's done probability)."""

from __future__ import annotations

import numpy as np
from PySide6.QtCore import QRect, QRectF, QSize, Qt, Signal
from PySide6.QtGui import QColor, QFont, QImage, QPainter, QPen
from PySide6.QtWidgets import QSizePolicy, QWidget

from studio.ui import theme
from studio.ui.widgets import to_qimage

CAPTION_H = 20  # px under each pane for its caption


class FrameView(QWidget):
    """A numpy frame drawn as large as fits its box at its aspect ratio (``aspect``:
    width / height, or that of the frame), with a caption under it and a line of text when
    there is no frame. ``sharp``: each pixel a block (what the agent sees), else smoothed."""

    def __init__(self, caption: str = "", empty: str = "", sharp: bool = True,
                 aspect: float | None = None, parent: QWidget | None = None):
        super().__init__(parent)
        self.caption, self.empty, self.sharp, self.aspect = caption, empty, sharp, aspect
        self.image: QImage | None = None
        self._array: np.ndarray | None = None
        self.badge = ""  # a word at the top left (PAUSED, ● REC)
        self.setMinimumSize(48, 48)
        self.setSizePolicy(QSizePolicy.Expanding, QSizePolicy.Expanding)

    def set_frame(self, frame: np.ndarray | None) -> None:
        """An RGB frame (H, W, 3), or (H, W, 4) in B, G, R, 255 order (Qt's RGB32: drawn as
        it lies, without a copy or a conversion), or None."""
        self._array = None
        if frame is None:
            self.image = None
        elif frame.ndim == 3 and frame.shape[2] == 4 and frame.dtype == np.uint8:
            a = np.ascontiguousarray(frame)
            self._array = a  # the image reads this buffer: keep it alive
            self.image = QImage(a.data, a.shape[1], a.shape[0], a.strides[0],
                                QImage.Format_RGB32)
        else:
            self.image = to_qimage(frame)
        self.update()

    def has_frame(self) -> bool:
        return self.image is not None

    def picture_rect(self) -> QRect:
        """Where the frame is drawn: centred in the box above the caption."""
        box = self.rect().adjusted(0, 0, 0, -(CAPTION_H if self.caption else 0))
        aspect = self.aspect or (self.image.width() / self.image.height()
                                 if self.image is not None else 1.0)
        w = min(box.width(), int(box.height() * aspect))
        h = min(box.height(), int(w / aspect))
        return QRect(box.x() + (box.width() - w) // 2, box.y() + (box.height() - h) // 2, w, h)

    def paintEvent(self, event) -> None:  # noqa: N802 (Qt's name)
        p = QPainter(self)
        r = self.picture_rect()
        p.fillRect(r, QColor(theme.SURFACE))
        if self.image is not None:
            if self.image.size() == r.size():
                p.drawImage(r.topLeft(), self.image)  # drawn at its size: a plain copy
            else:
                p.setRenderHint(QPainter.SmoothPixmapTransform, not self.sharp)
                p.drawImage(QRectF(r), self.image)
        elif self.empty:
            p.setPen(QColor(theme.MUTED))
            p.drawText(r.adjusted(8, 8, -8, -8), Qt.AlignCenter | Qt.TextWordWrap, self.empty)
        if self.badge:
            font = QFont(p.font())
            font.setBold(True)
            p.setFont(font)
            fm = p.fontMetrics()
            b = QRect(r.x() + 8, r.y() + 8, fm.horizontalAdvance(self.badge) + 12, fm.height() + 4)
            p.fillRect(b, QColor(0, 0, 0, 160))
            p.setPen(QColor(theme.ERROR if "REC" in self.badge else theme.TEXT))
            p.drawText(b, Qt.AlignCenter, self.badge)
        if self.caption:
            p.setFont(self.font())
            p.setPen(QColor(theme.MUTED))
            cap = QRect(0, r.bottom() + 2, self.width(), CAPTION_H - 2)
            p.drawText(cap, Qt.AlignHCenter | Qt.AlignTop,
                       p.fontMetrics().elidedText(self.caption, Qt.ElideRight, self.width()))


class Stage(QWidget):
    """The large view beside a column of small square panes, laid out to use the box: the
    column is as wide as a third of the height allows (at most a third of the width) and the
    view takes the rest. Keys pressed while it has focus are the user's driving (the tab
    reads them); clicking it takes the focus."""

    resized = Signal()

    def __init__(self, view: FrameView, panes: list[FrameView], parent: QWidget | None = None):
        super().__init__(parent)
        self.view, self.panes = view, panes
        for w in (view, *panes):
            w.setParent(self)
        self.setFocusPolicy(Qt.StrongFocus)
        self.setMinimumSize(240, 180)

    def visible_panes(self) -> list[FrameView]:
        return [p for p in self.panes if not p.isHidden()]

    def resizeEvent(self, event) -> None:  # noqa: N802
        super().resizeEvent(event)
        self.arrange()
        self.resized.emit()

    def arrange(self) -> None:
        """Place the view and the panes as large as the box allows: of the ways to put the
        panes beside the view (a column, two columns) or below it (a row), and the view's
        heights from full down to half, the one that shows the most picture."""
        w, h = self.width(), self.height()
        panes = self.visible_panes()
        if not panes:
            self.view.setGeometry(0, 0, w, h)
            return
        best = layout_stage(w, h, len(panes), self.view.aspect or 1.0)
        (vx, vy, vw, vh), slots = best
        # what is laid out sits in the middle of the stage, not against its left edge
        used = max([vx + vw] + [x + side for x, _, side in slots])
        dx = max((w - used) // 2, 0)
        self.view.setGeometry(vx + dx, vy, vw, vh)
        for p, (x, y, side) in zip(panes, slots, strict=True):
            p.setGeometry(x + dx, y, side, side + CAPTION_H)

    def sizeHint(self) -> QSize:  # noqa: N802
        return QSize(640, 420)

    def mousePressEvent(self, event) -> None:  # noqa: N802
        self.setFocus(Qt.MouseFocusReason)
        super().mousePressEvent(event)

    def focusInEvent(self, event) -> None:  # noqa: N802
        super().focusInEvent(event)
        self.update()

    def focusOutEvent(self, event) -> None:  # noqa: N802
        super().focusOutEvent(event)
        self.update()

    def paintEvent(self, event) -> None:  # noqa: N802
        if self.hasFocus():  # the keys drive: say so with a thin frame around the view
            p = QPainter(self)
            p.setPen(QPen(QColor(theme.ACCENT), 2))
            p.drawRect(self.view.geometry().adjusted(1, 1, -1, -1))


def layout_stage(w: int, h: int, n: int, aspect: float, gap: int = 8
                 ) -> tuple[tuple[int, int, int, int], list[tuple[int, int, int]]]:
    """The view's box (x, y, width, height) and each pane's (x, y, side) in a w x h stage.

    The panes go beside the view (in one column or more) or below it (a row); the view may
    give up to half its height for them. Of the ways that give every pane at least ``target``
    pixels (twice the 64x64 frame's side where the stage is tall enough, a quarter of its
    height where it is not), the one with the largest view wins; where none does, the one with
    the largest panes."""
    target = min(128, max(48, h // 4))
    best_fit: tuple | None = None  # (view area, side, view box, slots) with side >= target
    best_side: tuple | None = None  # (side, view area, view box, slots)

    def consider(side: int, vw: int, vh: int, box: tuple, slots: list) -> None:
        nonlocal best_fit, best_side
        if side < 24:
            return
        area = vw * vh
        if side >= target and (best_fit is None or (area, side) > best_fit[:2]):
            best_fit = (area, side, box, slots)
        if best_side is None or (side, area) > best_side[:2]:
            best_side = (side, area, box, slots)

    for vh in range(h, max(h // 2, 1) - 1, -max(h // 40, 1)):
        vw = min(int(vh * aspect), w)
        vh_fit = int(vw / aspect)
        for cols in range(1, n + 1):  # beside the view: a grid of `cols` columns
            rows = -(-n // cols)
            side = min((h - gap * (rows - 1)) // rows - CAPTION_H,
                       (w - vw - gap) // cols - (gap if cols > 1 else 0))
            x0 = vw + gap
            consider(side, vw, vh_fit, (0, 0, vw, h),
                     [(x0 + (i % cols) * (side + gap), (i // cols) * (side + CAPTION_H + gap),
                       side) for i in range(n)])
        side = min((w - gap * (n - 1)) // n, h - vh_fit - gap - CAPTION_H)  # below: a row
        x0 = (w - (n * side + (n - 1) * gap)) // 2
        consider(side, vw, vh_fit, (0, 0, w, vh_fit),
                 [(x0 + i * (side + gap), vh_fit + gap, side) for i in range(n)])
    chosen = best_fit or best_side
    if chosen is None:  # too small for any: the panes get what a column leaves
        side = max((h - gap * (n - 1)) // n - CAPTION_H, 8)
        return (0, 0, max(w - side - gap, 8), h), [
            (w - side, i * (side + CAPTION_H + gap), side) for i in range(n)]
    return chosen[2], chosen[3]


class Meter(QWidget):
    """A labelled bar: ``value`` in [lo, hi], drawn from zero (steering grows left or right
    from the middle)."""

    def __init__(self, label: str, lo: float = 0.0, hi: float = 1.0, colour: str = theme.ACCENT,
                 parent: QWidget | None = None):
        super().__init__(parent)
        self.label, self.lo, self.hi, self.colour = label, lo, hi, QColor(colour)
        self.value = 0.0
        self.text = ""
        self.setMinimumSize(120, 18)
        self.setSizePolicy(QSizePolicy.Expanding, QSizePolicy.Fixed)

    def set_value(self, value: float, text: str | None = None) -> None:
        value = float(min(max(value, self.lo), self.hi))
        text = f"{value:+.2f}" if text is None and self.lo < 0 else (
            f"{value:.2f}" if text is None else text)
        if value != self.value or text != self.text:
            self.value, self.text = value, text
            self.update()

    def sizeHint(self) -> QSize:  # noqa: N802
        return QSize(200, 20)

    def paintEvent(self, event) -> None:  # noqa: N802
        p = QPainter(self)
        fm = p.fontMetrics()
        lw = max(fm.horizontalAdvance("Brake"), fm.horizontalAdvance("Steer"),
                 fm.horizontalAdvance(self.label)) + 8
        tw = fm.horizontalAdvance("+0.00") + 6
        h = self.height()
        p.setPen(QColor(theme.MUTED))
        p.drawText(QRect(0, 0, lw, h), Qt.AlignLeft | Qt.AlignVCenter, self.label)
        bar = QRect(lw, h // 2 - 4, max(self.width() - lw - tw - 6, 8), 8)
        p.fillRect(bar, QColor(theme.SURFACE))
        span = self.hi - self.lo
        zero = bar.x() + bar.width() * (0 - self.lo) / span
        x = bar.x() + bar.width() * (self.value - self.lo) / span
        p.fillRect(QRectF(min(zero, x), bar.y(), abs(x - zero), bar.height()), self.colour)
        if self.lo < 0:
            p.fillRect(QRectF(zero - 0.5, bar.y() - 2, 1, bar.height() + 4), QColor(theme.MUTED))
        p.setPen(QColor(theme.TEXT))
        p.drawText(QRect(self.width() - tw, 0, tw, h), Qt.AlignRight | Qt.AlignVCenter,
                   self.text)
