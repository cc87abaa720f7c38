"""The drive panel in the real window: frames per second shown while the agent drives at real
time (1x, 50 steps a second) and at the maximum speed, and while it dreams at 1x; the main
thread's timer lateness while a real ``drive.watch`` drives, beside the same timer with nothing
running (the baseline) in the same run; the latent explorer's round trip (a slider moved to its
decoding on screen) through a paused drive and through ``drive.explore``. Prints JSON.

    QT_QPA_PLATFORM=offscreen python benchmarks/drive_watch.py [--model ID] [--seconds 8]
        [--size 1024x700]

Lateness: a 10 ms precise QTimer on the main thread, run by the window's own event loop (not a
polling loop); each tick's lateness is how much longer than 10 ms it came after the one before
(ui_latency.py's measure). Frames shown: the large view's paint events while its picture
changes. Steps per second: as the task measures them. Each phase also gives the CPU seconds
this process used per second of wall time (two threads can use up to 2), since the machine
may be shared: ``load`` is the one-minute load average before the run.

Without ``--model``, a drive model with random weights at the paper's sizes (z 32, LSTM 256)
is written to a temporary model store: the figures are the panel's and the tasks' costs, which
do not depend on what the weights learned.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
import time

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
os.environ.setdefault("STUDIO_DATA_DIR", tempfile.mkdtemp(prefix="studio-bench-drive-"))

TICK_MS = 10


def write_random_model(model_id: str) -> None:
    import numpy as np
    import torch

    from studio import paths
    from studio_drive.controller import Controller
    from studio_drive.loading import DEFAULT_CONFIG, save_part
    from studio_drive.mdnrnn import MDNRNN
    from studio_drive.vae import VAE

    torch.manual_seed(0)
    cfg = dict(DEFAULT_CONFIG)
    root = paths.models_dir()
    save_part(root, model_id, "vae", VAE(32).state_dict(), cfg, {"command": "random"})
    save_part(root, model_id, "mdnrnn", MDNRNN(32, 3, 256, 5).state_dict(), cfg,
              {"command": "random"})
    c = Controller.from_flat(np.random.default_rng(1).normal(0, 0.05, 867), 32, 256)
    c.bias[1] = 0.3  # some gas: the car moves
    save_part(root, model_id, "controller", {"weight": c.weight, "bias": c.bias}, cfg,
              {"command": "random"})


def percentile(xs: list[float], q: float) -> float:
    xs = sorted(xs)
    return xs[min(len(xs) - 1, int(round(q / 100 * (len(xs) - 1))))] if xs else float("nan")


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--model", default=None, help="a drive model with V, M and C")
    ap.add_argument("--seconds", type=float, default=8.0, help="per phase")
    ap.add_argument("--size", default="1024x700")
    ap.add_argument("--track", type=int, default=3)
    ap.add_argument("--switch-interval", type=float, default=None,
                    help="sys.setswitchinterval in ms for the run (Python's default: 5): how "
                         "long the compute thread may hold the GIL while the window waits")
    args = ap.parse_args()
    if args.switch_interval is not None:
        sys.setswitchinterval(args.switch_interval / 1000)
    load = os.getloadavg()[0]
    model = args.model or "drive.bench-random"
    if args.model is None:
        write_random_model(model)

    from PySide6.QtCore import QElapsedTimer, QEvent, QEventLoop, QObject, Qt, QTimer
    from PySide6.QtWidgets import QApplication

    from studio.ui import theme
    from studio.ui.app import build_window

    app = QApplication(sys.argv[:1])
    theme.apply(app)
    window = build_window("cpu")
    w, h = map(int, args.size.split("x"))
    window.resize(w, h)
    window.show()
    window.switcher.setCurrentRow([c.id for c in window.registry.capabilities].index("drive"))
    panel = window.current_panel()
    panel.tabs.setCurrentIndex(0)
    live = panel.live
    live.model.refresh(model)
    live.track.setValue(args.track)

    class Paints(QObject):
        def __init__(self):
            super().__init__()
            self.count, self.last = 0, None

        def eventFilter(self, watched, event) -> bool:  # noqa: N802
            if event.type() == QEvent.Paint and live.view.image is not self.last:
                self.last = live.view.image
                self.count += 1
            return False

    paints = Paints()
    live.view.installEventFilter(paints)
    rates: list[float] = []
    live.host.jobs.job_preview.connect(
        lambda job, p: rates.append(p.data.get("steps_per_s", 0.0))
        if isinstance(p.data, dict) and p.data.get("steps_per_s") else None)

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

    def run_loop(seconds: float) -> None:
        loop = QEventLoop()
        QTimer.singleShot(int(seconds * 1000), loop.quit)
        loop.exec()

    def phase(seconds: float) -> dict:
        late.clear()
        rates.clear()
        last[0] = 0.0
        paints.count = 0
        cpu, wall = time.process_time(), time.perf_counter()
        clock.start()
        timer.start()
        run_loop(seconds)
        timer.stop()
        wall = time.perf_counter() - wall
        out = {"frames shown per s": round(paints.count / wall, 1),
               "timer lateness ms": {"p50": round(percentile(late, 50), 2),
                                     "p99": round(percentile(late, 99), 2),
                                     "max": round(max(late, default=0.0), 2),
                                     "ticks": len(late)},
               "cpu s per s": round((time.process_time() - cpu) / wall, 2)}
        if rates:
            out["steps per s"] = round(statistics.median(rates), 1)
            # what one idle core would do: the steps over the CPU time the process got
            cpu_share = max(out["cpu s per s"], 1e-3)
            out["steps per cpu s"] = round(out["steps per s"] / cpu_share, 1)
        return out

    def wait_until(cond, timeout: float = 60.0) -> bool:
        end = time.perf_counter() + timeout
        while not cond() and time.perf_counter() < end:
            app.processEvents()
            time.sleep(0.002)
        return cond()

    results: dict = {"window": args.size, "load average before": round(load, 2),
                     "model": model, "cores": os.cpu_count(),
                     "GIL switch interval ms": round(sys.getswitchinterval() * 1000, 2)}
    run_loop(1.0)
    results["idle (baseline)"] = phase(min(args.seconds, 4.0))

    live.speed.setValue(live.speed.maximum() - 4)  # 1x
    assert live.speed_value() == 1.0
    job = live.watch()
    wait_until(lambda: job.state.name == "RUNNING" and live.view.has_frame())
    run_loop(1.0)  # past the first second (the zoom) and the warm-up
    results["watch 1x"] = phase(args.seconds)
    live.speed.setValue(live.speed.maximum())  # as fast as it goes
    run_loop(0.5)
    results["watch max speed"] = phase(args.seconds)
    live.speed.setValue(live.speed.maximum() - 4)
    live.dream()  # from the frame on screen
    wait_until(lambda: live.mode == "dream")
    run_loop(0.5)
    results["dream 1x"] = phase(args.seconds)
    live.dream()  # wake

    # the latent explorer: a paused drive decodes the sliders' values
    live.latents_button.setChecked(True)
    live.pause_button.setChecked(True)
    run_loop(0.5)
    rng = __import__("numpy").random.default_rng(0)

    def round_trips(n: int) -> list[float]:
        out = []
        for _ in range(n):
            before = live.explored_version
            t = time.perf_counter()
            live.explorer.set_values(rng.standard_normal(live.explorer.z_size), emit=True)
            if not wait_until(lambda b=before: live.explored_version != b, 10.0):
                break
            out.append((time.perf_counter() - t) * 1000)
        return out

    trips = round_trips(20)
    results["explorer round trip ms, paused drive"] = {
        "median": round(statistics.median(trips), 1), "max": round(max(trips), 1),
        "trials": len(trips)}
    live.stop()
    wait_until(lambda: job.state.finished, 10.0)
    trips = round_trips(21)  # the first starts drive.explore (loads V): counted apart
    results["explorer round trip ms, drive.explore"] = {
        "first (starts the task)": round(trips[0], 1),
        "median": round(statistics.median(trips[1:]), 1), "max": round(max(trips[1:]), 1),
        "trials": len(trips) - 1}
    live.stop()
    wait_until(lambda: not live.running(), 10.0)

    print(json.dumps(results, indent=2))
    window.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
