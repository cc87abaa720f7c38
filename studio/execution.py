"""Running one task to its end on the current thread: the part the window's worker and the CLI
share. Seeds, threads and grad mode are set here, outputs are saved with their recipe, and
cancelling closes the task's generator at its next yield."""

from __future__ import annotations

import contextlib
import os
import platform
import random
import reprlib
import secrets
import shutil
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Protocol

import studio
from studio import device as devices
from studio.errors import UserError
from studio.tasks import (
    Cancelled,
    Context,
    Controls,
    Event,
    Log,
    Output,
    Preview,
    Progress,
    Stream,
    Task,
)


class OutputSink(Protocol):
    """Where outputs go: the gallery, or a folder given with ``--out``."""

    def save(self, output: Output, recipe: dict[str, Any]) -> Path: ...


class TaskFailed(Exception):
    """The task raised. ``message`` is one line for the user, ``details`` the traceback.

    The error contract: ``bad_input`` (the CLI exits 2) when the task refused its input, that is
    it raised ``UserError`` or ``ValueError``, or an ``OSError`` about one of its input files
    (a ``Path`` parameter, or a file in a folder one names); anything else failed (exit 1), as
    does a task that breaks the contract (``plugin_error``: it yielded what is not an event)."""

    def __init__(self, message: str, details: str = "", out_of_memory: bool = False,
                 bad_input: bool = False, plugin_error: bool = False):
        super().__init__(message)
        self.details = details
        self.out_of_memory = out_of_memory
        self.bad_input = bad_input  # the task refused its input
        self.plugin_error = plugin_error  # the task broke the plugin contract


@dataclass
class Saved:
    """An output written to disk."""

    output: Output
    path: Path


@dataclass
class Execution:
    task: Task
    params: Any  # an instance of task.params
    device: devices.DeviceInfo
    sink: OutputSink | None = None
    seed: int | None = None
    models: Any = None
    plugin_version: str = ""
    controls: Controls = field(default_factory=Controls)  # the run's channel from its panel
    saved: list[Saved] = field(default_factory=list)
    started: float = 0.0
    _inputs: dict[str, dict[str, str]] | None = field(default=None, repr=False)
    # names the run in its outputs' recipes: the gallery shows a run's outputs as one item
    run_id: str = field(default_factory=lambda: secrets.token_hex(8))

    def __post_init__(self) -> None:
        if self.seed is None:
            self.seed = random.SystemRandom().randrange(2**31)

    def run(
        self,
        on_event: Callable[[Event, Saved | None], None] = lambda e, s: None,
        is_cancelled: Callable[[], bool] = lambda: False,
    ) -> list[Saved]:
        """Run the task to its end; raise Cancelled or TaskFailed."""
        self.started = time.perf_counter()
        scratch = Path(tempfile.mkdtemp(prefix=f"studio-{self.task.id}-"))
        ctx = Context(device=self.device.torch_device, seed=self.seed, scratch=scratch,
                      models=self.models, is_cancelled=is_cancelled, controls=self.controls)
        gen = None
        try:
            with _compute_mode(self.device, self.seed, self.task.grad):
                gen = self.task.run(self.params, ctx)
                for event in gen:
                    if is_cancelled():
                        raise Cancelled()
                    self._check(event)
                    saved = self._save(event, ctx) if isinstance(event, Output) else None
                    on_event(event, saved)
                    if is_cancelled():
                        raise Cancelled()
                if is_cancelled():  # the task saw ctx.is_cancelled() and returned early
                    raise Cancelled()
        except (Cancelled, TaskFailed):
            raise
        except (KeyboardInterrupt, GeneratorExit):
            raise Cancelled() from None
        except Exception as exc:
            raise _failure(exc, self.task, self.params) from exc
        finally:
            if gen is not None:
                with contextlib.suppress(Exception):
                    gen.close()  # runs the task's finally blocks
            shutil.rmtree(scratch, ignore_errors=True)
            if self.device.kind == "cuda":
                with contextlib.suppress(Exception):
                    devices.free_memory()
        return self.saved

    def _check(self, event: Any) -> None:
        """Refuse what the task may not yield, naming the plugin and the task."""
        problem = event_problem(event)
        if problem:
            who = f"plugin {self.task.plugin}, " if self.task.plugin else ""
            raise TaskFailed(f"{who}task {self.task.id}: {problem}", plugin_error=True)

    def recipe(self, output: Output, ctx: Context) -> dict[str, Any]:
        """Everything needed to make ``output`` again."""
        versions = {"studio": studio.__version__, "python": platform.python_version()}
        if self.task.plugin:
            versions[self.task.plugin] = self.plugin_version
        if "torch" in sys.modules:
            versions["torch"] = sys.modules["torch"].__version__
        return {
            "task": self.task.id,
            "params": self.task.params_to_json(self.params),
            "seed": self.seed,
            "device": self.device.kind,
            "models": list(ctx.models_used),
            **({"inputs": inputs} if (inputs := self.inputs()) else {}),
            "versions": versions,
            "duration_s": round(time.perf_counter() - self.started, 3),
            "created": datetime.now(UTC).isoformat(timespec="seconds"),
            "output": {"name": output.name, "kind": output.kind, "suffix": output.file_suffix,
                       **({"title": output.title} if output.title else {})},
            "run": self.run_id,
        }

    def inputs(self) -> dict[str, dict[str, str]]:
        """The input files the run read, for its recipe: ``{param: {"path", "sha256"}}`` for
        each ``Path`` parameter (not ``save``) that names a file. Hashed once per run."""
        if self._inputs is None:
            self._inputs = input_files(self.task, self.params)
        return self._inputs

    def _save(self, output: Output, ctx: Context) -> Saved | None:
        if self.sink is None:
            return None
        try:
            path = self.sink.save(output, self.recipe(output, ctx))
        except ValueError as exc:  # data the writer refuses (a float image outside 0..1)
            who = f"plugin {self.task.plugin}, " if self.task.plugin else ""
            raise TaskFailed(f"{who}task {self.task.id}: output {output.name!r} cannot be "
                             f"saved: {exc}", plugin_error=True) from exc
        saved = Saved(output, path)
        self.saved.append(saved)
        return saved


