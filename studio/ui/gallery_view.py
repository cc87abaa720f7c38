"""The gallery: one tile per run, newest first, each showing what it made (a picture, a video's
first frame, a piano roll, a waveform, the first words of a text) under a readable title. Search,
favourites, play a run's sound, compare two runs side by side, "Again" (re-run the recipe), the
recipe as a form, open the files, delete, and clear the history but the favourites."""

from __future__ import annotations

import concurrent.futures
import contextlib
from datetime import datetime
from pathlib import Path
from typing import Any

from PySide6.QtCore import QMimeData, QModelIndex, QRect, QRectF, QSize, Qt, QUrl, Signal
from PySide6.QtGui import (
    QAction,
    QColor,
    QDesktopServices,
    QFont,
    QFontMetrics,
    QImage,
    QKeySequence,
    QPainter,
    QPainterPath,
    QPen,
    QPixmap,
    QTextLayout,
    QTextOption,
)
from PySide6.QtWidgets import (
    QAbstractItemView,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QListView,
    QListWidget,
    QListWidgetItem,
    QMenu,
    QMessageBox,
    QPushButton,
    QStackedWidget,
    QStyle,
    QStyledItemDelegate,
    QStyleOptionViewItem,
    QToolButton,
    QVBoxLayout,
    QWidget,
)

from studio.thumbnails import cached_thumbnail, clock, wav_seconds
from studio.ui import theme
from studio.ui.widgets import tile_icon, to_qimage

TILE_MIN_W = 118  # tiles share the gallery's width: one column when narrow, more when wide
PIXELS = 320  # thumbnails are made this large: sharp in a wide tile and on a HiDPI screen
ITEM_ROLE = Qt.UserRole
TEXT_PAGE_CHARS = 400

# GalleryView's keys (the Help ▸ Keyboard shortcuts dialog lists them)
SHORTCUTS = (
    ("Space", "Play or stop the selected item's sound"),
    ("F", "Mark or unmark the selected items as favourites"),
    ("C", "Compare the two selected items"),
    ("Return", "Open the selected item's file"),
    ("Delete", "Delete the selected items"),
)


def rgb_of(colour: str) -> tuple[int, int, int]:
    c = QColor(colour)
    return c.red(), c.green(), c.blue()


# a piano roll's voices in the theme's colours, in the order the compose panel gives them
# (soprano red, alto ochre, tenor green, bass blue), so a tile looks like the piece in the panel
VOICE_COLOURS = tuple(rgb_of(theme.TILE_COLOURS[i]) for i in (4, 0, 3, 1, 2, 5, 6))


