"""The Style tab: a photo repainted in the style of one or several paintings.

On the left: the photo, the chosen styles with a weight each, the method (the optimisation of
``paint.style``, which evolves before your eyes, or a fast feed-forward model), its knobs,
Repaint and Stop, Export. On the right: the before/after view with the evolving picture, the
strip of style thumbnails (the fast models' styles and every painting opened or dropped, kept
between runs) and the loss curve.

Stop keeps the picture as it is at that moment: it stays on screen and Export writes it.
"""

from __future__ import annotations

import traceback
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import numpy as np
from PySide6.QtCore import QEvent, Qt
from PySide6.QtGui import QGuiApplication
from PySide6.QtWidgets import (
    QBoxLayout,
    QComboBox,
    QFileDialog,
    QFormLayout,
    QHBoxLayout,
    QLabel,
    QPushButton,
    QStackedWidget,
    QVBoxLayout,
    QWidget,
)

from studio.ui import theme
from studio.ui.chart import LineChart
from studio.ui.widgets import side_by_side
from studio_paint.kinds import FAST_STYLE
from studio_paint.ui.common import (
    ColumnPlacer,
    RunBox,
    fit_form_rows,
    heading,
    running_text,
    settings_column,
    task_form,
)
from studio_paint.ui.compare import CompareView, ZoomBar
from studio_paint.ui.files import (
    dialog_filter,
    export_picture,
    export_suffix,
    is_picture,
    read_picture,
)
from studio_paint.ui.styles import Style, StyleStrip, StyleWeights
from studio_paint.ui.translate_tab import picture_of

STYLE = "paint.style"
FAST = "paint.fast-style"
# the fields the tab fills itself, whatever the task calls them
CONTENT_NAMES = ("content", "photo", "image")
STYLE_NAMES = ("style", "styles")
WEIGHT_NAMES = ("style_weights", "weights")
FAST_MODEL_NAMES = ("model",)
GET_VGG19 = "paint.get-vgg19"
NETWORK_NAMES = {"vgg19": "the ImageNet VGG19",
                 "random-softmax": "a random-weight VGG19 with the softmax transform (offline)",
                 "random": "a random-weight VGG19 without the softmax transform (offline)"}
STYLE_FILES = ("style.jpg", "style.png", "style.webp")
NARROW = 720  # px: below this the strip and the chart stack


def first_name(names: set[str], candidates: tuple[str, ...]) -> str | None:
    return next((n for n in candidates if n in names), None)


def fast_styles(models: Any) -> list[Style]:
    """The fast models' styles: each one's painting, from its folder (``style.jpg`` or the file
    its card's ``config.style_image`` names), or its folder when it keeps no picture of it (the
    strip then shows a tile with its title)."""
    found = []
    try:
        cards = [c for c in models.cards() if c.capability == "paint"
                 and c.architecture == FAST_STYLE and c.folder is not None]
    except Exception:  # an unreadable store offers no styles rather than failing the panel
        return []
    for card in cards:
        named = card.config.get("style_image") if isinstance(card.config, dict) else None
        names = ([named] if isinstance(named, str) and "/" not in named else []) + list(
            STYLE_FILES)
        painting = next((Path(card.folder) / n for n in names
                         if (Path(card.folder) / n).is_file()), Path(card.folder))
        found.append(Style(painting, card.title or card.id, "model", card.id))
    return found


def vgg19_installed(models: Any) -> bool:
    """The ImageNet VGG19 is in the store (imported), as paint.style decides it."""
    try:
        from studio_paint.style_tasks import vgg19_installed as installed
    except ImportError:
        return False
    try:
        return bool(installed(SimpleNamespace(models=models)))
    except Exception:  # an unreadable store: as if it were not there
        return False


