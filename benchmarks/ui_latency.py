"""The window's responsiveness while each capability's heaviest task runs in its compute lane.

A 10 ms QTimer on the main thread records how late each tick fires: first with nothing running
(the baseline, in the same run), then while each capability's real task runs through the
window's job queue, again and again for ``--seconds``: a GPT generation (write.generate with the
starter model), a compose generation with its WAV (compose.generate), a paint translation of a
photo (paint.translate with paint.monet) and a drive episode as fast as it goes (drive.watch with
drive.carracing). Then Stop is pressed (``jobs.interrupt()``) ``--interrupts`` times in fresh
runs, spread over a run's length (as long as the untimed first run took after its warm-up
load), and the time from the press to the job's end is measured.
Goals: p99 lateness under 20 ms, interrupt under 250 ms.

Prints JSON. Run offscreen: QT_QPA_PLATFORM=offscreen python benchmarks/ui_latency.py
(``--only write,paint`` measures some capabilities; the default run takes a few minutes).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import tempfile
import time
from pathlib import Path

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
os.environ.setdefault("STUDIO_DATA_DIR", tempfile.mkdtemp(prefix="studio-bench-"))

from PySide6.QtCore import QElapsedTimer, Qt, QTimer  # noqa: E402
from PySide6.QtWidgets import QApplication  # noqa: E402

TICK_MS = 10
SEED = 1


def photo(folder: Path, width: int = 1024, height: int = 768) -> Path:
    """A photo-like test picture (smooth sky, a horizon, textured ground) to translate."""
    import numpy as np
    from PIL import Image

    rng = np.random.default_rng(0)
    y, x = np.mgrid[0:height, 0:width] / np.array([height, width])[:, None, None]
    sky = np.stack([90 + 80 * y, 140 + 60 * y, 220 - 40 * y], -1)
    ground = np.stack([60 + 40 * x, 110 + 30 * np.sin(12 * x), 50 + 0 * x], -1)
    img = np.where((y > 0.55 + 0.05 * np.sin(9 * x))[..., None], ground, sky)
    img = img + rng.normal(0, 12, img.shape)
    path = folder / "photo.png"
    Image.fromarray(np.clip(img, 0, 255).astype(np.uint8)).save(path)
    return path


def workloads(folder: Path, tokens: int, bars: int, steps: int) -> dict[str, tuple[str, dict]]:
    """Each capability's heaviest everyday task and its parameters."""
    return {
        "write": ("write.generate", {"prompt": "ROMEO:\n", "max_tokens": tokens,
                                     "model": "write.classics"}),
        "compose": ("compose.generate", {"bars": bars, "wav": True}),
        "paint": ("paint.translate", {"image": str(photo(folder)), "model": "paint.monet"}),
        "drive": ("drive.watch", {"model": "drive.carracing", "steps": steps, "speed": 0.0}),
    }


def percentile(xs: list[float], q: float) -> float:
    xs = sorted(xs)
    return xs[min(len(xs) - 1, int(round(q / 100 * (len(xs) - 1))))]


def lateness_stats(late: list[float]) -> dict:
    if not late:
        return {"ticks": 0}
    return {"ticks": len(late), "p50_ms": round(percentile(late, 50), 2),
            "p99_ms": round(percentile(late, 99), 2), "max_ms": round(max(late), 2)}


