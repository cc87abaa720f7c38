"""The Translate tab: a photo (or a folder of them) painted by a CycleGAN model.

On the left: Open photo / Open folder, the model list with thumbnails, the direction, the
strength and the rest of ``paint.translate``'s settings, Translate and Stop, the progress and
Export. On the right: the before/after view, showing the newest preview while it computes and
the result when it is done; for a folder, arrows step through the results.

The translation runs on the shared compute lane (``host.submit``); the host saves each result to
the gallery. The panel reads the photo itself to show it (once, when opened).
"""

from __future__ import annotations

import traceback
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from PySide6.QtCore import Qt
from PySide6.QtGui import QGuiApplication
from PySide6.QtWidgets import (
    QComboBox,
    QFileDialog,
    QFormLayout,
    QHBoxLayout,
    QLabel,
    QPushButton,
    QSizePolicy,
    QVBoxLayout,
    QWidget,
)

from studio.ui import theme
from studio.ui.widgets import side_by_side
from studio_paint.ui.common import (
    ColumnPlacer,
    RunBox,
    ShareSlider,
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
    pictures_in,
    read_picture,
)
from studio_paint.ui.models import ModelList, direction_text, directions

TRANSLATE = "paint.translate"
OWN = ("image", "model", "direction", "strength", "scale")  # fields the tab draws itself
# working resolutions offered (any other, e.g. a short side in pixels, can be typed)
SCALES = (("auto", "as the model was trained (its makers' advice)"),
          ("2x", "twice that: finer detail, a lighter touch"),
          ("3x", "three times"),
          ("full", "the photo's own pixels"))
DEFAULT_MODEL = "paint.monet"


@dataclass
class Result:
    """One translated picture: its photo, the file the gallery saved it as, and the pixels
    while they are on screen (or always, when nothing saved them)."""

    source: Path | None
    saved: Path | None
    image: np.ndarray | None


def picture_of(data: Any) -> np.ndarray | None:
    """The uint8 picture in a preview's or an output's data (an array, or a dict holding one
    under "image"), else None."""
    if isinstance(data, dict):
        data = data.get("image")
    if isinstance(data, np.ndarray) and data.dtype == np.uint8 and data.ndim in (2, 3) \
            and data.size:
        return data
    return None


def download_task():
    """The host's model download task (None on a studio without one)."""
    try:
        from studio.downloads import DOWNLOAD_TASK
    except ImportError:
        return None
    return DOWNLOAD_TASK


