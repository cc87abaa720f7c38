"""The job queue: tasks run one at a time on a private QThreadPool (the compute lane), so two
models never fight over the GPU or the CPU cores, and the GUI thread only draws.

Events cross to the GUI thread as signals carrying plain data. Previews and progress are
coalesced (newest wins; for previews, the newest of each kind of data, so that a chart point
sent just before a picture is not lost to it) and streamed text is batched, so a fast task
cannot flood the event loop.
"""

from __future__ import annotations

import itertools
import threading
import time
from dataclasses import dataclass, field
from enum import Enum
from typing import Any

from PySide6.QtCore import QObject, QRunnable, QThreadPool, Signal, Slot

from studio import device as devices
from studio.execution import Execution, Saved, TaskFailed
from studio.tasks import Cancelled, Controls, Event, Log, Output, Preview, Progress, Stream, Task


class JobState(Enum):
    QUEUED = "queued"
    RUNNING = "running"
    DONE = "done"
    FAILED = "failed"
    CANCELLED = "cancelled"

    @property
    def finished(self) -> bool:
        return self in (JobState.DONE, JobState.FAILED, JobState.CANCELLED)


_ids = itertools.count(1)


@dataclass(eq=False)
class Job:
    """One submitted task. Fields are written by the worker and read on the GUI thread after a
    signal says they changed; ``_lock`` guards the coalescing slots."""

    task: Task
    params: Any
    device: str = "auto"
    seed: int | None = None
    id: int = field(default_factory=lambda: next(_ids))
    state: JobState = JobState.QUEUED
    progress: float | None = 0.0
    message: str = ""
    error: str = ""
    details: str = ""
    out_of_memory: bool = False
    outputs: list[Saved] = field(default_factory=list)
    submitted: float = field(default_factory=time.monotonic)
    started: float = 0.0
    ended: float = 0.0
    interrupted_at: float = 0.0
    manager: JobManager | None = field(default=None, repr=False)
    cancel_event: threading.Event = field(default_factory=threading.Event)
    # the panel's values and commands for the running task (it reads them as ctx.controls)
    controls: Controls = field(default_factory=Controls)
    _lock: threading.Lock = field(default_factory=threading.Lock)
    _previews: dict[type, Preview] = field(default_factory=dict)  # the newest of each kind
    _preview_pending: bool = False
    _stream: list[Stream] = field(default_factory=list)
    _stream_pending: bool = False
    _progress_pending: bool = False

    @property
    def title(self) -> str:
        return self.task.title

    @property
    def reported(self) -> bool:
        """The GUI thread has handled this job's end (not only the worker finished it)."""
        return self.state.finished and (self.manager is None or self.manager.running is not self)

    def cancel(self) -> None:
        if self.manager is not None:
            self.manager.cancel(self)

    def take_previews(self) -> list[Preview]:
        """The newest preview of each kind of data (a chart point, a picture, ...) since the
        last call, in the order they came."""
        with self._lock:
            previews, self._previews, self._preview_pending = self._previews, {}, False
            return list(previews.values())

    def take_stream(self) -> list[Stream]:
        with self._lock:
            chunks, self._stream, self._stream_pending = self._stream, [], False
            return chunks


class _Signals(QObject):
    """Lives on the GUI thread; the worker emits, Qt queues the calls across threads."""

    state = Signal(object)  # Job, once it has ended
    progress = Signal(object)  # Job
    preview = Signal(object)  # Job: take_previews() for the newest
    stream = Signal(object)  # Job: take_stream() for the batched text
    log = Signal(object, str, str)  # Job, level, message
    output = Signal(object, object)  # Job, Saved | Output


class _Worker(QRunnable):
    def __init__(self, manager: JobManager, job: Job):
        super().__init__()
        self.setAutoDelete(True)
        self.manager, self.job = manager, job

    def run(self) -> None:  # on the compute lane
        job, sig = self.job, self.manager._signals
        state = JobState.FAILED
        try:
            info = devices.pick(job.device, interactive=True)
            manager = self.manager
            execution = Execution(job.task, job.params, info, sink=manager.sink, seed=job.seed,
                                  models=manager.models,
                                  plugin_version=manager.plugin_versions.get(job.task.plugin, ""),
                                  controls=job.controls)
            job.seed = execution.seed
            execution.run(lambda e, s: self._on_event(e, s), job.cancel_event.is_set)
            state = JobState.DONE
        except Cancelled:
            state = JobState.CANCELLED
        except TaskFailed as exc:
            job.error, job.details, job.out_of_memory = str(exc), exc.details, exc.out_of_memory
        except devices.DeviceError as exc:
            job.error = str(exc)
        except BaseException as exc:  # nothing a task does may take the window down
            import traceback

            job.error = f"{type(exc).__name__}: {exc}"
            job.details = traceback.format_exc()
        finally:
            job.ended = time.monotonic()
            job.state = state  # last: the GUI thread reads the other fields once it sees this
            sig.state.emit(job)

    def _on_event(self, event: Event, saved: Saved | None) -> None:
        job, sig = self.job, self.manager._signals
        if isinstance(event, Progress):
            with job._lock:
                job.progress, job.message = event.fraction, event.message or job.message
                emit, job._progress_pending = not job._progress_pending, True
            if emit:
                sig.progress.emit(job)
        elif isinstance(event, Preview):
            with job._lock:
                job._previews.pop(type(event.data), None)  # re-inserted last: arrival order
                job._previews[type(event.data)] = event
                emit, job._preview_pending = not job._preview_pending, True
            if emit:
                sig.preview.emit(job)
        elif isinstance(event, Stream):
            with job._lock:
                job._stream.append(event)
                emit, job._stream_pending = not job._stream_pending, True
            if emit:
                sig.stream.emit(job)
        elif isinstance(event, Log):
            sig.log.emit(job, event.level, event.message)
        elif isinstance(event, Output):
            if saved is not None:
                job.outputs.append(saved)
            sig.output.emit(job, saved if saved is not None else event)


