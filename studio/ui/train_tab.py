"""A capability's Train tab: the training task's form with Train, Resume and Stop on the left;
the losses as a chart and the latest sample on the right, following the tab's own job.

A capability gives the task, the loss series (each a key of the task's ``Preview`` data) and a
widget for the sample, and says how a sample is shown (and cleared) by overriding
``show_sample`` and ``clear_sample``. Train starts afresh and Resume goes on from the
checkpoint, so the task's own ``resume`` switch is not shown.
"""

from __future__ import annotations

from typing import Any

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import QLabel, QPushButton, QVBoxLayout, QWidget

from studio.ui.chart import LineChart
from studio.ui.forms import ParamForm
from studio.ui.widgets import show_status, training_split


class TrainTab(QWidget):
    """``losses``: series name -> (key in the preview data, colour). The Resume button shows
    when the task has a ``resume`` switch."""

    # a run is done or stopped (its model is saved at each evaluation): its model id, or None
    model_trained = Signal(object)
    # the fields a --start-from model decides (its network's shape): disabled while one is chosen
    base_fields: tuple[str, ...] = ()
    # base field -> key of the model card's config: shown (greyed) while that model is chosen
    base_config: dict[str, str] = {}

    def __init__(self, host, task_id: str, losses: dict[str, tuple[str, str]], sample: QWidget,
                 chart_hint: str = "The losses appear as it trains",
                 sizes: tuple[int, int] = (400, 700), parent: QWidget | None = None):
        super().__init__(parent)
        self.host = host
        self.job = None  # the last training job submitted
        self.losses = losses
        self.form = ParamForm(host.task(task_id), models=host.models)
        self._base_model: str | None = None  # the model to start from whose values are shown
        self._typed: dict[str, Any] = {}  # the user's own base values, back when none is chosen
        self.can_resume = any(s.name == "resume" and s.type is bool for s in self.form.specs)
        if self.can_resume:
            self.form.set_field_visible("resume", False)  # the buttons say it
        if "start_from" in self.form.widgets:
            self.form.changed.connect(self._sync_base_fields)
            self._sync_base_fields()
        self.train_button = QPushButton("Train")
        self.train_button.setObjectName("primary")
        self.train_button.clicked.connect(lambda: self.train(resume=False))
        self.resume_button = QPushButton("Resume")
        self.resume_button.setToolTip("Go on from the model's last checkpoint")
        self.resume_button.clicked.connect(lambda: self.train(resume=True))
        self.resume_button.setVisible(self.can_resume)
        self.stop_button = QPushButton("Stop")
        self.stop_button.clicked.connect(self.stop)
        self.loss_chart = LineChart({name: colour for name, (_, colour) in losses.items()},
                                    chart_hint)
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
            [self.status, self.evaluation], [(self.loss_chart, 3), (sample, 2)], sizes))
        host.jobs.job_changed.connect(self._on_changed)
        host.jobs.job_preview.connect(self._on_preview)
        self._sync()

    def showEvent(self, event) -> None:  # noqa: N802 (Qt's name)
        super().showEvent(event)
        self.form.refresh_models()  # models installed or trained meanwhile

    def show_sample(self, data: dict[str, Any]) -> None:
        """Show the sample in a preview's data, if it has one (the capability's part)."""

    def clear_sample(self) -> None:
        """Take the last run's sample away (a fresh run starts)."""

    def train(self, resume: bool = False):
        """Submit a training run with the form's values (``resume``: from the last checkpoint,
        adding to the chart); None when the values are not valid."""
        params = self.form.params(**({"resume": resume} if self.can_resume else {}))
        if params is None:
            return None
        if not resume:
            self.loss_chart.clear()
            self.evaluation.setText("")
            self.clear_sample()
        self.job = self.host.submit(self.form.task, params)
        show_status(self.status, "Queued")
        self._sync()
        return self.job

    def stop(self) -> None:
        if self.job is not None:
            self.host.jobs.cancel(self.job)

    def _on_preview(self, job, preview) -> None:
        data = preview.data
        if job is not self.job or not isinstance(data, dict):
            return
        points = {name: data.get(key) for name, (key, _) in self.losses.items()}
        if "step" in data and any(v is not None for v in points.values()):
            self.loss_chart.add(int(data["step"]), **points)
        self.show_sample(data)
        figures = [f"{k.replace('_', ' ')} {v:.3g}" for k, v in data.items()
                   if k != "step" and isinstance(v, int | float) and not isinstance(v, bool)]
        text = " · ".join(([preview.label] if preview.label else []) + figures)
        if text:
            self.evaluation.setText(f"Last evaluation: {text}")

    def _on_changed(self, job) -> None:
        if job is not self.job:
            return
        if job.state.name in ("DONE", "CANCELLED"):  # saved at each evaluation: ready to use
            self.form.refresh_models()
            self.model_trained.emit(getattr(job.params, "model_id", None))
        if job.state.finished:
            words = {"DONE": "Done", "CANCELLED": "Stopped", "FAILED": f"Failed: {job.error}"}
            show_status(self.status, words.get(job.state.name, job.state.value),
                        job.state.name == "FAILED")
        else:
            show_status(self.status, job.message or job.state.value)
        self._sync()

    def base_values(self, model_id: str) -> dict[str, Any]:
        """The base fields' values in ``model_id``'s card ({} for a model not known)."""
        try:
            config = self.host.models.get(model_id).config
        except Exception:  # typed halfway, or a card that does not read: nothing to show
            return {}
        return {field: config[key] for field, key in self.base_config.items() if key in config}

    def _sync_base_fields(self) -> None:
        start = self.form.values().get("start_from") or None
        if start != self._base_model:
            if self._base_model is None:  # keep what the user typed, to give it back
                self._typed = {k: v for k, v in self.form.values().items()
                               if k in self.base_config}
            shown = self.base_values(start) if start else self._typed
            self._base_model = start
            if shown:
                self.form.set_values({**self.form.values(), **shown})
        for name in self.base_fields:
            if name in self.form.widgets:
                self.form.widgets[name].setEnabled(start is None)

    def _sync(self) -> None:
        busy = self.job is not None and not self.job.state.finished
        self.train_button.setEnabled(not busy)
        self.resume_button.setEnabled(not busy)
        self.stop_button.setEnabled(busy)
