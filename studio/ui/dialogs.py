"""The Plugins dialog (what loaded, what failed and why), the model manager (cards, install
state, download, verify, import, remove), and the readable forms of a model card and of a
gallery item's recipe (the raw JSON a click further)."""

from __future__ import annotations

import contextlib
import json
import shlex
from datetime import datetime
from html import escape
from pathlib import Path
from typing import Any

from PySide6.QtCore import Qt, QUrl, Signal
from PySide6.QtGui import QDesktopServices
from PySide6.QtWidgets import (
    QAbstractItemView,
    QDialog,
    QDialogButtonBox,
    QFileDialog,
    QHBoxLayout,
    QHeaderView,
    QInputDialog,
    QLabel,
    QPushButton,
    QTableWidget,
    QTableWidgetItem,
    QTextBrowser,
    QVBoxLayout,
)

from studio.ui import theme
from studio.ui.notifications import DetailsDialog


def fit_to_screen(dialog: Any, width: int, height: int) -> None:
    """Size ``dialog`` to ``width`` x ``height``, or less on a small screen."""
    screen = dialog.screen() if dialog.parentWidget() is None else \
        dialog.parentWidget().screen()
    if screen is not None:
        avail = screen.availableGeometry()
        width = min(width, int(avail.width() * 0.95))
        height = min(height, int(avail.height() * 0.9))
    dialog.resize(width, height)


def _table(headers: list[str]) -> QTableWidget:
    t = QTableWidget(0, len(headers))
    t.setHorizontalHeaderLabels(headers)
    t.setEditTriggers(QAbstractItemView.NoEditTriggers)
    t.setSelectionBehavior(QAbstractItemView.SelectRows)
    t.setSelectionMode(QAbstractItemView.SingleSelection)
    t.setAlternatingRowColors(True)
    t.verticalHeader().hide()
    t.horizontalHeader().setSectionResizeMode(QHeaderView.ResizeToContents)
    t.horizontalHeader().setStretchLastSection(True)
    return t


def _fill(table: QTableWidget, rows: list[list[str]]) -> None:
    table.setRowCount(len(rows))
    for r, row in enumerate(rows):
        for c, text in enumerate(row):
            table.setItem(r, c, QTableWidgetItem(text))


class PluginsDialog(QDialog):
    def __init__(self, registry: Any, parent=None):
        super().__init__(parent)
        self.setWindowTitle("Plugins")
        self.resize(720, 400)
        self.registry = registry
        table = _table(["Plugin", "Status", "From", "Capabilities"])
        rows = []
        for info in registry.plugins:
            caps = [c.title for c in registry.capabilities
                    if any(t.plugin == info.name for t in c.tasks)]
            rows.append([info.name, info.status, info.origin, ", ".join(caps)])
        _fill(table, rows)
        self.failures = _table(["Plugin", "Where", "Error"])
        _fill(self.failures, [[f.plugin, f.stage, f.message] for f in registry.failures])
        self.failures.cellDoubleClicked.connect(self._details)
        lay = QVBoxLayout(self)
        lay.addWidget(table, 2)
        if registry.failures:
            lay.addWidget(QLabel("Failures (double-click for the traceback). The other plugins "
                                 "keep working; STUDIO_DISABLE_PLUGINS=name skips one."))
            lay.addWidget(self.failures, 1)
        buttons = QDialogButtonBox(QDialogButtonBox.Close)
        buttons.rejected.connect(self.reject)
        lay.addWidget(buttons)

    def _details(self, row: int, _col: int) -> None:
        f = self.registry.failures[row]
        DetailsDialog(str(f), f.traceback, self).exec()