class Bench:
    """The window, its job queue and the main-thread timer whose lateness is measured."""

    def __init__(self) -> None:
        from studio.ui import theme
        from studio.ui.app import build_window

        self.app = QApplication([])
        theme.apply(self.app)
        self.window = build_window("cpu")
        self.window.show()
        self.jobs = self.window.jobs
        self.clock = QElapsedTimer()
        self.late: list[float] = []
        self.last = 0.0
        self.timer = QTimer()
        self.timer.setTimerType(Qt.PreciseTimer)
        self.timer.setInterval(TICK_MS)
        self.timer.timeout.connect(self._tick)

    def _tick(self) -> None:
        now = self.clock.nsecsElapsed() / 1e6
        if self.last:
            self.late.append(max(0.0, now - self.last - TICK_MS))
        self.last = now

    def spin(self, seconds: float = 0.0, until=lambda: False) -> None:
        end = time.perf_counter() + seconds
        while (time.perf_counter() < end) if seconds else not until():
            self.app.processEvents()
            time.sleep(0.0005)

    def submit(self, task_id: str, values: dict):
        """One run, always with the same seed: runs of one task last the same (a story that
        meets its end token, a car that leaves the track), so Stop lands where it is aimed."""
        task = self.window.registry.task(task_id)
        return self.jobs.submit(task, task.make_params(values), seed=SEED)

    def finish(self, job) -> None:
        self.spin(until=lambda: job.state.finished)
        if job.state.name == "FAILED":
            raise SystemExit(f"{job.task.id} failed: {getattr(job, 'error', '')}")

    def lateness(self, seconds: float, task_id: str | None = None, values: dict | None = None
                 ) -> tuple[list[float], int]:
        """Ticks' lateness over ``seconds``, with ``task_id`` run back to back if given."""
        self.late.clear()
        self.last = 0.0
        self.clock.start()
        self.timer.start()
        end, runs, job = time.perf_counter() + seconds, 0, None
        while time.perf_counter() < end:
            if task_id and (job is None or job.state.finished):
                job, runs = self.submit(task_id, values or {}), runs + 1
            self.app.processEvents()
            time.sleep(0.0005)
        self.timer.stop()
        late = list(self.late)
        if job is not None:
            self.jobs.interrupt()
            self.finish(job)
        return late, runs

    def stop_latency(self, task_id: str, values: dict, after: float) -> float | None:
        """Milliseconds from Stop to the job's end, pressed ``after`` seconds into a run (None:
        the run ended by itself first)."""
        job = self.submit(task_id, values)
        self.spin(until=lambda: job.state.name != "QUEUED")
        self.spin(after)
        if job.state.finished:
            return None
        self.jobs.interrupt()
        self.finish(job)
        return (job.ended - job.interrupted_at) * 1000


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--seconds", type=float, default=8.0, help="measuring time per capability")
    ap.add_argument("--interrupts", type=int, default=3, help="Stop presses per capability")
    ap.add_argument("--only", default="", help="comma-separated capabilities (default: all)")
    ap.add_argument("--tokens", type=int, default=400, help="write.generate's max_tokens")
    ap.add_argument("--bars", type=int, default=32, help="compose.generate's bars")
    ap.add_argument("--steps", type=int, default=1000, help="drive.watch's steps")
    args = ap.parse_args()

    bench = Bench()
    folder = Path(tempfile.mkdtemp(prefix="studio-bench-in-"))
    cases = workloads(folder, args.tokens, args.bars, args.steps)
    chosen = [c for c in (args.only.split(",") if args.only else cases) if c]
    registry = bench.window.registry
    out: dict = {"timer interval ms": TICK_MS, "goals": "p99 lateness < 20 ms, stop < 250 ms"}

    length: dict[str, float] = {}
    for cap in chosen:  # twice each, untimed: torch's import and the model's first load, then
        task_id, values = cases[cap]  # how long one run takes (where to press Stop)
        if task_id not in registry.tasks:
            continue
        for _ in range(2):
            started = time.perf_counter()
            bench.finish(bench.submit(task_id, values))
            length[cap] = time.perf_counter() - started

    out["idle (baseline)"] = lateness_stats(bench.lateness(3.0)[0])
    for cap in chosen:
        task_id, values = cases[cap]
        if task_id not in registry.tasks:
            out[cap] = f"{task_id}: no such task here"
            continue
        late, runs = bench.lateness(args.seconds, task_id, values)
        presses = [length[cap] * (i + 0.5) / args.interrupts for i in range(args.interrupts)]
        stops = [ms for after in presses
                 if (ms := bench.stop_latency(task_id, values, after)) is not None]
        out[cap] = {
            "task": task_id, "params": values, "one run s": round(length[cap], 2),
            "runs while measuring": runs,
            "lateness while running": lateness_stats(late),
            "stop to end ms": ({"median": round(statistics.median(stops), 1),
                                "max": round(max(stops), 1), "trials": len(stops),
                                "runs that ended before Stop": args.interrupts - len(stops)}
                               if stops else "every run ended before Stop"),
        }
        print(f"{cap}: {json.dumps(out[cap])}", flush=True)

    import torch

    out["device"] = bench.window.device_label.text()
    out["torch threads in the lane"] = torch.get_num_threads()
    print(json.dumps(out, indent=2))
    bench.window.close()


if __name__ == "__main__":
    main()
