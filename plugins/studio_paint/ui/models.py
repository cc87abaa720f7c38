"""The list of translation models, each with a thumbnail of what it does: the sample picture in
its folder when it has one (``sample.png``/``.jpg``/``.webp``, or the file its card's
``config.sample`` names), else a tile naming its two domains ("photo → Monet")."""

from __future__ import annotations

import json
import struct
from pathlib import Path
from typing import Any

from PySide6.QtCore import QRectF, QSize, Qt, Signal
from PySide6.QtGui import (
    QColor,
    QFont,
    QGuiApplication,
    QIcon,
    QImageReader,
    QLinearGradient,
    QPainter,
    QPixmap,
)
from PySide6.QtWidgets import QListWidget, QListWidgetItem

from studio.ui import theme
from studio_paint.kinds import CYCLEGAN

THUMB = 56  # px, the thumbnail's side
SAMPLE_NAMES = ("sample.webp", "sample.jpg", "sample.png", "thumbnail.png", "thumbnail.jpg")


def domains(card: Any) -> tuple[str, str]:
    d = card.config.get("domains") if isinstance(card.config, dict) else None
    if isinstance(d, dict):
        return str(d.get("a") or "A"), str(d.get("b") or "B")
    return "A", "B"


def direction_text(card: Any, direction: str) -> str:
    a, b = domains(card)
    return f"{a} → {b}" if direction == "a2b" else f"{b} → {a}"


def default_direction(card: Any) -> str:
    d = card.config.get("default_direction") if isinstance(card.config, dict) else None
    return d if d in ("a2b", "b2a") else "a2b"


def safetensors_keys(path: Path) -> list[str]:
    """The tensor names in a safetensors file, from its header alone (a few kB read)."""
    with open(path, "rb") as f:
        (n,) = struct.unpack("<Q", f.read(8))
        if n > 100_000_000:
            raise ValueError("not a safetensors header")
        header = json.loads(f.read(n))
    return [k for k in header if k != "__metadata__"]


def directions(card: Any) -> list[str]:
    """The directions the model's file holds generators for ("a2b", "b2a"); for a model not
    on disk (a catalogue entry), its default direction."""
    found: set[str] = set()
    folder = getattr(card, "folder", None)
    for f in getattr(card, "files", []):
        if folder is None or not f.name.endswith(".safetensors"):
            continue
        try:
            keys = safetensors_keys(Path(folder) / f.name)
        except (OSError, ValueError):
            continue
        found |= {k.split(".", 1)[0] for k in keys if k.startswith(("a2b.", "b2a."))}
    listed = [d for d in ("a2b", "b2a") if d in found]
    first = default_direction(card)
    if not listed:
        return [first]
    return sorted(listed, key=lambda d: d != first)  # the default first


def sample_path(card: Any) -> Path | None:
    folder = getattr(card, "folder", None)
    if folder is None:
        return None
    names = list(SAMPLE_NAMES)
    named = card.config.get("sample") if isinstance(card.config, dict) else None
    if isinstance(named, str) and named and "/" not in named and "\\" not in named:
        names.insert(0, named)
    for name in names:
        p = Path(folder) / name
        if p.is_file():
            return p
    return None


def screen_ratio() -> float:
    """Device pixels per point of the screen (2 on a HiDPI screen at scale 2)."""
    app = QGuiApplication.instance()
    return float(app.devicePixelRatio()) if app is not None else 1.0


def read_thumbnail(path: Path, side: int) -> QPixmap | None:
    """A picture scaled (and cropped at the centre) to a square of ``side`` points, at the
    screen's device pixels, decoded at that size where the format allows (JPEG decodes small
    directly)."""
    ratio = screen_ratio()
    points, side = side, round(side * ratio)
    reader = QImageReader(str(path))
    reader.setAutoTransform(True)
    size = reader.size()
    if size.isValid() and not size.isEmpty():
        s = side / min(size.width(), size.height())
        reader.setScaledSize(QSize(max(side, round(size.width() * s)),
                                   max(side, round(size.height() * s))))
    image = reader.read()
    if image.isNull():
        return None
    x, y = (image.width() - side) // 2, (image.height() - side) // 2
    pix = QPixmap.fromImage(image.copy(max(0, x), max(0, y), side, side))
    pix.setDevicePixelRatio(side / points)
    return pix