class ModelManager(QDialog):
    """Cards from the model store. Download runs as a job in the shared queue."""

    def __init__(self, store: Any, jobs: Any, notify: Any, parent=None):
        super().__init__(parent)
        self.setWindowTitle("Models")
        fit_to_screen(self, 1000, 560)
        self.store, self.jobs, self.notify = store, jobs, notify
        self.table = _table(["Model", "Capability", "Installed", "Size", "Licence"])
        self.table.setWordWrap(True)  # a licence is a sentence or two: shown whole, wrapped
        self.table.horizontalHeader().setSectionResizeMode(4, QHeaderView.Stretch)
        self.table.verticalHeader().setSectionResizeMode(QHeaderView.ResizeToContents)
        self.table.itemSelectionChanged.connect(self._sync)
        self.table.cellDoubleClicked.connect(lambda *_: self._card())
        self.download = QPushButton("Download")
        self.download.clicked.connect(self._download)
        verify = QPushButton("Verify")
        verify.clicked.connect(self._verify)
        card = QPushButton("Card…")
        card.clicked.connect(self._card)
        imp = QPushButton("Import .pth / .safetensors…")
        imp.clicked.connect(self._import)
        self.remove = QPushButton("Remove")
        self.remove.clicked.connect(self._remove)
        row = QHBoxLayout()
        for b in (self.download, verify, card, imp):
            row.addWidget(b)
        row.addStretch(1)
        row.addWidget(self.remove)
        lay = QVBoxLayout(self)
        lay.addWidget(self.table, 1)
        lay.addLayout(row)
        jobs.job_finished.connect(lambda job: self.refresh())
        self.refresh()

    def refresh(self) -> None:
        self.cards = list(self.store.cards())
        rows = []
        for c in self.cards:
            size = sum(f.size for f in c.files)
            rows.append([c.title or c.id, c.capability,
                         "yes" if self.store.is_installed(c) else "no",
                         f"{size / 1e6:.1f} MB" if size else "—", c.licence])
        _fill(self.table, rows)
        for r, c in enumerate(self.cards):
            tip = f"{c.id}\nTrained on: {c.training_data}\n(Card… for more)"
            for col in range(len(rows[r])):
                self.table.item(r, col).setToolTip(tip)
        self._sync()

    def _selected(self) -> Any:
        r = self.table.currentRow()
        return self.cards[r] if 0 <= r < len(self.cards) else None

    def _sync(self) -> None:
        c = self._selected()
        installed = c is not None and self.store.is_installed(c)
        self.download.setEnabled(c is not None and not installed and bool(c.files))
        self.remove.setEnabled(installed)

    def _download(self) -> None:
        from studio.downloads import DOWNLOAD_TASK

        c = self._selected()
        if c is not None:
            self.jobs.submit(DOWNLOAD_TASK, DOWNLOAD_TASK.make_params({"model_id": c.id}))

    def _verify(self) -> None:
        c = self._selected()
        if c is None:
            return
        problems = self.store.verify(c.id)
        if problems:
            self.notify(f"{c.id}: {len(problems)} problem(s)", "error", "\n".join(problems))
        else:
            self.notify(f"{c.id}: every file is present and matches its sha256", "info", "")

    def _card(self) -> None:
        c = self._selected()
        if c is not None:
            CardDialog(c, self.store, self).exec()

    def _import(self) -> None:
        from studio.errors import UserError
        from studio.model_import import import_checkpoint

        path, _ = QFileDialog.getOpenFileName(self, "Import weights", str(Path.home()),
                                              "Weights (*.pth *.pt *.bin *.safetensors)")
        if not path:
            return
        model_id, ok = QInputDialog.getText(self, "Import weights", "Model id:",
                                            text=Path(path).stem)
        if not ok or not model_id:
            return
        try:
            import_checkpoint(Path(path), model_id, capability="")
        except UserError as exc:
            self.notify(str(exc), "error", "")
            return
        self.notify(f"imported {model_id}", "info", "")
        self.refresh()

    def _remove(self) -> None:
        c = self._selected()
        if c is not None:
            try:
                self.store.remove(c.id)
            except Exception as exc:
                self.notify(str(exc), "error", "")
            self.refresh()


# ---------------------------------------------------------------------------------------------
# Readable forms.


def human(key: str) -> str:
    """"val_loss_per_char" -> "Val loss per char"."""
    text = str(key).replace("_", " ").strip()
    return text[:1].upper() + text[1:]


def _value_html(value: Any) -> str:
    if isinstance(value, dict):
        return _table_html(value)
    if isinstance(value, list | tuple):
        if all(isinstance(v, dict) for v in value) and value:
            return "".join(_table_html(v) for v in value)
        return escape(", ".join(str(v) for v in value)) or "—"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, float):
        return f"{value:g}"
    return escape(str(value)) if value not in ("", None) else "—"


