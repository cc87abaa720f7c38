"""Running a task to its end: events in order, seeds, cancelling, failures, grad mode, the
scratch folder, and the device the task computes on."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch

import studio.device as devices
from studio.errors import UserError
from studio.execution import Execution, Saved, TaskFailed
from studio.runner import run_in_terminal
from studio.tasks import (
    Cancelled,
    Context,
    Event,
    Log,
    Output,
    Preview,
    Progress,
    Stream,
    Task,
    param,
)

CPU = devices.pick("cpu")


def _run(task: Task, values: dict[str, Any] | None = None, seed: int = 1,
         **run_kwargs: Any) -> list[Event]:
    """Run ``task`` on the CPU and return the events it yielded."""
    events: list[Event] = []
    Execution(task, task.make_params(values), CPU, seed=seed).run(
        lambda event, saved: events.append(event), **run_kwargs)
    return events


@dataclass
class NoParams:
    pass


def _tiny_task(run, grad: bool = False) -> Task:
    return Task("tiny.run", "Tiny", NoParams, run, grad=grad)


# --- events and seeds -------------------------------------------------------------------------


def test_events_arrive_in_order(registry):
    events = _run(registry.task("testkit.echo"), {"text": "a b", "times": 2})

    assert events == [
        Stream("a "), Stream("b "), Progress(0.5),
        Stream("a "), Stream("b "), Progress(1.0),
        Log("echoed 2 time(s)"),
        Output("a b a b", name="echo"),
    ]


def test_noise_events(registry):
    events = _run(registry.task("testkit.noise"), {"width": 8, "height": 4, "steps": 2})

    assert [type(e) for e in events] == [Progress, Preview, Progress, Preview, Output]
    assert [e.message for e in events if isinstance(e, Progress)] == ["step 1", "step 2"]
    assert events[-1].data.shape == (4, 8, 3) and events[-1].data.dtype == np.uint8


def _noise(registry, seed: int) -> np.ndarray:
    return _run(registry.task("testkit.noise"), {"width": 16, "height": 8}, seed=seed)[-1].data


def test_same_seed_same_noise(registry):
    assert np.array_equal(_noise(registry, 42), _noise(registry, 42))


def test_different_seed_different_noise(registry):
    assert not np.array_equal(_noise(registry, 42), _noise(registry, 43))


def test_a_random_seed_is_chosen_and_kept(registry):
    task = registry.task("testkit.echo")

    execution = Execution(task, task.make_params(), CPU)

    assert isinstance(execution.seed, int)


class _ListSink:
    def __init__(self, folder: Path):
        self.folder = folder
        self.recipes: list[dict[str, Any]] = []

    def save(self, output: Output, recipe: dict[str, Any]) -> Path:
        self.recipes.append(recipe)
        path = self.folder / (output.name + output.file_suffix)
        path.write_text(str(output.data), encoding="utf-8")
        return path


def test_outputs_go_to_the_sink_with_their_recipe(registry, tmp_path):
    task = registry.task("testkit.echo")
    sink = _ListSink(tmp_path)
    seen: list[Saved | None] = []

    saved = Execution(task, task.make_params({"text": "hi"}), CPU, sink=sink, seed=5,
                      plugin_version="1.0").run(lambda event, s: seen.append(s))

    assert [s.path for s in saved] == [tmp_path / "echo.txt"]
    assert seen[-1] is saved[0] and seen[:-1] == [None] * (len(seen) - 1)
    [recipe] = sink.recipes
    assert (recipe["task"], recipe["seed"], recipe["device"]) == ("testkit.echo", 5, "cpu")
    assert recipe["params"]["text"] == "hi"
    assert recipe["versions"]["studio_testkit"] == "1.0"
    assert recipe["output"] == {"name": "echo", "kind": "text", "suffix": ".txt"}


# --- cancelling and failing -------------------------------------------------------------------


def test_cancel_closes_the_generator_and_runs_its_finally(registry):
    spin = registry.task("testkit.spin")
    spin.run.cleaned_up = False
    events: list[Event] = []

    with pytest.raises(Cancelled):
        Execution(spin, spin.make_params({"seconds": 600, "size": 8}), CPU, seed=1).run(
            lambda event, saved: events.append(event), is_cancelled=lambda: len(events) >= 3)

    assert len(events) == 3
    assert spin.run.cleaned_up is True


def test_cancel_before_the_first_event():
    reached: list[str] = []

    def run(p, ctx: Context) -> Iterator[Event]:
        try:
            yield Progress(0.1)
            reached.append("after the first yield")
        finally:
            reached.append("finally")

    with pytest.raises(Cancelled):
        _run(_tiny_task(run), is_cancelled=lambda: True)

    assert reached == ["finally"]


def test_a_failing_task_raises_task_failed(registry):
    with pytest.raises(TaskFailed) as info:
        _run(registry.task("testkit.fail"), {"after": 2})

    assert str(info.value) == "the test task failed on purpose"
    assert "Traceback" in info.value.details
    assert "ValueError: the test task failed on purpose" in info.value.details
    assert info.value.out_of_memory is False


def test_out_of_memory_suggests_the_cpu():
    def run(p, ctx: Context) -> Iterator[Event]:
        yield Progress(0.0)
        raise RuntimeError("CUDA out of memory. Tried to allocate 2.00 GiB (GPU 0; 8 GiB total)")

    with pytest.raises(TaskFailed) as info:
        _run(_tiny_task(run))

    assert info.value.out_of_memory is True
    assert "CPU" in str(info.value)
    assert "Tried to allocate 2.00 GiB" in info.value.details


def test_a_multi_line_error_is_one_line_for_the_user():
    def run(p, ctx: Context) -> Iterator[Event]:
        raise OSError("cannot read the weights\nmore detail here")
        yield  # a generator

    with pytest.raises(TaskFailed) as info:
        _run(_tiny_task(run))

    assert str(info.value) == "cannot read the weights"


@pytest.mark.parametrize(("error", "status", "line"), [
    (UserError("song.mid: not a MIDI file"), 2, "studio: error: song.mid: not a MIDI file"),
    (ValueError("--bars: 3 is odd"), 2, "studio: error: --bars: 3 is odd"),
    (RuntimeError("the disk is full"), 1, "studio: error: tiny.run failed: the disk is full"),
])
def test_refused_input_exits_2_and_a_failure_1(error, status, line, capsys):
    def run(p, ctx: Context) -> Iterator[Event]:
        yield Progress(0.5)
        raise error

    def work(reporter) -> None:
        task = _tiny_task(run)
        Execution(task, task.make_params({}), CPU, seed=1).run(reporter)

    assert run_in_terminal(work, what="tiny.run") == status
    assert capsys.readouterr().err.strip().splitlines()[-1] == line


# --- grad mode, scratch, seeds ------------------------------------------------------------------


@pytest.mark.parametrize(("grad", "inference"), [(False, True), (True, False)])
def test_grad_mode(grad, inference):
    seen: list[tuple[bool, bool]] = []

    def run(p, ctx: Context) -> Iterator[Event]:
        seen.append((torch.is_inference_mode_enabled(), torch.is_grad_enabled()))
        yield Output("ok")

    _run(_tiny_task(run, grad=grad))

    assert seen == [(inference, not inference)]


def test_training_task_can_backpropagate():
    def run(p, ctx: Context) -> Iterator[Event]:
        w = torch.ones(3, requires_grad=True)
        (w * 2).sum().backward()
        yield Output(str(w.grad.tolist()))

    [out] = _run(_tiny_task(run, grad=True))

    assert out.data == "[2.0, 2.0, 2.0]"


def test_scratch_exists_during_the_run_and_is_gone_after():
    during: list[tuple[Path, bool]] = []

    def run(p, ctx: Context) -> Iterator[Event]:
        (ctx.scratch / "tmp.bin").write_bytes(b"x")
        during.append((ctx.scratch, ctx.scratch.is_dir()))
        yield Output("ok")

    _run(_tiny_task(run))

    [(scratch, existed)] = during
    assert existed
    assert not scratch.exists()


def test_scratch_is_gone_after_a_failure_too():
    scratches: list[Path] = []

    def run(p, ctx: Context) -> Iterator[Event]:
        scratches.append(ctx.scratch)
        raise ValueError("boom")
        yield

    with pytest.raises(TaskFailed):
        _run(_tiny_task(run))

    assert not scratches[0].exists()


def test_context_gets_the_seed_and_device():
    seen: list[tuple[int, str, float]] = []

    def run(p, ctx: Context) -> Iterator[Event]:
        seen.append((ctx.seed, ctx.device, float(ctx.numpy_rng().random())))
        yield Output("ok")

    _run(_tiny_task(run), seed=9)
    _run(_tiny_task(run), seed=9)

    assert seen[0] == seen[1]
    assert seen[0][:2] == (9, "cpu")


@dataclass
class CountParams:
    n: int = param(3, min=1, max=10)


def test_params_reach_the_task():
    def run(p: CountParams, ctx: Context) -> Iterator[Event]:
        yield Output("x" * p.n)

    [out] = _run(Task("tiny.count", "Count", CountParams, run), {"n": "5"})

    assert out.data == "xxxxx"


# --- the device -------------------------------------------------------------------------------


def test_cpu_label_counts_threads():
    info = devices.pick("cpu")

    assert info.kind == "cpu" and info.torch_device == "cpu"
    assert info.label == f"CPU: {devices.cpu_count()} thread{'s' if info.threads != 1 else ''}"
    assert info.threads == devices.cpu_count()


def test_unknown_device_is_refused():
    with pytest.raises(devices.DeviceError) as info:
        devices.pick("bogus")

    assert str(info.value) == "unknown device 'bogus' (choose from auto, cpu, cuda, mps)"


@pytest.mark.skipif(torch.cuda.is_available(), reason="this machine has CUDA")
def test_cuda_without_cuda_is_refused():
    with pytest.raises(devices.DeviceError, match="CUDA was asked for, but torch sees no CUDA"):
        devices.pick("cuda")


@pytest.mark.skipif(torch.cuda.is_available(), reason="this machine has CUDA")
def test_auto_falls_back_to_the_cpu():
    assert devices.pick("auto").kind in ("cpu", "mps")


@pytest.mark.parametrize(("cores", "interactive", "threads"), [
    (1, True, 1), (2, True, 1), (8, True, 7), (1, False, 1), (8, False, 8),
])
def test_compute_threads_leave_a_core_to_the_window(monkeypatch, cores, interactive, threads):
    monkeypatch.setattr(devices, "cpu_count", lambda: cores)

    assert devices.compute_threads(interactive=interactive) == threads


# --- live controls ----------------------------------------------------------------------------


def test_live_controls_reach_the_running_task():
    from studio.tasks import Controls

    seen: list[tuple] = []
    controls = Controls()

    def run(p, ctx: Context) -> Iterator[Event]:
        assert ctx.controls is controls
        yield Progress(0.0)  # the panel sets and sends meanwhile (the callback below)
        seen.append((ctx.controls.get("speed", 1.0), ctx.controls.take(), ctx.controls.take()))
        ctx.controls.wait(0.01)  # nothing came: it returns once the time is up
        yield Progress(1.0)

    def on_event(event, saved) -> None:
        if event.fraction == 0.0:
            controls.set(speed=2.5)
            controls.send("pause")
            controls.send("step", 3)

    Execution(_tiny_task(run), NoParams(), CPU, seed=1, controls=controls).run(on_event)
    assert seen == [(2.5, [("pause", None), ("step", 3)], [])]


def test_without_a_panel_a_task_sees_its_defaults():
    seen: list = []

    def run(p, ctx: Context) -> Iterator[Event]:
        seen.append((ctx.controls.get("speed", 1.0), ctx.controls.take(), ctx.controls.values()))
        yield Progress(1.0)

    _run(_tiny_task(run))
    assert seen == [(1.0, [], {})]


def test_controls_wait_wakes_on_a_value_or_a_waiting_command():
    import threading
    import time

    from studio.tasks import Controls

    c = Controls()
    c.send("step")  # sent before the wait and not taken yet: no sleep
    t0 = time.perf_counter()
    assert c.wait(5.0) is True
    assert time.perf_counter() - t0 < 1.0
    c.take()
    threading.Timer(0.05, lambda: c.set(tau=1.2)).start()
    assert c.wait(5.0) is True and c.get("tau") == 1.2
    assert c.wait(0.01) is False
