"""The drive plugin's data pipeline: collecting rollouts (in the task's process and in worker
processes, resumably), the rollout files and what a damaged one says, and the streaming
samplers that feed V and M. Real CarRacing episodes of a few dozen steps."""

from __future__ import annotations

import os
import zipfile
from pathlib import Path

import numpy as np
import pytest

from studio import device as devices
from studio.errors import UserError
from studio.execution import Execution, TaskFailed
from studio.models import ModelStore
from studio.tasks import Log, Output, Preview
from studio_drive.collect import COLLECT, BrownianPolicy, derived_seed, make_env, run_episode
from studio_drive.collect import EpisodeJob as Job
from studio_drive.frames import to_input
from studio_drive.rollouts import (
    FrameSampler,
    RolloutError,
    SequenceSampler,
    iter_rollouts,
    read_rollout,
    rollout_files,
    rollout_name,
    write_rollout,
)

CPU = devices.pick("cpu")
STEPS = 30


def run(task, values: dict, store: ModelStore | None = None, seed: int = 0) -> list:
    events: list = []
    Execution(task, task.make_params(values), CPU, seed=seed, models=store).run(
        lambda e, s: events.append(e), lambda: False)
    return events


def fails(task, values: dict, store: ModelStore | None = None) -> str:
    with pytest.raises(TaskFailed) as err:
        run(task, values, store)
    assert err.value.bad_input and "\n" not in str(err.value)
    return str(err.value)


@pytest.fixture(scope="module")
def collected(tmp_path_factory) -> tuple[Path, list]:
    """Two 30-step episodes of the stock game, collected in the task's own process."""
    folder = tmp_path_factory.mktemp("rollouts")
    events = run(COLLECT, {"data": folder, "episodes": 2, "max_steps": STEPS, "workers": 1,
                           "renderer": "stock", "policy": "brownian"}, seed=5)
    return folder, events


def fake_episode(folder: Path, index: int, length: int, shade: int = 0) -> Path:
    """An episode whose frame t is filled with the value t (plus ``shade``), so that a sample
    tells where it came from."""
    frames = np.zeros((length, 64, 64, 3), np.uint8) + (np.arange(length) + shade
                                                          ).astype(np.uint8)[:, None, None, None]
    actions = np.stack([np.full(length, index, np.float32), np.arange(length, dtype=np.float32),
                        np.zeros(length, np.float32)], 1)
    dones = np.zeros(length, bool)
    dones[-1] = True
    return write_rollout(folder, index, frames, actions, np.arange(length, dtype=np.float32),
                         dones, seed=100 + index, policy="test")


# --- collecting -------------------------------------------------------------------------------


def test_collect_writes_readable_rollouts_with_seeds_from_the_run(collected):
    folder, events = collected
    files = rollout_files(folder)
    assert [f.name for f in files] == [rollout_name(0), rollout_name(1)]
    for i, f in enumerate(files):
        ep = read_rollout(f)
        assert len(ep) == STEPS and ep.frames.shape == (STEPS, 64, 64, 3)
        assert ep.frames.dtype == np.uint8 and ep.frames.std() > 10  # a picture, not a blank
        assert ep.actions.shape == (STEPS, 3) and ep.rewards.shape == (STEPS,)
        assert ep.actions[:, 0].min() >= -1 and ep.actions[:, 1:].min() >= 0
        assert not ep.dones.any()  # cut at --max-steps: a time limit is no end
        assert ep.seed == derived_seed(5, "track", i) and ep.policy == "brownian"
        assert ep.rewards[0] > 0  # the first tile, under the car at the start, pays
    report = next(e for e in events if isinstance(e, Output)).data
    assert "2 episodes collected" in report and "policy brownian" in report
    assert any(isinstance(e, Preview) and e.data.ndim == 3 for e in events)


def test_a_rollout_holds_what_the_car_saw_before_each_action(tmp_path):
    job = Job(str(tmp_path), 0, 11, 3, "brownian", 12, "stock")
    run_episode(job, lambda: False)
    ep = read_rollout(tmp_path / rollout_name(0))
    env = make_env("stock")
    obs, _ = env.reset(seed=11)
    policy = BrownianPolicy(np.random.default_rng(3))
    for t in range(12):
        np.testing.assert_array_equal(ep.frames[t], to_input(obs))
        action = policy(obs, env.unwrapped)
        np.testing.assert_array_equal(ep.actions[t], action)
        obs, reward, *_ = env.step(action)
        assert ep.rewards[t] == pytest.approx(reward)


