"""``drive.collect``: episodes of CarRacing recorded as rollouts (``rollouts.py``) for training
V and M, in parallel processes.

What drives (``--policy``):

- ``brownian``: the paper's kind of random driving made smooth: the steering wanders as an
  Ornstein-Uhlenbeck process (mean-reverting Brownian motion), the pedals hold for half a
  second to two seconds at a time, mostly gas, sometimes the brake. Each episode draws its own
  style (how much the steering wanders, how hard it accelerates), so some drive off at once and
  others follow a straight for a while.
- ``pursuit``: a noisy driver that steers towards a point a few track segments ahead of the car
  (reading the track's geometry, which only data collection may do) at a speed of its own,
  with wandering steering noise and now and then a second or two of random steering that
  sends it onto the grass and back. It covers the track, its bends and the recoveries, which
  are what the agent will see, and which random driving rarely reaches.
- ``mixed`` (the default): each episode one of the two, by a coin toss.
- ``agent``: a trained drive model (``--model``) drives, with ``--action-noise`` added: the
  paper's iterative way of gathering data where the agent goes.

Episodes are numbered; episode i runs on the track of a seed derived from the run's ``--seed``
and i, with the policy's randomness from another. Files already in the folder (under their
episode's name) are kept and counted, so a stopped run continues where it was and a larger
``--episodes`` adds to a folder.

Processes: the docs ask tasks not to start their own; collecting is the exception, since the
environment is pure Python and one core steps one episode. With ``--workers`` above 1 the
episodes run in a pool of that many spawned processes (spawned, not forked: the window's
process has threads); each worker steps its own environment, writes its own files (atomically)
and uses one thread for torch and OpenCV. Stopping the task stops the pool at once; an
episode cut short is not written. ``--workers 1`` runs everything in the task's own process.
"""

from __future__ import annotations

import contextlib
import math
import time
import zlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from studio.errors import UserError
from studio.tasks import Context, Event, Log, Output, Preview, Progress, Task, param

POLICIES = ("mixed", "brownian", "pursuit", "agent")
FPS = 50  # CarRacing's steps per second


@dataclass
class CollectParams:
    data: Path = param(help="folder to write the rollouts into (made if missing); rollouts "
                            "already there are kept and counted", save=True)
    episodes: int = param(100, min=1, max=100_000,
                          help="episodes the folder should hold when the run ends")
    max_steps: int = param(1000, min=1, max=100_000,
                           help="steps per episode at most (CarRacing's own limit is 1000)")
    policy: str = param("mixed", choices=POLICIES,
                        help="what drives: smooth random driving (brownian), a noisy "
                             "track-following driver (pursuit), either per episode (mixed), "
                             "or a trained model (agent, with --model)")
    model: str | None = param(None, model="drive",
                              help="the drive model that drives with --policy agent")
    action_noise: float = param(0.0, min=0.0, max=2.0, advanced=True,
                                help="with --policy agent: the deviation of Gaussian noise "
                                     "added to its actions")
    workers: int = param(0, min=0, max=256,
                         help="processes stepping episodes in parallel (0: one per core)")
    renderer: str = param("fast", choices=("fast", "stock"), advanced=True,
                          help="the observation renderer: the fast one, or gymnasium's own")


def derived_seed(seed: int, what: str, index: int) -> int:
    """A seed for episode ``index`` (its track, its policy) from the run's seed."""
    return zlib.crc32(f"{seed}:{what}:{index}".encode()) & 0x7FFFFFFF


# ---------------------------------------------------------------------------------------------
# The environment: the fast renderer when env.py provides it.


def make_env(renderer: str = "fast", seed: int | None = None) -> Any:
    """A CarRacing-v3 environment with the ``renderer`` asked for; the stock one when the fast
    renderer is not available (``env.py`` missing)."""
    try:
        from studio_drive.env import make_env as make
    except ModuleNotFoundError as exc:
        if exc.name != "studio_drive.env":
            raise
        import gymnasium

        return gymnasium.make("CarRacing-v3")
    return make(renderer=renderer, seed=seed)


def fast_renderer_available() -> bool:
    import importlib.util

    return importlib.util.find_spec("studio_drive.env") is not None


# ---------------------------------------------------------------------------------------------
# Policies: each is called with the observation and the (unwrapped) environment.


