"""Running one task to its end on the current thread: the part the window's worker and the CLI
share. Seeds, threads and grad mode are set here, outputs are saved with their recipe, and
cancelling closes the task's generator at its next yield."""

from __future__ import annotations

import contextlib
import platform
import random
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
from studio.tasks import Cancelled, Context, Controls, Event, Output, Task


class OutputSink(Protocol):
    """Where outputs go: the gallery, or a folder given with ``--out``."""

    def save(self, output: Output, recipe: dict[str, Any]) -> Path: ...


class TaskFailed(Exception):
    """The task raised. ``message`` is one line for the user, ``details`` the traceback."""

    def __init__(self, message: str, details: str = "", out_of_memory: bool = False,
                 bad_input: bool = False):
        super().__init__(message)
        self.details = details
        self.out_of_memory = out_of_memory
        self.bad_input = bad_input  # the task refused its input (UserError or ValueError)


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
                    saved = self._save(event, ctx) if isinstance(event, Output) else None
                    on_event(event, saved)
                    if is_cancelled():
                        raise Cancelled()
                if is_cancelled():  # the task saw ctx.is_cancelled() and returned early
                    raise Cancelled()
        except Cancelled:
            raise
        except (KeyboardInterrupt, GeneratorExit):
            raise Cancelled() from None
        except Exception as exc:
            raise _failure(exc) from exc
        finally:
            if gen is not None:
                with contextlib.suppress(Exception):
                    gen.close()  # runs the task's finally blocks
            shutil.rmtree(scratch, ignore_errors=True)
            if self.device.kind == "cuda":
                with contextlib.suppress(Exception):
                    devices.free_memory()
        return self.saved

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
            "versions": versions,
            "duration_s": round(time.perf_counter() - self.started, 3),
            "created": datetime.now(UTC).isoformat(timespec="seconds"),
            "output": {"name": output.name, "kind": output.kind, "suffix": output.file_suffix},
        }

    def _save(self, output: Output, ctx: Context) -> Saved | None:
        if self.sink is None:
            return None
        path = self.sink.save(output, self.recipe(output, ctx))
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


def _failure(exc: BaseException) -> TaskFailed:
    import traceback

    details = "".join(traceback.format_exception(type(exc), exc, exc.__traceback__))
    if devices.is_out_of_memory(exc):
        return TaskFailed("the GPU ran out of memory; run it on the CPU, or with a smaller size",
                          details, out_of_memory=True)
    message = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
    return TaskFailed(message, details, bad_input=isinstance(exc, UserError | ValueError))