def test_collect_resumes_keeping_the_rollouts_on_disk(collected, tmp_path):
    folder, _ = collected
    for f in rollout_files(folder):
        (tmp_path / f.name).write_bytes(f.read_bytes())
    before = {f.name: f.stat().st_mtime_ns for f in rollout_files(tmp_path)}
    (tmp_path / ".rollout-000002.npz.abc.tmp").write_bytes(b"half")  # a worker stopped there
    events = run(COLLECT, {"data": tmp_path, "episodes": 3, "max_steps": 10, "workers": 1,
                           "renderer": "stock"}, seed=5)
    assert any(isinstance(e, Log) and "2 of the 3 episodes are already" in e.message
               for e in events)
    files = rollout_files(tmp_path)
    assert len(files) == 3 and not list(tmp_path.glob(".*.tmp"))
    assert {f.name: f.stat().st_mtime_ns for f in files[:2]} == before
    assert read_rollout(files[2]).seed == derived_seed(5, "track", 2)
    events = run(COLLECT, {"data": tmp_path, "episodes": 3, "workers": 1}, seed=6)
    assert "already holds the 3 episodes" in next(e for e in events if isinstance(e, Output)
                                                  ).data


def test_collect_in_worker_processes(tmp_path):
    events = run(COLLECT, {"data": tmp_path, "episodes": 3, "max_steps": 8, "workers": 2,
                           "policy": "pursuit"}, seed=9)
    files = rollout_files(tmp_path)
    assert len(files) == 3
    assert {read_rollout(f).seed for f in files} == {derived_seed(9, "track", i)
                                                     for i in range(3)}
    assert all(read_rollout(f).policy == "pursuit" for f in files)
    assert "2 workers" in next(e for e in events if isinstance(e, Output)).data


def test_collect_refuses_bad_input(tmp_path, user_data):
    afile = tmp_path / "a.txt"
    afile.write_text("x")
    assert "is a file, not a folder" in fails(COLLECT, {"data": afile})
    assert "give it with --model" in fails(COLLECT, {"data": tmp_path, "policy": "agent"})
    assert "only with --policy agent" in fails(COLLECT, {"data": tmp_path, "model": "x"})
    store = ModelStore([tmp_path / "models"])
    assert "unknown model 'nope'" in fails(COLLECT, {"data": tmp_path, "policy": "agent",
                                                     "model": "nope"}, store)


def test_collect_with_a_trained_agent_at_the_wheel(tmp_path):
    import torch

    from studio_drive.controller import Controller
    from studio_drive.loading import save_part
    from studio_drive.mdnrnn import MDNRNN
    from studio_drive.vae import VAE

    config = {"z_size": 4, "hidden": 8, "gaussians": 2, "actions": 3}
    root = tmp_path / "models"
    save_part(root, "tiny", "vae", VAE(4).state_dict(), config, {})
    save_part(root, "tiny", "mdnrnn", MDNRNN(4, 3, 8, 2).state_dict(), config, {})
    store = ModelStore([root])
    assert "has no controller (C) yet" in fails(
        COLLECT, {"data": tmp_path / "r", "policy": "agent", "model": "tiny"}, store)
    c = Controller(4, 8)
    c.bias += 0.5  # whatever it sees: steer tanh(0.5), gas (tanh(0.5) + 1) / 2, brake tanh(0.5)
    save_part(root, "tiny", "controller", {"weight": c.weight, "bias": c.bias}, config, {})
    run(COLLECT, {"data": tmp_path / "r", "episodes": 1, "max_steps": 5, "workers": 1,
                  "renderer": "stock", "policy": "agent", "model": "tiny"}, store)
    ep = read_rollout(tmp_path / "r" / rollout_name(0))
    assert ep.policy == "agent:tiny" and len(ep) == 5
    t = float(torch.tanh(torch.tensor(0.5)))
    np.testing.assert_allclose(ep.actions, [[t, (t + 1) / 2, t]] * 5, rtol=1e-6)


# --- rollout files ----------------------------------------------------------------------------


def test_damaged_rollouts_are_named_in_one_line(tmp_path):
    good = fake_episode(tmp_path, 0, 5)
    truncated = tmp_path / rollout_name(1)
    truncated.write_bytes(good.read_bytes()[:-100])
    (tmp_path / rollout_name(2)).write_bytes(b"not a zip file at all")
    partial = tmp_path / rollout_name(3)
    with zipfile.ZipFile(partial, "w") as z, z.open("actions.npy", "w") as f:  # fields missing
        np.lib.format.write_array(f, np.zeros((5, 3), np.float32))
    wrong = tmp_path / rollout_name(4)
    np.savez(wrong, frames=np.zeros((5, 64, 64, 3), np.uint8), actions=np.zeros((4, 3)),
             rewards=np.zeros(5), dones=np.zeros(5, bool), seed=1, policy="x")
    for path, why in ((truncated, "cannot be read"), (tmp_path / rollout_name(2),
                                                      "cannot be read"),
                      (partial, "missing frames"), (wrong, "not a whole episode")):
        with pytest.raises(RolloutError) as err:
            read_rollout(path)
        message = str(err.value)
        assert str(path) in message and why in message and "\n" not in message
    with pytest.raises(RolloutError, match=rollout_name(1)):
        list(iter_rollouts(tmp_path))
    skipped: list[Path] = []
    eps = list(iter_rollouts(tmp_path, on_error=lambda p, m: skipped.append(p)))
    assert len(eps) == 1 and eps[0].seed == 100 and len(skipped) == 4