class BrownianPolicy:
    """Smooth random driving: Ornstein-Uhlenbeck steering, held pedals, a style per episode."""

    def __init__(self, rng: np.random.Generator):
        self.rng = rng
        self.theta = rng.uniform(0.5, 3.0)  # how fast the steering returns to straight (1/s)
        self.sigma = rng.uniform(0.3, 2.0)  # how much it wanders
        self.gas_level = rng.uniform(0.2, 1.0)
        self.brake_chance = rng.uniform(0.0, 0.2)
        self.steer, self.pedals, self.hold = 0.0, (0.0, 0.0), 0

    def __call__(self, obs: np.ndarray, env: Any) -> np.ndarray:
        dt = 1.0 / FPS
        self.steer += -self.theta * self.steer * dt + self.sigma * math.sqrt(dt) \
            * self.rng.standard_normal()
        self.steer = float(np.clip(self.steer, -1, 1))
        if self.hold <= 0:
            self.hold = int(self.rng.integers(FPS // 2, 2 * FPS))
            if self.rng.random() < self.brake_chance:
                self.pedals = (0.0, float(self.rng.uniform(0.1, 0.8)))
            else:
                self.pedals = (float(np.clip(self.gas_level + self.rng.normal(0, 0.2), 0, 1)),
                               0.0)
        self.hold -= 1
        return np.array([self.steer, *self.pedals], np.float32)


class PursuitPolicy:
    """A noisy driver steering at a point ahead on the track, at a speed of its own."""

    def __init__(self, rng: np.random.Generator):
        self.rng = rng
        self.lookahead = int(rng.integers(3, 9))  # track segments ahead
        self.gain = rng.uniform(1.0, 3.0)
        self.speed = rng.uniform(30.0, 90.0)
        self.noise = rng.uniform(0.05, 0.6)  # steering noise (Ornstein-Uhlenbeck, per sqrt s)
        self.wander_chance = rng.uniform(0.0, 0.4)  # random-steering spells per second
        self.drift, self.wander, self.wander_steer = 0.0, 0, 0.0

    def __call__(self, obs: np.ndarray, env: Any) -> np.ndarray:
        car, track = env.car, env.track
        pos = np.array(car.hull.position)
        points = np.array([(x, y) for _, _, x, y in track])
        i = int(np.argmin(((points - pos) ** 2).sum(1)))
        dx, dy = points[(i + self.lookahead) % len(points)] - pos
        fx, fy = car.hull.GetWorldVector((0, 1))
        angle = math.atan2(fx * dy - fy * dx, fx * dx + fy * dy)  # > 0: the point is left
        dt = 1.0 / FPS
        self.drift += -2.0 * self.drift * dt + self.noise * math.sqrt(dt) \
            * self.rng.standard_normal()
        steer = -self.gain * angle + self.drift  # steering > 0 turns right
        if self.wander <= 0 and self.rng.random() < self.wander_chance * dt:
            self.wander = int(self.rng.integers(FPS // 2, 2 * FPS))
            self.wander_steer = float(self.rng.uniform(-1, 1))
        if self.wander > 0:
            self.wander -= 1
            steer = self.wander_steer
        speed = float(np.hypot(*car.hull.linearVelocity))
        target = self.speed * (1 - 0.6 * min(1.0, abs(angle)))  # slower into bends
        on_road = any(w.tiles for w in car.wheels)
        gas = (1.0 if on_road else 0.3) if speed < target else 0.0  # full gas on grass spins
        brake = 0.4 if speed > 1.3 * target else 0.0
        return np.array([np.clip(steer, -1, 1), gas, brake], np.float32)


_networks: dict[str, tuple] = {}  # the agent's V, M and C, by weights file


class AgentPolicy:
    """A drive model's agent (``agent.Agent``: V, M and C) on the CPU, with Gaussian noise."""

    def __init__(self, weights: str, config: dict[str, int], noise: float,
                 rng: np.random.Generator):
        from studio_drive.agent import Agent

        if weights not in _networks:  # read once per process
            from safetensors.torch import load_file

            from studio_drive.controller import Controller
            from studio_drive.loading import build_mdnrnn, build_vae, part_of

            tensors = load_file(weights)
            _networks.clear()
            _networks[weights] = (build_vae(part_of(tensors, "vae"), config),
                                  build_mdnrnn(part_of(tensors, "mdnrnn"), config),
                                  Controller.from_tensors(tensors, config["z_size"]))
        self.agent = Agent(*_networks[weights])
        self.agent.reset(1)
        self.noise, self.rng = noise, rng

    def __call__(self, obs: np.ndarray, env: Any) -> np.ndarray:
        a = self.agent.act(obs[None])[0]
        if self.noise > 0:
            a = a + self.rng.normal(0, self.noise, 3)
        return np.clip(a, [-1, 0, 0], [1, 1, 1]).astype(np.float32)


def make_policy(name: str, rng: np.random.Generator, agent: tuple[str, dict] | None = None,
                noise: float = 0.0) -> tuple[str, Callable[[np.ndarray, Any], np.ndarray]]:
    if name == "mixed":
        name = "pursuit" if rng.random() < 0.5 else "brownian"
    if name == "brownian":
        return name, BrownianPolicy(rng)
    if name == "pursuit":
        return name, PursuitPolicy(rng)
    assert agent is not None
    return "agent", AgentPolicy(agent[0], agent[1], noise, rng)


# ---------------------------------------------------------------------------------------------
# One episode (in a worker process, or in the task's own).


@dataclass(frozen=True)
class EpisodeJob:
    folder: str
    index: int
    track_seed: int
    policy_seed: int
    policy: str
    max_steps: int
    renderer: str
    agent: tuple[str, dict] | None = None  # (weights file, config) for the agent policy
    agent_name: str = ""
    action_noise: float = 0.0


@dataclass(frozen=True)
class EpisodeResult:
    index: int
    steps: int
    score: float
    on_road: float  # the fraction of steps with a wheel on the road
    ended: bool  # terminated (lap done or off the playfield), not cut at max_steps
    policy: str
    samples: np.ndarray  # a few of its frames, (k, 64, 64, 3)


_envs: dict[str, Any] = {}
_stop: Any = None  # a multiprocessing Event in a worker


def _init_worker(stop: Any) -> None:
    global _stop
    _stop = stop
    import cv2

    cv2.setNumThreads(1)
    with contextlib.suppress(ImportError):
        import torch

        torch.set_num_threads(1)


def _stopped() -> bool:
    return _stop is not None and _stop.is_set()


def run_episode(job: EpisodeJob, should_stop: Callable[[], bool] = _stopped
                ) -> EpisodeResult | None:
    """Drive one episode and write it; None when stopped before its end (nothing written)."""
    from studio_drive.frames import to_input
    from studio_drive.rollouts import write_rollout

    if should_stop():
        return None
    env = _envs.get(job.renderer)
    if env is None:
        env = _envs[job.renderer] = make_env(job.renderer, job.track_seed)
    rng = np.random.default_rng(job.policy_seed)
    name, policy = make_policy(job.policy, rng, job.agent, job.action_noise)
    if name == "agent":
        name = f"agent:{job.agent_name}"
    obs, _ = env.reset(seed=job.track_seed)
    game = env.unwrapped
    frames, actions, rewards, dones = [], [], [], []
    on_road, ended = 0, False
    for _ in range(job.max_steps):
        if should_stop():
            return None
        frames.append(to_input(obs))
        action = policy(obs, game)
        obs, reward, terminated, truncated, _ = env.step(action)
        actions.append(action)
        rewards.append(reward)
        dones.append(terminated)
        on_road += any(len(w.tiles) > 0 for w in game.car.wheels)
        if terminated or truncated:
            ended = bool(terminated)
            break
    write_rollout(Path(job.folder), job.index, np.stack(frames), np.stack(actions),
                  np.array(rewards), np.array(dones), job.track_seed, name)
    n = len(actions)
    pick = np.linspace(0, n - 1, min(n, 8)).round().astype(int)
    return EpisodeResult(job.index, n, float(np.sum(rewards)), on_road / n, ended, name,
                         np.stack(frames)[pick])


# ---------------------------------------------------------------------------------------------
# The task.


def _pool_results(jobs: list[EpisodeJob], workers: int
                  ) -> Iterator[EpisodeResult | None]:
    """Results as episodes finish in a pool of spawned processes, and None every half second
    while none does (the task yields there, so that it can be stopped)."""
    import multiprocessing

    mp = multiprocessing.get_context("spawn")
    stop = mp.Event()
    pool = mp.Pool(workers, initializer=_init_worker, initargs=(stop,))
    finished = False
    try:
        results = pool.imap_unordered(run_episode, jobs)
        left = len(jobs)
        while left:
            try:
                result = results.next(timeout=0.5)
            except multiprocessing.TimeoutError:
                yield None
                continue
            left -= 1
            yield result
        finished = True
    finally:
        if finished:
            pool.close()
        else:  # stopped (or failed): the episodes under way are dropped, not written
            stop.set()
            pool.terminate()
        pool.join()


def drive_collect(p: CollectParams, ctx: Context) -> Iterator[Event]:
    from studio.device import cpu_count
    from studio_drive.frames import strip
    from studio_drive.rollouts import rollout_index

    if p.policy == "agent" and not p.model:
        raise UserError("--policy agent drives a trained model: give it with --model")
    if p.model and p.policy != "agent":
        raise UserError(f"--model {p.model} drives only with --policy agent")
    agent = None
    if p.policy == "agent":
        from studio_drive.loading import WEIGHTS, load_world_model

        card, _, _, controller = load_world_model(ctx, p.model, require=("vae", "mdnrnn"))
        if controller is None:
            raise UserError(f"model {p.model} has no controller (C) yet; train it with "
                            f"drive.train-controller --model-id {p.model}")
        agent = (str(card.folder / WEIGHTS), dict(card.config))
    if p.data.exists() and not p.data.is_dir():
        raise UserError(f"--data {p.data} is a file, not a folder")
    p.data.mkdir(parents=True, exist_ok=True)
    for leftover in p.data.glob(".rollout-*.tmp"):  # a worker stopped mid-write
        leftover.unlink(missing_ok=True)
    have = {i for f in p.data.glob("rollout-*.npz") if (i := rollout_index(f)) is not None}
    todo = [i for i in range(p.episodes) if i not in have]
    kept = p.episodes - len(todo)
    if kept:
        yield Log(f"{kept} of the {p.episodes} episodes are already in {p.data}; "
                  f"collecting the other {len(todo)}")
    renderer = p.renderer
    if renderer == "fast" and not fast_renderer_available():
        renderer = "stock"
        yield Log("the fast renderer is not available; using gymnasium's own", "warning")
    jobs = [EpisodeJob(str(p.data), i, derived_seed(ctx.seed, "track", i),
                       derived_seed(ctx.seed, "policy", i), p.policy, p.max_steps, renderer,
                       agent, p.model or "", p.action_noise) for i in todo]
    workers = min(p.workers or cpu_count(), max(1, len(jobs)))
    yield Progress(0.0, f"collecting {len(jobs)} episodes with {workers} "
                        f"worker{'s' if workers != 1 else ''}")
    started = time.perf_counter()
    if workers <= 1:
        results: Iterator[EpisodeResult | None] = (run_episode(job, ctx.is_cancelled)
                                                   for job in jobs)
    else:
        results = _pool_results(jobs, workers)
    done: list[EpisodeResult] = []
    rate = ""
    for result in results:
        if result is None:  # none finished in the last half second
            if ctx.is_cancelled():
                return
            yield Progress(len(done) / max(1, len(jobs)), f"{len(done)}/{len(jobs)} episodes"
                                                           + rate)
            continue
        done.append(result)
        steps = sum(r.steps for r in done)
        rate = f", {steps / max(1e-9, time.perf_counter() - started):.0f} steps/s"
        yield Progress(len(done) / len(jobs), f"{len(done)}/{len(jobs)} episodes" + rate)
        yield Preview(strip(result.samples), label=f"episode {result.index} ({result.policy}): "
                                                   f"score {result.score:.0f}")
    seconds = time.perf_counter() - started
    if not done:
        yield Output(f"{p.data} already holds the {p.episodes} episodes asked for.\n",
                     name="collect")
        return
    yield Output(summary(done, p, renderer, workers, seconds, kept), name="collect")


def summary(done: list[EpisodeResult], p: CollectParams, renderer: str, workers: int,
            seconds: float, kept: int) -> str:
    """A short report of the run: episodes, steps, scores, time."""
    steps = sum(r.steps for r in done)
    scores = np.array([r.score for r in done])
    lines = [f"# {len(done)} episodes collected into {p.data}", "",
             f"- policy {p.policy}" + (f" (model {p.model}, noise {p.action_noise})"
                                       if p.model else "")
             + f", renderer {renderer}, {workers} worker{'s' if workers != 1 else ''}",
             f"- {steps:,} steps in {seconds:.0f} s ({steps / max(seconds, 1e-9):.0f} steps/s)",
             f"- score {scores.mean():.1f} +- {scores.std():.1f} (min {scores.min():.1f}, "
             f"max {scores.max():.1f}); a wheel on the road in "
             f"{100 * np.mean([r.on_road for r in done]):.0f} % of the steps; "
             f"{sum(r.ended for r in done)} ended before the step limit"]
    by_policy: dict[str, list[float]] = {}
    for r in done:
        by_policy.setdefault(r.policy, []).append(r.score)
    if len(by_policy) > 1:
        lines.append("- by policy: " + ", ".join(
            f"{k} {len(v)} episode{'s' if len(v) != 1 else ''}, score {np.mean(v):.1f}"
            for k, v in sorted(by_policy.items())))
    if kept:
        lines.append(f"- {kept} episodes were already there; the folder holds {p.episodes}")
    return "\n".join(lines) + "\n"


COLLECT = Task("drive.collect", "Collect rollouts", CollectParams, drive_collect,
               "Drives CarRacing episodes (random, track-following or a trained agent) in "
               "parallel and records them as rollouts for training V and M.")
