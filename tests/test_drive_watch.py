"""drive.watch and drive.dream with a tiny random V, M and C (z 4, LSTM 8) in a temporary store:
the panes each frame shows, recording to MP4 and GIF (files a player reads back), the live
controls (pause, single step, the keys, the temperature, dreaming from the frame on screen and
waking, the latent explorer, stop saving the recording), the headless command, bad input."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import cv2
import numpy as np
import pytest
import torch
from PIL import Image

from studio import device as devices
from studio.errors import UserError
from studio.execution import Execution, TaskFailed
from studio.models import ModelStore
from studio.tasks import Controls, Log, Output, Preview
from studio_drive.controller import Controller
from studio_drive.loading import save_part
from studio_drive.mdnrnn import MDNRNN
from studio_drive.record import Recorder, compose
from studio_drive.vae import VAE
from studio_drive.watch import DREAM, WATCH, track_of

CPU = devices.DeviceInfo("cpu", "1 thread", 1)
CONFIG = {"z_size": 4, "hidden": 8, "gaussians": 2, "actions": 3}
ROOT = Path(__file__).resolve().parent.parent


def write_model(root: Path, model_id: str = "drive.tiny", controller: bool = True) -> None:
    torch.manual_seed(0)
    nets = {"vae": VAE(4).state_dict(), "mdnrnn": MDNRNN(4, 3, 8, 2).state_dict()}
    for part, state in nets.items():
        save_part(root, model_id, part, state, CONFIG, {"command": "test"})
    if controller:
        c = Controller.from_flat(np.random.default_rng(1).normal(0, 0.5, 3 * 12 + 3), 4, 8)
        save_part(root, model_id, "controller", {"weight": c.weight, "bias": c.bias}, CONFIG,
                  {"command": "test"})


@pytest.fixture(scope="module")
def store(tmp_path_factory) -> ModelStore:
    root = tmp_path_factory.mktemp("models")
    write_model(root)
    write_model(root, "drive.no-c", controller=False)
    return ModelStore([root])


@pytest.fixture(autouse=True)
def one_thread():
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def run(task, values: dict, store: ModelStore, seed: int = 3, controls: Controls | None = None,
        on_event=lambda e, events: None) -> list:
    """The task's events; ``on_event(event, events)`` plays the panel (it may set controls)."""
    events: list = []

    def seen(e, saved) -> None:
        events.append(e)
        on_event(e, events)

    Execution(task, task.make_params(values), CPU, seed=seed, models=store,
              controls=controls or Controls()).run(seen)
    return events


def frames(events: list) -> list[dict]:
    return [e.data for e in events if isinstance(e, Preview)]


def outputs(events: list) -> list[Output]:
    return [e for e in events if isinstance(e, Output)]


def read_video(data: bytes, suffix: str, tmp_path: Path) -> list[np.ndarray]:
    path = tmp_path / f"video{suffix}"
    path.write_bytes(data)
    if suffix == ".gif":
        im = Image.open(path)
        out = []
        for i in range(im.n_frames):
            im.seek(i)
            out.append(np.asarray(im.convert("RGB")))
        return out
    cap = cv2.VideoCapture(str(path))
    out = []
    while True:
        ok, f = cap.read()
        if not ok:
            return out
        out.append(f)


# --- watching -----------------------------------------------------------------------------


def test_each_frame_shows_the_track_what_it_sees_and_what_it_expects(store):
    controls = Controls()
    controls.set(view=(200, 160))
    events = run(WATCH, {"model": "drive.tiny", "steps": 12}, store, controls=controls)
    shown = frames(events)
    first = shown[0]
    assert first["mode"] == "track" and first["track"] == 3 and first["step"] == 0
    # the track drawn at the panel's size, ready for the screen (B, G, R, 255)
    assert first["screen"].shape == (160, 200, 4) and first["screen"].dtype == np.uint8
    assert (first["screen"][..., 3] == 255).all()
    for pane in ("input", "reconstruction", "prediction"):
        assert first[pane].shape == (64, 64, 3) and first[pane].dtype == np.uint8
    assert len(first["z"]) == 4 and first["driver"] == "agent"
    # the agent's own action (C on [z, h]), gas and brake in [0, 1]
    steer, gas, brake = first["action"]
    assert -1 <= steer <= 1 and 0 <= gas <= 1 and 0 <= brake <= 1
    last = shown[-1]
    assert last["ended"] == "12 steps" and last["step"] == 12
    assert len(last["scores"]) == 12 and last["scores"][-1] == pytest.approx(last["score"])
    # as fast as it goes (the command line's default): no more than 60 frames a second drawn,
    # but every step before the end was driven
    assert [d["step"] for d in shown if "input" in d] == sorted({d["step"] for d in shown
                                                                 if "input" in d})
    assert any("track 3: score" in e.message for e in events if isinstance(e, Log))


