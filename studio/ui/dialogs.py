"""The Plugins dialog (what loaded, what failed and why) and the model manager (cards, install
state, download, verify, import, remove)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

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
    QVBoxLayout,
)

from studio.ui.notifications import DetailsDialog


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
        table = _table(["Plugin", "Status", "Distribution", "Capabilities"])
        rows = []
        for info in registry.plugins:
            caps = [c.title for c in registry.capabilities
                    if any(t.plugin == info.name for t in c.tasks)]
            rows.append([info.name, info.status, f"{info.distribution} {info.version}".strip(),
                         ", ".join(caps)])
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
        self.resize(860, 440)
        self.store, self.jobs, self.notify = store, jobs, notify
        self.table = _table(["Model", "Capability", "Installed", "Size", "Licence", "Trained on"])
        self.table.itemSelectionChanged.connect(self._sync)
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
            rows.append([c.id, c.capability, "yes" if self.store.is_installed(c) else "no",
                         f"{size / 1e6:.1f} MB" if size else "—", c.licence, c.training_data])
        _fill(self.table, rows)
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
        import json

        c = self._selected()
        if c is not None:
            DetailsDialog(c.title or c.id, json.dumps(c.to_dict(), indent=2), self).exec()

    def _import(self) -> None:
        from studio.errors import UserError
        from studio.models import import_checkpoint

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