class TranslateTab(QWidget):
    def __init__(self, host, parent: QWidget | None = None):
        super().__init__(parent)
        self.host = host
        self.task = host.task(TRANSLATE) if TRANSLATE in host.registry.tasks else None
        self.job = None
        self.source: Path | None = None  # the photo or folder opened
        self.batch: list[Path] = []  # a folder's pictures
        self.photo: np.ndarray | None = None  # the before picture on screen
        self.photo_path: Path | None = None
        self.results: list[Result] = []
        self.shown = -1  # index of the result on screen
        self._preview_for: Path | None = None  # whose preview is on screen
        self._build()
        host.jobs.job_changed.connect(self._on_changed)
        host.jobs.job_preview.connect(self._on_preview)
        host.jobs.job_output.connect(self._on_output)
        self._sync()

    # -- building ------------------------------------------------------------------------------
    def _build(self) -> None:
        self.open_button = QPushButton("Open photo…")
        self.open_button.setToolTip("A photo to paint (or drop one on the window)")
        self.open_button.clicked.connect(lambda: self.open_photo())
        self.folder_button = QPushButton("Open folder…")
        self.folder_button.setToolTip("Every picture in a folder, painted as one job")
        self.folder_button.clicked.connect(lambda: self.open_folder())
        self.source_label = QLabel("No photo yet")
        self.source_label.setObjectName("muted")
        self.source_label.setWordWrap(True)

        self.models = ModelList(self.host.models, DEFAULT_MODEL)
        self.models.model_changed.connect(self._model_changed)
        self.download_button = QPushButton("Download this model")
        self.download_button.setToolTip("Fetch the chosen model's weights into your model store "
                                        "(a job in the queue; Translate once it is done)")
        self.download_button.clicked.connect(lambda: self.download())
        self.download_job = None
        self.direction = QComboBox()
        self.direction.setToolTip("Which way the model translates")
        self.direction.setSizeAdjustPolicy(QComboBox.AdjustToMinimumContentsLengthWithIcon)
        self.direction.setMinimumContentsLength(12)
        spec = self._spec("strength")
        self.strength = ShareSlider(spec.min if spec and spec.min is not None else 0.0,
                                    spec.max if spec and spec.max is not None else 1.0,
                                    spec.default if spec and spec.default is not None else 1.0)
        self.strength.setToolTip(spec.help if spec and spec.help else
                                 "How much of the painting: lower blends in the photo")
        self.form = task_form(self.task, self.host.models, OWN)
        scale = self._spec("scale")
        self.scale = QComboBox()
        self.scale.setEditable(True)
        for value, what in SCALES:
            self.scale.addItem(value)
            self.scale.setItemData(self.scale.count() - 1, what, Qt.ToolTipRole)
        self.scale.setCurrentText(str(scale.default) if scale is not None else "auto")
        self.scale.setToolTip(scale.help if scale is not None and scale.help else "")
        knobs = theme.pad(QFormLayout(), 0)
        knobs.setFieldGrowthPolicy(QFormLayout.AllNonFixedFieldsGrow)
        if self._spec("direction") is not None:
            knobs.addRow("Direction", self.direction)
        else:
            self.direction.hide()
        if spec is not None:
            knobs.addRow("Strength", self.strength)
        else:
            self.strength.hide()
        if scale is not None:
            knobs.addRow("Scale", self.scale)
        else:
            self.scale.hide()

        self.run_box = RunBox("Translate", "Paint the photo (Ctrl+Enter)")
        self.run_box.run_clicked.connect(self.run)
        self.run_box.stop_clicked.connect(self.stop)
        self.export_button = QPushButton("Export…")
        self.export_button.setToolTip("Save the result as PNG, JPEG or WebP")
        self.export_button.clicked.connect(lambda: self.export())

        side = QWidget()
        sv = theme.pad(QVBoxLayout(side), (0, 0, theme.SPACE_S, 0))  # off the scroll bar
        opens = theme.pad(QHBoxLayout(), 0)
        opens.addWidget(self.open_button, 1)
        opens.addWidget(self.folder_button, 1)
        sv.addLayout(opens)
        sv.addWidget(self.source_label)
        sv.addWidget(heading("Model"))
        sv.addWidget(self.models, 1)
        sv.addWidget(self.download_button)
        sv.addLayout(knobs)
        if self.form is not None:
            sv.addWidget(self.form)
        else:
            missing = QLabel(f"{TRANSLATE} is not available (the paint tasks did not load)")
            missing.setObjectName("error")
            missing.setWordWrap(True)
            sv.addWidget(missing)
        self.column = settings_column(side, [self.run_box, self.export_button])

        self.view = CompareView("Open or drop a photo (or a folder of them) to paint it")
        self.zoom_bar = ZoomBar(self.view)
        self.prev_button = QPushButton("‹")
        self.prev_button.setToolTip("The previous picture of the folder")
        self.prev_button.clicked.connect(lambda: self.show_result(self.shown - 1))
        self.next_button = QPushButton("›")
        self.next_button.setToolTip("The next picture of the folder")
        self.next_button.clicked.connect(lambda: self.show_result(self.shown + 1))
        for b in (self.prev_button, self.next_button):
            b.setFixedWidth(b.fontMetrics().horizontalAdvance("‹") + 28)
        self.batch_label = QLabel("")
        self.batch_label.setObjectName("muted")
        self.batch_label.setSizePolicy(QSizePolicy.Ignored, QSizePolicy.Preferred)
        top = theme.pad(QHBoxLayout(), 0)
        top.addWidget(self.zoom_bar)
        top.addStretch(1)
        top.addWidget(self.prev_button)
        top.addWidget(self.batch_label, 1)
        top.addWidget(self.next_button)
        main = QWidget()
        mv = theme.pad(QVBoxLayout(main), (theme.SPACE, 0, 0, 0))
        mv.addLayout(top)
        mv.addWidget(self.view, 1)

        lay = theme.pad(QVBoxLayout(self))
        self.split = side_by_side(self.column, main, (300, 900), stretch=(0, 1))
        self.split.setChildrenCollapsible(False)
        lay.addWidget(self.split)
        ColumnPlacer(self.split, self.column)
        self._model_changed(self.models.model_id())

    def resizeEvent(self, event) -> None:  # noqa: N802 (Qt's name)
        super().resizeEvent(event)
        fit_form_rows(self.form, self.width())

    def _spec(self, name: str):
        if self.task is None:
            return None
        return next((s for s in self.task.schema() if s.name == name), None)

    def _model_changed(self, model_id: str) -> None:
        """Offer the chosen model's directions, named by its domains ("photo → Monet"), and its
        download when it is not on this computer."""
        self._sync_download()
        spec = self._spec("direction")
        if spec is None:
            return
        card = self.models.card()
        before = self.direction.currentData()
        held = directions(card) if card is not None else ["a2b", "b2a"]
        choices = list(spec.choices) if spec.choices else ["a2b", "b2a"]
        self.direction.blockSignals(True)
        self.direction.clear()
        # the model's directions by name, its default first ("auto" says the same as that)
        ordered = [c for c in held if c in choices] or list(choices)
        for c in ordered:
            text = direction_text(card, c) if card is not None and c in ("a2b", "b2a") else c
            self.direction.addItem(text, c)
        i = self.direction.findData(before)
        default = held[0] if self.direction.findData(held[0]) >= 0 else spec.default
        self.direction.setCurrentIndex(i if i >= 0 and before in held
                                       else max(0, self.direction.findData(default)))
        self.direction.blockSignals(False)

    def installed(self) -> bool:
        """The chosen model's files are in the store."""
        card = self.models.card()
        try:
            return card is None or bool(self.host.models.is_installed(card))
        except Exception:  # an unreadable store: let the task say what is wrong
            return True

    def _sync_download(self) -> None:
        card = self.models.card()
        busy = self.download_job is not None and not self.download_job.state.finished
        offered = (card is not None and not self.installed()
                   and any(f.url for f in card.files) and download_task() is not None)
        self.download_button.setVisible(offered)
        self.download_button.setEnabled(not busy)
        self.download_button.setText("Downloading…" if busy else "Download this model")

    def download(self):
        """Fetch the chosen model (a job on the lane); the list shows it installed when done."""
        task = download_task()
        card = self.models.card()
        if task is None or card is None:
            return None
        self.download_job = self.host.submit(task, task.make_params({"model_id": card.id}))
        self.run_box.say(f"Downloading {card.title or card.id}…")
        self._sync_download()
        return self.download_job

    def refresh_models(self, select: str | None = None) -> None:
        self.models.refresh(select)
        if self.form is not None:
            self.form.refresh_models()

    # -- input ---------------------------------------------------------------------------------
    def open_photo(self, path: Path | None = None) -> bool:
        """Show ``path`` (asked for when None) as the photo to paint."""
        if path is None:
            name, _ = QFileDialog.getOpenFileName(
                self, "Open a photo", str(self._start_dir()),
                "Pictures (*.png *.jpg *.jpeg *.webp *.bmp *.tif *.tiff *.gif);;All files (*)")
            if not name:
                return False
            path = Path(name)
        path = Path(path)
        picture = self._read(path)
        if picture is None:
            return False
        self.source, self.batch = path, []
        self.photo, self.photo_path = picture, path
        self.results, self.shown = [], -1
        self._preview_for = None
        self.view.set_before(picture)
        self.view.set_after(None)
        self.view.set_labels("Before", "After")
        h, w = picture.shape[:2]
        self.source_label.setText(f"{path.name} · {w} × {h}")
        self.source_label.setToolTip(str(path))
        self.run_box.say("Ready: press Translate (Ctrl+Enter)")
        self._sync()
        return True

    def open_folder(self, folder: Path | None = None) -> bool:
        """Take every picture in ``folder`` (asked for when None) as one batch."""
        if folder is None:
            name = QFileDialog.getExistingDirectory(self, "Open a folder of photos",
                                                    str(self._start_dir()))
            if not name:
                return False
            folder = Path(name)
        folder = Path(folder)
        try:
            pictures = pictures_in(folder)
        except OSError as exc:
            self.host.notify(f"Cannot read the folder {folder}: {exc.strerror or exc}", "error")
            return False
        if not pictures:
            self.host.notify(f"{folder} holds no pictures", "error")
            return False
        self.source, self.batch = folder, pictures
        self.results, self.shown = [], -1
        self.photo = self.photo_path = None
        self._preview_for = None
        self.view.set_after(None)
        first = self._read(pictures[0], quiet=True)
        if first is not None:
            self.photo, self.photo_path = first, pictures[0]
        self.view.set_before(first)
        self.view.set_labels("Before", "After")
        n = len(pictures)
        self.source_label.setText(f"{folder.name}/ · {n} picture{'s' if n != 1 else ''}")
        self.source_label.setToolTip(str(folder))
        self.run_box.say(f"Ready: Translate paints all {n} as one job")
        self._sync()
        return True

    def _start_dir(self) -> Path:
        if self.source is not None:
            return self.source if self.source.is_dir() else self.source.parent
        return Path.home()

    def _read(self, path: Path, quiet: bool = False) -> np.ndarray | None:
        QGuiApplication.setOverrideCursor(Qt.WaitCursor)
        try:
            return read_picture(path)
        except ValueError as exc:
            if not quiet:
                self.host.notify(str(exc), "error")
        except Exception as exc:  # a reader's bug is a message, not a crash
            self.host.notify(f"Cannot open {path.name}: {type(exc).__name__}: {exc}", "error",
                             traceback.format_exc())
        finally:
            QGuiApplication.restoreOverrideCursor()
        return None

    def handle_drop(self, paths: list[Path]) -> bool:
        """A picture becomes the photo; a folder a batch."""
        for p in map(Path, paths):
            if p.is_dir():
                return self.open_folder(p)
            if is_picture(p):
                return self.open_photo(p)
        return False

    # -- running -------------------------------------------------------------------------------
    def values(self) -> dict[str, Any]:
        """The task's values as the tab's widgets hold them."""
        values = self.form.values() if self.form is not None else {}
        names = {s.name for s in self.task.schema()} if self.task is not None else set()
        own = {"image": str(self.source) if self.source is not None else None,
               "model": self.models.model_id() or None,
               "direction": self.direction.currentData(),
               "strength": self.strength.value(),
               "scale": self.scale.currentText().strip() or None}
        values.update({k: v for k, v in own.items() if k in names and v is not None})
        return values

    def run(self):
        """Translate the photo or folder; returns the Job (None when nothing can run)."""
        if self.task is None:
            self.run_box.say(f"{TRANSLATE} is not available", error=True)
            return None
        if self.source is None:
            self.run_box.say("Open or drop a photo first", error=True)
            return None
        if not self.installed():
            self.run_box.say("This model is not on this computer yet: Download it first",
                             error=True)
            return None
        try:
            params = self.task.make_params(self.values())
        except ValueError as exc:
            self.run_box.say(str(exc), error=True)
            return None
        if self.job is not None and not self.job.state.finished:
            self.host.jobs.cancel(self.job)  # the newest request wins
        self.results, self.shown = [], -1
        self._preview_for = None
        if self.batch:  # start the view again at the folder's first picture
            self._show_photo(self.batch[0])
        self.view.set_after(None)
        self.job = self.host.submit(self.task, params)
        self.run_box.say("Queued")
        self._sync()
        return self.job

    def stop(self) -> None:
        if self.job is not None and not self.job.state.finished:
            self.host.jobs.cancel(self.job)

    def _on_preview(self, job, preview) -> None:
        if job is not self.job:
            return
        picture = picture_of(preview.data)
        if picture is None:
            return
        if self.batch:  # the picture being painted now follows the ones done
            upcoming = len(self.results)
            if upcoming < len(self.batch) and self._preview_for != self.batch[upcoming]:
                self._show_photo(self.batch[upcoming])
                self._preview_for = self.batch[upcoming]
        self.view.set_after(picture)
        self.view.set_labels("Before", "Preview")

    def _on_output(self, job, saved) -> None:
        if job is not self.job:
            return
        output = getattr(saved, "output", saved)
        picture = picture_of(getattr(output, "data", None))
        if picture is None:
            return
        path = getattr(saved, "path", None)
        source = self._source_of(str(getattr(output, "name", "")))
        for r in self.results:  # only the result on screen keeps its pixels in memory
            if r.saved is not None:
                r.image = None
        self.results.append(Result(source, Path(path) if path else None, picture))
        self.show_result(len(self.results) - 1, picture)

    def _source_of(self, name: str) -> Path | None:
        """The photo an output was made from: the batch picture its name names, else the next
        in order."""
        if not self.batch:
            return self.source
        done = {r.source for r in self.results}
        named = [p for p in self.batch if p not in done and name
                 and (name == p.stem or name.startswith(p.stem + "-"))]
        if named:  # "img10-Monet" is img10's, not img1's
            return max(named, key=lambda p: len(p.stem))
        i = len(self.results)
        return self.batch[i] if i < len(self.batch) else None

    def _show_photo(self, path: Path) -> None:
        if self.photo_path == path and self.photo is not None:
            return
        picture = self._read(path, quiet=True)
        self.photo, self.photo_path = picture, path
        self.view.set_before(picture)

    def show_result(self, index: int, picture: np.ndarray | None = None) -> None:
        """Put result ``index`` (of a batch) on screen beside its photo."""
        if not 0 <= index < len(self.results):
            return
        r = self.results[index]
        if picture is None:
            picture = r.image
        if picture is None and r.saved is not None:
            picture = self._read(r.saved)
        if picture is None:
            return
        if self.shown >= 0 and self.shown != index and self.shown < len(self.results):
            old = self.results[self.shown]
            if old.saved is not None:
                old.image = None
        r.image = picture
        self.shown = index
        if r.source is not None and self.batch:
            self._show_photo(r.source)
        self.view.set_after(picture)
        self.view.set_labels("Before", "After")
        self._sync()

    def current_result(self) -> Result | None:
        return self.results[self.shown] if 0 <= self.shown < len(self.results) else None

    def _on_changed(self, job) -> None:
        if job is self.download_job:
            if job.state.finished:
                if job.state.name == "DONE":
                    self.refresh_models(getattr(job.params, "model_id", None))
                    self.run_box.say("Downloaded: ready to translate")
                elif job.state.name == "FAILED":
                    self.run_box.say(f"Download failed: {job.error}", error=True)
                else:
                    self.run_box.say("Download stopped")
            else:
                self.run_box.say(job.message or "Downloading…")
            self._sync_download()
            return
        if job is not self.job:
            return
        state = job.state.name
        if job.state.finished:
            n = len(self.results)
            took = f" in {job.ended - job.started:.1f} s" if job.started else ""
            if state == "DONE":
                what = f"{n} pictures" if self.batch else "Done"
                self.run_box.say(f"{what}{took}; saved to the gallery" if n else f"Done{took}")
            elif state == "CANCELLED":
                self.run_box.say(f"Stopped after {n} of {len(self.batch)}" if self.batch
                                 else "Stopped")
                if not self.results:
                    self.view.set_after(None)  # a half-painted preview is not a result
            else:
                self.run_box.say(f"Failed: {job.error}", error=True)
            self.run_box.set_progress(1.0 if state == "DONE" else 0.0)
        else:
            self.run_box.set_progress(job.progress)
            self.run_box.say(running_text(job))
        self._sync()

    # -- export --------------------------------------------------------------------------------
    def export(self, dest: Path | None = None) -> Path | None:
        """Write the result on screen to ``dest`` (asked for when None) as PNG, JPEG or WebP,
        by its suffix."""
        r = self.current_result()
        if r is None or (r.image is None and r.saved is None):
            self.run_box.say("Nothing to export yet", error=True)
            return None
        image = r.image if r.image is not None else self._read(r.saved)
        if image is None:
            return None
        if dest is None:
            stem = (r.source.stem if r.source is not None else "painting") + "-painted"
            name, chosen = QFileDialog.getSaveFileName(
                self, "Export the painting", str(self._start_dir() / f"{stem}.png"),
                dialog_filter())
            if not name:
                return None
            dest = export_suffix(Path(name), chosen)
        else:
            dest = export_suffix(Path(dest))
        QGuiApplication.setOverrideCursor(Qt.WaitCursor)
        try:
            written = export_picture(image, dest, saved_png=r.saved)
        except (OSError, ValueError) as exc:
            self.host.notify(f"Cannot write {dest}: {exc}", "error")
            return None
        finally:
            QGuiApplication.restoreOverrideCursor()
        self.run_box.say(f"Exported {written}")
        return written

    # -- persistence ---------------------------------------------------------------------------
    def current_values(self) -> dict[str, Any]:
        return {"source": str(self.source) if self.source is not None else "",
                "model": self.models.model_id(), "direction": self.direction.currentData(),
                "strength": self.strength.value(), "scale": self.scale.currentText(),
                "form": self.form.values() if self.form is not None else {}}

    def restore_values(self, v: dict[str, Any]) -> None:
        if isinstance(v.get("form"), dict) and self.form is not None:
            self.form.set_values(v["form"])
        if isinstance(v.get("model"), str):
            self.models.select(v["model"])
        i = self.direction.findData(v.get("direction"))
        if i >= 0:
            self.direction.setCurrentIndex(i)
        if isinstance(v.get("strength"), int | float):
            self.strength.set_value(float(v["strength"]))
        if isinstance(v.get("scale"), str) and v["scale"].strip():
            self.scale.setCurrentText(v["scale"].strip())
        source = Path(str(v.get("source") or ""))
        if v.get("source") and source.exists() and self.source is None:
            (self.open_folder if source.is_dir() else self.open_photo)(source)

    # -- state ---------------------------------------------------------------------------------
    def _sync(self) -> None:
        busy = self.job is not None and not self.job.state.finished
        self.run_box.set_busy(busy, can_run=self.task is not None and self.source is not None)
        self.export_button.setEnabled(self.current_result() is not None)
        many = len(self.batch) > 1
        for b in (self.prev_button, self.next_button):
            b.setVisible(many)
        self.batch_label.setVisible(many)
        if many:
            self.prev_button.setEnabled(self.shown > 0)
            self.next_button.setEnabled(0 <= self.shown < len(self.results) - 1)
            r = self.current_result()
            name = r.source.name if r is not None and r.source is not None else ""
            self.batch_label.setText(f"{self.shown + 1} of {len(self.results)} done · {name}"
                                     if r is not None else f"0 of {len(self.batch)} done")