def test_the_same_seed_drives_the_same_track_the_same_way(store):
    a = frames(run(WATCH, {"model": "drive.tiny", "steps": 8}, store, seed=11))[-1]
    b = frames(run(WATCH, {"model": "drive.tiny", "steps": 8}, store, seed=11))[-1]
    c = frames(run(WATCH, {"model": "drive.tiny", "steps": 8}, store, seed=12))[-1]
    assert a["track"] == 11 and c["track"] == 12
    np.testing.assert_array_equal(a["scores"], b["scores"])
    assert not np.array_equal(a["screen"], c["screen"])  # another track


@pytest.mark.parametrize("fmt, count", [("mp4", 20), ("gif", 10)])
def test_a_recording_is_a_video_a_player_reads(store, tmp_path, fmt, count):
    events = run(WATCH, {"model": "drive.tiny", "steps": 20, "record": fmt}, store)
    (out,) = outputs(events)
    assert out.suffix == f".{fmt}" and out.name == "drive.tiny track 3 steps 0-20"
    video = read_video(out.data, out.suffix, tmp_path)
    assert len(video) == count  # MP4 at 50 frames/s; GIF at 25 (every second step)
    h, w = video[0].shape[:2]
    assert (w, h) == ((668, 432) if fmt == "mp4" else (372, 240))
    assert video[0].std() > 5  # a picture, not a blank frame
    assert any("recorded" in e.message for e in events if isinstance(e, Log))


def test_each_pane_alone_records_at_its_own_shape(tmp_path):
    rng = np.random.default_rng(0)
    panes = {"view": rng.integers(0, 255, (160, 200, 3), np.uint8),
             **{k: rng.integers(0, 255, (64, 64, 3), np.uint8)
                for k in ("input", "reconstruction", "prediction")}}
    assert compose(panes, "view", 240).shape == (240, 300, 3)
    square = compose(panes, "input", 240)
    assert square.shape == (240, 228, 3)  # the pane (228 px) over its caption (12 px)
    # the agent's 64x64 pixels are blown up sharp, not blurred
    assert (square[:3, :3] == panes["input"][0, 0]).all()
    with pytest.raises(ValueError, match="unknown pane"):
        compose(panes, "radar")
    rec = Recorder(tmp_path / "x.gif", "gif", 50)
    assert rec.close() is None  # nothing recorded, no file


# --- the panel's controls -----------------------------------------------------------------


def test_pause_single_steps_and_the_keys_take_the_wheel(store):
    controls = Controls()
    script = {"paused": False, "stepped": 0}

    def panel(e, events) -> None:
        if not isinstance(e, Preview):
            return
        d = e.data
        if not script["paused"] and d["step"] == 3:
            script["paused"] = True
            controls.send("pause", True)
            controls.set(human=(-1.0, 0.5, 0.0))
            controls.send("step")
        elif d["paused"] and script["stepped"] < 2 and "input" in d:
            script["stepped"] += 1
            controls.send("step")
        elif script["stepped"] == 2 and d["paused"]:
            script["stepped"] = 3
            controls.set(human=None)  # the agent takes back the wheel
            controls.send("pause", False)

    events = run(WATCH, {"model": "drive.tiny", "steps": 10, "speed": 1}, store,
                 controls=controls, on_event=panel)
    shown = [d for d in frames(events) if "input" in d]
    yours = [d for d in shown if d["driver"] == "you"]
    # three single steps while paused, each shown, each driven by the keys
    assert [d["step"] for d in yours] == [4, 5, 6]
    assert all(d["paused"] and d["action"] == [-1.0, 0.5, 0.0] for d in yours)
    after = [d for d in shown if d["step"] > 6]
    assert after and all(d["driver"] == "agent" and not d["paused"] for d in after)
    assert shown[-1]["step"] == 9


def test_dreaming_from_the_frame_on_screen_then_waking_to_the_track(store):
    controls = Controls()
    state = {"asked": False, "woke": False}

    def panel(e, events) -> None:
        if not isinstance(e, Preview):
            return
        d = e.data
        if d["mode"] == "track" and d["step"] == 4 and not state["asked"]:
            state["asked"] = True
            controls.set(tau=1.7)
            controls.send("dream")
        elif d["mode"] == "dream" and d["step"] == 5 and not state["woke"]:
            state["woke"] = True
            controls.send("wake")

    events = run(WATCH, {"model": "drive.tiny", "steps": 8, "speed": 1}, store,
                 controls=controls, on_event=panel)
    modes = [(d["mode"], d["step"]) for d in frames(events) if "z" in d]
    dream = [d for d in frames(events) if d["mode"] == "dream" and "dream" in d]
    assert dream and dream[0]["start"].shape == (64, 64, 3)
    assert dream[0]["dream"].shape == (64, 64, 3) and dream[0]["tau"] == 1.7
    assert all(0 <= d["done"] <= 1 for d in dream)
    i = modes.index(("dream", 0))
    assert modes[i - 1] == ("track", 4)  # dreamt from the frame on screen
    assert modes[i + 6] == ("track", 5)  # and woke where the track was left
    assert modes[-1] == ("track", 7)


