"""The page shown for a capability without a panel of its own: pick a task, fill its form (built
from the schema), run it, and watch its progress, previews, streamed text and outputs."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from PySide6.QtWidgets import (
    QComboBox,
    QHBoxLayout,
    QLabel,
    QPlainTextEdit,
    QProgressBar,
    QPushButton,
    QScrollArea,
    QStackedWidget,
    QVBoxLayout,
    QWidget,
)

from studio.hookspecs import Capability
from studio.tasks import Output, Preview
from studio.ui.forms import ParamForm
from studio.ui.jobs import Job, JobState
from studio.ui.panel_host import PanelHost
from studio.ui.widgets import ImageView, side_by_side


class TaskPage(QWidget):
    def __init__(self, capability: Capability, host: PanelHost, parent=None):
        super().__init__(parent)
        self.capability, self.host = capability, host
        self.job: Job | None = None
        self.forms: dict[str, ParamForm] = {}

        title = QLabel(capability.title)
        title.setObjectName("title")
        desc = QLabel(capability.description)
        desc.setObjectName("muted")
        desc.setWordWrap(True)

        self.picker = QComboBox()
        self.form_stack = QStackedWidget()
        for task in capability.tasks:
            self.picker.addItem(task.title, task.id)
            form = ParamForm(task, models=host.models)
            self.forms[task.id] = form
            self.form_stack.addWidget(form)
        self.picker.currentIndexChanged.connect(self._task_changed)
        self.task_desc = QLabel()
        self.task_desc.setObjectName("muted")
        self.task_desc.setWordWrap(True)

        self.run_button = QPushButton("Run")
        self.run_button.setObjectName("primary")
        self.run_button.setToolTip("Run (Ctrl+Enter)")
        self.run_button.clicked.connect(self.run_default)
        self.stop_button = QPushButton("Stop")
        self.stop_button.setToolTip("Interrupt the running job (Esc)")
        self.stop_button.clicked.connect(self._stop)
        self.stop_button.setEnabled(False)

        left = QWidget()
        lv = QVBoxLayout(left)
        lv.setContentsMargins(16, 16, 16, 16)
        lv.setSpacing(8)
        lv.addWidget(title)
        lv.addWidget(desc)
        if len(capability.tasks) > 1:
            lv.addWidget(self.picker)
        lv.addWidget(self.task_desc)
        scroll = QScrollArea()
        scroll.setWidgetResizable(True)
        scroll.setWidget(self.form_stack)
        lv.addWidget(scroll, 1)
        buttons = QHBoxLayout()
        buttons.addWidget(self.run_button, 1)
        buttons.addWidget(self.stop_button)
        lv.addLayout(buttons)

        self.progress = QProgressBar()
        self.progress.setRange(0, 1000)
        self.status = QLabel("Ready")
        self.status.setObjectName("muted")
        self.image = ImageView()
        self.text = QPlainTextEdit()
        self.text.setReadOnly(True)
        self.text.setPlaceholderText("Results appear here.")
        self.result_stack = QStackedWidget()
        self.result_stack.addWidget(self.text)
        self.result_stack.addWidget(self.image)
        right = QWidget()
        rv = QVBoxLayout(right)
        rv.setContentsMargins(16, 16, 16, 16)
        rv.setSpacing(8)
        rv.addWidget(self.result_stack, 1)
        rv.addWidget(self.progress)
        rv.addWidget(self.status)

        split = side_by_side(left, right, (380, 620), stretch=(2, 3))
        lay = QVBoxLayout(self)
        lay.setContentsMargins(0, 0, 0, 0)
        lay.addWidget(split)

        jobs = host.jobs
        jobs.job_changed.connect(self._on_changed)
        jobs.job_preview.connect(self._on_preview)
        jobs.job_stream.connect(self._on_stream)
        jobs.job_output.connect(self._on_output)
        self._task_changed()

    # -- what the window calls ---------------------------------------------------------------
    @property
    def current_task_id(self) -> str:
        return self.picker.currentData() or ""

    @property
    def form(self) -> ParamForm:
        return self.forms[self.current_task_id]

    def run_default(self) -> Job | None:
        if not self.forms:
            return None
        params = self.form.params()
        if params is None:
            return None
        self.text.clear()
        self.job = self.host.submit(self.form.task, params)
        self.status.setText("Queued")
        self._sync_buttons()
        return self.job

    def handle_drop(self, paths: list[Path]) -> bool:
        return bool(self.forms) and self.form.set_path(paths[0])

    def current_values(self) -> dict[str, Any]:
        return {"task": self.current_task_id,
                "params": {tid: f.values() for tid, f in self.forms.items()}}

    def restore_values(self, saved: dict[str, Any]) -> None:
        for tid, values in (saved.get("params") or {}).items():
            if tid in self.forms and isinstance(values, dict):
                self.forms[tid].set_values(values)
        i = self.picker.findData(saved.get("task"))
        if i >= 0:
            self.picker.setCurrentIndex(i)

    # -- job events ----------------------------------------------------------------------
    def _task_changed(self) -> None:
        tid = self.current_task_id
        if tid:
            self.form_stack.setCurrentWidget(self.forms[tid])
            self.task_desc.setText(self.forms[tid].task.description)

    def _stop(self) -> None:
        if self.job is not None:
            self.host.jobs.cancel(self.job)

    def _mine(self, job: Job) -> bool:
        return job is self.job

    def _on_changed(self, job: Job) -> None:
        if not self._mine(job):
            return
        if job.progress is None:
            self.progress.setRange(0, 0)
        else:
            self.progress.setRange(0, 1000)
            self.progress.setValue(int(1000 * max(0.0, min(1.0, job.progress))))
        words = {JobState.QUEUED: "Queued", JobState.RUNNING: job.message or "Running…",
                 JobState.DONE: f"Done in {job.ended - job.started:.1f} s"
                 + (f", saved {len(job.outputs)} to the gallery" if job.outputs else ""),
                 JobState.CANCELLED: "Stopped",
                 JobState.FAILED: f"Failed: {job.error}"}
        self.status.setText(words[job.state])
        if job.state is JobState.DONE:
            self.progress.setRange(0, 1000)
            self.progress.setValue(1000)
        self._sync_buttons()

    def _on_preview(self, job: Job, preview: Preview) -> None:
        if not self._mine(job):
            return
        self._show(preview.data)

    def _on_stream(self, job: Job, chunks: list) -> None:
        text = "".join(c.text for c in chunks)
        if self._mine(job) and text:
            self.result_stack.setCurrentWidget(self.text)
            cursor = self.text.textCursor()
            cursor.movePosition(cursor.MoveOperation.End)
            cursor.insertText(text)
            self.text.setTextCursor(cursor)

    def _on_output(self, job: Job, saved: Any) -> None:
        if not self._mine(job):
            return
        output: Output = getattr(saved, "output", saved)
        if output.kind == "text" and not self.text.toPlainText():
            self.text.setPlainText(output.data)
        elif output.kind == "image":
            self._show(output.data)
        path = getattr(saved, "path", None)
        if path is not None:
            self.status.setText(f"Saved {Path(path).name}")

    def _show(self, data: Any) -> None:
        if isinstance(data, str):
            self.result_stack.setCurrentWidget(self.text)
            self.text.setPlainText(data)
        elif hasattr(data, "shape"):
            self.result_stack.setCurrentWidget(self.image)
            self.image.set_image(data)

    def _sync_buttons(self) -> None:
        busy = self.job is not None and not self.job.state.finished
        self.stop_button.setEnabled(busy)
