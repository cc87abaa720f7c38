"""The Paint panel's Train tab: trains CycleGAN on two folders (``paint.train``) and follows it:
the four losses (generator, critic, cycle, identity) as a chart and the latest sample grid
(each row a picture, translated, translated back; A's rows then B's) in a zoomable view."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
from PySide6.QtCore import QEvent
from PySide6.QtWidgets import (
    QBoxLayout,
    QFileDialog,
    QLabel,
    QPushButton,
    QScrollArea,
    QSplitter,
    QVBoxLayout,
    QWidget,
)

from studio.ui import theme
from studio.ui.forms import PathField
from studio.ui.train_tab import TrainTab
from studio_paint.ui.common import ColumnPlacer, fit_form_rows, keep_fitted, relax_combos
from studio_paint.ui.compare import CompareView

TRAIN = "paint.train"
FOLDERS = ("data_a", "data_b")
CHART_WIDTH = 420  # px the loss chart needs for its four-series legend
LOSSES = {"generator": ("generator", theme.ACCENT), "critic": ("critic", "#61afef"),
          "cycle": ("cycle", theme.OK), "identity": ("identity", "#c678dd")}


class PaintTrainTab(TrainTab):
    base_fields = ("ngf", "n_blocks")
    base_config = {"ngf": "ngf", "n_blocks": "n_blocks"}

    def __init__(self, host, parent: QWidget | None = None):
        self.sample_view = CompareView("The sample grid appears as it trains: each row a "
                                       "picture, translated, and translated back")
        self.sample_view.set_labels("", "")
        self.sample_caption = QLabel("")
        self.sample_caption.setObjectName("muted")
        self.sample_caption.setWordWrap(True)
        sample = QWidget()
        sv = theme.pad(QVBoxLayout(sample), 0)
        sv.addWidget(self.sample_view, 1)
        sv.addWidget(self.sample_caption)
        super().__init__(host, TRAIN, LOSSES, sample,
                         "The generator, critic, cycle and identity losses appear as it trains",
                         sizes=(360, 640), parent=parent)
        for name in FOLDERS:
            w = self.form.widgets.get(name)
            if isinstance(w, PathField):
                self._folder_field(w)
        theme.pad(self.layout())
        fit_form_rows(self.form, 0)  # narrow until shown wide: a hidden tab must not widen
        relax_combos(self.form)  # the panel
        self._fit_form()
        if self._right() is not None:
            self._right().installEventFilter(self)  # the splitter moved: arrange again

    def _folder_field(self, field: PathField) -> None:
        """Browse picks a folder, not a file."""
        field.edit.setPlaceholderText("a folder of pictures…")
        browse = field.findChild(QPushButton)
        if browse is None:
            return
        browse.clicked.disconnect()
        browse.clicked.connect(lambda: self._pick_folder(field))

    def _pick_folder(self, field: PathField) -> None:
        start = field.value() or str(Path.home())
        folder = QFileDialog.getExistingDirectory(self, field.spec.title, start)
        if folder:
            field.set_value(folder)

    def _fit_form(self) -> None:
        """The form scrolls up and down, never sideways: its column is as wide as it needs."""
        scroll = self.findChild(QScrollArea)
        split = self.findChild(QSplitter)
        if scroll is None or split is None:
            return
        keep_fitted(scroll)
        ColumnPlacer(split, split.widget(0), share=0.4, most=480)
        split.setChildrenCollapsible(False)
        split.setStretchFactor(0, 0)
        split.setStretchFactor(1, 1)

    def resizeEvent(self, event) -> None:  # noqa: N802 (Qt's name)
        super().resizeEvent(event)
        fit_form_rows(self.form, self.width())  # the column refits itself (keep_fitted)

    def eventFilter(self, watched, event) -> bool:  # noqa: N802
        if event.type() == QEvent.Resize and watched is self._right():
            self._arrange_right()
        return super().eventFilter(watched, event)

    def _right(self) -> QWidget | None:
        split = self.findChild(QSplitter)
        return split.widget(1) if split is not None else None

    def _arrange_right(self) -> None:
        """The curves above the sample grid, or beside it where that shows the grid larger (it
        is twice as tall as it is wide) and leaves the curves room for their legend."""
        right = self._right()
        lay = right.layout() if right is not None else None
        if not isinstance(lay, QBoxLayout):
            return
        size = self.sample_view.image_size()
        gw, gh = (size.width(), size.height()) if not size.isEmpty() else (3, 6)
        w, h = right.width(), right.height()
        share = 2 / 5  # the sample's stretch against the chart's 3
        above = min(w / gw, share * h / gh)
        beside = min(share * w / gw, h / gh)
        wide = beside > above and (1 - share) * w >= CHART_WIDTH
        lay.setDirection(QBoxLayout.LeftToRight if wide else QBoxLayout.TopToBottom)

    def set_folder(self, path: Path) -> bool:
        """A dropped folder fills the first empty folder field (B when both are set)."""
        fields = [self.form.widgets.get(n) for n in FOLDERS]
        fields = [f for f in fields if isinstance(f, PathField)]
        if not fields:
            return False
        empty = [f for f in fields if not f.value()]
        (empty[0] if empty else fields[-1]).set_value(str(path))
        return True

    def show_sample(self, data: dict[str, Any]) -> None:
        grid = data.get("sample")
        if not isinstance(grid, np.ndarray) or grid.dtype != np.uint8 or grid.ndim not in (2, 3):
            return
        self.sample_view.set_after(grid)
        self._arrange_right()
        step = data.get("step")
        self.sample_view.set_labels("", f"step {step}" if step is not None else "")
        v = self.form.values()
        a, b = v.get("name_a") or "A", v.get("name_b") or "B"
        self.sample_caption.setText(f"Each row: a picture, translated, translated back. "
                                    f"Top: {a} → {b} → {a}; bottom: {b} → {a} → {b}.")

    def clear_sample(self) -> None:
        self.sample_view.set_after(None)
        self.sample_caption.setText("")
