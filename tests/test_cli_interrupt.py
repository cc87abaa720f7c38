"""Ctrl-C in `studio run`: the task is cancelled cleanly, nothing is saved, exit status 130."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time


def test_ctrl_c_cancels_a_running_task(testkit, tmp_path):
    env = dict(os.environ, PYTHONPATH=testkit, STUDIO_DATA_DIR=str(tmp_path / "data"))
    p = subprocess.Popen([sys.executable, "-m", "studio.cli", "run", "testkit.spin",
                          "--seconds", "60"], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                         env=env, text=True)
    deadline = time.monotonic() + 30
    seen = ""
    while "products" not in seen and time.monotonic() < deadline:  # wait until it computes
        seen += p.stderr.read(1)
    p.send_signal(signal.SIGINT)
    out, err = p.communicate(timeout=20)
    assert p.returncode == 130
    assert err.strip().endswith("studio: cancelled")
    assert "Traceback" not in err
    assert out == ""
    assert not list((tmp_path / "data").glob("gallery/*/*.txt"))
