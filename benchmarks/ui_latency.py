"""GUI responsiveness while a CPU-heavy torch task runs through the real job queue.

A 10 ms QTimer on the main thread records how late each tick fires, first with nothing running
(baseline), then while the task computes in the window's compute lane. Then the running job is
interrupted several times and the time from interrupt() to the job's end is measured.
Prints JSON. Run offscreen: QT_QPA_PLATFORM=offscreen python benchmarks/ui_latency.py
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
os.environ.setdefault("STUDIO_DATA_DIR", tempfile.mkdtemp(prefix="studio-bench-"))

from PySide6.QtCore import QElapsedTimer, Qt, QTimer  # noqa: E402
from PySide6.QtWidgets import QApplication  # noqa: E402

from studio.tasks import Context, Event, Progress, Task, param  # noqa: E402

TICK_MS = 10


@dataclass
class HeavyParams:
    seconds: float = param(5.0, min=0.1, max=600)
    size: int = param(768, min=16, max=4096)


def heavy(p: HeavyParams, ctx: Context) -> Iterator[Event]:
    """Matrix products and a convolution, as a model's forward pass would do."""
    import torch

    g = ctx.torch_generator()
    a = torch.randn(p.size, p.size, generator=g)
    img = torch.randn(1, 32, 128, 128, generator=g)
    w = torch.randn(32, 32, 3, 3, generator=g)
    start = time.perf_counter()
    while (t := time.perf_counter() - start) < p.seconds:
        a = torch.tanh(a @ a / p.size)
        img = torch.tanh(torch.nn.functional.conv2d(img, w, padding=1))
        yield Progress(t / p.seconds)


HEAVY = Task("bench.heavy", "Heavy torch work", HeavyParams, heavy)


def percentile(xs: list[float], q: float) -> float:
    xs = sorted(xs)
    return xs[min(len(xs) - 1, int(round(q / 100 * (len(xs) - 1))))]


def lateness_stats(late: list[float]) -> dict:
    return {"ticks": len(late), "p50_ms": round(percentile(late, 50), 2),
            "p99_ms": round(percentile(late, 99), 2), "max_ms": round(max(late), 2)}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--seconds", type=float, default=6.0)
    ap.add_argument("--size", type=int, default=768)
    ap.add_argument("--interrupts", type=int, default=5)
    args = ap.parse_args()

    from studio.ui import theme
    from studio.ui.app import build_window

    app = QApplication([])
    theme.apply(app)
    window = build_window("cpu")
    window.show()
    jobs = window.jobs

    clock = QElapsedTimer()
    late: list[float] = []
    last = [0.0]

    def tick() -> None:
        now = clock.nsecsElapsed() / 1e6
        if last[0]:
            late.append(max(0.0, now - last[0] - TICK_MS))
        last[0] = now

    timer = QTimer()
    timer.setTimerType(Qt.PreciseTimer)
    timer.setInterval(TICK_MS)
    timer.timeout.connect(tick)

    def measure(seconds: float) -> list[float]:
        late.clear()
        last[0] = 0.0
        clock.start()
        timer.start()
        end = time.perf_counter() + seconds
        while time.perf_counter() < end:
            app.processEvents()
            time.sleep(0.0005)
        timer.stop()
        return list(late)

    # warm up torch in the lane, so the first-import cost is not counted
    warm = jobs.submit(HEAVY, HEAVY.make_params({"seconds": 0.2, "size": args.size}))
    while not warm.state.finished:
        app.processEvents()
        time.sleep(0.001)

    idle = measure(2.0)
    job = jobs.submit(HEAVY, HEAVY.make_params({"seconds": args.seconds + 5, "size": args.size}))
    while job.state.name != "RUNNING":
        app.processEvents()
    loaded = measure(args.seconds)
    jobs.interrupt()
    while not job.state.finished:
        app.processEvents()
        time.sleep(0.0005)
    stops = [(job.ended - job.interrupted_at) * 1000]

    for _ in range(args.interrupts - 1):
        j = jobs.submit(HEAVY, HEAVY.make_params({"seconds": 60, "size": args.size}))
        t_end = time.perf_counter() + 0.5
        while time.perf_counter() < t_end:
            app.processEvents()
            time.sleep(0.001)
        jobs.interrupt()
        while not j.state.finished:
            app.processEvents()
            time.sleep(0.0005)
        stops.append((j.ended - j.interrupted_at) * 1000)

    import torch

    out = {
        "timer interval ms": TICK_MS,
        "idle (baseline)": lateness_stats(idle),
        "while computing": lateness_stats(loaded),
        "interrupt to job end ms": {"median": round(statistics.median(stops), 1),
                                     "max": round(max(stops), 1), "trials": len(stops)},
        "device": window.device_label.text(),
        "torch threads in the lane": torch.get_num_threads(),
        "work": f"{args.size}x{args.size} matmul + 32ch 128x128 conv per yield",
    }
    print(json.dumps(out, indent=2))
    window.close()


if __name__ == "__main__":
    main()
