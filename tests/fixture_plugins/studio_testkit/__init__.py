"""A small third-party plugin used by the tests: real tasks, no models.

It is installed for the tests as a real distribution (a generated ``.dist-info`` with an entry
point in the ``studio.plugins`` group; see tests/conftest.py), so it loads by the public path.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from studio.hookspecs import Capability, hookimpl
from studio.tasks import Context, Event, Log, Output, Preview, Progress, Stream, Task, param


@dataclass
class NoiseParams:
    width: int = param(32, min=1, max=1024, help="image width in pixels")
    height: int = param(24, min=1, max=1024, help="image height in pixels")
    steps: int = param(4, min=1, max=1000, help="refinement steps")


def noise(p: NoiseParams, ctx: Context) -> Iterator[Event]:
    """A seeded torch image: the same seed gives the same bytes on the CPU."""
    import torch

    g = ctx.torch_generator()
    img = torch.rand(p.height, p.width, 3, generator=g)
    for i in range(p.steps):
        img = (img + torch.rand(p.height, p.width, 3, generator=g)) / 2
        yield Progress((i + 1) / p.steps, f"step {i + 1}")
        yield Preview((img * 255).to(torch.uint8).numpy())
    yield Output((img * 255).to(torch.uint8).numpy(), name="noise")


@dataclass
class EchoParams:
    text: str = param("hello studio", help="what to say", multiline=True)
    times: int = param(1, min=1, max=100)
    delay: float = param(0.0, min=0.0, max=5.0, help="seconds between chunks")
    mode: str = param("plain", choices=("plain", "upper"))
    shout: bool = param(False, help="add an exclamation mark")


def echo(p: EchoParams, ctx: Context) -> Iterator[Event]:
    text = p.text.upper() if p.mode == "upper" else p.text
    if p.shout:
        text += "!"
    out = []
    for i in range(p.times):
        for word in text.split(" "):
            chunk = word + " "
            out.append(chunk)
            yield Stream(chunk)
            if p.delay:
                time.sleep(p.delay)
        yield Progress((i + 1) / p.times)
    yield Log(f"echoed {p.times} time(s)")
    yield Output("".join(out).strip(), name="echo")


@dataclass
class SpinParams:
    seconds: float = param(2.0, min=0.01, max=600.0, help="how long to compute")
    size: int = param(256, min=8, max=4096, help="matrix size")


def spin(p: SpinParams, ctx: Context) -> Iterator[Event]:
    """CPU-heavy torch work (matrix products) that yields after each product."""
    import torch

    a = torch.randn(p.size, p.size, generator=ctx.torch_generator())
    start = time.perf_counter()
    n = 0
    try:
        while (elapsed := time.perf_counter() - start) < p.seconds:
            a = torch.tanh(a @ a / p.size)
            n += 1
            yield Progress(min(1.0, elapsed / p.seconds), f"{n} products")
    finally:
        spin.cleaned_up = True  # the tests check that cancelling runs this
    yield Output(f"{n} products of {p.size}x{p.size}", name="spin")


spin.cleaned_up = False


@dataclass
class FailParams:
    after: int = param(0, min=0, max=100, help="events before failing")


def fail(p: FailParams, ctx: Context) -> Iterator[Event]:
    for i in range(p.after):
        yield Progress(i / max(1, p.after))
    raise ValueError("the test task failed on purpose")


@dataclass
class MeasureParams:
    path: Path = param(help="a file to measure", filter="Any file (*)")


def measure(p: MeasureParams, ctx: Context) -> Iterator[Event]:
    data = p.path.read_bytes()
    yield Output(f"{p.path.name}: {len(data)} bytes", name="measure")


@dataclass
class BlobParams:
    size: int = param(1000, min=0, max=10**9, help="bytes to write")


def blob(p: BlobParams, ctx: Context) -> Iterator[Event]:
    """Random bytes saved as a file output (tests atomic saving of larger files)."""
    yield Output(ctx.numpy_rng().bytes(p.size), name="blob", suffix=".bin")


TASKS = [
    Task("testkit.noise", "Noise image", NoiseParams, noise, "A seeded random image."),
    Task("testkit.echo", "Echo", EchoParams, echo, "Streams its text back."),
    Task("testkit.spin", "Spin", SpinParams, spin, "Keeps the CPU busy with torch."),
    Task("testkit.fail", "Fail", FailParams, fail, "Raises an error."),
    Task("testkit.measure", "Measure a file", MeasureParams, measure, "Reads a file."),
    Task("testkit.blob", "Random bytes", BlobParams, blob, "Writes random bytes."),
]


@hookimpl
def studio_capabilities() -> list[Capability]:
    return [Capability("testkit", "Test kit", TASKS, description="Tasks for the tests",
                       accepts=(".txt", ".bin"))]


@hookimpl
def studio_models() -> list[dict]:
    return [{
        "id": "testkit.tiny",
        "capability": "testkit",
        "title": "Tiny test model",
        "architecture": "none",
        "config": {},
        "files": [],
        "licence": "CC0-1.0",
        "training_data": "none",
        "command": "",
        "quality": {},
    }]
