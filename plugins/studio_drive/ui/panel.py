"""The Drive panel: three tabs.

- Drive: the agent driving a track in real time beside what it sees, V's reconstruction and
  M's prediction; its dream; the keys; the latent explorer; recording (``live_tab.py``).
- Train: collect, V, M and C, one by one or all in order, with their curves (``train_tab.py``).
- Evaluate: ``drive.evaluate``'s per-track scores beside the paper's table
  (``evaluate_tab.py``).

Every computation is a task on the shared compute lane; the panel shows what the tasks yield and
sends the user's input back through the running job's live controls.
"""

from __future__ import annotations

import contextlib
from pathlib import Path
from typing import Any

from PySide6.QtWidgets import QTabWidget, QVBoxLayout, QWidget

from studio.ui import theme
from studio_drive.ui.evaluate_tab import EvaluateTab
from studio_drive.ui.live_tab import LiveTab
from studio_drive.ui.train_tab import DriveTrainTab


class DrivePanel(QWidget):
    def __init__(self, host, parent: QWidget | None = None):
        super().__init__(parent)
        self.host = host
        self.tabs = QTabWidget()
        self.live = LiveTab(host)
        self.tabs.addTab(self.live, "Drive")
        self.train_tab = DriveTrainTab(host)
        self.train_tab.model_trained.connect(self.refresh_models)
        self.tabs.addTab(self.train_tab, "Train")
        self.evaluate_tab = (EvaluateTab(host, self.live.model.model_id)
                             if "drive.evaluate" in host.registry.tasks else None)
        if self.evaluate_tab is not None:
            self.tabs.addTab(self.evaluate_tab, "Evaluate")
        self.live.train_requested.connect(lambda: self.tabs.setCurrentWidget(self.train_tab))
        lay = theme.pad(QVBoxLayout(self))
        lay.addWidget(self.tabs)

    def refresh_models(self, select: str | None = None) -> None:
        self.live.refresh_models(select)

    # -- what the window asks of a panel -------------------------------------------------------
    def run_default(self):
        """Ctrl+Enter: watch (Drive tab), run every training stage in order (Train), or
        evaluate."""
        tab = self.tabs.currentWidget()
        if tab is self.train_tab:
            return self.train_tab.run_all() or None
        if tab is self.evaluate_tab:
            return self.evaluate_tab.run()
        return self.live.watch()

    def handle_drop(self, paths: list[Path]) -> bool:
        """A folder is taken as the rollouts folder; an evaluation's CSV is shown."""
        for p in map(Path, paths):
            if p.is_dir():
                self.tabs.setCurrentWidget(self.train_tab)
                return self.train_tab.set_folder(p)
            if p.suffix.lower() == ".csv" and self.evaluate_tab is not None:
                self.tabs.setCurrentWidget(self.evaluate_tab)
                return self.evaluate_tab.show_csv(p)
        return False

    def current_values(self) -> dict[str, Any]:
        return {"tab": self.tabs.currentIndex(), "drive": self.live.current_values(),
                "train": self.train_tab.current_values(),
                "evaluate": self.evaluate_tab.current_values() if self.evaluate_tab else {}}

    def restore_values(self, v: dict[str, Any]) -> None:
        if not isinstance(v, dict):
            return
        for key, tab in (("drive", self.live), ("train", self.train_tab),
                         ("evaluate", self.evaluate_tab)):
            if tab is not None and isinstance(v.get(key), dict):
                tab.restore_values(v[key])
        with contextlib.suppress(TypeError, ValueError):
            i = int(v.get("tab", 0))
            if 0 <= i < self.tabs.count():
                self.tabs.setCurrentIndex(i)


def panel(host) -> DrivePanel:
    """The capability's panel factory."""
    return DrivePanel(host)