def test_the_explorer_decodes_what_the_sliders_say(store):
    from studio_drive.loading import load_world_model
    from studio_drive.mind import Mind

    controls = Controls()
    z = [0.5, -1.0, 2.0, 0.0]

    def panel(e, events) -> None:
        if isinstance(e, Preview) and e.data["step"] == 2 and e.data["explored"] is None:
            controls.send("decode", [9.0])  # the wrong length is ignored
            controls.send("decode", z)

    events = run(WATCH, {"model": "drive.tiny", "steps": 5, "speed": 1}, store,
                 controls=controls, on_event=panel)
    explored = [d["explored"] for d in frames(events) if d["explored"] is not None]
    assert explored and explored[0]["z"] == z and explored[0]["version"] == 1

    class Ctx:
        device, models, models_used = "cpu", store, []

        def load_model(self, mid):
            return store.load(mid, device="cpu")

    _, vae, m, c = load_world_model(Ctx(), "drive.tiny")
    with torch.inference_mode():
        expected = Mind(vae, m, c, bf16=False).decode(np.array([z]))[0]
    assert np.abs(explored[0]["image"].astype(int) - expected).max() <= 8  # bf16 or not


def test_stop_ends_the_run_and_keeps_the_recording(store, tmp_path):
    controls = Controls()

    def panel(e, events) -> None:
        if isinstance(e, Preview) and e.data["step"] == 1 and e.data["recording"] is None:
            controls.send("record", "mp4")
        if isinstance(e, Preview) and e.data["step"] == 6:
            controls.send("stop")

    events = run(WATCH, {"model": "drive.tiny", "steps": 1000, "episodes": 3, "speed": 1},
                 store, controls=controls, on_event=panel)
    (out,) = outputs(events)
    # from the step after it was asked (step 1 was on screen) to the stop: steps 2 to 6
    assert out.name == "drive.tiny track 3 steps 2-7"
    assert len(read_video(out.data, ".mp4", tmp_path)) == 5
    assert max(d["step"] for d in frames(events)) <= 7


# --- the dream ----------------------------------------------------------------------------


def test_a_dream_from_nothing_follows_the_temperature_and_records(store, tmp_path):
    controls = Controls()

    def panel(e, events) -> None:
        if isinstance(e, Preview) and e.data["step"] == 3:
            controls.set(tau=0.0)

    events = run(DREAM, {"model": "drive.tiny", "start": "nothing", "steps": 8, "tau": 1.3,
                         "record": "gif", "speed": 1}, store, controls=controls,
                 on_event=panel)
    shown = [d for d in frames(events) if "dream" in d]
    assert shown[0]["mode"] == "dream" and "start" not in shown[0]
    assert shown[0]["tau"] == 1.3 and shown[-1]["tau"] == 0.0
    assert len(shown[-1]["dones"]) == shown[-1]["step"]
    assert shown[-1]["score"] == pytest.approx(float(np.sum(np.diff(
        np.concatenate([[0.0], shown[-1]["scores"]])))), abs=1e-4)
    (out,) = outputs(events)
    assert out.suffix == ".gif" and out.name.startswith("drive.tiny dream steps 0-")
    assert read_video(out.data, ".gif", tmp_path)[0].shape[0] == 240


def test_a_dream_from_a_track_starts_where_the_agent_got_to(store):
    events = run(DREAM, {"model": "drive.tiny", "start": "track", "after": 5, "steps": 4,
                         "speed": 1}, store, seed=7)
    first = next(d for d in frames(events) if "dream" in d)
    watch = frames(run(WATCH, {"model": "drive.tiny", "steps": 6, "speed": 1}, store,
                       seed=7))
    at5 = next(d for d in watch if d["step"] == 5 and "input" in d)
    np.testing.assert_array_equal(first["start"], at5["input"])  # the frame the agent reached


def test_a_model_without_a_controller_dreams_and_says_nobody_drives(store):
    events = run(DREAM, {"model": "drive.no-c", "start": "nothing", "steps": 3}, store)
    assert any(e.level == "warning" and "no controller" in e.message for e in events
               if isinstance(e, Log))
    assert frames(events)[-1]["action"] == [0.0, 0.0, 0.0]


# --- bad input and the command line -------------------------------------------------------


