"""The gallery: past outputs as thumbnails, newest first, with search, "Again" (re-run the
recipe), show the recipe, open the file, and delete."""

from __future__ import annotations

import contextlib
import json
from pathlib import Path
from typing import Any

from PySide6.QtCore import QRectF, QSize, Qt, QUrl, Signal
from PySide6.QtGui import QColor, QDesktopServices, QFont, QIcon, QImage, QPainter, QPixmap
from PySide6.QtWidgets import (
    QHBoxLayout,
    QLineEdit,
    QListView,
    QListWidget,
    QListWidgetItem,
    QMenu,
    QPushButton,
    QVBoxLayout,
    QWidget,
)

from studio.ui import theme
from studio.ui.notifications import DetailsDialog
from studio.ui.widgets import tile_icon

THUMB = 96


def text_thumbnail(path: Path) -> QIcon:
    """The first lines of a text output, as a small page."""
    try:
        with open(path, encoding="utf-8", errors="replace") as f:
            text = f.read(400)
    except OSError:
        return QIcon()
    pix = QPixmap(THUMB, THUMB)
    pix.fill(QColor(theme.RAISED))
    p = QPainter(pix)
    font = QFont()
    font.setPixelSize(9)
    p.setFont(font)
    p.setPen(QColor(theme.TEXT))
    p.drawText(QRectF(6, 6, THUMB - 12, THUMB - 12), Qt.TextWordWrap, text)
    p.end()
    return QIcon(pix)


class GalleryView(QWidget):
    again_requested = Signal(object)  # GalleryEntry

    def __init__(self, gallery: Any, parent=None):
        super().__init__(parent)
        self.gallery = gallery
        self.search = QLineEdit()
        self.search.setPlaceholderText("Search outputs…")
        self.search.setClearButtonEnabled(True)
        self.search.textChanged.connect(self.refresh)
        self.list = QListWidget()
        self.list.setViewMode(QListView.IconMode)
        self.list.setIconSize(QSize(THUMB, THUMB))
        self.list.setGridSize(QSize(THUMB + 24, THUMB + 36))
        self.list.setResizeMode(QListView.Adjust)
        self.list.setMovement(QListView.Static)
        self.list.setWordWrap(True)
        self.list.setContextMenuPolicy(Qt.CustomContextMenu)
        self.list.customContextMenuRequested.connect(self._menu)
        self.list.itemDoubleClicked.connect(lambda item: self._open(item.data(Qt.UserRole)))
        refresh = QPushButton("Refresh")
        refresh.clicked.connect(self.refresh)
        top = QHBoxLayout()
        top.addWidget(self.search, 1)
        top.addWidget(refresh)
        lay = QVBoxLayout(self)
        lay.setContentsMargins(8, 8, 8, 8)
        lay.addLayout(top)
        lay.addWidget(self.list, 1)
        self._thumbs: dict[str, QIcon] = {}
        self.refresh()

    def refresh(self) -> None:
        query = self.search.text().strip()
        try:
            entries = self.gallery.search(query) if query else self.gallery.entries(limit=500)
        except Exception:  # a damaged index must not take the window down
            entries = []
        self.list.clear()
        for entry in entries:
            item = QListWidgetItem(self._icon(entry), f"{entry.name}\n{entry.task}")
            item.setData(Qt.UserRole, entry)
            item.setToolTip(f"{entry.task} · {entry.created}\n{entry.path}")
            self.list.addItem(item)

    def _icon(self, entry: Any) -> QIcon:
        key = str(entry.path)
        if key not in self._thumbs:
            icon = QIcon()
            if entry.kind == "image":
                img = QImage(key)
                if not img.isNull():
                    icon = QIcon(QPixmap.fromImage(
                        img.scaled(THUMB, THUMB, Qt.KeepAspectRatio, Qt.SmoothTransformation)))
            elif entry.kind == "text":
                icon = text_thumbnail(entry.path)
            if icon.isNull() and entry.kind == "file":  # .mid, .wav: its kind in letters
                icon = tile_icon(entry.path.suffix[1:], entry.task, THUMB, letters=4)
            if icon.isNull():
                icon = tile_icon(entry.kind[:1] or "?", entry.task, THUMB)
            self._thumbs[key] = icon
        return self._thumbs[key]

    def _menu(self, pos) -> None:
        item = self.list.itemAt(pos)
        if item is None:
            return
        entry = item.data(Qt.UserRole)
        menu = QMenu(self)
        menu.addAction("Again", lambda: self.again_requested.emit(entry))
        menu.addAction("Open", lambda: self._open(entry))
        menu.addAction("Show recipe", lambda: self._recipe(entry))
        menu.addAction("Open folder", lambda: QDesktopServices.openUrl(
            QUrl.fromLocalFile(str(entry.path.parent))))
        menu.addSeparator()
        menu.addAction("Delete", lambda: self._delete(entry))
        menu.exec(self.list.mapToGlobal(pos))

    def _open(self, entry: Any) -> None:
        QDesktopServices.openUrl(QUrl.fromLocalFile(str(entry.path)))

    def _recipe(self, entry: Any) -> None:
        DetailsDialog(f"{entry.task}: {entry.name}", json.dumps(entry.recipe, indent=2),
                      self.window()).exec()

    def _delete(self, entry: Any) -> None:
        from studio.errors import UserError

        with contextlib.suppress(UserError):  # already gone (another window, the CLI)
            self.gallery.remove(entry.id)
        self._thumbs.pop(str(entry.path), None)
        self.refresh()
