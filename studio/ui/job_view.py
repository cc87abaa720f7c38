"""The job queue as a list: one row per job with its progress, and a button that cancels a
queued job or interrupts the running one."""

from __future__ import annotations

from PySide6.QtWidgets import (
    QHBoxLayout,
    QLabel,
    QListWidget,
    QListWidgetItem,
    QProgressBar,
    QPushButton,
    QStyle,
    QVBoxLayout,
    QWidget,
)

from studio.ui.jobs import Job, JobManager, JobState

STATE_WORDS = {
    JobState.QUEUED: "queued",
    JobState.RUNNING: "running",
    JobState.DONE: "done",
    JobState.FAILED: "failed",
    JobState.CANCELLED: "cancelled",
}


class JobRow(QWidget):
    def __init__(self, job: Job, jobs: JobManager, parent=None):
        super().__init__(parent)
        self.job, self.jobs = job, jobs
        self.title = QLabel(f"#{job.id} {job.title}")
        self.state = QLabel()
        self.state.setObjectName("muted")
        self.bar = QProgressBar()
        self.bar.setRange(0, 1000)
        self.button = QPushButton()
        self.button.setFlat(True)
        self.button.setIcon(self.style().standardIcon(QStyle.SP_DialogCancelButton))
        self.button.clicked.connect(lambda: jobs.cancel(job))
        top = QHBoxLayout()
        top.addWidget(self.title, 1)
        top.addWidget(self.state)
        top.addWidget(self.button)
        lay = QVBoxLayout(self)
        lay.setContentsMargins(8, 6, 8, 6)
        lay.setSpacing(4)
        lay.addLayout(top)
        lay.addWidget(self.bar)
        self.refresh()

    def refresh(self) -> None:
        job = self.job
        words = STATE_WORDS[job.state]
        if job.state is JobState.RUNNING and job.message:
            words = job.message
        if job.state is JobState.FAILED:
            words = f"failed: {job.error}"[:80]
        if job.state.finished and job.ended and job.started:
            words += f" · {job.ended - job.started:.1f} s"
        self.state.setText(words)
        self.state.setToolTip(job.error or job.message)
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


class JobQueueView(QWidget):
    def __init__(self, jobs: JobManager, parent=None):
        super().__init__(parent)
        self.jobs = jobs
        self.list = QListWidget()
        self.list.setSpacing(2)
        self.rows: dict[int, tuple[QListWidgetItem, JobRow]] = {}
        clear = QPushButton("Clear finished")
        clear.clicked.connect(self.clear_finished)
        stop_all = QPushButton("Cancel all")
        stop_all.clicked.connect(jobs.cancel_all)
        buttons = QHBoxLayout()
        buttons.addStretch(1)
        buttons.addWidget(stop_all)
        buttons.addWidget(clear)
        lay = QVBoxLayout(self)
        lay.setContentsMargins(8, 8, 8, 8)
        lay.addWidget(self.list, 1)
        lay.addLayout(buttons)
        jobs.job_added.connect(self.add)
        jobs.job_changed.connect(self.refresh)

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
