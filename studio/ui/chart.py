"""A small line chart of named series against step, with a legend: the loss curves of every
Train tab (write: train and validation; compose: critic and generator)."""

from __future__ import annotations

from PySide6.QtCore import QPointF, QRect, QRectF, Qt
from PySide6.QtGui import QColor, QPainter, QPen, QPolygonF
from PySide6.QtWidgets import QWidget

from studio.ui import theme

MAX_POINTS = 4000  # beyond this, every other point is dropped (the curve's shape stays)


def draw_hint(painter: QPainter, rect: QRectF | QRect, text: str) -> None:
    """An empty chart's hint, centred in ``rect`` and wrapped at word boundaries to fit its
    width (with a margin either side), never cut."""
    painter.save()
    painter.setPen(QColor(theme.MUTED))
    box = QRectF(rect).adjusted(theme.SPACE, theme.SPACE, -theme.SPACE, -theme.SPACE)
    painter.drawText(box, Qt.AlignCenter | Qt.TextWordWrap, text)
    painter.restore()


class LineChart(QWidget):
    """``add(step, name=value, ...)`` appends a point to each named series; a series with
    no points yet (an optional loss this run lacks) stays out of the legend."""

    def __init__(self, series: dict[str, str], empty_text: str = "", parent=None):
        super().__init__(parent)
        self.colours = {name: QColor(colour) for name, colour in series.items()}
        self.empty_text = empty_text or "The curves appear as it trains"
        self.steps: list[int] = []
        self.values: dict[str, list[float]] = {name: [] for name in series}
        self.setMinimumHeight(150)

    def add(self, step: int, **values: float) -> None:
        self.steps.append(int(step))
        for name, points in self.values.items():
            v = values.get(name)
            points.append(float(v) if v is not None else float("nan"))
        if len(self.steps) > MAX_POINTS:
            self.steps = self.steps[::2]
            self.values = {k: v[::2] for k, v in self.values.items()}
        self.update()

    def clear(self) -> None:
        self.steps.clear()
        for points in self.values.values():
            points.clear()
        self.update()

    def legend(self) -> list[str]:
        """The series that have a point to draw."""
        return [name for name, points in self.values.items() if any(v == v for v in points)]

    def paintEvent(self, event) -> None:
        p = QPainter(self)
        p.setRenderHint(QPainter.Antialiasing)
        p.fillRect(self.rect(), QColor(theme.SURFACE))
        if len(self.steps) < 2:
            draw_hint(p, self.rect(), self.empty_text)
            return
        finite = [v for pts in self.values.values() for v in pts if v == v]
        lo, hi = (min(finite), max(finite)) if finite else (0.0, 1.0)
        hi = hi if hi > lo else lo + 1
        m, top = 40, 24
        w, h = self.width() - m - 12, self.height() - top - 28
        s0, s1 = self.steps[0], max(self.steps[-1], self.steps[0] + 1)
        zero = top + h * (1 - (0 - lo) / (hi - lo))
        if top < zero < top + h:
            p.setPen(QPen(QColor(theme.BORDER), 1, Qt.DashLine))
            p.drawLine(QPointF(m, zero), QPointF(m + w, zero))
        for name, points in self.values.items():
            poly = QPolygonF([QPointF(m + w * (s - s0) / (s1 - s0),
                                      top + h * (1 - (v - lo) / (hi - lo)))
                              for s, v in zip(self.steps, points, strict=False) if v == v])
            p.setPen(QPen(self.colours[name], 2))
            p.drawPolyline(poly)
        p.setPen(QColor(theme.MUTED))
        p.drawText(QRectF(2, top - 8, m - 6, 16), Qt.AlignRight | Qt.AlignVCenter, f"{hi:.3g}")
        p.drawText(QRectF(2, top + h - 8, m - 6, 16), Qt.AlignRight | Qt.AlignVCenter, f"{lo:.3g}")
        last = ", ".join(f"{name} {pts[-1]:.3f}" for name, pts in self.values.items()
                         if pts and pts[-1] == pts[-1])
        p.drawText(QRectF(m, self.height() - 22, w, 18), Qt.AlignLeft | Qt.AlignVCenter,
                   f"step {self.steps[-1]}: {last}")
        x = m
        for name in self.legend():  # top left
            colour = self.colours[name]
            p.fillRect(QRectF(x, 8, 10, 10), colour)
            p.setPen(QColor(theme.TEXT))
            p.drawText(QRectF(x + 14, 4, 120, 18), Qt.AlignLeft | Qt.AlignVCenter, name)
            x += 24 + p.fontMetrics().horizontalAdvance(name)
