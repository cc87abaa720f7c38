"""Start-up figures: `studio --version` wall time and launch-to-painted-window time, each next to
a baseline measured in the same run (bare Python; a bare PySide6 window). Prints JSON.

    python benchmarks/startup.py [--runs 10]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent

BARE_WINDOW = """
import sys, time
from PySide6.QtCore import QEvent, QObject, QTimer
from PySide6.QtWidgets import QApplication, QLabel
app = QApplication(sys.argv[:1])
w = QLabel("hello")
class F(QObject):
    def eventFilter(self, o, e):
        if e.type() == QEvent.Paint:
            print("painted", flush=True)
            QTimer.singleShot(0, app.quit)
        return False
f = F(); w.installEventFilter(f); w.show(); app.exec()
"""


def wall(cmd: list[str], env: dict | None = None) -> float:
    t = time.perf_counter()
    subprocess.run(cmd, check=True, capture_output=True, env=env)
    return time.perf_counter() - t


def time_to_line(cmd: list[str], env: dict, word: str = "painted", timeout: float = 60) -> float:
    t = time.perf_counter()
    p = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, env=env, text=True)
    try:
        for line in p.stdout:
            if line.startswith(word):
                return time.perf_counter() - t
        raise RuntimeError(f"{cmd} ended without printing {word!r}")
    finally:
        p.kill()
        p.wait(timeout)


def summary(xs: list[float]) -> dict:
    return {"median_s": round(statistics.median(xs), 4), "min_s": round(min(xs), 4),
            "max_s": round(max(xs), 4), "runs": len(xs)}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--runs", type=int, default=10)
    args = ap.parse_args()
    studio = str(BIN / "studio") if (BIN / "studio").exists() else None
    version_cmd = [studio, "--version"] if studio else [sys.executable, "-m", "studio.cli",
                                                        "--version"]
    env = dict(os.environ)
    if not env.get("DISPLAY"):
        env.setdefault("QT_QPA_PLATFORM", "offscreen")
    env["STUDIO_DATA_DIR"] = tempfile.mkdtemp(prefix="studio-bench-")
    probe = subprocess.run(
        [sys.executable, "-c", "import sys; from studio.cli import main; main(['--version']); "
         "print('torch' in sys.modules, any(m.startswith('PySide6') for m in sys.modules))"],
        capture_output=True, text=True, check=True).stdout.split()
    version = [wall(version_cmd) for _ in range(args.runs)]
    python = [wall([sys.executable, "-c", "pass"]) for _ in range(args.runs)]
    paint_env = dict(env, STUDIO_REPORT_PAINT="1", STUDIO_QUIT_AFTER_PAINT="1")
    n = max(3, args.runs // 2)
    window = [time_to_line([sys.executable, "-m", "studio.cli"], paint_env) for _ in range(n)]
    bare = [time_to_line([sys.executable, "-c", BARE_WINDOW], env) for _ in range(n)]
    out = {
        "studio --version": summary(version),
        "baseline: python -c pass": summary(python),
        "version imports torch": probe[-2] == "True",
        "version imports Qt": probe[-1] == "True",
        "launch to painted window": summary(window),
        "baseline: bare PySide6 window to first paint": summary(bare),
        "platform": env.get("QT_QPA_PLATFORM") or f"xcb on {env['DISPLAY']}",
        "ratio window/bare": round(statistics.median(window) / statistics.median(bare), 2),
    }
    print(json.dumps(out, indent=2))


if __name__ == "__main__":
    main()
