"""The drive panel's Train tab: part 1's four stages, run one by one or all in order, each
with its curves and samples: collect rollouts (sample frames), train V (the VAE's losses and
its reconstructions), train M (the MDN-RNN's losses and the next frames it expects), train C
(CMA-ES's best, mean and worst fitness per generation, and the executor scoring them)."""

from __future__ import annotations

import contextlib
from pathlib import Path
from typing import Any

import numpy as np
from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import (
    QFileDialog,
    QLabel,
    QLineEdit,
    QPushButton,
    QSplitter,
    QTabWidget,
    QVBoxLayout,
    QWidget,
)

from studio.ui import theme
from studio.ui.forms import PathField
from studio.ui.train_tab import TrainTab
from studio.ui.widgets import FlowLayout, group_row, show_status
from studio_drive.ui.views import FrameView

BLUE, PURPLE = "#61afef", "#c678dd"
# (task, tab title, loss series: name -> (preview key, colour), what the sample shows)
STAGES = (
    ("drive.collect", "1 Collect", {},
     "Sample frames of each finished episode appear here"),
    ("drive.train-vae", "2 V (VAE)",
     {"loss": ("loss", theme.ACCENT), "reconstruction": ("recon", BLUE), "KL": ("kl", theme.OK)},
     "Frames and V's reconstructions appear at each evaluation"),
    ("drive.train-rnn", "3 M (MDN-RNN)",
     {"loss": ("loss", theme.ACCENT), "NLL": ("nll", BLUE), "reward": ("reward", theme.OK),
      "done": ("done", PURPLE)},
     "The next frames that came and those M expected appear at each evaluation"),
    ("drive.train-controller", "4 C (controller)",
     {"best": ("best", theme.OK), "mean": ("mean", theme.ACCENT),
      "worst": ("worst", theme.ERROR), "validation": ("eval", BLUE)},
     "CMA-ES's fitness per generation: best, mean and worst of the candidates"),
)
MODEL_FIELDS = {"drive.train-vae": "model_id", "drive.train-rnn": "model_id",
                "drive.train-controller": "model_id"}
NARROW = 860  # px: below this a stage puts its form above its curves


class StageTab(TrainTab):
    """One stage: its form, Train / Resume / Stop, its curves and its latest sample picture;
    the executor in use and the last thing its run said."""

    def __init__(self, host, task_id: str, losses: dict, hint: str,
                 parent: QWidget | None = None):
        self.task_id = task_id
        self.sample_view = FrameView("", hint, sharp=True)
        self.sample_view.setMinimumHeight(120)
        self.said = QLabel("")
        self.said.setObjectName("muted")
        self.said.setWordWrap(True)
        self.said.setTextInteractionFlags(Qt.TextSelectableByMouse)
        sample = QWidget()
        sv = theme.pad(QVBoxLayout(sample), 0)
        sv.addWidget(self.sample_view, 1)
        sv.addWidget(self.said)
        super().__init__(host, task_id, losses, sample,
                         "The curves appear as it trains" if losses else
                         "Collecting has no curve: its sample frames show below",
                         sizes=(380, 620), parent=parent)
        if not losses:
            self.loss_chart.hide()
        theme.pad(self.layout())
        data = self.form.widgets.get("data")
        if isinstance(data, PathField):
            _pick_folders(data)
        if task_id == "drive.collect":
            self.train_button.setText("Collect")
        self._dragged = False  # the user moved the splitter: their sizes stay
        split = self.splitter()
        if split is not None:
            split.splitterMoved.connect(lambda *_: setattr(self, "_dragged", True))
        host.jobs.job_log.connect(self._on_log)

    def splitter(self) -> QSplitter | None:
        return self.findChild(QSplitter)

    def resizeEvent(self, event) -> None:  # noqa: N802 (Qt's name)
        super().resizeEvent(event)
        split = self.splitter()
        if split is None:
            return
        narrow = self.width() < NARROW
        want = Qt.Vertical if narrow else Qt.Horizontal
        if split.orientation() != want or not self._dragged:
            if split.orientation() != want:
                split.setOrientation(want)
            total = self.height() if narrow else self.width()
            first = int(total * (0.55 if narrow else 0.4))
            if narrow:  # the form all the height its curves and sample can spare
                first = max(first, total - split.widget(1).minimumSizeHint().height())
            split.setSizes([first, total - first])

    def _on_preview(self, job, preview) -> None:
        if job is self.job and isinstance(preview.data, np.ndarray):
            self.sample_view.set_frame(preview.data)
            self.sample_view.caption = preview.label
            self.sample_view.update()
            return
        super()._on_preview(job, preview)

    def show_sample(self, data: dict[str, Any]) -> None:
        if "executor" in data and not self.said.text().startswith("Executor"):
            self.said.setText(f"Executor: {executor_words(str(data['executor']))}")

    def clear_sample(self) -> None:
        self.sample_view.set_frame(None)
        self.sample_view.caption = ""
        self.said.setText("")

    def _on_log(self, job, level: str, message: str) -> None:
        if job is not self.job:
            return
        if " on " in message and message.startswith("CMA-ES"):
            self.said.setText("Executor: " + executor_words(message.rsplit(" on ", 1)[1]))
        elif level != "info" or not self.said.text().startswith("Executor"):
            self.said.setText(message)