def _table_html(rows: dict[str, Any]) -> str:
    """A two-column table (nested for nested objects)."""
    out = ["<table cellspacing='0' cellpadding='3' width='100%'>"]
    for key, value in rows.items():
        out.append(f"<tr><td valign='top' width='32%' style='color:{theme.MUTED}'>"
                   f"{escape(human(key))}</td><td valign='top'>{_value_html(value)}</td></tr>")
    out.append("</table>")
    return "".join(out)


def _page(title: str, subtitle: str, sections: list[tuple[str, str]]) -> str:
    """HTML for a readable form: a title, a muted line, then (heading, html) sections."""
    body = [f"<h2 style='margin-bottom:2px'>{escape(title)}</h2>",
            f"<p style='color:{theme.MUTED}; margin-top:0'>{escape(subtitle)}</p>"]
    for heading, html in sections:
        if heading:
            body.append(f"<h3 style='color:{theme.ACCENT}; margin-bottom:2px'>"
                        f"{escape(heading)}</h3>")
        body.append(html)
    return "".join(body)


class ReadableDialog(QDialog):
    """A form shown as a page (text that wraps and can be selected), with "Raw JSON…" a click
    further."""

    def __init__(self, window_title: str, html: str, raw: dict[str, Any], parent=None):
        super().__init__(parent)
        self.setWindowTitle(window_title)
        fit_to_screen(self, 760, 680)
        self.raw = raw
        self.page = QTextBrowser()
        self.page.setOpenLinks(False)
        self.page.anchorClicked.connect(lambda url: QDesktopServices.openUrl(url))
        self.page.setHtml(html)
        self.buttons = QDialogButtonBox(QDialogButtonBox.Close)
        self.buttons.rejected.connect(self.reject)
        raw_button = self.buttons.addButton("Raw JSON…", QDialogButtonBox.HelpRole)
        raw_button.clicked.connect(self.show_raw)
        lay = QVBoxLayout(self)
        lay.addWidget(self.page, 1)
        lay.addWidget(self.buttons)

    def show_raw(self) -> None:
        DetailsDialog(self.windowTitle(), json.dumps(self.raw, indent=2, ensure_ascii=False,
                                                     default=str), self).exec()


def card_html(card: Any, store: Any = None) -> str:
    """A model card as a readable page: what it is, what it was trained on, its licence, how
    it was made and how good it is."""
    installed = ""
    if store is not None:
        try:
            installed = "installed" if store.is_installed(card) else "not installed"
        except Exception:
            installed = ""
    size = sum(f.size for f in card.files)
    facts = [card.id, card.capability, card.architecture, installed,
             f"{size / 1e6:.1f} MB" if size else ""]
    sections: list[tuple[str, str]] = [
        ("Trained on", f"<p>{_value_html(card.training_data)}</p>"),
        ("Licence", f"<p>{_value_html(card.licence)}</p>")]
    if card.quality:
        sections.append(("Measured quality", _table_html(card.quality)))
    if card.description:
        sections.append(("About this model", f"<p>{escape(card.description)}</p>"))
    if card.command:
        sections.append(("How it was made",
                         f"<p style='font-family:monospace'>{escape(card.command)}</p>"))
    if card.files:
        sections.append(("Files", _table_html({
            f.name: f"{f.size / 1e6:.2f} MB · sha256 {f.sha256[:12] or 'not published'}"
            for f in card.files})))
    if card.sources:
        sections.append(("Where the files came from", _value_html(card.sources)))
    return _page(card.title or card.id, " · ".join(f for f in facts if f), sections)


class CardDialog(ReadableDialog):
    def __init__(self, card: Any, store: Any = None, parent=None):
        super().__init__(f"Model: {card.title or card.id}", card_html(card, store),
                         card.to_dict(), parent)


def _local(iso: str) -> str:
    try:
        return f"{datetime.fromisoformat(iso).astimezone():%Y-%m-%d %H:%M:%S}"
    except (TypeError, ValueError):
        return str(iso)


