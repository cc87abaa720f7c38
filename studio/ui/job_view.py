"""The job queue as a list: one row per job with its progress, how long it has run and (from its
progress) how long it has left, and a button that cancels a queued job or interrupts the running
one."""

from __future__ import annotations

import time

from PySide6.QtCore import Qt, QTimer
from PySide6.QtWidgets import (
    QHBoxLayout,
    QLabel,
    QListWidget,
    QListWidgetItem,
    QProgressBar,
    QPushButton,
    QSizePolicy,
    QStyle,
    QVBoxLayout,
    QWidget,
)

from studio.ui import theme
from studio.ui.jobs import Job, JobManager, JobState

STATE_WORDS = {
    JobState.QUEUED: "queued",
    JobState.RUNNING: "running",
    JobState.DONE: "done",
    JobState.FAILED: "failed",
    JobState.CANCELLED: "cancelled",
}

# an estimate of the time left waits for this much of the run (earlier ones swing too much)
ESTIMATE_AFTER = (0.02, 3.0)  # of the progress, and seconds


def span(seconds: float) -> str:
    """A duration as a person says it: 8 s, 3 min 05 s, 1 h 02 min."""
    s = max(0, int(round(seconds)))
    if s < 60:
        return f"{s} s"
    if s < 3600:
        return f"{s // 60} min {s % 60:02d} s"
    return f"{s // 3600} h {s % 3600 // 60:02d} min"


def timing(job: Job, now: float) -> str:
    """'1 min 05 s · about 3 min 10 s left' for a running job (the estimate once its progress
    says enough), the total for a finished one, '' for a queued one."""
    if job.state.finished:
        return span(job.ended - job.started) if job.ended and job.started else ""
    if job.state is not JobState.RUNNING or not job.started:
        return ""
    elapsed = now - job.started
    text = span(elapsed)
    p = job.progress
    if p is not None and p >= ESTIMATE_AFTER[0] and elapsed >= ESTIMATE_AFTER[1] and p < 1:
        text += f" · about {span(elapsed * (1 - p) / p)} left"
    return text


class JobRow(QWidget):
    def __init__(self, job: Job, jobs: JobManager, parent=None):
        super().__init__(parent)
        self.job, self.jobs = job, jobs
        self.title = QLabel(f"#{job.id} {job.title}")
        self.title.setToolTip(self.title.text())
        self.state = QLabel()
        self.state.setObjectName("muted")
        self.time = QLabel()
        self.time.setObjectName("muted")
        # a narrow dock cuts a long message (whole in its tooltip), never widens the row
        for label in (self.title, self.state):
            label.setSizePolicy(QSizePolicy.Ignored, QSizePolicy.Preferred)
            label.setMinimumWidth(0)
        self.bar = QProgressBar()
        self.bar.setRange(0, 1000)
        self.button = QPushButton()
        self.button.setFlat(True)
        self.button.setIcon(self.style().standardIcon(QStyle.SP_DialogCancelButton))
        self.button.clicked.connect(lambda: jobs.cancel(job))
        top = theme.pad(QHBoxLayout(), 0)
        top.addWidget(self.title, 1)
        top.addWidget(self.button)
        middle = theme.pad(QHBoxLayout(), 0)
        middle.addWidget(self.state, 1)
        middle.addWidget(self.time)
        lay = theme.pad(QVBoxLayout(self), theme.SPACE, theme.SPACE_S)
        lay.addLayout(top)
        lay.addLayout(middle)
        lay.addWidget(self.bar)
        self.refresh()

    def refresh(self) -> None:
        job = self.job
        words = STATE_WORDS[job.state]
        if job.state is JobState.RUNNING and job.message:
            words = job.message
        if job.state is JobState.FAILED:
            words = f"failed: {job.error}"[:80]
        self.state.setText(words)
        self.state.setToolTip(job.error or job.message or words)
        self.tick()
        if job.progress is None and job.state is JobState.RUNNING:
            self.bar.setRange(0, 0)
        else:
            self.bar.setRange(0, 1000)
            value = 1.0 if job.state is JobState.DONE else (job.progress or 0.0)
            self.bar.setValue(int(1000 * max(0.0, min(1.0, value))))
        self.bar.setVisible(not job.state.finished or job.state is JobState.DONE)
        self.button.setVisible(not job.state.finished)
        self.button.setToolTip("Interrupt (Esc)" if job.state is JobState.RUNNING
                               else "Remove from the queue")

    def tick(self, now: float | None = None) -> None:
        """Show the time it has run (and has left) as of ``now`` (the clock's time)."""
        self.time.setText(timing(self.job, time.monotonic() if now is None else now))


class JobQueueView(QWidget):
    def __init__(self, jobs: JobManager, parent=None):
        super().__init__(parent)
        self.jobs = jobs
        self.list = QListWidget()
        self.list.setSpacing(2)
        self.list.setHorizontalScrollBarPolicy(Qt.ScrollBarAlwaysOff)  # rows fit the width
        self.list.setResizeMode(QListWidget.Adjust)
        self.rows: dict[int, tuple[QListWidgetItem, JobRow]] = {}
        clear = QPushButton("Clear finished")
        clear.clicked.connect(self.clear_finished)
        stop_all = QPushButton("Cancel all")
        stop_all.clicked.connect(jobs.cancel_all)
        buttons = QHBoxLayout()
        buttons.addStretch(1)
        buttons.addWidget(stop_all)
        buttons.addWidget(clear)
        lay = theme.pad(QVBoxLayout(self))
        lay.addWidget(self.list, 1)
        lay.addLayout(buttons)
        jobs.job_added.connect(self.add)
        jobs.job_changed.connect(self.refresh)
        self.clock = QTimer(self)  # the running job's elapsed and remaining time, each second
        self.clock.setInterval(1000)
        self.clock.timeout.connect(self._tick)
        self.clock.start()

    def _tick(self) -> None:
        running = self.jobs.running
        if running is not None and running.id in self.rows:
            self.rows[running.id][1].tick()

    def add(self, job: Job) -> None:
        item = QListWidgetItem()
        row = JobRow(job, self.jobs)
        item.setSizeHint(row.sizeHint())
        self.list.insertItem(0, item)
        self.list.setItemWidget(item, row)
        self.rows[job.id] = (item, row)

    def refresh(self, job: Job) -> None:
        if job.id in self.rows:
            self.rows[job.id][1].refresh()

    def clear_finished(self) -> None:
        self.jobs.clear_finished()
        for jid, (item, row) in list(self.rows.items()):
            if row.job.state.finished:
                self.list.takeItem(self.list.row(item))
                del self.rows[jid]
