"""Two gallery items side by side: what each made (picture, first frame, piano roll, waveform or
text, with its sound a click away) over a table of their settings, the differences marked."""

from __future__ import annotations

import contextlib
from typing import Any

from PySide6.QtCore import Qt
from PySide6.QtGui import QColor, QFont
from PySide6.QtWidgets import (
    QAbstractItemView,
    QCheckBox,
    QDialog,
    QDialogButtonBox,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QPlainTextEdit,
    QPushButton,
    QSplitter,
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
    QWidget,
)

from studio.thumbnails import thumbnail
from studio.ui import theme
from studio.ui.dialogs import fit_to_screen, human
from studio.ui.gallery_view import VOICE_COLOURS, rgb_of, when_text
from studio.ui.widgets import ImageView

PREVIEW_PIXELS = 960
TEXT_LIMIT = 100_000


def preview_widget(item: Any, colours: tuple, background: tuple) -> QWidget:
    """A large view of what the item made."""
    entry = item.primary
    if entry.media == "text":
        with open(entry.path, encoding="utf-8", errors="replace") as f:
            text = QPlainTextEdit(f.read(TEXT_LIMIT))
        text.setReadOnly(True)
        return text
    if entry.media == "image":
        from studio.imageio import read_image

        picture = read_image(entry.path)
    else:
        picture = thumbnail(entry.path, entry.media, PREVIEW_PIXELS, colours, background)
    if picture is None:
        label = QLabel(entry.path.name)
        label.setAlignment(Qt.AlignCenter)
        label.setObjectName("muted")
        return label
    view = ImageView()
    view.set_image(picture)
    return view


def settings_rows(a: Any, b: Any, registry: Any = None) -> list[tuple[str, str, str]]:
    """(setting, A's value, B's value) for the seed, every parameter either run had, the
    models and what each made."""
    ra, rb = a.recipe, b.recipe
    labels: dict[str, str] = {}
    for recipe in (ra, rb):
        with contextlib.suppress(Exception):  # a task no plugin offers now: plain names
            labels.update({s.name: s.title for s in registry.task(recipe["task"]).schema()})

    def shown(value: Any) -> str:
        if value is None or value == "":
            return "—"
        if isinstance(value, float):
            return f"{value:g}"
        return str(value)

    rows = [("Task", ra.get("task", ""), rb.get("task", "")),
            ("Seed", shown(ra.get("seed")), shown(rb.get("seed")))]
    pa, pb = ra.get("params") or {}, rb.get("params") or {}
    for name in list(pa) + [n for n in pb if n not in pa]:
        rows.append((labels.get(name, human(name)), shown(pa.get(name)), shown(pb.get(name))))
    rows.append(("Models", ", ".join(m.get("id", "") for m in ra.get("models") or []),
                 ", ".join(m.get("id", "") for m in rb.get("models") or [])))
    rows.append(("Made", a.primary.summary or "—", b.primary.summary or "—"))
    rows.append(("Took", f"{ra.get('duration_s', 0):g} s", f"{rb.get('duration_s', 0):g} s"))
    return rows


class CompareDialog(QDialog):
    def __init__(self, a: Any, b: Any, view: Any, parent=None):
        super().__init__(parent)
        self.a, self.b, self.view = a, b, view
        self.setWindowTitle("Compare")
        fit_to_screen(self, 1100, 760)

        self.play_buttons: dict[str, tuple[QPushButton, str]] = {}
        view.playing_changed.connect(self._playing)
        panes = QWidget()
        ph = QHBoxLayout(panes)
        ph.setContentsMargins(0, 0, 0, 0)
        ph.setSpacing(16)
        for letter, item in (("A", a), ("B", b)):
            col = QVBoxLayout()
            title = QLabel(f"{letter}  {item.title}")
            title.setObjectName("title")
            title.setWordWrap(True)
            sub = QLabel(f"{view.task_title(item.task)} · {when_text(item.created)}")
            sub.setObjectName("muted")
            col.addWidget(title)
            col.addWidget(sub)
            col.addWidget(preview_widget(item, VOICE_COLOURS, rgb_of(theme.BG)), 1)
            if item.audio is not None:
                play = QPushButton(f"Play {letter}")
                play.clicked.connect(lambda _=False, it=item: view.toggle_play(it))
                self.play_buttons[item.id] = (play, letter)
                col.addWidget(play, 0, Qt.AlignLeft)
            ph.addLayout(col, 1)

        self.rows = settings_rows(a, b, view.registry)
        self.table = QTableWidget(0, 3)
        self.table.setHorizontalHeaderLabels(["Setting", "A", "B"])
        self.table.verticalHeader().hide()
        self.table.setEditTriggers(QAbstractItemView.NoEditTriggers)
        self.table.setWordWrap(True)
        header = self.table.horizontalHeader()
        header.setSectionResizeMode(0, QHeaderView.ResizeToContents)
        header.setSectionResizeMode(1, QHeaderView.Stretch)
        header.setSectionResizeMode(2, QHeaderView.Stretch)
        self.only_differences = QCheckBox("Only the differences")
        self.only_differences.toggled.connect(self._fill)
        differ = sum(1 for _, x, y in self.rows if x != y)
        self.only_differences.setChecked(differ > 0)
        self._fill()
        summary = QLabel(f"{differ} of {len(self.rows)} settings differ" if differ else
                         "Every setting is the same")
        summary.setObjectName("muted")
        below = QWidget()
        bl = QVBoxLayout(below)
        bl.setContentsMargins(0, 0, 0, 0)
        row = QHBoxLayout()
        row.addWidget(summary, 1)
        row.addWidget(self.only_differences)
        bl.addLayout(row)
        bl.addWidget(self.table, 1)

        split = QSplitter(Qt.Vertical)
        split.addWidget(panes)
        split.addWidget(below)
        split.setSizes([520, 240])
        buttons = QDialogButtonBox(QDialogButtonBox.Close)
        buttons.rejected.connect(self.reject)
        lay = QVBoxLayout(self)
        lay.addWidget(split, 1)
        lay.addWidget(buttons)

    def _fill(self) -> None:
        rows = [r for r in self.rows if not self.only_differences.isChecked() or r[1] != r[2]]
        self.table.setRowCount(len(rows))
        bold = QFont()
        bold.setBold(True)
        for r, (name, x, y) in enumerate(rows):
            for c, text in enumerate((name, x, y)):
                cell = QTableWidgetItem(text)
                if x != y and c > 0:
                    cell.setForeground(QColor(theme.ACCENT))
                    cell.setFont(bold)
                self.table.setItem(r, c, cell)
        self.table.resizeRowsToContents()

    def _playing(self, item_id: str) -> None:
        for key, (button, letter) in self.play_buttons.items():
            button.setText(f"Stop {letter}" if key == item_id else f"Play {letter}")

    def done(self, result: int) -> None:
        self.view.playing_changed.disconnect(self._playing)
        self.view.stop()
        super().done(result)