def text_page(path: Path, width: int, height: int) -> QImage:
    """The first words of a text output, drawn as a small page."""
    try:
        with open(path, encoding="utf-8", errors="replace") as f:
            text = f.read(TEXT_PAGE_CHARS)
    except OSError:
        text = ""
    image = QImage(width, height, QImage.Format_RGB32)
    image.fill(QColor(theme.RAISED))
    p = QPainter(image)
    font = QFont()
    font.setPixelSize(max(9, height // 9))
    p.setFont(font)
    p.setPen(QColor(theme.TEXT))
    pad = width // 14
    p.drawText(QRectF(pad, pad, width - 2 * pad, height - 2 * pad),
               Qt.TextWordWrap | Qt.AlignTop | Qt.AlignLeft, " ".join(text.split()))
    p.end()
    return image


def when_text(iso: str) -> str:
    """13:56 today, "5 Dec 13:56" another day."""
    try:
        t = datetime.fromisoformat(iso).astimezone()
    except ValueError:
        return iso
    return f"{t:%H:%M}" if t.date() == datetime.now().date() else f"{t.day} {t:%b %H:%M}"


class TileDelegate(QStyledItemDelegate):
    """Draws a tile: the thumbnail, a star on favourites, a note on items with sound, the
    title (two lines at most) and where it came from."""

    def __init__(self, view: GalleryView):
        super().__init__(view)
        self.view = view

    def sizeHint(self, option, index) -> QSize:
        return self.view.list.tile

    def paint(self, p: QPainter, option: QStyleOptionViewItem, index: QModelIndex) -> None:
        item = index.data(ITEM_ROLE)
        if item is None:
            return
        p.save()
        p.setRenderHint(QPainter.Antialiasing)
        r = option.rect.adjusted(4, 4, -4, -4)
        selected = bool(option.state & QStyle.State_Selected)
        hover = bool(option.state & QStyle.State_MouseOver)
        p.setPen(QPen(QColor(theme.ACCENT if selected else theme.BORDER), 2 if selected else 1))
        p.setBrush(QColor(theme.RAISED if selected or hover else theme.SURFACE))
        p.drawRoundedRect(QRectF(r), 6, 6)
        thumb_w = r.width() - 12
        box = QRect(r.left() + 6, r.top() + 6, thumb_w, thumb_w * 3 // 4)
        self._thumbnail(p, box, item)
        if item.favourite:
            self._badge(p, QRect(box.right() - 22, box.top() + 2, 20, 20), "★", theme.ACCENT)
        if item.audio is not None:
            playing = self.view.playing_id == item.id
            self._badge(p, QRect(box.left() + 2, box.bottom() - 21, 20, 20),
                        "■" if playing else "♪", theme.ACCENT if playing else theme.TEXT)
        text = QRect(r.left() + 6, box.bottom() + 6, r.width() - 12, r.bottom() - box.bottom() - 8)
        font = QFont(option.font)
        fm = QFontMetrics(font)
        p.setFont(font)
        p.setPen(QColor(theme.TEXT))
        lines = self._two_lines(item.title, font, text.width())
        y = text.top()
        for line in lines:
            p.drawText(QRect(text.left(), y, text.width(), fm.height()), Qt.AlignLeft, line)
            y += fm.height()
        p.setPen(QColor(theme.MUTED))
        small = QFont(font)
        small.setPointSizeF(max(7.0, font.pointSizeF() - 1.5))
        p.setFont(small)
        sub = f"{self.view.task_title(item.task)} · {when_text(item.created)}"
        sfm = QFontMetrics(small)
        p.drawText(QRect(text.left(), text.bottom() - sfm.height(), text.width(), sfm.height()),
                   Qt.AlignLeft, sfm.elidedText(sub, Qt.ElideRight, text.width()))
        p.restore()

    def _thumbnail(self, p: QPainter, box: QRect, item: Any) -> None:
        pix = self.view.thumbnail(item)
        clip = QPainterPath()
        clip.addRoundedRect(QRectF(box), 4, 4)
        p.save()
        p.setClipPath(clip)
        p.fillRect(box, QColor(theme.BG))
        if pix is not None and not pix.isNull():
            size = pix.size().scaled(box.size(), Qt.KeepAspectRatio)
            target = QRect(0, 0, size.width(), size.height())
            target.moveCenter(box.center())
            p.drawPixmap(target, pix)
        p.restore()

    def _badge(self, p: QPainter, rect: QRect, text: str, colour: str) -> None:
        p.setPen(Qt.NoPen)
        p.setBrush(QColor(0, 0, 0, 150))
        p.drawEllipse(rect)
        p.setPen(QColor(colour))
        p.drawText(rect, Qt.AlignCenter, text)

    @staticmethod
    def _two_lines(text: str, font: QFont, width: int) -> list[str]:
        """The first line as it wraps (at a word, or inside one too long for it), then the rest
        on a second line, elided."""
        layout = QTextLayout(text, font)
        option = QTextOption()
        option.setWrapMode(QTextOption.WrapAtWordBoundaryOrAnywhere)
        layout.setTextOption(option)
        layout.beginLayout()
        line = layout.createLine()
        line.setLineWidth(width)
        layout.endLayout()
        first, rest = text[:line.textLength()].rstrip(), text[line.textLength():].strip()
        return [first] + ([QFontMetrics(font).elidedText(rest, Qt.ElideRight, width)]
                          if rest else [])


class TileList(QListWidget):
    """Tiles in as many columns of at least TILE_MIN_W pixels as the width holds, sharing it."""

    def __init__(self, parent=None):
        super().__init__(parent)
        self.setVerticalScrollBarPolicy(Qt.ScrollBarAlwaysOn)  # no width change, no relayout
        self.tile = QSize(TILE_MIN_W, self._height(TILE_MIN_W))

    def _height(self, width: int) -> int:
        line = QFontMetrics(self.font()).height()
        return 4 + 6 + (width - 20) * 3 // 4 + 6 + 2 * line + line + 10

    def mimeTypes(self) -> list[str]:
        return ["text/uri-list"]

    def mimeData(self, rows: list[QListWidgetItem]) -> QMimeData:
        """Dragged tiles are their files (a file manager, a DAW, a panel of the window)."""
        data = QMimeData()
        data.setUrls([QUrl.fromLocalFile(str(e.path)) for row in rows
                      for e in row.data(ITEM_ROLE).entries])
        return data

    def resizeEvent(self, event) -> None:
        avail = max(TILE_MIN_W, self.viewport().width() - 1)
        width = avail // max(1, avail // TILE_MIN_W)
        tile = QSize(width, self._height(width))
        if tile != self.tile:
            self.tile = tile
            self.setGridSize(tile)
        super().resizeEvent(event)


class GalleryView(QWidget):
    again_requested = Signal(object)  # GalleryItem (its .recipe is the run's)
    playing_changed = Signal(str)  # the id of the item whose sound plays, "" when none
    _thumbnail_ready = Signal(str, QImage)  # from the loader thread

    def __init__(self, gallery: Any, parent=None, registry: Any = None, models: Any = None):
        super().__init__(parent)
        self.gallery, self.registry, self.models = gallery, registry, models
        self.playing_id: str | None = None
        self._length = "0:00"
        self._player: Any = None
        self._thumbs: dict[str, QPixmap] = {}
        self._pending: set[str] = set()
        self._loader = concurrent.futures.ThreadPoolExecutor(1, "gallery-thumbnails")
        self._thumbnail_ready.connect(self._thumbnail_loaded)

        self.search = QLineEdit()
        self.search.setPlaceholderText("Search…")
        self.search.setClearButtonEnabled(True)
        self.search.textChanged.connect(self.refresh)
        self.favourites_only = QToolButton()
        self.favourites_only.setText("★")
        self.favourites_only.setCheckable(True)
        self.favourites_only.setToolTip("Show only favourites")
        self.favourites_only.toggled.connect(self.refresh)
        self.compare_button = QToolButton()
        self.compare_button.setText("⇄")
        self.compare_button.setToolTip("Compare two items side by side (select two with "
                                       "Ctrl+click; C)")
        self.compare_button.clicked.connect(self.compare_selected)
        more = QToolButton()
        more.setText("⋯")
        more.setToolTip("More: clear the history, open the folder")
        more.setPopupMode(QToolButton.InstantPopup)
        menu = QMenu(more)
        menu.addAction("Refresh", self.refresh)
        menu.addAction("Open gallery folder", lambda: QDesktopServices.openUrl(
            QUrl.fromLocalFile(str(self.gallery.root))))
        menu.addSeparator()
        menu.addAction("Clear history…", self.clear_history)
        more.setMenu(menu)
        top = QHBoxLayout()
        top.setSpacing(4)
        top.addWidget(self.search, 1)
        top.addWidget(self.favourites_only)
        top.addWidget(self.compare_button)
        top.addWidget(more)
        for button in (self.favourites_only, self.compare_button, more):  # leave the search room
            button.setStyleSheet("QToolButton { padding: 4px 0; min-width: 30px; max-width: 30px; }"
                                 " QToolButton::menu-indicator { image: none; width: 0; }")

        self.list = TileList()
        self.list.setViewMode(QListView.IconMode)
        self.list.setResizeMode(QListView.Adjust)
        self.list.setMovement(QListView.Static)
        self.list.setUniformItemSizes(True)
        self.list.setSpacing(0)
        self.list.setGridSize(self.list.tile)
        self.list.setMouseTracking(True)
        self.list.setSelectionMode(QAbstractItemView.ExtendedSelection)
        self.list.setDragEnabled(True)
        self.list.setDragDropMode(QAbstractItemView.DragOnly)
        self.list.setDefaultDropAction(Qt.CopyAction)
        self.list.setItemDelegate(TileDelegate(self))
        self.list.setVerticalScrollMode(QAbstractItemView.ScrollPerPixel)
        self.list.setContextMenuPolicy(Qt.CustomContextMenu)
        self.list.customContextMenuRequested.connect(self._menu)
        self.list.itemDoubleClicked.connect(lambda it: self.activate(it.data(ITEM_ROLE)))
        self.list.itemSelectionChanged.connect(self._selection_changed)
        self.empty = QLabel()
        self.empty.setObjectName("muted")
        self.empty.setAlignment(Qt.AlignCenter)
        self.empty.setWordWrap(True)
        self.stack = QStackedWidget()
        self.stack.addWidget(self.list)
        self.stack.addWidget(self.empty)

        self.play_bar = QWidget()
        self.play_label = QLabel()
        self.play_label.setObjectName("muted")
        self.play_time = QLabel()
        self.play_time.setObjectName("muted")
        stop = QPushButton("Stop")
        stop.clicked.connect(self.stop)
        pb = QHBoxLayout(self.play_bar)
        pb.setContentsMargins(0, 0, 0, 0)
        pb.addWidget(self.play_label, 1)
        pb.addWidget(self.play_time)
        pb.addWidget(stop)
        self.play_bar.hide()

        lay = QVBoxLayout(self)
        lay.setContentsMargins(8, 8, 8, 8)
        lay.setSpacing(8)
        lay.addLayout(top)
        lay.addWidget(self.stack, 1)
        lay.addWidget(self.play_bar)
        self._keys()
        self.refresh()

    # -- contents -------------------------------------------------------------------------
    def refresh(self) -> None:
        query = self.search.text().strip()
        favourites = self.favourites_only.isChecked()
        selected = {i.id for i in self.selected_items()}
        try:
            items = self.gallery.items(limit=500, query=query, favourites_only=favourites)
        except Exception:  # a damaged index must not take the window down
            items = []
        self.list.clear()
        for item in items:
            row = QListWidgetItem()
            row.setData(ITEM_ROLE, item)
            row.setToolTip(self._tooltip(item))
            self.list.addItem(row)
            row.setSelected(item.id in selected)
        if items:
            self.stack.setCurrentWidget(self.list)
        else:
            self.empty.setText(
                f"Nothing matches “{query}”." if query else
                "No favourites yet: right-click an item and choose Favourite." if favourites else
                "What you make appears here, one tile per run.")
            self.stack.setCurrentWidget(self.empty)
        self._selection_changed()

    def items(self) -> list[Any]:
        return [self.list.item(i).data(ITEM_ROLE) for i in range(self.list.count())]

    def selected_items(self) -> list[Any]:
        return [it.data(ITEM_ROLE) for it in self.list.selectedItems()]

    def task_title(self, task_id: str) -> str:
        """"Compose" for compose.generate (the capability's name), else the task id."""
        try:
            task = self.registry.task(task_id)
            cap = next(c for c in self.registry.capabilities if task in c.tasks)
            return cap.title if len(cap.tasks) == 1 or task is cap.tasks[0] else \
                f"{cap.title} · {task.title}"
        except Exception:
            return task_id

    def _tooltip(self, item: Any) -> str:
        files = "\n".join(e.path.name for e in item.entries)
        return f"{item.title}\n{item.task} · {when_text(item.created)}\n{files}"

    def _selection_changed(self) -> None:
        self.compare_button.setEnabled(len(self.list.selectedItems()) == 2)

    # -- thumbnails -----------------------------------------------------------------------
    def thumbnail(self, item: Any) -> QPixmap | None:
        """The item's picture if it is ready (else it is asked for, and the tile redrawn when
        it comes)."""
        entry = item.primary
        key = str(entry.path)
        if key in self._thumbs:
            return self._thumbs[key]
        if entry.media == "text":
            self._thumbs[key] = self._pixmap(text_page(entry.path, PIXELS, PIXELS * 3 // 4))
        elif entry.media == "file":
            self._thumbs[key] = tile_icon(entry.path.suffix[1:] or "?", entry.task, PIXELS // 2,
                                          letters=4).pixmap(PIXELS // 2, PIXELS // 2)
        elif key not in self._pending:
            self._pending.add(key)
            cache = self.gallery.thumbnail_path(entry, PIXELS)
            background = rgb_of(theme.BG)
            with contextlib.suppress(RuntimeError):  # the loader is shut down: closing
                self._loader.submit(self._load, key, entry.path, entry.media, cache, background)
        return self._thumbs.get(key)

    def _load(self, key: str, path: Path, media: str, cache: Path, background: tuple) -> None:
        """On the loader thread: the thumbnail as a QImage (QPixmap only on the GUI thread)."""
        picture = cached_thumbnail(path, media, PIXELS, cache, VOICE_COLOURS, background)
        image = to_qimage(picture) if picture is not None else QImage()
        self._thumbnail_ready.emit(key, image)

    def _thumbnail_loaded(self, key: str, image: QImage) -> None:
        self._pending.discard(key)
        if image.isNull():
            self._thumbs[key] = tile_icon("?", key, PIXELS // 2).pixmap(PIXELS // 2, PIXELS // 2)
        else:
            self._thumbs[key] = self._pixmap(image)
        self.list.viewport().update()

    @staticmethod
    def _pixmap(image: QImage) -> QPixmap:
        return QPixmap.fromImage(image)  # drawn scaled into the tile's box

    def thumbnails_pending(self) -> bool:
        return bool(self._pending)

    # -- actions --------------------------------------------------------------------------
    def _keys(self) -> None:
        for key, fn in (("Space", self._toggle_play_selected), ("F", self.toggle_favourite),
                        ("C", self.compare_selected), ("Return", self._open_selected),
                        ("Delete", self.delete_selected)):
            act = QAction(self.list)
            act.setShortcut(QKeySequence(key))
            act.setShortcutContext(Qt.WidgetShortcut)
            act.triggered.connect(fn)
            self.list.addAction(act)

    def _menu(self, pos) -> None:
        row = self.list.itemAt(pos)
        if row is None:
            return
        if not row.isSelected():
            self.list.clearSelection()
            row.setSelected(True)
        item = row.data(ITEM_ROLE)
        chosen = self.selected_items()
        menu = QMenu(self)
        if len(chosen) == 2:
            menu.addAction("Compare side by side", self.compare_selected)
            menu.addSeparator()
        if item.audio is not None:
            playing = self.playing_id == item.id
            menu.addAction("Stop" if playing else "Play", lambda: self.toggle_play(item))
        menu.addAction("Unmark favourite" if item.favourite else "Favourite",
                       lambda: self.set_favourite([item], not item.favourite))
        menu.addAction("Again", lambda: self.again_requested.emit(item))
        if len(item.entries) == 1:
            menu.addAction("Open", lambda: self.open_file(item.primary.path))
        else:
            files = menu.addMenu("Open")
            for e in item.entries:
                files.addAction(e.path.suffix[1:].upper() or e.path.name,
                                lambda p=e.path: self.open_file(p))
        menu.addAction("Show recipe", lambda: self.show_recipe(item))
        menu.addAction("Open folder", lambda: self.open_file(item.primary.path.parent))
        menu.addSeparator()
        menu.addAction("Delete…" if len(chosen) < 2 else f"Delete {len(chosen)} items…",
                       self.delete_selected)
        menu.exec(self.list.viewport().mapToGlobal(pos))

    def activate(self, item: Any) -> None:
        """Double-click: play a run's sound, or open its file."""
        if item.audio is not None:
            self.toggle_play(item)
        else:
            self.open_file(item.primary.path)

    def open_file(self, path: Path) -> None:
        QDesktopServices.openUrl(QUrl.fromLocalFile(str(path)))

    def _open_selected(self) -> None:
        for item in self.selected_items()[:1]:
            self.open_file(item.primary.path)

    def show_recipe(self, item: Any) -> None:
        from studio.ui.dialogs import RecipeDialog

        dialog = RecipeDialog(item, self.registry, self.models, self.window())
        dialog.again_requested.connect(self.again_requested.emit)
        dialog.exec()

    def set_favourite(self, items: list[Any], favourite: bool) -> None:
        from studio.errors import UserError

        for item in items:
            with contextlib.suppress(UserError):  # deleted meanwhile
                self.gallery.set_favourite(item.id, favourite)
        self.refresh()

    def toggle_favourite(self) -> None:
        items = self.selected_items()
        if items:
            self.set_favourite(items, not all(i.favourite for i in items))

    def compare_selected(self) -> None:
        items = self.selected_items()
        if len(items) != 2:
            return
        from studio.ui.gallery_compare import CompareDialog

        older, newer = sorted(items, key=lambda i: i.created)
        CompareDialog(older, newer, self, self.window()).exec()

    def delete_selected(self) -> None:
        items = self.selected_items()
        if not items:
            return
        files = sum(len(i.entries) for i in items)
        what = f"“{items[0].title}”" if len(items) == 1 else f"{len(items)} items"
        favs = sum(i.favourite for i in items)
        extra = f" {favs} of them {'is a favourite' if favs == 1 else 'are favourites'}." \
            if favs and len(items) > 1 else " It is a favourite." if favs else ""
        answer = QMessageBox.question(
            self, "Delete", f"Delete {what} ({files} file{'s' if files != 1 else ''})?{extra}",
            QMessageBox.Yes | QMessageBox.Cancel, QMessageBox.Cancel)
        if answer != QMessageBox.Yes:
            return
        self.delete(items)

    def delete(self, items: list[Any]) -> None:
        from studio.errors import UserError

        for item in items:
            if item.id == self.playing_id:
                self.stop()
            with contextlib.suppress(UserError):  # already gone (another window, the CLI)
                self.gallery.remove_item(item.id)
            for e in item.entries:
                self._thumbs.pop(str(e.path), None)
        self.refresh()

    def clear_history(self) -> None:
        items = self.gallery.items()
        doomed = [i for i in items if not i.favourite]
        kept = len(items) - len(doomed)
        if not doomed:
            QMessageBox.information(self, "Clear history",
                                    "There is nothing to clear: every item is a favourite."
                                    if kept else "The gallery is empty.")
            return
        keep = f" The {kept} favourite{'s' if kept != 1 else ''} stay." if kept else ""
        answer = QMessageBox.question(
            self, "Clear history",
            f"Delete {len(doomed)} item{'s' if len(doomed) != 1 else ''} and their files?{keep}",
            QMessageBox.Yes | QMessageBox.Cancel, QMessageBox.Cancel)
        if answer == QMessageBox.Yes:
            self.stop()
            self.gallery.clear_history(keep_favourites=True)
            self._thumbs.clear()
            self.refresh()

    # -- sound ----------------------------------------------------------------------------
    @property
    def player(self) -> Any:
        if self._player is None:
            from studio.ui.player import Player

            self._player = Player(self)
            self._player.position.connect(self._position)
            self._player.finished.connect(self._finished)
            self._player.notice.connect(self.play_label.setToolTip)
        return self._player

    def _toggle_play_selected(self) -> None:
        items = [i for i in self.selected_items() if i.audio is not None]
        if items:
            self.toggle_play(items[0])

    def toggle_play(self, item: Any) -> None:
        if self.playing_id == item.id:
            self.stop()
        else:
            self.play(item)

    def play(self, item: Any) -> None:
        if item.audio is None:
            return
        self.playing_id = item.id
        self._length = clock(wav_seconds(item.audio.path))
        self.play_label.setText(f"♪ {item.title}")
        self.play_bar.show()
        self.player.play(item.audio.path)
        self.list.viewport().update()
        self.playing_changed.emit(item.id)

    def stop(self) -> None:
        if self._player is not None:
            self._player.stop()
        self._finished()

    def _position(self, seconds: float) -> None:
        self.play_time.setText(f"{clock(seconds)} / {self._length}")

    def _finished(self) -> None:
        self.playing_id = None
        self.play_bar.hide()
        self.list.viewport().update()
        self.playing_changed.emit("")

    def shutdown(self) -> None:
        """Stop the sound and the thumbnail loader (the window is closing)."""
        if self._player is not None:
            self._player.close()
        self._loader.shutdown(wait=False, cancel_futures=True)

    def closeEvent(self, event) -> None:
        self.shutdown()
        super().closeEvent(event)