def command_line(task: Any, recipe: dict[str, Any]) -> str:
    """The ``studio run`` command that makes a recipe's output again: its task, the parameters
    that differ from the defaults, its seed."""
    args = ["studio", "run", str(recipe.get("task", ""))]
    params = recipe.get("params") or {}
    for spec in task.schema() if task is not None else []:
        if spec.name not in params or params[spec.name] == spec.to_json(spec.default):
            continue
        value = params[spec.name]
        if spec.type is bool and isinstance(value, bool):
            args.append(spec.flag if value else "--no-" + spec.flag[2:])
        else:
            args += [spec.flag, "none" if value is None else str(value)]
    if recipe.get("seed") is not None:
        args += ["--seed", str(recipe["seed"])]
    return shlex.join(args)


def recipe_html(item: Any, registry: Any = None, models: Any = None) -> str:
    """A gallery item's recipe as a readable page: the run's settings (changed ones marked),
    its seed, models, files and versions."""
    recipe = item.recipe
    task = None
    if registry is not None:
        try:
            task = registry.task(recipe.get("task"))
        except Exception:
            task = None
    params = recipe.get("params") or {}
    specs = {s.name: s for s in task.schema()} if task is not None else {}
    rows = []
    for name, value in params.items():
        spec = specs.get(name)
        label = spec.title if spec is not None else human(name)
        changed = spec is not None and value != spec.to_json(spec.default)
        if spec is not None and spec.type is Path and value:
            value = Path(value).name
        elif spec is not None and spec.model and models is not None and value:
            with contextlib.suppress(Exception):  # a model no longer in the store: its id
                value = models.get(value).title or value
        shown = _value_html(value)
        style = f"color:{theme.ACCENT}; font-weight:600" if changed else ""
        rows.append(f"<tr><td width='32%' style='color:{theme.MUTED}'>{escape(label)}</td>"
                    f"<td style='{style}'>{shown}</td></tr>")
    settings = ("<table cellspacing='0' cellpadding='3' width='100%'>" + "".join(rows)
                + "</table>") if rows else "<p>—</p>"
    if specs:
        settings += (f"<p style='color:{theme.MUTED}'>Changed from the defaults: "
                     f"<span style='color:{theme.ACCENT}'>highlighted</span>.</p>")
    run: dict[str, Any] = {"Task": f"{task.title} ({task.id})" if task else recipe.get("task"),
                           "Seed": recipe.get("seed"), "Device": recipe.get("device"),
                           "Took": f"{recipe.get('duration_s', 0):g} s",
                           "Made": _local(recipe.get("saved") or recipe.get("created"))}
    used = []
    for m in recipe.get("models") or []:
        title = m.get("id", "")
        if models is not None:
            with contextlib.suppress(Exception):  # a model no longer in the store
                title = f"{models.get(m['id']).title} ({m['id']})"
        used.append(title)
    if used:
        run["Models"] = ", ".join(used)
    versions = recipe.get("versions") or {}
    run["Versions"] = " · ".join(f"{k} {v}" for k, v in versions.items())
    files = "".join(
        f"<p><a href='{QUrl.fromLocalFile(str(e.path)).toString()}'>{escape(e.path.name)}</a>"
        f" <span style='color:{theme.MUTED}'>{escape(e.summary)}</span></p>"
        for e in item.entries)
    cmd = command_line(task, recipe) if task is not None else ""
    sections = [("Settings", settings), ("Run", _table_html(run)), ("Files", files)]
    if cmd:
        sections.append(("On the command line",
                         f"<p style='font-family:monospace'>{escape(cmd)}</p>"))
    return _page(item.title, f"{task.title if task else recipe.get('task')} · "
                             f"{_local(recipe.get('saved') or recipe.get('created'))}", sections)


class RecipeDialog(ReadableDialog):
    """How a gallery item was made, with Again."""

    again_requested = Signal(object)

    def __init__(self, item: Any, registry: Any = None, models: Any = None, parent=None):
        raw = item.recipe if len(item.entries) == 1 else {e.path.name: e.recipe
                                                         for e in item.entries}
        super().__init__(f"Recipe: {item.title}", recipe_html(item, registry, models), raw,
                         parent)
        again = self.buttons.addButton("Again", QDialogButtonBox.ActionRole)
        again.setToolTip("Run it again with the same settings and seed")
        again.clicked.connect(lambda: (self.again_requested.emit(item), self.accept()))
        self.page.setTextInteractionFlags(Qt.TextBrowserInteraction)