def executor_words(described: str) -> str:
    """An executor as ``Executor.describe`` names it, in the user's words: "local (1 worker)"
    is this process, "local (n workers)" local processes, "ray (...)" a Ray cluster."""
    if described.startswith("local (1 worker)") or described == "local":
        return "this process (1 worker)" if described != "local" else "local processes"
    if described.startswith("local ("):
        return "local processes " + described[len("local "):]
    if described.startswith("ray"):
        return "Ray" + described[len("ray"):]
    return described


def _pick_folders(field: PathField) -> None:
    """A rollouts field's Browse picks a folder."""
    field.edit.setPlaceholderText("a folder of rollouts…")
    browse = field.findChild(QPushButton)
    if browse is None:
        return
    browse.clicked.disconnect()

    def pick() -> None:
        folder = QFileDialog.getExistingDirectory(field, field.spec.title,
                                                  field.value() or str(Path.home()))
        if folder:
            field.set_value(folder)

    browse.clicked.connect(pick)


class DriveTrainTab(QWidget):
    """The four stages as tabs, and a bar that runs them all in order on one rollouts folder
    and one model id."""

    model_trained = Signal(object)  # a model id (or None) whose parts changed

    def __init__(self, host, parent: QWidget | None = None):
        super().__init__(parent)
        self.host = host
        self.stages: list[StageTab] = []
        self.tabs = QTabWidget()
        for task_id, title, losses, hint in STAGES:
            if task_id not in host.registry.tasks:
                continue
            stage = StageTab(host, task_id, losses, hint)
            stage.model_trained.connect(self.model_trained)
            self.stages.append(stage)
            self.tabs.addTab(stage, title)
        self.data = QLineEdit()
        self.data.setPlaceholderText("a folder for the rollouts…")
        self.data.setMinimumWidth(180)
        browse = QPushButton("Browse…")
        browse.clicked.connect(self._browse)
        self.model_id = QLineEdit("drive.mine")
        self.model_id.setMinimumWidth(120)
        self.run_all_button = QPushButton("Run all in order")
        self.run_all_button.setObjectName("primary")
        self.run_all_button.setToolTip("Collect, then train V, M and C one after the other, "
                                       "each with its tab's settings")
        self.run_all_button.clicked.connect(self.run_all)
        self.stop_all_button = QPushButton("Stop all")
        self.stop_all_button.clicked.connect(self.stop_all)
        self.status = QLabel("")
        self.status.setObjectName("muted")
        self.status.setWordWrap(True)
        bar = QWidget()
        flow = FlowLayout(bar)
        for group in ((QLabel("Rollouts"), self.data, browse),
                      (QLabel("Model id"), self.model_id),
                      (self.run_all_button, self.stop_all_button)):
            flow.addWidget(group_row(*group))
        self.data.editingFinished.connect(self._share)
        self.model_id.editingFinished.connect(self._share)
        self.chain: list = []  # the jobs of the run in order
        host.jobs.job_changed.connect(self._on_changed)
        lay = theme.pad(QVBoxLayout(self))
        lay.addWidget(bar)
        lay.addWidget(self.status)
        lay.addWidget(self.tabs, 1)
        self.status.hide()
        self._take_shared()
        self._sync()

    def stage(self, task_id: str) -> StageTab | None:
        return next((s for s in self.stages if s.task_id == task_id), None)

    def _browse(self) -> None:
        folder = QFileDialog.getExistingDirectory(self, "Rollouts folder",
                                                  self.data.text() or str(Path.home()))
        if folder:
            self.data.setText(folder)
            self._share()

    def _take_shared(self) -> None:
        """The bar starts from the stages' own values."""
        for s in self.stages:
            v = s.form.values()
            if v.get("data") and not self.data.text():
                self.data.setText(str(v["data"]))
            field = MODEL_FIELDS.get(s.task_id)
            if field and v.get(field):
                self.model_id.setText(str(v[field]))

    def _share(self) -> None:
        """The rollouts folder and the model id go into every stage's form."""
        data, model = self.data.text().strip(), self.model_id.text().strip()
        for s in self.stages:
            values = s.form.values()
            if data and "data" in s.form.widgets:
                values["data"] = data
            field = MODEL_FIELDS.get(s.task_id)
            if field and model:
                values[field] = model
            s.form.set_values(values)

    def run_all(self) -> list:
        """Submit every stage in order (the lane runs them one after the other); a stage that
        fails or is stopped takes the later ones off the queue."""
        self._share()
        if not self.data.text().strip():
            self._say("Choose a folder for the rollouts first", True)
            return []
        self.chain = []
        for s in self.stages:
            job = s.train(resume=False)
            if job is None:  # its form refused a value: it says which
                self.tabs.setCurrentWidget(s)
                for j in self.chain:
                    j.cancel()
                self.chain = []
                self._say(f"{self.tabs.tabText(self.tabs.indexOf(s))}: fix "
                                         "the value marked in red", True)
                return []
            self.chain.append(job)
        self._say("Running the four stages in order")
        self._sync()
        return self.chain

    def stop_all(self) -> None:
        for job in reversed(self.chain):
            if not job.state.finished:
                job.cancel()

    def _on_changed(self, job) -> None:
        if job not in self.chain:
            return
        i = self.chain.index(job)
        stage = self.stages[i] if i < len(self.stages) else None
        if job.state.name == "RUNNING" and stage is not None:
            self.tabs.setCurrentWidget(stage)
            self._say(f"Stage {i + 1} of {len(self.chain)}: {job.title}")
        elif job.state.name in ("FAILED", "CANCELLED"):
            later = [j for j in self.chain[i + 1:] if not j.state.finished]
            for j in later:
                j.cancel()
            what = "failed" if job.state.name == "FAILED" else "was stopped"
            self._say(f"{job.title} {what}"
                        + (f": {job.error}" if job.error else "")
                        + ("; the stages after it are not run" if later else ""),
                        job.state.name == "FAILED")
        elif job.state.name == "DONE" and i == len(self.chain) - 1:
            self._say("All four stages are done: watch the agent in the Drive "
                                     "tab")
        self._sync()

    def _say(self, text: str, error: bool = False) -> None:
        show_status(self.status, text, error)
        self.status.setVisible(bool(text))

    def _sync(self) -> None:
        busy = any(not j.state.finished for j in self.chain)
        self.run_all_button.setEnabled(not busy)
        self.stop_all_button.setEnabled(busy)

    def set_folder(self, path: Path) -> bool:
        self.data.setText(str(path))
        self._share()
        return True

    def current_values(self) -> dict[str, Any]:
        return {"data": self.data.text(), "model_id": self.model_id.text(),
                "stage": self.tabs.currentIndex(),
                "forms": {s.task_id: s.form.values() for s in self.stages}}

    def restore_values(self, v: dict[str, Any]) -> None:
        forms = v.get("forms")
        if isinstance(forms, dict):
            for s in self.stages:
                if isinstance(forms.get(s.task_id), dict):
                    with contextlib.suppress(TypeError, ValueError):
                        s.form.set_values(forms[s.task_id])
        if isinstance(v.get("data"), str):
            self.data.setText(v["data"])
        if isinstance(v.get("model_id"), str) and v["model_id"]:
            self.model_id.setText(v["model_id"])
        i = v.get("stage")
        if isinstance(i, int) and 0 <= i < self.tabs.count():
            self.tabs.setCurrentIndex(i)
