"""What a capability's panel gets from the window: a way to run tasks and follow their events.

A plugin's ``Capability.panel`` is called as ``panel(host)`` and returns a QWidget. Through the
host it submits tasks to the shared compute lane and connects to the job signals; it never
starts threads of its own. Optional methods on the returned widget:

- ``run_default()``: what Ctrl+Enter does (default: nothing).
- ``handle_drop(paths: list[Path]) -> bool``: a file dropped on the window.
- ``current_values() -> dict`` / ``restore_values(dict)``: persisted between runs.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from studio.tasks import Task
from studio.ui.jobs import Job, JobManager


class PanelHost:
    def __init__(self, jobs: JobManager, registry: Any, models: Any, gallery: Any,
                 notify: Callable[[str, str, str], None]):
        self.jobs = jobs
        self.registry = registry
        self.models = models
        self.gallery = gallery
        self._notify = notify

    def task(self, task_id: str) -> Task:
        return self.registry.task(task_id)

    def submit(self, task: Task | str, params: Any, seed: int | None = None) -> Job:
        """Queue ``task`` with checked ``params`` (``task.make_params(...)``); returns the Job,
        whose events arrive through ``self.jobs``' signals (filter them by job)."""
        if isinstance(task, str):
            task = self.task(task)
        return self.jobs.submit(task, params, seed=seed)

    def notify(self, message: str, level: str = "info", details: str = "") -> None:
        """Show a notification in the window (level "info" or "error")."""
        self._notify(message, level, details)