def _refused(task, values: dict, store: ModelStore, seed: int = 3) -> str:
    with pytest.raises(TaskFailed) as info:
        run(task, values, store, seed=seed)
    assert info.value.bad_input
    return str(info.value)


def test_bad_input_is_one_line(store):
    assert "no controller (C) yet" in _refused(WATCH, {"model": "drive.no-c"}, store)
    assert "drive.train-controller" in _refused(WATCH, {"model": "drive.no-c"}, store)
    assert "drive.nowhere" in _refused(WATCH, {"model": "drive.nowhere"}, store)
    line = _refused(WATCH, {"model": "drive.tiny"}, store, seed=2**32)
    assert line == "--seed 4294967296: a track seed is a whole number from 0 to 4294967295"
    with pytest.raises(UserError, match="with 2 episodes"):
        track_of(2**32 - 1, 2)


def test_the_command_line_records_one_drive_headless(tmp_path):
    """`studio run drive.watch --seed 3 --record mp4 --steps N`: drives, records, exits."""
    import os

    data = tmp_path / "data"
    write_model(data / "models")
    env = {**os.environ, "STUDIO_DATA_DIR": str(data), "QT_QPA_PLATFORM": "offscreen"}
    out = tmp_path / "out"
    proc = subprocess.run(
        [sys.executable, "-c", "from studio.cli import main; main()", "run", "drive.watch",
         "--model", "drive.tiny", "--seed", "3", "--record", "mp4", "--steps", "15",
         "--out", str(out)],
        capture_output=True, text=True, env=env, cwd=ROOT, timeout=120)
    assert proc.returncode == 0, proc.stderr
    (video,) = out.glob("*.mp4")
    assert proc.stdout.strip().endswith(video.name)
    assert "track 3: score" in proc.stderr
    assert len(read_video(video.read_bytes(), ".mp4", tmp_path)) == 15
    recipe = (out / (video.name + ".recipe.json")).read_text()
    assert '"task": "drive.watch"' in recipe and '"seed": 3' in recipe


def test_video_bytes_are_what_the_recorder_wrote(tmp_path):
    rec = Recorder(tmp_path / "a.mp4", "mp4", 50)
    for i in range(5):
        rec.add(np.full((100, 120, 3), 40 * i, np.uint8))
    rec.add(np.zeros((50, 60, 3), np.uint8))  # another size is fitted to the first
    assert rec.close() == tmp_path / "a.mp4" and rec.frames == 6
    video = read_video((tmp_path / "a.mp4").read_bytes(), ".mp4", tmp_path)
    assert [int(round(f.mean() / 40)) for f in video] == [0, 1, 2, 3, 4, 0]
    with pytest.raises(ValueError, match="uint8"):
        Recorder(tmp_path / "b.gif", "gif").add(np.zeros((8, 8), np.float32))


# --- the latent explorer's task -----------------------------------------------------------


def test_explore_decodes_a_latent_and_saves_it_large(store):
    from studio_drive.explore import EXPLORE

    events = run(EXPLORE, {"model": "drive.tiny", "latent": "1.5, -2"}, store)
    (shown,) = frames(events)
    assert shown["explored"]["z"] == [1.5, -2.0, 0.0, 0.0]  # padded with zeros
    (out,) = outputs(events)
    assert out.data.shape == (256, 256, 3)  # each of the 64x64 pixels 4x4
    np.testing.assert_array_equal(out.data[::4, ::4], shown["explored"]["image"])
    assert out.name == "drive.tiny z 1.50 -2.00 0.00 0.00"


def test_explore_lingers_decoding_what_the_sliders_send(store):
    from studio_drive.explore import EXPLORE

    controls = Controls()
    sent = iter([[0.0, 1.0, 0.0, 0.0], [3.0, 0.0, 0.0, -1.0]])

    def panel(e, events) -> None:
        if isinstance(e, Preview):
            nxt = next(sent, None)
            if nxt is None:
                controls.send("stop")
            else:
                controls.send("decode", nxt)

    events = run(EXPLORE, {"model": "drive.tiny", "linger": 60, "save": False}, store,
                 controls=controls, on_event=panel)
    zs = [d["explored"]["z"] for d in frames(events)]
    assert zs == [[0.0] * 4, [0.0, 1.0, 0.0, 0.0], [3.0, 0.0, 0.0, -1.0]]
    assert not outputs(events)


def test_explore_refuses_a_bad_latent_in_one_line(store):
    from studio_drive.explore import EXPLORE

    assert _refused(EXPLORE, {"model": "drive.tiny", "latent": "1, x"}, store) == \
        "--latent: 'x' is not a number"
    assert _refused(EXPLORE, {"model": "drive.tiny", "latent": "1 2 3 4 5"}, store) == \
        "--latent: 5 values for a z of 4"