def domain_tile(a: str, b: str, side: int = THUMB) -> QPixmap:
    """A square saying "a → b": a cool to warm gradient (from one domain to the other) with the
    two names."""
    ratio = screen_ratio()
    pix = QPixmap(round(side * ratio), round(side * ratio))
    pix.setDevicePixelRatio(ratio)  # drawn in points, sharp on a HiDPI screen
    pix.fill(Qt.transparent)
    p = QPainter(pix)
    p.setRenderHint(QPainter.Antialiasing)
    grad = QLinearGradient(0, 0, side, side)
    grad.setColorAt(0, QColor("#3f6f8f"))
    grad.setColorAt(1, QColor(theme.ACCENT_DARK))
    p.setBrush(grad)
    p.setPen(Qt.NoPen)
    p.drawRoundedRect(QRectF(1, 1, side - 2, side - 2), 8, 8)
    font = QFont()
    font.setPixelSize(max(9, side // 6))
    font.setBold(True)
    p.setFont(font)
    p.setPen(QColor("#f4f1ea"))
    fm = p.fontMetrics()
    box = QRectF(3, 4, side - 6, side / 2 - 4)
    p.drawText(box, Qt.AlignHCenter | Qt.AlignTop, fm.elidedText(a, Qt.ElideRight, side - 6))
    p.drawText(QRectF(3, 0, side - 6, side), Qt.AlignCenter, "↓")
    box = QRectF(3, side / 2, side - 6, side / 2 - 4)
    p.drawText(box, Qt.AlignHCenter | Qt.AlignBottom, fm.elidedText(b, Qt.ElideRight, side - 6))
    p.end()
    return pix


def thumbnail(card: Any, side: int = THUMB) -> QPixmap:
    path = sample_path(card)
    pix = read_thumbnail(path, side) if path is not None else None
    if pix is not None:
        return pix
    a, b = domains(card)
    if default_direction(card) == "b2a":
        a, b = b, a
    return domain_tile(a, b, side)


class ModelList(QListWidget):
    """The store's CycleGAN models, installed ones first; ``model_id()`` is the chosen one.
    ``model_changed`` carries the new id."""

    model_changed = Signal(str)

    def __init__(self, models: Any, default: str = "paint.monet", parent=None):
        super().__init__(parent)
        self.models = models
        self.default = default
        self.cards: dict[str, Any] = {}
        self._thumbs: dict[tuple, QPixmap] = {}
        self.setIconSize(QSize(THUMB, THUMB))
        self.setSpacing(theme.SPACE_S // 2)  # between the rows of the list
        self.setUniformItemSizes(True)
        self.setHorizontalScrollBarPolicy(Qt.ScrollBarAlwaysOff)
        self.setTextElideMode(Qt.ElideRight)
        self.setWordWrap(False)
        self.setMinimumHeight(THUMB * 2 + 24)
        self.currentItemChanged.connect(self._changed)
        self.refresh()

    def sizeHint(self) -> QSize:  # noqa: N802 (Qt's name)
        return QSize(240, THUMB * 3 + 28)

    def paintEvent(self, event) -> None:  # noqa: N802
        super().paintEvent(event)
        if self.count() == 0:
            p = QPainter(self.viewport())
            p.setPen(QColor(theme.MUTED))
            p.drawText(self.viewport().rect().adjusted(12, 12, -12, -12),
                       Qt.AlignCenter | Qt.TextWordWrap,
                       "No painting models yet: train one on the Train tab, or import or "
                       "download one (Tools ▸ Models…)")

    def model_id(self) -> str:
        item = self.currentItem()
        return str(item.data(Qt.UserRole)) if item is not None else ""

    def card(self) -> Any:
        return self.cards.get(self.model_id())

    def select(self, model_id: str | None) -> bool:
        for i in range(self.count()):
            if self.item(i).data(Qt.UserRole) == model_id:
                self.setCurrentRow(i)
                return True
        return False

    def _list(self) -> list[tuple[Any, bool]]:
        try:
            cards = [c for c in self.models.cards()
                     if c.capability == "paint" and c.architecture == CYCLEGAN]
        except Exception:  # an unreadable store lists nothing rather than failing the panel
            return []
        listed = [(c, bool(self.models.is_installed(c))) for c in cards]
        return sorted(listed, key=lambda ci: (not ci[1], ci[0].id != self.default,
                                              (ci[0].title or ci[0].id).lower()))

    def _icon(self, card: Any) -> QIcon:
        sample = sample_path(card)
        key = (card.id, str(sample), sample.stat().st_mtime_ns if sample else 0,
               json.dumps(card.config.get("domains"), sort_keys=True, default=str))
        if key not in self._thumbs:
            self._thumbs[key] = thumbnail(card)
        return QIcon(self._thumbs[key])

    def refresh(self, select: str | None = None) -> None:
        """List the models again, keeping the chosen one (or choosing ``select``)."""
        current = select or self.model_id() or self.default
        self.blockSignals(True)
        self.clear()
        self.cards = {}
        for card, installed in self._list():
            self.cards[card.id] = card
            a, b = domains(card)
            what = direction_text(card, default_direction(card))
            title = card.title or card.id
            item = QListWidgetItem(self._icon(card), f"{title}\n{what}"
                                   + ("" if installed else " · to download"))
            item.setData(Qt.UserRole, card.id)
            tip = [f"{title} ({card.id})", f"Translates between {a} and {b}"]
            if card.description:
                tip.append(card.description)
            if not installed:
                tip.append("Not on this computer yet: Tools ▸ Models… downloads it")
                item.setForeground(QColor(theme.MUTED))
            item.setToolTip("\n".join(tip))
            self.addItem(item)
        self.blockSignals(False)
        if not self.select(current) and self.count():
            self.setCurrentRow(0)
        self._changed()

    def _changed(self, *_: Any) -> None:
        self.model_changed.emit(self.model_id())
