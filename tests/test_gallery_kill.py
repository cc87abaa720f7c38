"""A process killed (SIGKILL) in the middle of saving leaves no half entry in the gallery."""

from __future__ import annotations

import hashlib
import json
import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from studio.gallery import RECIPE_SUFFIX, Gallery
from studio.imageio import decode_png

REPO = Path(__file__).resolve().parent.parent
BLOB_BYTES = 3_000_000
IMAGE_SHAPE = (800, 1000, 3)  # random noise: PNG cannot shrink it, about 2.4 MB

# Saves 2-3 MB outputs in a loop (every third one an image), made beforehand so that the time
# goes to saving. Prints "start I KIND" before a save and "saved I" after it.
WRITER = f"""
import sys
import numpy as np
from studio.gallery import Gallery
from studio.tasks import Output

gallery = Gallery(sys.argv[1])
rng = np.random.default_rng(int(sys.argv[2]))
blobs = [rng.bytes({BLOB_BYTES}) for _ in range(2)]
image = rng.integers(0, 256, {IMAGE_SHAPE}, dtype=np.uint8)
i = 0
while True:
    if i % 3 == 2:
        out = Output(image, name=f"image{{i}}")
    else:
        out = Output(blobs[i % 2], name=f"blob{{i}}", suffix=".bin")
    print(f"start {{i}} {{out.kind}}", flush=True)
    gallery.save(out, {{"task": "kill.test", "params": {{"i": i, "run": sys.argv[2]}}, "seed": i}})
    print(f"saved {{i}}", flush=True)
    i += 1
"""

pytestmark = pytest.mark.skipif(not hasattr(signal, "SIGKILL"), reason="needs SIGKILL")


def _run_and_kill(root: Path, run: int, kind: str, fraction: float) -> int:
    """Start a writer and SIGKILL it ``fraction`` of a typical save's duration into a save of
    ``kind`` ("file" or "image"), once two saves of that kind have finished. Returns how many
    saves it reported done."""
    env = dict(os.environ, PYTHONPATH=str(REPO), PYTHONDONTWRITEBYTECODE="1")
    proc = subprocess.Popen([sys.executable, "-c", WRITER, str(root), str(run)],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
    done = 0
    durations: dict[str, list[float]] = {"file": [], "image": []}
    try:
        current, started = "", 0.0
        while True:
            line = proc.stdout.readline()
            if not line:
                raise AssertionError(f"the writer stopped: {proc.stderr.read()}")
            if line.startswith("saved "):
                done += 1
                durations[current].append(time.perf_counter() - started)
            elif line.startswith("start "):
                started, current = time.perf_counter(), line.split()[2]
                if current == kind and len(durations[kind]) >= 2:
                    break
        typical = sorted(durations[kind])[len(durations[kind]) // 2]
        time.sleep(fraction * typical)
        proc.send_signal(signal.SIGKILL)
        rest, _ = proc.communicate(timeout=10)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert proc.returncode == -signal.SIGKILL
    return done + sum(1 for line in rest.splitlines() if line.startswith("saved "))


def _interrupted_writes(root: Path) -> int:
    """Files a cut-off save left behind: temp files, and data files without a recipe."""
    count = 0
    for day in (d for d in root.iterdir() if d.is_dir()):
        names = os.listdir(day)
        stems = {n[:-len(RECIPE_SUFFIX)] for n in names if n.endswith(RECIPE_SUFFIX)}
        count += sum(1 for n in names if n.endswith(".tmp") or (
            not n.endswith(RECIPE_SUFFIX) and n.rsplit(".", 1)[0] not in stems))
    return count


def _check(gallery: Gallery, reported: set[tuple[str, int]]) -> None:
    """Every listed entry is whole, and every save that returned is listed."""
    entries = gallery.entries()
    for entry in entries:
        recipe = json.loads(entry.recipe_path.read_text(encoding="utf-8"))
        assert recipe == entry.recipe
        data = entry.path.read_bytes()
        assert hashlib.sha256(data).hexdigest() == recipe["sha256"], entry.path
        if entry.kind == "image":
            assert decode_png(data).shape == IMAGE_SHAPE
        else:
            assert len(data) == BLOB_BYTES
    listed = {(e.recipe["params"]["run"], e.recipe["params"]["i"]) for e in entries}
    assert reported <= listed
    assert gallery.verify() == []


def test_killed_while_saving_leaves_only_whole_entries(tmp_path):
    root = tmp_path / "gallery"
    rng = random.Random(20240531)
    # Kill points spread over a save: early, middle and late in a file's write, and late in an
    # image's (after its PNG encoding). More rounds only if none caught a write half done.
    plan = [("file", 0.15), ("file", 0.45), ("file", 0.75), ("image", 0.9),
            ("file", rng.random())]
    plan += [("file", rng.uniform(0.1, 0.9)) for _ in range(7)]
    reported: set[tuple[str, int]] = set()
    interrupted = 0
    for run, (kind, fraction) in enumerate(plan):
        if run >= 5 and interrupted:
            break
        count = _run_and_kill(root, run, kind, fraction)
        reported |= {(str(run), i) for i in range(count)}
        interrupted += _interrupted_writes(root) > 0
        with Gallery(root) as gallery:
            _check(gallery, reported)
    assert interrupted, "no kill landed inside a file write; the test proved nothing"

    with Gallery(root) as gallery:
        before = gallery.entries()
        assert gallery.rebuild() == len(before)
        assert gallery.entries() == before
        _check(gallery, reported)
