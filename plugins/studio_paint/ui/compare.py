"""The before/after view: two pictures of the same scene on top of each other, the "before" left
of a divider the user drags and the "after" right of it; wheel, + and - zoom (about the
cursor), 0 fits, 1 shows every pixel (100%), a drag elsewhere pans.

Each picture becomes a QPixmap once, when it is set (a numpy array is wrapped in a QImage
without a copy and converted straight into the pixmap). Painting draws only what is visible;
below 100% a smoothly scaled copy is made once per zoom level, after the zoom has settled, and
meanwhile the unsmoothed pixmap is drawn (fast while the wheel turns).
"""

from __future__ import annotations

import numpy as np
from PySide6.QtCore import QPointF, QRectF, QSize, Qt, QTimer, Signal
from PySide6.QtGui import QColor, QImage, QPainter, QPainterPath, QPen, QPixmap
from PySide6.QtWidgets import QHBoxLayout, QLabel, QPushButton, QSizePolicy, QWidget

from studio.ui import theme

MIN_ZOOM, MAX_ZOOM = 0.02, 32.0
STEP = 1.25  # one wheel notch, one + or -
GRAB = 8  # px either side of the divider that pick it up
SETTLE_MS = 120  # the zoom is still this long before the smooth copy is made


def pixmap_from_array(array: np.ndarray) -> QPixmap:
    """A QPixmap of a uint8 (H, W), (H, W, 3) or (H, W, 4) array: the array is wrapped in a
    QImage without a copy (made contiguous first if it is a strided view) and converted once into
    the pixmap's own format. Call on the GUI thread."""
    a = np.asarray(array)
    if a.dtype != np.uint8:
        raise ValueError(f"a picture must be uint8, not {a.dtype}")
    if a.ndim == 3 and a.shape[2] == 1:
        a = a[:, :, 0]
    if not a.flags.c_contiguous:
        a = np.ascontiguousarray(a)
    formats = {2: QImage.Format_Grayscale8, 3: QImage.Format_RGB888, 4: QImage.Format_RGBA8888}
    channels = 2 if a.ndim == 2 else (a.shape[2] if a.ndim == 3 else 0)
    if channels not in formats or a.shape[0] == 0 or a.shape[1] == 0:
        raise ValueError(f"cannot show an array of shape {a.shape} as a picture")
    h, w = a.shape[:2]
    view = QImage(a.data, w, h, a.strides[0], formats[channels])  # borrows ``a``'s memory
    return QPixmap.fromImage(view)  # the one copy, while ``a`` is alive


def as_pixmap(picture: np.ndarray | QImage | QPixmap | None) -> QPixmap | None:
    if picture is None or isinstance(picture, QPixmap):
        return picture
    if isinstance(picture, QImage):
        return QPixmap.fromImage(picture)
    return pixmap_from_array(picture)


