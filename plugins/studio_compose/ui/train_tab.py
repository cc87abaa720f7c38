"""The Compose panel's Train tab: trains a MuseGAN (``compose.train``) on the shared lane and
follows it: the critic and generator losses as a chart, the latest sample as a piano roll."""

from __future__ import annotations

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import QLabel, QPushButton, QVBoxLayout, QWidget

from studio.ui import theme
from studio.ui.chart import LineChart
from studio.ui.forms import ParamForm
from studio.ui.widgets import training_split
from studio_compose.score import Score
from studio_compose.ui.pianoroll import PianoRoll
from studio_compose.ui.status import show_status

TRAIN = "compose.train"


class TrainTab(QWidget):
    """The training form with Train, Resume and Stop; follows its own job's events."""

    model_trained = Signal(object)  # a run is done: its model id (None if the params have none)

    def __init__(self, host, parent: QWidget | None = None):
        super().__init__(parent)
        self.host = host
        self.job = None  # the last training job submitted
        self.form = ParamForm(host.task(TRAIN))
        self.train_button = QPushButton("Train")
        self.train_button.setObjectName("primary")
        self.train_button.clicked.connect(lambda: self.train(resume=False))
        self.resume_button = QPushButton("Resume")
        self.resume_button.setToolTip("Go on from the model's last checkpoint")
        self.resume_button.clicked.connect(lambda: self.train(resume=True))
        self.stop_button = QPushButton("Stop")
        self.stop_button.clicked.connect(self.stop)
        self.loss_chart = LineChart({"critic": "#61afef", "generator": theme.ACCENT},
                                    "The critic and generator losses appear as it trains")
        self.sample_roll = PianoRoll(compact=True)
        self.sample_roll.empty_text = "The latest sample appears as it trains"
        self.status = QLabel("")
        self.status.setObjectName("muted")
        self.status.setWordWrap(True)
        self.evaluation = QLabel("")
        self.evaluation.setObjectName("muted")
        self.evaluation.setWordWrap(True)
        self.evaluation.setTextInteractionFlags(Qt.TextSelectableByMouse)
        lay = QVBoxLayout(self)
        lay.setContentsMargins(0, 0, 0, 0)
        lay.addWidget(training_split(
            self.form, [self.train_button, self.resume_button, self.stop_button],
            [self.status, self.evaluation], [(self.loss_chart, 3), (self.sample_roll, 2)],
            (400, 700)))
        host.jobs.job_changed.connect(self._on_changed)
        host.jobs.job_preview.connect(self._on_preview)
        self._sync()

    def train(self, resume: bool = False):
        """Submit a training run with the form's values (``resume``: from the last checkpoint,
        adding to the chart); None when the values are not valid."""
        values = self.form.values()
        if resume:
            spec = next((s for s in self.form.specs if s.name == "resume"), None)
            if spec is not None and spec.type is bool:
                values["resume"] = True
        try:
            params = self.form.task.make_params(values)
        except ValueError as exc:
            self.form.show_error(str(exc))
            return None
        self.form.show_error("")
        if not resume:
            self.loss_chart.clear()
        self.job = self.host.submit(self.form.task, params)
        self.status.setText("Queued")
        self._sync()
        return self.job

    def stop(self) -> None:
        if self.job is not None:
            self.host.jobs.cancel(self.job)

    def _on_preview(self, job, preview) -> None:
        data = preview.data
        if job is not self.job or not isinstance(data, dict):
            return
        if "step" in data and ("critic" in data or "generator" in data):
            self.loss_chart.add(int(data["step"]), critic=data.get("critic"),
                                generator=data.get("generator"))
        if isinstance(data.get("score"), Score):
            self.sample_roll.set_score(data["score"])
        figures = [f"{k.replace('_', ' ')} {v:.3g}" for k, v in data.items()
                   if k not in ("step", "score") and isinstance(v, int | float)]
        text = " · ".join(([preview.label] if preview.label else []) + figures)
        if text:
            self.evaluation.setText(f"Last evaluation: {text}")

    def _on_changed(self, job) -> None:
        if job is not self.job:
            return
        if job.state.name == "DONE":  # the new model is ready to compose with
            self.model_trained.emit(getattr(job.params, "model_id", None))
        if job.state.finished:
            words = {"DONE": "Done", "CANCELLED": "Stopped", "FAILED": f"Failed: {job.error}"}
            show_status(self.status, words.get(job.state.name, job.state.value),
                        job.state.name == "FAILED")
        else:
            show_status(self.status, job.message or job.state.value)
        self._sync()

    def _sync(self) -> None:
        busy = self.job is not None and not self.job.state.finished
        self.train_button.setEnabled(not busy)
        self.resume_button.setEnabled(not busy)
        self.stop_button.setEnabled(busy)
