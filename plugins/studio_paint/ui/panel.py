"""The Paint panel: three tabs.

- Translate: a photo (or a folder) painted by a CycleGAN model (``paint.translate``), before and
  after side by side with a divider, export as PNG, JPEG or WebP.
- Style: a photo repainted in the style of one or several paintings (``paint.style``, or the
  fast feed-forward models), the picture evolving in the same view, the loss curve.
- Train: CycleGAN trained on two folders (``paint.train``), the four losses and the sample grid.

Every computation is a task on the shared compute lane (``host.submit``); the panel only shows
pictures and never starts a thread.
"""

from __future__ import annotations

import contextlib
from pathlib import Path
from typing import Any

from PySide6.QtWidgets import QTabWidget, QVBoxLayout, QWidget

from studio.ui import theme
from studio_paint.ui.common import panel_stylesheet
from studio_paint.ui.files import is_picture
from studio_paint.ui.style_tab import StyleTab
from studio_paint.ui.train_tab import TRAIN, PaintTrainTab
from studio_paint.ui.translate_tab import TranslateTab


class PaintPanel(QWidget):
    def __init__(self, host, parent: QWidget | None = None):
        super().__init__(parent)
        self.host = host
        self.setStyleSheet(panel_stylesheet())  # before the tabs measure their buttons
        self.tabs = QTabWidget()
        self.translate_tab = TranslateTab(host)
        self.tabs.addTab(self.translate_tab, "Translate")
        self.style_tab = StyleTab(host)
        self.tabs.addTab(self.style_tab, "Style")
        self.train_tab: PaintTrainTab | None = None
        if TRAIN in host.registry.tasks:
            self.train_tab = PaintTrainTab(host)
            self.train_tab.model_trained.connect(self.refresh_models)
            self.tabs.addTab(self.train_tab, "Train")
        lay = theme.pad(QVBoxLayout(self))
        lay.addWidget(self.tabs)

    def refresh_models(self, select: str | None = None) -> None:
        """List the store's models again (one was trained, imported or downloaded)."""
        self.translate_tab.refresh_models(select)
        self.style_tab.refresh_models()

    def showEvent(self, event) -> None:  # noqa: N802 (Qt's name)
        super().showEvent(event)
        self.refresh_models()

    # -- what the window asks of a panel -------------------------------------------------------
    def run_default(self):
        """Ctrl+Enter: run the current tab (translate, stylise, or train)."""
        tab = self.tabs.currentWidget()
        if tab is self.train_tab:
            return self.train_tab.train()
        return tab.run()

    def handle_drop(self, paths: list[Path]) -> bool:
        """A picture goes to the current tab's input (on the Train tab, to Translate); a folder
        is translated as a batch (on the Train tab it fills a folder field)."""
        paths = [Path(p) for p in paths]
        tab = self.tabs.currentWidget()
        if tab is self.train_tab and any(p.is_dir() for p in paths):
            return self.train_tab.set_folder(next(p for p in paths if p.is_dir()))
        if tab is self.style_tab and any(is_picture(p) for p in paths):
            return self.style_tab.handle_drop(paths)
        if self.translate_tab.handle_drop(paths):
            self.tabs.setCurrentWidget(self.translate_tab)
            return True
        return False

    def current_values(self) -> dict[str, Any]:
        return {"tab": self.tabs.currentIndex(),
                "translate": self.translate_tab.current_values(),
                "style": self.style_tab.current_values(),
                "train": self.train_tab.form.values() if self.train_tab is not None else {}}

    def restore_values(self, v: dict[str, Any]) -> None:
        if not isinstance(v, dict):
            return
        if isinstance(v.get("translate"), dict):
            self.translate_tab.restore_values(v["translate"])
        if isinstance(v.get("style"), dict):
            self.style_tab.restore_values(v["style"])
        if self.train_tab is not None and isinstance(v.get("train"), dict):
            self.train_tab.form.set_values(v["train"])
        with contextlib.suppress(TypeError, ValueError):
            i = int(v.get("tab", 0))
            if 0 <= i < self.tabs.count():
                self.tabs.setCurrentIndex(i)


def panel(host) -> PaintPanel:
    """The capability's panel factory."""
    return PaintPanel(host)