class CompareView(QWidget):
    """``set_before``/``set_after`` take numpy uint8 pictures (or QImage/QPixmap). The "after"
    is drawn over the "before"'s rectangle, so a preview computed smaller lines up with the
    photo. ``split`` is the divider's place as a share of the view's width."""

    zoom_changed = Signal(float)
    split_changed = Signal(float)

    def __init__(self, empty_text: str = "Open or drop a photo", parent: QWidget | None = None):
        super().__init__(parent)
        self.empty_text = empty_text
        self.before: QPixmap | None = None
        self.after: QPixmap | None = None
        self.labels = ("Before", "After")
        self.split = 0.5
        self.zoom = 1.0
        self.fitted = True  # refit when the view or the picture changes
        self.origin = QPointF(0, 0)  # where the picture's top-left corner is drawn
        self._drag: str | None = None  # "split" or "pan"
        self._last = QPointF()
        self._smooth: dict[str, tuple[tuple[int, int, int], QPixmap]] = {}
        self._settle = QTimer(self)
        self._settle.setSingleShot(True)
        self._settle.setInterval(SETTLE_MS)
        self._settle.timeout.connect(self._make_smooth)
        self.setMouseTracking(True)
        self.setFocusPolicy(Qt.StrongFocus)
        self.setMinimumSize(160, 120)
        self.setSizePolicy(QSizePolicy.Expanding, QSizePolicy.Expanding)
        self.setToolTip("Drag the divider to compare; wheel or + and - to zoom, drag to pan, "
                        "0 to fit, 1 for 100%")

    def sizeHint(self) -> QSize:  # noqa: N802 (Qt's name)
        return QSize(480, 360)

    # -- pictures ------------------------------------------------------------------------------
    def set_before(self, picture: np.ndarray | QImage | QPixmap | None) -> None:
        """The photo (None: none). A picture of a new size is fitted to the view."""
        old = self.image_size()
        self.before = as_pixmap(picture)
        self._smooth.pop("before", None)
        self._picture_changed(old)

    def set_after(self, picture: np.ndarray | QImage | QPixmap | None) -> None:
        """The result, or the newest preview of it (None: none)."""
        old = self.image_size()
        self.after = as_pixmap(picture)
        self._smooth.pop("after", None)
        self._picture_changed(old)

    def set_labels(self, before: str, after: str) -> None:
        self.labels = (before, after)
        self.update()

    def image_size(self) -> QSize:
        """The picture's size in pixels: the before's (the after is drawn over it)."""
        ref = self.before if self.before is not None else self.after
        return ref.size() if ref is not None else QSize()

    def has_picture(self) -> bool:
        return self.before is not None or self.after is not None

    def _picture_changed(self, old: QSize) -> None:
        if self.image_size() != old:
            self.fitted = True
        if self.fitted:
            self.fit()
        else:
            self.update()

    # -- geometry ------------------------------------------------------------------------------
    def target(self) -> QRectF:
        """Where the picture is drawn, in the view's coordinates."""
        s = self.image_size()
        return QRectF(self.origin.x(), self.origin.y(), s.width() * self.zoom,
                      s.height() * self.zoom)

    def divider_x(self) -> float:
        """The divider's x in the view, kept on the picture."""
        t = self.target()
        x = self.split * self.width()
        return min(max(x, t.left(), 0.0), t.right(), float(self.width()))

    def fit_zoom(self) -> float:
        s = self.image_size()
        if s.isEmpty() or self.width() < 2 or self.height() < 2:
            return 1.0
        return max(MIN_ZOOM, min(self.width() / s.width(), self.height() / s.height()))

    def fit(self) -> None:
        """The whole picture in the view, centred."""
        self.fitted = True
        self._set_zoom(self.fit_zoom(), None)
        s = self.image_size()
        self.origin = QPointF((self.width() - s.width() * self.zoom) / 2,
                              (self.height() - s.height() * self.zoom) / 2)
        self.update()

    def actual_size(self) -> None:
        """One picture pixel to one screen pixel, about the view's centre."""
        self.set_zoom(1.0)

    def zoom_in(self) -> None:
        self.set_zoom(self.zoom * STEP)

    def zoom_out(self) -> None:
        self.set_zoom(self.zoom / STEP)

    def set_zoom(self, zoom: float, anchor: QPointF | None = None) -> None:
        """Zoom keeping the picture point under ``anchor`` (default: the view's centre) still."""
        self.fitted = False
        self._set_zoom(zoom, anchor if anchor is not None else QPointF(self.width() / 2,
                                                                       self.height() / 2))
        self._clamp()
        self.update()

    def _set_zoom(self, zoom: float, anchor: QPointF | None) -> None:
        zoom = min(max(zoom, MIN_ZOOM), MAX_ZOOM)
        if anchor is not None:
            at = (anchor - self.origin) / self.zoom  # picture coordinates under the anchor
            self.origin = anchor - at * zoom
        if zoom != self.zoom:
            self.zoom = zoom
            self._settle.start()
            self.zoom_changed.emit(zoom)

    def pan(self, dx: float, dy: float) -> None:
        self.fitted = False
        self.origin += QPointF(dx, dy)
        self._clamp()
        self.update()

    def _clamp(self) -> None:
        """Keep the picture on screen: centred along an axis where it is smaller than the view,
        otherwise with no gap at either edge."""
        t = self.target()
        x, y = self.origin.x(), self.origin.y()
        if t.width() <= self.width():
            x = (self.width() - t.width()) / 2
        else:
            x = min(0.0, max(x, self.width() - t.width()))
        if t.height() <= self.height():
            y = (self.height() - t.height()) / 2
        else:
            y = min(0.0, max(y, self.height() - t.height()))
        self.origin = QPointF(x, y)

    def set_split(self, share: float) -> None:
        share = min(max(float(share), 0.0), 1.0)
        if share != self.split:
            self.split = share
            self.split_changed.emit(share)
            self.update()

    # -- painting ------------------------------------------------------------------------------
    def _make_smooth(self) -> None:
        """Smoothly scaled copies for the current zoom, of each picture shown smaller than its
        own pixels (at their screen's device pixels: sharp on a HiDPI screen)."""
        size = self._device_size()
        for name, pix in (("before", self.before), ("after", self.after)):
            if pix is None or min(size) < 1:
                continue
            key = (pix.cacheKey(), *size)
            if name in self._smooth and self._smooth[name][0] == key:
                continue
            if size[0] >= pix.width():  # shown at its own pixels or larger: nothing to smooth
                self._smooth.pop(name, None)
                continue
            scaled = pix.scaled(*size, Qt.IgnoreAspectRatio, Qt.SmoothTransformation)
            scaled.setDevicePixelRatio(self.devicePixelRatioF())  # sharp on a HiDPI screen
            self._smooth[name] = (key, scaled)
        self.update()

    def _device_size(self) -> tuple[int, int]:
        """The picture's size on screen in device pixels (twice the points at scale 2)."""
        t, dpr = self.target(), self.devicePixelRatioF()
        return round(t.width() * dpr), round(t.height() * dpr)

    def _draw(self, p: QPainter, name: str, pix: QPixmap) -> None:
        t = self.target()
        cached = self._smooth.get(name)
        if cached is not None and cached[0] == (pix.cacheKey(), *self._device_size()):
            p.drawPixmap(t.topLeft(), cached[1])  # made once for this zoom
            return
        if self._device_size()[0] < pix.width() and not self._settle.isActive():
            self._settle.start()
        # only the visible part of the picture, scaled by Qt as it draws
        view = QRectF(self.rect()).intersected(t)
        if view.isEmpty():
            return
        sx, sy = pix.width() / t.width(), pix.height() / t.height()
        source = QRectF((view.left() - t.left()) * sx, (view.top() - t.top()) * sy,
                        view.width() * sx, view.height() * sy)
        p.setRenderHint(QPainter.SmoothPixmapTransform, 1.0 < self.zoom < 2.0)
        p.drawPixmap(view, pix, source)

    def paintEvent(self, event) -> None:  # noqa: N802
        p = QPainter(self)
        p.fillRect(self.rect(), QColor(theme.SURFACE))
        if not self.has_picture():
            p.setPen(QColor(theme.MUTED))
            p.drawText(self.rect(), Qt.AlignCenter | Qt.TextWordWrap, self.empty_text)
            return
        both = self.before is not None and self.after is not None
        if not both:
            only = "before" if self.before is not None else "after"
            self._draw(p, only, self.before if self.before is not None else self.after)
            self._label(p, self.labels[0 if only == "before" else 1], 8, Qt.AlignLeft)
            return
        x = self.divider_x()
        p.save()
        p.setClipRect(QRectF(0, 0, x, self.height()))
        self._draw(p, "before", self.before)
        p.setClipRect(QRectF(x, 0, self.width() - x, self.height()))
        self._draw(p, "after", self.after)
        p.restore()
        self._divider(p, x)
        self._label(p, self.labels[0], x - 8, Qt.AlignRight)
        self._label(p, self.labels[1], x + 8, Qt.AlignLeft)

    def _divider(self, p: QPainter, x: float) -> None:
        t = self.target()
        top, bottom = max(0.0, t.top()), min(float(self.height()), t.bottom())
        p.setRenderHint(QPainter.Antialiasing)
        p.setPen(QPen(QColor(0, 0, 0, 110), 4))
        p.drawLine(QPointF(x, top), QPointF(x, bottom))
        p.setPen(QPen(QColor(theme.TEXT), 2))
        p.drawLine(QPointF(x, top), QPointF(x, bottom))
        mid = (top + bottom) / 2
        p.setBrush(QColor(theme.RAISED))
        p.setPen(QPen(QColor(theme.TEXT), 2))
        p.drawEllipse(QPointF(x, mid), 13, 13)
        p.setBrush(QColor(theme.TEXT))
        p.setPen(Qt.NoPen)
        for d in (-1, 1):  # two small arrows: it moves sideways
            tri = QPainterPath(QPointF(x + d * 9, mid))
            tri.lineTo(QPointF(x + d * 3, mid - 5))
            tri.lineTo(QPointF(x + d * 3, mid + 5))
            tri.closeSubpath()
            p.drawPath(tri)

    def _label(self, p: QPainter, text: str, x: float, side: Qt.AlignmentFlag) -> None:
        if not text:
            return
        fm = p.fontMetrics()
        w, h = fm.horizontalAdvance(text) + 16, fm.height() + 6
        t = self.target()
        y = max(8.0, t.top() + 8)
        left = x - w if side == Qt.AlignRight else x
        if left < 0 or left + w > self.width():
            return  # no room on this side of the divider
        box = QRectF(left, y, w, h)
        p.setRenderHint(QPainter.Antialiasing)
        p.setPen(Qt.NoPen)
        p.setBrush(QColor(0, 0, 0, 150))
        p.drawRoundedRect(box, h / 2, h / 2)
        p.setPen(QColor(theme.TEXT))
        p.drawText(box, Qt.AlignCenter, text)

    # -- the user's hands ----------------------------------------------------------------------
    def _near_divider(self, x: float) -> bool:
        return (self.before is not None and self.after is not None
                and abs(x - self.divider_x()) <= GRAB)

    def mousePressEvent(self, event) -> None:  # noqa: N802
        if event.button() != Qt.LeftButton or not self.has_picture():
            return super().mousePressEvent(event)
        pos = event.position()
        self._drag = "split" if self._near_divider(pos.x()) else "pan"
        self._last = pos
        if self._drag == "pan":
            self.setCursor(Qt.ClosedHandCursor)
        event.accept()

    def mouseMoveEvent(self, event) -> None:  # noqa: N802
        pos = event.position()
        if self._drag == "split":
            self.set_split(pos.x() / max(1, self.width()))
        elif self._drag == "pan":
            d = pos - self._last
            self._last = pos
            self.pan(d.x(), d.y())
        else:
            self.setCursor(Qt.SplitHCursor if self._near_divider(pos.x())
                           else Qt.OpenHandCursor if self.has_picture() else Qt.ArrowCursor)

    def mouseReleaseEvent(self, event) -> None:  # noqa: N802
        self._drag = None
        self.setCursor(Qt.SplitHCursor if self._near_divider(event.position().x())
                       else Qt.OpenHandCursor)

    def mouseDoubleClickEvent(self, event) -> None:  # noqa: N802
        """Fit, or 100% about the point clicked when already fitted."""
        if self.fitted:
            self.set_zoom(1.0, event.position())
        else:
            self.fit()

    def wheelEvent(self, event) -> None:  # noqa: N802
        steps = event.angleDelta().y() / 120
        if steps and self.has_picture():
            self.set_zoom(self.zoom * STEP ** steps, event.position())
        event.accept()

    def keyPressEvent(self, event) -> None:  # noqa: N802
        key = event.key()
        if key in (Qt.Key_Plus, Qt.Key_Equal):
            self.zoom_in()
        elif key in (Qt.Key_Minus, Qt.Key_Underscore):
            self.zoom_out()
        elif key in (Qt.Key_0, Qt.Key_F):
            self.fit()
        elif key == Qt.Key_1:
            self.actual_size()
        elif key in (Qt.Key_Left, Qt.Key_Right):
            self.set_split(self.split + (0.05 if key == Qt.Key_Right else -0.05))
        else:
            super().keyPressEvent(event)

    def resizeEvent(self, event) -> None:  # noqa: N802
        super().resizeEvent(event)
        if self.fitted:
            self.fit()
        else:
            self._clamp()


