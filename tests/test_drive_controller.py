"""The drive agent, CMA-ES controller training and evaluation, with tiny random V, M and C
(z 4, LSTM 8) on 30-50-step episodes: lockstep rollouts score as one-at-a-time ones, the
executors (in process, local processes, a local Ray instance) agree, a run stopped at any
moment resumes to the same result, evaluate writes its CSV, bad input gets one line."""

from __future__ import annotations

import csv
import io
import json
import time
from pathlib import Path

import gymnasium
import numpy as np
import pytest
import torch

from studio import device as devices
from studio.errors import UserError
from studio.execution import Execution, TaskFailed
from studio.models import ModelStore
from studio.tasks import Cancelled, Log, Output, Preview, Progress
from studio_drive import agent as agents
from studio_drive.controller import Controller
from studio_drive.evaluate import EVALUATE, SEED_BASE, parse_tracks
from studio_drive.executors import InProcessExecutor, LocalExecutor, make_executor
from studio_drive.loading import save_part
from studio_drive.mdnrnn import MDNRNN
from studio_drive.train_controller import (
    STATE_DIR,
    TRAIN_CONTROLLER,
    es_state,
    new_es,
    restore_es,
)
from studio_drive.vae import VAE

CPU = devices.DeviceInfo("cpu", "1 thread", 1)  # the tasks run in this process, one thread
CONFIG = {"z_size": 4, "hidden": 8, "gaussians": 2, "actions": 3}
N_PARAMS = 3 * (4 + 8) + 3
TINY = {"popsize": 4, "rollouts": 1, "eval_rollouts": 1, "max_steps": 30, "workers": 1}


def networks(seed: int = 0) -> tuple[VAE, MDNRNN]:
    torch.manual_seed(seed)
    return VAE(4).eval(), MDNRNN(4, 3, 8, 2).eval()


def write_model(root: Path, model_id: str = "drive.tiny", controller: bool = False,
                parts: tuple[str, ...] = ("vae", "mdnrnn")) -> Path:
    vae, m = networks()
    nets = {"vae": vae.state_dict(), "mdnrnn": m.state_dict()}
    for part in parts:
        save_part(root, model_id, part, nets[part], CONFIG, {"command": "test"})
    if controller:
        c = Controller.from_flat(np.random.default_rng(1).normal(0, 0.5, N_PARAMS), 4, 8)
        save_part(root, model_id, "controller", {"weight": c.weight, "bias": c.bias}, CONFIG,
                  {"command": "test"})
    return root / model_id


def run(task, values: dict, store: ModelStore, seed: int = 0,
        cancel: callable = lambda events: False) -> list:
    events: list = []
    Execution(task, task.make_params(values), CPU, seed=seed, models=store).run(
        lambda e, s: events.append(e), lambda: cancel(events))
    return events


def curve(events: list) -> list[tuple]:
    return [(e.data["step"], e.data["best"], e.data["mean"], e.data["worst"], e.data["eval"])
            for e in events if isinstance(e, Preview)]