class StyleTab(QWidget):
    def __init__(self, host, parent: QWidget | None = None):
        super().__init__(parent)
        self.host = host
        self.task = host.task(STYLE) if STYLE in host.registry.tasks else None
        self.fast_task = host.task(FAST) if FAST in host.registry.tasks else None
        self.job = None
        self.photo: np.ndarray | None = None
        self.photo_path: Path | None = None
        self.result: np.ndarray | None = None  # the picture Export writes
        self.saved: Path | None = None  # the gallery's PNG of it, when done
        self.last_step: int | None = None
        self.result_label = ""  # what the picture on screen is ("step 40 of 60")
        self._build()
        host.jobs.job_changed.connect(self._on_changed)
        host.jobs.job_preview.connect(self._on_preview)
        host.jobs.job_output.connect(self._on_output)
        self._sync()

    # -- building ------------------------------------------------------------------------------
    def _build(self) -> None:
        self.open_button = QPushButton("Open photo…")
        self.open_button.setToolTip("The photo to repaint (or drop one on the window)")
        self.open_button.clicked.connect(lambda: self.open_photo())
        self.photo_label = QLabel("No photo yet")
        self.photo_label.setObjectName("muted")
        self.photo_label.setWordWrap(True)
        self.weights = StyleWeights()
        self.weights.removed.connect(self._leave_style)
        self.add_button = QPushButton("Add painting…")
        self.add_button.setToolTip("A painting whose style to use (or drop one on the window); "
                                   "it stays in the strip")
        self.add_button.clicked.connect(lambda: self.add_painting())

        self.method = QComboBox()
        self.method.addItem("Watch it paint", STYLE)
        if self.fast_task is not None:
            self.method.addItem("Fast (a trained model)", FAST)
        self.method.setToolTip("Watch it paint: the picture is optimised step by step, any "
                               "painting. Fast: one pass through a model trained on a style")
        self.method.currentIndexChanged.connect(self._method_changed)
        self.form = task_form(self.task, self.host.models,
                              CONTENT_NAMES + STYLE_NAMES + WEIGHT_NAMES)
        self.fast_form = task_form(self.fast_task, self.host.models,
                                   CONTENT_NAMES + STYLE_NAMES + WEIGHT_NAMES
                                   + FAST_MODEL_NAMES)  # the strip's ⚡ style names the model
        if self.form is not None:
            self.form.changed.connect(self._show_network)
        self.network_label = QLabel("")
        self.network_label.setObjectName("muted")
        self.network_label.setWordWrap(True)
        self.vgg_button = QPushButton("Get the ImageNet VGG19…")
        self.vgg_button.setToolTip("paint.style paints best with it: 548 MB to download, 40 MB "
                                   "kept")
        self.vgg_button.clicked.connect(lambda: self.get_vgg19())
        self.vgg_job = None
        self.forms = QStackedWidget()
        for form, task_id in ((self.form, STYLE), (self.fast_form, FAST)):
            self.forms.addWidget(form if form is not None else self._missing(task_id))
        method_row = theme.pad(QFormLayout(), 0)
        method_row.addRow("Method", self.method)
        self.method.setVisible(self.fast_task is not None)
        method_row.setRowVisible(self.method, self.fast_task is not None)

        self.run_box = RunBox("Repaint", "Repaint the photo in the chosen styles (Ctrl+Enter)")
        self.run_box.run_clicked.connect(self.run)
        self.run_box.stop_clicked.connect(self.stop)
        self.export_button = QPushButton("Export…")
        self.export_button.setToolTip("Save the picture as PNG, JPEG or WebP (a stopped "
                                      "picture too)")
        self.export_button.clicked.connect(lambda: self.export())

        side = QWidget()
        sv = theme.pad(QVBoxLayout(side), (0, 0, theme.SPACE_S, 0))  # off the scroll bar
        sv.addWidget(self.open_button)
        sv.addWidget(self.photo_label)
        sv.addWidget(heading("Styles and their weights"))
        sv.addWidget(self.weights)
        sv.addWidget(self.add_button)
        sv.addLayout(method_row)
        sv.addWidget(self.forms)
        sv.addWidget(self.network_label)
        sv.addWidget(self.vgg_button)
        sv.addStretch(1)
        self.column = settings_column(side, [self.run_box, self.export_button])

        self.view = CompareView("Open a photo and choose a painting: the photo repaints itself "
                                "here, step by step")
        self.zoom_bar = ZoomBar(self.view)
        self.strip = StyleStrip()
        self.strip.chosen_changed.connect(self._chosen_changed)
        self.chart = LineChart({"loss": theme.ACCENT}, "The loss appears as it paints")
        self.chart.setMinimumHeight(self.strip.height())
        self.chart.hide()  # until the first run: the picture gets the room
        top = theme.pad(QHBoxLayout(), 0)
        top.addWidget(self.zoom_bar)
        top.addStretch(1)
        self.bottom = theme.pad(QBoxLayout(QBoxLayout.LeftToRight), 0)
        self.bottom.addWidget(self.strip, 3)
        self.bottom.addWidget(self.chart, 2)
        main = QWidget()
        mv = theme.pad(QVBoxLayout(main), (theme.SPACE, 0, 0, 0))
        mv.addLayout(top)
        mv.addWidget(self.view, 1)
        mv.addLayout(self.bottom)
        self.main = main
        main.installEventFilter(self)

        lay = theme.pad(QVBoxLayout(self))
        self.split = side_by_side(self.column, main, (300, 900), stretch=(0, 1))
        self.split.setChildrenCollapsible(False)
        lay.addWidget(self.split)
        ColumnPlacer(self.split, self.column)
        self.refresh_models()

    def _missing(self, task_id: str) -> QLabel:
        label = QLabel(f"{task_id} is not available (the paint tasks did not load)")
        label.setObjectName("error")
        label.setWordWrap(True)
        return label

    def resizeEvent(self, event) -> None:  # noqa: N802 (Qt's name)
        super().resizeEvent(event)
        for form in (self.form, self.fast_form):
            fit_form_rows(form, self.width())

    def eventFilter(self, watched, event) -> bool:  # noqa: N802
        """The strip beside the loss chart in a wide picture pane, above it in a narrow one."""
        if watched is self.main and event.type() == QEvent.Resize:
            narrow = self.main.width() < NARROW
            self.bottom.setDirection(QBoxLayout.TopToBottom if narrow
                                     else QBoxLayout.LeftToRight)
        return super().eventFilter(watched, event)

    def refresh_models(self) -> None:
        """The fast models' styles in the strip (the user's paintings stay)."""
        for style in fast_styles(self.host.models):
            self.strip.add(style)
        for form in (self.form, self.fast_form):
            if form is not None:
                form.refresh_models()
        self._show_network()

    # -- which task ----------------------------------------------------------------------------
    def current_task(self):
        return self.fast_task if self.method.currentData() == FAST else self.task

    def current_form(self):
        return self.fast_form if self.method.currentData() == FAST else self.form

    def _method_changed(self) -> None:
        self.forms.setCurrentIndex(1 if self.method.currentData() == FAST else 0)
        self._show_network()
        self._sync()

    def _show_network(self) -> None:
        """Which network will judge the paintings, and the download a click away."""
        fast = self.method.currentData() == FAST
        installed = vgg19_installed(self.host.models)
        choice = (self.form.values().get("network") if self.form is not None else "") or "auto"
        if choice == "auto":
            choice = "vgg19" if installed else "random-softmax"
        downloading = self.vgg_job is not None and not self.vgg_job.state.finished
        text = f"Network: {NETWORK_NAMES.get(choice, choice)}"
        if choice == "vgg19" and not installed:
            text += ", not installed yet"
        if downloading:
            text += f" · getting the ImageNet VGG19: {self.vgg_job.message or 'queued'}"
        self.network_label.setText(text)
        self.network_label.setVisible(not fast and self.task is not None)
        self.vgg_button.setVisible(not fast and not installed and GET_VGG19 in
                                   self.host.registry.tasks)
        self.vgg_button.setEnabled(not downloading)

    def get_vgg19(self, ask: bool = True):
        """Download the ImageNet VGG19 (548 MB, asked first) as a job on the lane."""
        if GET_VGG19 not in self.host.registry.tasks:
            return None
        if ask:
            from PySide6.QtWidgets import QMessageBox

            answer = QMessageBox.question(
                self, "Get the ImageNet VGG19",
                "Download the ImageNet VGG19 from download.pytorch.org (548 MB)? Its "
                "convolutional layers (40 MB) are kept; style transfer then paints with it.")
            if answer != QMessageBox.Yes:
                return None
        task = self.host.task(GET_VGG19)
        self.vgg_job = self.host.submit(task, task.make_params({}))
        self._show_network()
        return self.vgg_job

    # -- input ---------------------------------------------------------------------------------
    def open_photo(self, path: Path | None = None) -> bool:
        if path is None:
            name, _ = QFileDialog.getOpenFileName(
                self, "Open a photo", str(self._start_dir()),
                "Pictures (*.png *.jpg *.jpeg *.webp *.bmp *.tif *.tiff *.gif);;All files (*)")
            if not name:
                return False
            path = Path(name)
        picture = self._read(Path(path))
        if picture is None:
            return False
        self.photo, self.photo_path = picture, Path(path)
        self.result = self.saved = None
        self.view.set_before(picture)
        self.view.set_after(None)
        self.view.set_labels("Photo", "Painted")
        h, w = picture.shape[:2]
        self.photo_label.setText(f"{Path(path).name} · {w} × {h}")
        self.photo_label.setToolTip(str(path))
        self._sync()
        return True

    def add_painting(self, path: Path | None = None, choose: bool = True) -> bool:
        """Put a painting in the strip (and choose it)."""
        if path is None:
            name, _ = QFileDialog.getOpenFileName(
                self, "Add a painting", str(self._start_dir()),
                "Pictures (*.png *.jpg *.jpeg *.webp *.bmp *.tif *.tiff *.gif);;All files (*)")
            if not name:
                return False
            path = Path(name)
        path = Path(path)
        if not is_picture(path):
            self.host.notify(f"{path.name} is not a picture", "error")
            return False
        self.strip.add(Style(path, path.stem), choose=choose)
        return True

    def _start_dir(self) -> Path:
        return self.photo_path.parent if self.photo_path is not None else Path.home()

    def _read(self, path: Path) -> np.ndarray | None:
        QGuiApplication.setOverrideCursor(Qt.WaitCursor)
        try:
            return read_picture(path)
        except ValueError as exc:
            self.host.notify(str(exc), "error")
        except Exception as exc:  # a reader's bug is a message, not a crash
            self.host.notify(f"Cannot open {path.name}: {type(exc).__name__}: {exc}", "error",
                             traceback.format_exc())
        finally:
            QGuiApplication.restoreOverrideCursor()
        return None

    def handle_drop(self, paths: list[Path]) -> bool:
        """The first picture dropped is the photo when there is none yet; after that, dropped
        pictures are paintings for the strip."""
        pictures = [Path(p) for p in paths if is_picture(Path(p))]
        if not pictures:
            return False
        ok = self.open_photo(pictures.pop(0)) if self.photo is None else False
        for p in pictures:
            ok = self.add_painting(p) or ok
        return ok

    def _chosen_changed(self) -> None:
        self.weights.set_styles(self.strip.chosen())
        self._sync()

    def _leave_style(self, path: Path) -> None:
        item = self.strip.find(path)
        if item is not None:
            item.setSelected(False)

    # -- running -------------------------------------------------------------------------------
    def values(self) -> dict[str, Any]:
        """The current task's values: the form's, the photo and the chosen styles."""
        task, form = self.current_task(), self.current_form()
        values = form.values() if form is not None else {}
        names = {s.name for s in task.schema()} if task is not None else set()
        specs = {s.name: s for s in task.schema()} if task is not None else {}
        chosen = [st for st in self.strip.chosen() if st.path.is_file()]  # paintings
        content = first_name(names, CONTENT_NAMES)
        if content and self.photo_path is not None:
            values[content] = str(self.photo_path)
        style = first_name(names, STYLE_NAMES)
        if style and chosen:
            many = specs[style].type is str
            values[style] = (",".join(str(s.path) for s in chosen) if many
                             else str(chosen[0].path))
        weights = first_name(names, WEIGHT_NAMES)
        if weights and chosen:
            values[weights] = ",".join(f"{self.weights.weight(s.path):g}" for s in chosen)
        fast = self.fast_style()
        model = first_name(names, FAST_MODEL_NAMES)
        if task is self.fast_task and fast is not None and model:
            values[model] = fast.model
        return values

    def fast_style(self) -> Style | None:
        """The first chosen style that a fast model paints in."""
        return next((st for st in self.strip.chosen() if st.model), None)

    def run(self):
        """Repaint the photo; returns the Job (None when nothing can run)."""
        task = self.current_task()
        if task is None:
            self.run_box.say(f"{STYLE} is not available", error=True)
            return None
        if self.photo_path is None:
            self.run_box.say("Open or drop a photo first", error=True)
            return None
        if task is self.task and not any(st.path.is_file() for st in self.strip.chosen()):
            self.run_box.say("Choose a painting in the strip (or add one)", error=True)
            return None
        if task is self.fast_task and self.fast_style() is None:
            self.run_box.say("Fast paints in the style of a trained model: choose one marked ⚡ "
                             "in the strip", error=True)
            return None
        try:
            params = task.make_params(self.values())
        except ValueError as exc:
            self.run_box.say(str(exc), error=True)
            return None
        if self.job is not None and not self.job.state.finished:
            self.host.jobs.cancel(self.job)
        self.result = self.saved = None
        self.last_step = None
        self.chart.clear()
        self.chart.show()
        self.view.set_after(None)
        self.job = self.host.submit(task, params)
        self.run_box.say("Queued")
        self._sync()
        return self.job

    def stop(self) -> None:
        """Stop; the picture as it is now stays (Export writes it)."""
        if self.job is not None and not self.job.state.finished:
            self.host.jobs.cancel(self.job)

    def _on_preview(self, job, preview) -> None:
        if job is not self.job:
            return
        data = preview.data
        if isinstance(data, dict) and "step" in data:
            step = data.get("step")
            loss = data.get("loss")
            if isinstance(step, int | float) and isinstance(loss, int | float):
                self.chart.add(int(step), loss=float(loss))
                self.last_step = int(step)
        picture = picture_of(data)
        if picture is not None:
            self.result = picture
            self.view.set_after(picture)
            label = preview.label or (f"step {self.last_step}" if self.last_step is not None
                                      else "Painting")
            self.result_label = label
            self.view.set_labels("Photo", label)
        self._sync()

    def _on_output(self, job, saved) -> None:
        if job is not self.job:
            return
        output = getattr(saved, "output", saved)
        picture = picture_of(getattr(output, "data", None))
        if picture is None:
            return
        path = getattr(saved, "path", None)
        self.result, self.saved = picture, Path(path) if path else None
        self.view.set_after(picture)
        self.view.set_labels("Photo", "Painted")
        self._sync()

    def _on_changed(self, job) -> None:
        if job is self.vgg_job:
            if job.state.name == "FAILED":
                self.host.notify(f"Could not get the ImageNet VGG19: {job.error}", "error")
            self._show_network()
            return
        if job is not self.job:
            return
        state = job.state.name
        if job.state.finished:
            took = f" in {job.ended - job.started:.1f} s" if job.started else ""
            if state == "DONE":
                self.run_box.say(f"Done{took}; saved to the gallery" if self.saved
                                 else f"Done{took}")
            elif state == "CANCELLED":
                self.run_box.say(f"Stopped: the picture of {self.result_label} is kept; "
                                 "Export saves it" if self.result is not None else "Stopped")
            else:
                self.run_box.say(f"Failed: {job.error}", error=True)
            self.run_box.set_progress(1.0 if state == "DONE" else job.progress or 0.0)
        else:
            self.run_box.set_progress(job.progress)
            self.run_box.say(running_text(job))
        self._sync()

    # -- export --------------------------------------------------------------------------------
    def export(self, dest: Path | None = None) -> Path | None:
        if self.result is None:
            self.run_box.say("Nothing to export yet", error=True)
            return None
        if dest is None:
            stem = (self.photo_path.stem if self.photo_path is not None else "photo") + "-styled"
            name, chosen = QFileDialog.getSaveFileName(
                self, "Export the picture", str(self._start_dir() / f"{stem}.png"),
                dialog_filter())
            if not name:
                return None
            dest = export_suffix(Path(name), chosen)
        else:
            dest = export_suffix(Path(dest))
        QGuiApplication.setOverrideCursor(Qt.WaitCursor)
        try:
            written = export_picture(self.result, dest, saved_png=self.saved)
        except (OSError, ValueError) as exc:
            self.host.notify(f"Cannot write {dest}: {exc}", "error")
            return None
        finally:
            QGuiApplication.restoreOverrideCursor()
        self.run_box.say(f"Exported {written}")
        return written

    # -- persistence ---------------------------------------------------------------------------
    def current_values(self) -> dict[str, Any]:
        return {"photo": str(self.photo_path) if self.photo_path is not None else "",
                "paintings": self.strip.user_paintings(),
                "chosen": [str(s.path) for s in self.strip.chosen()],
                "weights": self.weights.all_weights(),
                "method": self.method.currentData(),
                "form": self.form.values() if self.form is not None else {},
                "fast_form": self.fast_form.values() if self.fast_form is not None else {}}

    def restore_values(self, v: dict[str, Any]) -> None:
        for p in v.get("paintings") or []:
            if isinstance(p, str) and Path(p).is_file():
                self.strip.add(Style(Path(p), Path(p).stem))
        self.weights.restore(v.get("weights"))
        if isinstance(v.get("chosen"), list):
            self.strip.choose([str(p) for p in v["chosen"]])
        i = self.method.findData(v.get("method"))
        if i >= 0:
            self.method.setCurrentIndex(i)
        if isinstance(v.get("form"), dict) and self.form is not None:
            self.form.set_values(v["form"])
        if isinstance(v.get("fast_form"), dict) and self.fast_form is not None:
            self.fast_form.set_values(v["fast_form"])
        photo = Path(str(v.get("photo") or ""))
        if v.get("photo") and photo.is_file() and self.photo_path is None:
            self.open_photo(photo)

    # -- state ---------------------------------------------------------------------------------
    def _sync(self) -> None:
        busy = self.job is not None and not self.job.state.finished
        self.run_box.set_busy(busy, can_run=self.current_task() is not None
                              and self.photo_path is not None)
        self.export_button.setEnabled(self.result is not None)