class ZoomBar(QWidget):
    """Fit, 100%, - and + for a CompareView, and its zoom in per cent."""

    def __init__(self, view: CompareView, parent: QWidget | None = None):
        super().__init__(parent)
        self.view = view
        lay = theme.pad(QHBoxLayout(self), 0, theme.SPACE_S)
        self.buttons: dict[str, QPushButton] = {}
        for key, text, tip, slot in (
                ("fit", "Fit", "The whole picture (0)", view.fit),
                ("actual", "100%", "Every pixel (1)", view.actual_size),
                ("out", "−", "Zoom out (-)", view.zoom_out),
                ("in", "+", "Zoom in (+)", view.zoom_in)):
            b = QPushButton(text)
            b.setToolTip(tip)
            b.setFocusPolicy(Qt.NoFocus)
            b.clicked.connect(slot)
            if key in ("out", "in"):
                b.setFixedWidth(b.fontMetrics().horizontalAdvance("+") + 28)
            lay.addWidget(b)
            self.buttons[key] = b
        self.label = QLabel()
        self.label.setObjectName("muted")
        self.label.setMinimumWidth(self.label.fontMetrics().horizontalAdvance("3200%") + 8)
        lay.addWidget(self.label)
        view.zoom_changed.connect(self._show)
        self._show(view.zoom)

    def _show(self, zoom: float) -> None:
        self.label.setText(f"{zoom * 100:.0f}%")