@contextlib.contextmanager
def _compute_mode(info: devices.DeviceInfo, seed: int, grad: bool):
    """Seed every generator, set torch's threads, and enter inference mode unless the task
    trains. Grad mode is per thread, so this must run on the thread that computes."""
    random.seed(seed)
    try:
        import numpy as np

        np.random.seed(seed % 2**32)
    except ImportError:
        pass
    import torch

    devices.configure(info)
    torch.manual_seed(seed)
    with contextlib.ExitStack() as stack:
        if not grad:
            stack.enter_context(torch.inference_mode())
        yield


EVENT_TYPES = (Progress, Preview, Stream, Log, Output)


def event_problem(event: Any) -> str:
    """Why ``event`` is not something a task may yield ("" when it is fine)."""
    if not isinstance(event, EVENT_TYPES):
        shown = reprlib.repr(event)
        return (f"yielded {shown} ({type(event).__name__}), which is not an event "
                "(Progress, Preview, Stream, Log or Output from studio.tasks)")
    if isinstance(event, Progress) and event.fraction is not None:
        f = event.fraction
        if not isinstance(f, int | float) or isinstance(f, bool) or not 0 <= f <= 1:
            return f"yielded Progress({f!r}): the fraction must be from 0 to 1, or None"
    if isinstance(event, Stream) and not isinstance(event.text, str):
        return f"yielded a Stream of {type(event.text).__name__}, not of text (str)"
    if isinstance(event, Log) and event.level not in ("info", "warning", "error"):
        return f"yielded a Log of level {event.level!r}, not 'info', 'warning' or 'error'"
    if isinstance(event, Output):
        data = event.data
        dtype = str(getattr(data, "dtype", ""))
        ok = isinstance(data, str | bytes | bytearray) or (
            (dtype == "uint8" or dtype.startswith("float")) and getattr(data, "ndim", 0) in (2, 3))
        if not ok:
            kind = type(data).__name__
            if dtype:
                kind += f" of {dtype}, shape {tuple(getattr(data, 'shape', ()))}"
            return (f"yielded Output {event.name!r} of {kind}: an output is a str, bytes or a "
                    "uint8 image (H, W) or (H, W, C)")
    return ""


def _failure(exc: BaseException, task: Task | None = None, params: Any = None) -> TaskFailed:
    import traceback

    details = "".join(traceback.format_exception(type(exc), exc, exc.__traceback__))
    if devices.is_out_of_memory(exc):
        return TaskFailed("the GPU ran out of memory; run it on the CPU, or with a smaller size",
                          details, out_of_memory=True)
    message = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
    if isinstance(exc, OSError) and not isinstance(exc, UserError):
        flag = _input_flag(exc, task, params)
        if flag:
            name = exc.filename
            reason = exc.strerror or message
            return TaskFailed(f"{flag}: cannot read {name}: {reason}", details, bad_input=True)
    return TaskFailed(message, details, bad_input=isinstance(exc, UserError | ValueError))


def input_files(task: Task, params: Any) -> dict[str, dict[str, str]]:
    """``{param: {"path", "sha256"}}`` of the files the task's ``Path`` parameters name (those
    it reads; folders and missing files are left out)."""
    from studio.models import sha256_file

    found = {}
    for spec in task.schema():
        value = getattr(params, spec.name, None)
        if spec.type is not Path or spec.save or value is None:
            continue
        with contextlib.suppress(OSError):
            if Path(value).is_file():
                found[spec.name] = {"path": str(value), "sha256": sha256_file(Path(value))}
    return found


def _input_flag(exc: OSError, task: Task | None, params: Any) -> str:
    """The flag of the input file (or of the folder holding it) that ``exc`` is about, or ""."""
    if task is None or params is None or not exc.filename:
        return ""
    try:
        failed = Path(os.fsdecode(exc.filename)).resolve()
        for spec in task.schema():
            value = getattr(params, spec.name, None)
            if spec.type is not Path or spec.save or value is None:
                continue
            given = Path(value).resolve()
            if failed == given or given in failed.parents:
                return spec.flag
    except (OSError, TypeError, ValueError):
        return ""
    return ""