def test_a_rollout_is_read_without_pickles_and_frames_on_demand(tmp_path):
    path = fake_episode(tmp_path, 7, 6)
    with np.load(path, allow_pickle=False) as z:  # plain arrays only
        assert sorted(z.files) == sorted(["frames", "actions", "rewards", "dones", "seed",
                                          "policy"])
    light = read_rollout(path, frames=False)
    assert light.frames is None and len(light) == 6 and light.score == 15.0
    with pytest.raises(ValueError, match="a rollout needs"):
        write_rollout(tmp_path, 8, np.zeros((3, 64, 64, 3)), np.zeros((2, 3)), np.zeros(3),
                      np.zeros(3), 0)


def test_empty_or_missing_folders_are_refused(tmp_path):
    with pytest.raises(UserError, match="holds no rollouts"):
        rollout_files(tmp_path)
    with pytest.raises(UserError, match="is not a folder of rollouts"):
        rollout_files(tmp_path / "nowhere")


# --- streaming --------------------------------------------------------------------------------


def test_frame_batches_stream_through_a_small_buffer(tmp_path):
    files = [fake_episode(tmp_path, i, 10, shade=10 * i) for i in range(6)]  # frame 10 i + t
    sampler = FrameSampler(files, 8, np.random.default_rng(0), buffer=2)
    seen = set()
    for _ in range(40):
        batch = next(sampler)
        assert batch.shape == (8, 64, 64, 3) and batch.dtype == np.uint8
        assert len(sampler.buf.episodes) == 2  # never more in memory
        seen.update(int(v) for v in batch[:, 0, 0, 0])
    assert {v // 10 for v in seen} == set(range(6))  # every episode came by
    assert len(seen) > 45  # and most of their 60 frames


def test_a_damaged_file_is_skipped_with_a_warning_while_streaming(tmp_path):
    files = [fake_episode(tmp_path, i, 10) for i in range(3)]
    files[1].write_bytes(b"garbage")
    warned: list[str] = []
    sampler = FrameSampler(files, 4, np.random.default_rng(0), buffer=8,
                           on_error=lambda p, m: warned.append(m))
    next(sampler)
    assert len(warned) == 1 and str(files[1]) in warned[0]
    assert len(sampler.buf.episodes) == 2
    for f in files:
        f.write_bytes(b"garbage")
    with pytest.raises(UserError, match="none of the 3 rollout files could be read"):
        FrameSampler(files, 4, np.random.default_rng(0), on_error=lambda p, m: None)


def latents_of(path: Path) -> dict[str, np.ndarray]:
    ep = read_rollout(path)
    mu = ep.frames[:, 0, 0, :2].astype(np.float32)  # t, t
    return {"mu": mu, "logvar": -mu, "actions": ep.actions, "rewards": ep.rewards,
            "dones": ep.dones}


def test_sequence_windows_line_up_and_mask_the_ends(tmp_path):
    files = [fake_episode(tmp_path, 0, 12), fake_episode(tmp_path, 1, 3)]
    sampler = SequenceSampler(files, latents_of, 16, 5, np.random.default_rng(1), buffer=4)
    batch = next(sampler)
    assert batch.mu.shape == (16, 6, 2) and batch.actions.shape == (16, 5, 3)
    for i in range(16):
        n = int(batch.mask[i].sum())
        start = batch.actions[i, 0, 1]  # the step the window starts at
        episode = int(batch.actions[i, 0, 0])
        length = 12 if episode == 0 else 3
        assert n == min(5, length - start) and batch.mask[i, :n].all()
        np.testing.assert_array_equal(batch.actions[i, :n, 1], start + np.arange(n))
        np.testing.assert_array_equal(batch.mu[i, :n, 0], start + np.arange(n))  # frame t
        last = start + np.arange(n) == length - 1
        np.testing.assert_array_equal(batch.next_mask[i, :n], ~last)  # the end has no next
        np.testing.assert_array_equal(batch.dones[i, :n], last)
        if not last.any():  # the frame after the window is there to predict
            assert batch.mu[i, n, 0] == start + n
    assert {int(a) for a in batch.actions[:, 0, 0]} == {0, 1}


def test_collected_rollouts_are_compact(collected):
    folder, _ = collected
    size = sum(os.path.getsize(f) for f in rollout_files(folder))
    raw = 2 * STEPS * 64 * 64 * 3
    assert size < raw / 2  # compressed: well under the raw frames