class JobManager(QObject):
    """Queue in front of a one-thread pool. Signals are emitted on the GUI thread."""

    job_added = Signal(object)
    job_changed = Signal(object)  # state or progress changed
    job_preview = Signal(object, object)  # Job, Preview (the newest of its kind)
    job_stream = Signal(object, object)  # Job, list[Stream] since the last signal
    job_log = Signal(object, str, str)
    job_output = Signal(object, object)  # Job, Saved (or Output when nothing saved it)
    job_finished = Signal(object)

    def __init__(self, sink: Any = None, models: Any = None, device: str = "auto",
                 plugin_versions: dict[str, str] | None = None, parent: QObject | None = None):
        super().__init__(parent)
        self.sink, self.models, self.device = sink, models, device
        self.plugin_versions = plugin_versions or {}
        self.jobs: list[Job] = []
        self._pool = QThreadPool(self)
        self._pool.setMaxThreadCount(1)
        self._running: Job | None = None
        self._signals = _Signals(self)
        self._signals.state.connect(self._on_state)
        self._signals.progress.connect(self._on_progress)
        self._signals.preview.connect(self._emit_preview)
        self._signals.stream.connect(self._emit_stream)
        self._signals.log.connect(self.job_log)
        self._signals.output.connect(self.job_output)

    # -- the public side ------------------------------------------------------------------
    def submit(self, task: Task, params: Any, seed: int | None = None,
               device: str | None = None) -> Job:
        job = Job(task, params, device=device or self.device, seed=seed, manager=self)
        self.jobs.append(job)
        self.job_added.emit(job)
        self._start_next()
        return job

    @property
    def running(self) -> Job | None:
        return self._running

    def queued(self) -> list[Job]:
        return [j for j in self.jobs if j.state is JobState.QUEUED]

    def cancel(self, job: Job) -> None:
        """Take a queued job off the queue, or interrupt it if it is running."""
        if job.state is JobState.QUEUED:
            job.state = JobState.CANCELLED
            job.ended = time.monotonic()
            self.job_changed.emit(job)
            self.job_finished.emit(job)
        elif job.state is JobState.RUNNING:
            self.interrupt()

    def interrupt(self) -> Job | None:
        """Ask the running job to stop at its next yield."""
        job = self._running
        if job is not None and not job.cancel_event.is_set():
            job.interrupted_at = time.monotonic()
            job.message = "stopping…"
            job.cancel_event.set()
            self.job_changed.emit(job)
        return job

    def cancel_all(self) -> None:
        for job in self.queued():
            self.cancel(job)
        self.interrupt()

    def clear_finished(self) -> None:
        self.jobs = [j for j in self.jobs if not j.state.finished]

    def wait(self, msecs: int = -1) -> bool:
        return self._pool.waitForDone(msecs)

    # -- the GUI thread's side of the worker's signals ---------------------------------------
    def _start_next(self) -> None:
        if self._running is not None:
            return
        nxt = next((j for j in self.jobs if j.state is JobState.QUEUED), None)
        if nxt is None:
            return
        nxt.state, nxt.started = JobState.RUNNING, time.monotonic()
        self._running = nxt
        self.job_changed.emit(nxt)
        self._pool.start(_Worker(self, nxt))

    @Slot(object)
    def _on_state(self, job: Job) -> None:
        """The worker's last word: the job ended (the worker emits nothing else on ``state``)."""
        self._emit_stream(job)  # what the worker left in the slot, before saying it ended
        if job is self._running:
            self._running = None
        self.job_changed.emit(job)
        self.job_finished.emit(job)
        self._start_next()

    @Slot(object)
    def _on_progress(self, job: Job) -> None:
        with job._lock:
            job._progress_pending = False
        self.job_changed.emit(job)

    def _emit_stream(self, job: Job) -> None:
        chunks = job.take_stream()
        if chunks:
            self.job_stream.emit(job, chunks)

    def _emit_preview(self, job: Job) -> None:
        for preview in job.take_previews():
            self.job_preview.emit(job, preview)