@pytest.fixture(autouse=True)
def one_thread():
    """Tiny batches on a shared machine: one thread, as each worker process computes."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.fixture(scope="module")
def pool():
    envs = agents.EnvPool("fast")
    yield envs
    envs.close()


# --- the agent ----------------------------------------------------------------------------


def test_controller_batch_acts_as_each_controller():
    params = np.random.default_rng(0).normal(0, 1, (3, N_PARAMS)).astype(np.float32)
    owners = [2, 0, 1, 2]
    batch = agents.ControllerBatch.from_flat(params, owners, 4, 8)
    z, h = torch.randn(4, 4), torch.randn(4, 8)
    a = batch.act(z, h)
    for row, c in enumerate(owners):
        one = Controller.from_flat(params[c], 4, 8).act(z[row:row + 1], h[row:row + 1])
        torch.testing.assert_close(a[row:row + 1], one)
    assert a[:, 0].abs().max() <= 1 and a[:, 1:].min() >= 0 and a[:, 1:].max() <= 1


def test_lockstep_rollouts_score_as_one_at_a_time(pool):
    vae, m = networks()
    params = np.random.default_rng(2).normal(0, 0.5, (2, N_PARAMS)).astype(np.float32)
    pairs = [(0, 11), (1, 11), (0, 12), (1, 13)]
    envs = pool.take(4)
    envs[1] = gymnasium.wrappers.TimeLimit(agents.make_env("fast"), 17)  # ends early: the batch
    chunk = agents.make_chunk(params, pairs)                             # shrinks mid-way
    together = agents.Agent(vae, m, agents.ControllerBatch.from_flat(
        chunk.params, chunk.owners, 4, 8), "fp32")
    scores, steps = agents.run_episodes(together, envs, chunk.seeds, max_steps=40)
    assert steps.tolist() == [40, 17, 40, 40]
    for k, (c, seed) in enumerate(pairs):
        alone = agents.Agent(vae, m, Controller.from_flat(params[c], 4, 8), "fp32")
        s, n = agents.run_episodes(alone, [envs[k]], [seed], max_steps=40)
        assert (s[0], n[0]) == (scores[k], steps[k])
    assert len(set(np.round(scores, 6))) > 1  # the candidates and tracks differ


def test_agent_act_shapes_and_state():
    vae, m = networks()
    agent = agents.Agent(vae, m, Controller.from_flat(np.zeros(N_PARAMS), 4, 8))
    agent.reset(3)
    obs = np.random.default_rng(0).integers(0, 255, (3, 96, 96, 3), dtype=np.uint8)
    a = agent.act(obs)
    assert a.shape == (3, 3) and a.dtype == np.float32
    assert agent.z.shape == (3, 4) and agent.h.shape == (3, 8) and agent.h.abs().sum() > 0
    agent.keep([2])
    assert agent.act(obs[:1]).shape == (1, 3)
    with pytest.raises(ValueError, match="reset"):
        agent.act(obs)


# --- executors ----------------------------------------------------------------------------


def _spec() -> agents.WorldSpec:
    vae, m = networks()
    return agents.WorldSpec.of(CONFIG, vae, m, renderer="fast", max_steps=30, precision="fp32")


def _items() -> list[agents.Chunk]:
    params = np.random.default_rng(3).normal(0, 0.5, (3, N_PARAMS)).astype(np.float32)
    return [agents.make_chunk(params, [(0, 5), (1, 5)]),
            agents.make_chunk(params, [(2, 5), (2, 6)]),
            agents.make_chunk(params, [(1, 6)])]


def test_local_processes_score_as_this_process():
    spec, items = _spec(), _items()
    with InProcessExecutor(agents.setup_worker, (spec,)) as here:
        expected = here.map(agents.score_chunk, items)
    with LocalExecutor(2, agents.setup_worker, (spec,)) as pool:
        got = pool.map(agents.score_chunk, items)
        order = [i for i, _ in (d for d in pool.imap(agents.score_chunk, items) if d)]
    for (s1, n1), (s2, n2) in zip(expected, got, strict=True):
        assert s1.tolist() == s2.tolist() and n1.tolist() == n2.tolist()
    assert sorted(order) == [0, 1, 2]


def test_a_generation_on_ray_scores_as_here(tmp_path):
    ray = pytest.importorskip("ray")
    values = {"model_id": "drive.tiny", "generations": 1, **TINY}
    here = ModelStore([tmp_path / "here"])
    write_model(here.user_dir)
    expected = run(TRAIN_CONTROLLER, values, here, seed=4)
    ray.init(num_cpus=2, include_dashboard=False, logging_level="WARNING",
             object_store_memory=100 * 1024 * 1024)
    try:
        on_ray = ModelStore([tmp_path / "ray"])
        write_model(on_ray.user_dir)
        got = run(TRAIN_CONTROLLER, {**values, "ray": "auto", "workers": 2}, on_ray, seed=4)
    finally:
        ray.shutdown()
    assert [e.data["executor"] for e in got if isinstance(e, Preview)] == ["ray"]
    assert any(isinstance(e, Log) and "on ray (2 workers)" in e.message for e in got)
    assert curve(got) == curve(expected)  # other chunks on other workers, the same scores


def test_unreachable_ray_address_is_one_line_and_quick():
    started = time.perf_counter()
    with pytest.raises(UserError, match=r"^--ray 127\.0\.0\.1:1: no Ray cluster answers there"):
        make_executor("127.0.0.1:1")
    assert time.perf_counter() - started < 10
    with pytest.raises(UserError, match="HOST:PORT"):
        make_executor("nowhere")


# --- CMA-ES state and resuming ------------------------------------------------------------


def test_es_state_restored_proposes_the_same_populations():
    def f(xs):
        return [float(np.sum((x - 0.3) ** 2)) for x in xs]

    a, na = new_es(N_PARAMS, 0.2, 4, seed=5)
    for _ in range(5):  # past an eigendecomposition
        xs = a.ask()
        a.tell(xs, f(xs))
    arrays, plain = es_state(a, na)
    plain = json.loads(json.dumps(plain))  # through JSON, as saved
    b, nb = new_es(N_PARAMS, 0.2, 4, seed=99)
    restore_es(b, nb, {k: v.copy() for k, v in arrays.items()}, plain)
    for _ in range(4):
        xa, xb = np.array(a.ask()), np.array(b.ask())
        assert np.array_equal(xa, xb)
        a.tell(list(xa), f(xa))
        b.tell(list(xb), f(xb))
    assert a.sigma == b.sigma and np.array_equal(a.sm.C, b.sm.C)


def test_resumed_run_goes_on_as_an_uninterrupted_one(tmp_path):
    whole = ModelStore([tmp_path / "whole"])
    write_model(whole.user_dir)
    values = {"model_id": "drive.tiny", **TINY}
    straight = run(TRAIN_CONTROLLER, {**values, "generations": 3}, whole, seed=7)

    parts = ModelStore([tmp_path / "parts"])
    folder = write_model(parts.user_dir)
    first = run(TRAIN_CONTROLLER, {**values, "generations": 2}, parts, seed=7)

    def in_generation_3(events):  # stop once a chunk of generation 3 is scored
        return any(isinstance(e, Progress) and "generation 3: " in e.message for e in events)

    with pytest.raises(Cancelled):
        run(TRAIN_CONTROLLER, {**values, "generations": 3, "resume": True}, parts, seed=1,
            cancel=in_generation_3)
    pending = json.loads((folder / STATE_DIR / "pending.json").read_text())
    assert pending["generation"] == 3 and 0 < len(pending["done"]) < 5
    rest = run(TRAIN_CONTROLLER, {**values, "generations": 3, "resume": True}, parts, seed=1)
    assert any(isinstance(e, Log) and "were scored before the run stopped" in e.message
               for e in rest)
    assert curve(first) + curve(rest) == curve(straight)
    a = whole.load("drive.tiny")[1]
    b = parts.load("drive.tiny")[1]
    assert torch.equal(a["controller.weight"], b["controller.weight"])
    card = parts.get("drive.tiny")
    q = card.quality["controller"]
    assert q["generations"] == 3 and len(q["curve"]) == 3 and q["env_steps"] == 3 * 5 * 30
    assert "--resume" not in card.command and "--seed 7" in card.command
    done = run(TRAIN_CONTROLLER, {**values, "generations": 3, "resume": True}, parts)
    assert any(isinstance(e, Log) and "3 generations already" in e.message for e in done)


def test_dream_fitness_trains_a_shipped_model_in_the_user_store(tmp_path):
    shipped, user = tmp_path / "shipped", tmp_path / "user"
    store = ModelStore([shipped, user])
    write_model(shipped)
    events = run(TRAIN_CONTROLLER, {"model_id": "drive.tiny", "generations": 1, **TINY,
                                    "fitness": "dream", "tau": 1.15}, store)
    (point,) = [e.data for e in events if isinstance(e, Preview)]
    assert point["executor"] == "local" and np.isfinite(point["eval"])  # validated in the game
    assert store.origin(store.get("drive.tiny")) == "user"
    assert store.load("drive.tiny")[1]["controller.weight"].shape == (3, 12)
    assert "controller" not in ModelStore([shipped]).get("drive.tiny").quality


# --- evaluation ---------------------------------------------------------------------------


def _csv(events: list) -> list[dict]:
    (out,) = [e for e in events if isinstance(e, Output) and e.kind == "file"]
    assert out.file_suffix == ".csv"
    return list(csv.DictReader(io.StringIO(out.data.decode("utf-8"))))


def test_evaluate_writes_a_csv_per_track(tmp_path):
    store = ModelStore([tmp_path])
    write_model(store.user_dir, controller=True)
    values = {"model": "drive.tiny", "episodes": 3, "max_steps": 30, "renderer": "fast",
              "workers": 1}
    events = run(EVALUATE, values, store, seed=11)
    rows = _csv(events)
    assert len(rows) == 3 and list(rows[0]) == ["seed", "score", "steps"]
    seeds = [int(r["seed"]) for r in rows]
    assert len(set(seeds)) == 3 and all(SEED_BASE <= s < 2**32 for s in seeds)
    assert all(int(r["steps"]) == 30 for r in rows)
    scores = np.array([float(r["score"]) for r in rows])
    text = next(e.data for e in events if isinstance(e, Output) and e.kind == "text")
    assert f"score {scores.mean():.1f} +- {scores.std():.1f}" in text and "906 +- 21" in text
    again = [int(r["seed"]) for r in _csv(run(EVALUATE, values, store, seed=12))]
    assert not set(again) & set(seeds)  # another seed, other tracks
    given = _csv(run(EVALUATE, {**values, "tracks": "5, 4000000000"}, store))
    assert [int(r["seed"]) for r in given] == [5, 4000000000]


# --- bad input ----------------------------------------------------------------------------


def _refused(task, values: dict, store: ModelStore, seed: int = 0) -> str:
    with pytest.raises(TaskFailed) as info:
        run(task, values, store, seed=seed)
    assert info.value.bad_input
    message = str(info.value)
    assert "\n" not in message
    return message


def test_bad_input_is_one_line(tmp_path):
    store = ModelStore([tmp_path])
    write_model(store.user_dir)  # V and M, no controller
    write_model(store.user_dir, "drive.v-only", parts=("vae",))
    assert "unknown model 'drive.nope'" in _refused(
        TRAIN_CONTROLLER, {"model_id": "drive.nope", **TINY}, store)
    assert "has no MDN-RNN (M) yet" in _refused(
        TRAIN_CONTROLLER, {"model_id": "drive.v-only", **TINY}, store)
    assert "has no controller (C) yet" in _refused(EVALUATE, {"model": "drive.tiny"}, store)
    assert "no Ray cluster answers" in _refused(
        TRAIN_CONTROLLER, {"model_id": "drive.tiny", **TINY, "ray": "127.0.0.1:1"}, store)
    write_model(store.user_dir, "drive.full", controller=True)
    assert "track seed 4294967296 is out of range" in _refused(
        EVALUATE, {"model": "drive.full", "tracks": "3,4294967296"}, store)
    assert "--seed -3" in _refused(EVALUATE, {"model": "drive.full"}, store, seed=-3)
    with pytest.raises(UserError, match="not a whole number"):
        parse_tracks("3, x")


def test_resume_refuses_a_model_whose_v_or_m_changed(tmp_path):
    store = ModelStore([tmp_path])
    write_model(store.user_dir)
    run(TRAIN_CONTROLLER, {"model_id": "drive.tiny", "generations": 1, **TINY}, store)
    torch.manual_seed(5)
    save_part(store.user_dir, "drive.tiny", "mdnrnn", MDNRNN(4, 3, 8, 2).state_dict(), CONFIG,
              {"command": "retrained"})
    assert "V or M changed" in _refused(
        TRAIN_CONTROLLER, {"model_id": "drive.tiny", "generations": 2, **TINY, "resume": True},
        store)


def test_refine_starts_the_search_at_the_present_controller(tmp_path):
    store = ModelStore([tmp_path])
    write_model(store.user_dir, controller=True)
    before = store.load("drive.tiny")[1]["controller.weight"].float()
    events = run(TRAIN_CONTROLLER, {"model_id": "drive.tiny", "generations": 1, **TINY,
                                    "refine": True, "sigma0": 1e-4}, store)
    assert any(isinstance(e, Log) and "present controller" in e.message for e in events)
    # generation 1's mean is the start, and it is what the first generation saves
    after = store.load("drive.tiny")[1]["controller.weight"].float()
    assert torch.allclose(after, before, atol=1e-2) and before.abs().mean() > 0.1
    # the card keeps how the controller it started from was made, and its command goes first
    q = store.get("drive.tiny").quality["controller"]
    assert q["refined_from"] == {"command": "test"}
    assert q["command"].startswith("test && studio run drive.train-controller")
    assert "--refine" in q["command"]
    write_model(store.user_dir, "drive.bare")
    assert "has no controller yet to start from" in _refused(
        TRAIN_CONTROLLER, {"model_id": "drive.bare", **TINY, "refine": True}, store)
