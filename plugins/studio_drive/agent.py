"""The World Models agent at the wheel: V encodes each frame to z (the VAE's mean), C acts on
[z, h], and M's LSTM reads z and the action to give the next h (Ha and Schmidhuber 2018).

Many episodes step in lockstep so that V and M run as batches: ``Agent.act`` takes a batch of
frames, one per episode, and returns one action per episode. ``ControllerBatch`` lets each of
those episodes drive with controller weights of its own (a CMA-ES population's candidates, each
on several tracks), all applied in one batched matrix product. ``run_episodes`` drives a set
of environments to their ends and returns each episode's score and steps.

``setup_worker`` and ``score_chunk`` are what the executors (``executors.py``) run in their
worker processes: the world model arrives once per worker as plain arrays, then each chunk of
(candidate, track) episodes is driven in lockstep and scored.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch

from studio.device import use_bf16
from studio_drive import frames
from studio_drive.controller import Controller
from studio_drive.mdnrnn import MDNRNN
from studio_drive.vae import VAE


class ControllerBatch(Controller):
    """Many linear controllers, one per candidate: ``weights`` (P, 3, z + hidden) and
    ``biases`` (P, 3); episode e drives with candidate ``owners[e]``. The squashing is
    ``Controller.act``'s."""

    def __init__(self, weights: torch.Tensor, biases: torch.Tensor, owners: Sequence[int],
                 z_size: int = 32):
        super().__init__(z_size, weights.shape[-1] - z_size, weights.device)
        self.weights, self.biases = weights.float(), biases.float()
        self.owners = torch.as_tensor(np.asarray(owners, np.int64), device=weights.device)

    @classmethod
    def from_flat(cls, vectors: np.ndarray, owners: Sequence[int] = (),  # type: ignore[override]
                  z_size: int = 32, hidden: int = 256,
                  device: str | torch.device = "cpu") -> ControllerBatch:
        """From CMA-ES's flat vectors (P, n_params), in ``Controller.to_flat``'s layout."""
        cs = [Controller.from_flat(v, z_size, hidden, device) for v in np.atleast_2d(vectors)]
        return cls(torch.stack([c.weight for c in cs]), torch.stack([c.bias for c in cs]),
                   owners, z_size)

    def raw(self, z: torch.Tensor, h: torch.Tensor) -> torch.Tensor:
        x = torch.cat([z, h], -1).float()
        w, b = self.weights[self.owners], self.biases[self.owners]
        return torch.bmm(w, x.unsqueeze(-1)).squeeze(-1) + b

    def keep(self, rows: torch.Tensor) -> None:
        self.owners = self.owners[rows]


class Agent:
    """V, M and C driving ``n`` episodes at once (``reset(n)``, then ``act`` at every step).
    After ``act``, ``z`` and ``h`` hold what the controller read (the panel shows them)."""

    def __init__(self, vae: VAE, mdnrnn: MDNRNN, controller: Controller,
                 precision: str = "auto"):
        self.vae, self.mdnrnn, self.controller = vae, mdnrnn, controller
        self.device = next(vae.parameters()).device
        self.bf16 = use_bf16(precision, str(self.device.type))
        self.state: tuple[torch.Tensor, torch.Tensor] | None = None
        self.z: torch.Tensor | None = None
        self.h: torch.Tensor | None = None

    @property
    def n(self) -> int:
        return 0 if self.h is None else self.h.shape[0]

    def reset(self, n: int) -> None:
        self.state = self.mdnrnn.initial_state(n, self.device)
        self.h = self.state[0][-1]
        self.z = None

    def encode(self, obs: np.ndarray) -> torch.Tensor:
        """Frames (n, 96, 96, 3) uint8 -> z (n, z_size), the VAE's mean, in float32."""
        x = frames.to_tensor(frames.to_input(obs), self.device)
        with torch.no_grad(), torch.autocast(self.device.type, torch.bfloat16,
                                             enabled=self.bf16):
            mu, _ = self.vae.encode(x)
        return mu.float()

    def act(self, obs: np.ndarray) -> np.ndarray:
        """One frame per episode (n, 96, 96, 3) -> one action per episode (n, 3) float32
        (steer, gas, brake); M then reads z and the action, ready for the next frame."""
        if self.state is None or len(obs) != self.n:
            raise ValueError(f"{len(obs)} frames for {self.n} episodes; reset(n) first")
        with torch.no_grad():
            z = self.encode(obs)
            h = self.h
            a = self.controller.act(z, h)
            self.state = self.mdnrnn.step(z, a, self.state).state
            self.z, self.h = z, self.state[0][-1]
        return a.float().cpu().numpy()

    def keep(self, rows: Sequence[int] | np.ndarray) -> None:
        """Keep only the episodes at ``rows`` (the others ended): the batch shrinks."""
        idx = torch.as_tensor(np.asarray(rows, np.int64), device=self.device)
        assert self.state is not None
        self.state = (self.state[0][:, idx], self.state[1][:, idx])
        self.h = self.state[0][-1]
        self.z = None if self.z is None else self.z[idx]
        if isinstance(self.controller, ControllerBatch):
            self.controller.keep(idx)


def run_episodes(agent: Agent, envs: Sequence[Any], seeds: Sequence[int], max_steps: int = 1000,
                 is_cancelled: Callable[[], bool] = lambda: False
                 ) -> tuple[np.ndarray, np.ndarray]:
    """Drives ``envs[i]`` on the track of ``seeds[i]`` until each episode ends (terminated,
    truncated or ``max_steps``), all in lockstep. Returns the scores (float64, the summed
    rewards) and the steps (int64) per episode."""
    n = len(seeds)
    if len(envs) < n:
        raise ValueError(f"{len(envs)} environments for {n} episodes")
    scores, steps = np.zeros(n), np.zeros(n, np.int64)
    if n == 0:
        return scores, steps
    obs = np.stack([envs[i].reset(seed=int(s))[0] for i, s in enumerate(seeds)])
    agent.reset(n)
    alive = np.arange(n)
    while len(alive) and not is_cancelled():
        actions = agent.act(obs)
        going, frames_next = [], []
        for j, i in enumerate(alive):
            o, r, terminated, truncated, _ = envs[i].step(actions[j])
            scores[i] += float(r)
            steps[i] += 1
            if not (terminated or truncated or steps[i] >= max_steps):
                going.append(j)
                frames_next.append(o)
        if len(going) < len(alive):
            alive = alive[going]
            if len(going):
                agent.keep(going)
        if frames_next:
            obs = np.stack(frames_next)
    return scores, steps


# ---------------------------------------------------------------------------------------------
# Environments.


def make_env(renderer: str = "fast") -> Any:
    """CarRacing-v3 with the fast observation renderer or the stock one."""
    from studio_drive.env import make_env as make

    return make(renderer=renderer)


class EnvPool:
    """Environments kept for the next batch of episodes (a CarRacing resets onto any track)."""

    def __init__(self, renderer: str):
        self.renderer = renderer
        self.envs: list[Any] = []

    def take(self, n: int) -> list[Any]:
        while len(self.envs) < n:
            self.envs.append(make_env(self.renderer))
        return self.envs[:n]

    def close(self) -> None:
        for env in self.envs:
            with contextlib.suppress(Exception):
                env.close()
        self.envs.clear()


# ---------------------------------------------------------------------------------------------
# What the executors' workers run.


@dataclass
class WorldSpec:
    """What a worker needs to drive: the model's config and V and M as plain float32 arrays,
    the renderer, the episode cap and the VAE's precision."""

    config: dict[str, int]
    vae: dict[str, np.ndarray]
    mdnrnn: dict[str, np.ndarray]
    renderer: str = "fast"
    max_steps: int = 1000
    precision: str = "auto"
    tau: float = 1.0  # the dream's temperature, for chunks driven in the dream

    @classmethod
    def of(cls, config: dict[str, int], vae: VAE, mdnrnn: MDNRNN, **kw: Any) -> WorldSpec:
        def arrays(net: torch.nn.Module) -> dict[str, np.ndarray]:
            return {k: v.detach().float().cpu().numpy() for k, v in net.state_dict().items()}

        return cls(dict(config), arrays(vae), arrays(mdnrnn), **kw)


@dataclass
class Chunk:
    """Episodes to score: ``params`` (k, n_params) candidate controllers, and per episode
    the candidate it uses (``owners``) and its track seed; ``dream``: in M's dream, starting
    from the track's first frame, instead of the game."""

    params: np.ndarray
    owners: np.ndarray
    seeds: np.ndarray
    dream: bool = False


@dataclass
class _Worker:
    spec: WorldSpec
    vae: VAE
    mdnrnn: MDNRNN
    envs: EnvPool
    first_frames: dict[int, np.ndarray] = field(default_factory=dict)  # by track seed


_worker: _Worker | None = None


def setup_worker(spec: WorldSpec, threads: int = 1) -> None:
    """Builds V and M from ``spec`` in this process, for the ``score_chunk`` calls to come."""
    global _worker
    from studio_drive.loading import build_mdnrnn, build_vae

    if threads > 0:
        torch.set_num_threads(threads)
    to_t = lambda d: {k: torch.from_numpy(np.asarray(v)) for k, v in d.items()}  # noqa: E731
    if _worker is not None:
        _worker.envs.close()
    _worker = _Worker(spec, build_vae(to_t(spec.vae), spec.config),
                      build_mdnrnn(to_t(spec.mdnrnn), spec.config), EnvPool(spec.renderer))


def score_chunk(chunk: Chunk) -> tuple[np.ndarray, np.ndarray]:
    """Drives the chunk's episodes in lockstep; (scores, steps) per episode."""
    if _worker is None:
        raise RuntimeError("setup_worker was not called in this process")
    w = _worker
    cfg = w.spec.config
    with torch.inference_mode():
        policy = ControllerBatch.from_flat(chunk.params, chunk.owners, cfg["z_size"],
                                           cfg["hidden"])
        if chunk.dream:
            starts = np.stack([_first_frame(w, int(s)) for s in chunk.seeds])
            noise = int(np.random.default_rng(chunk.seeds.tolist()).integers(2**31))
            return run_dreams(w.vae, w.mdnrnn, policy, starts, w.spec.tau, w.spec.max_steps,
                              noise)
        agent = Agent(w.vae, w.mdnrnn, policy, w.spec.precision)
        return run_episodes(agent, w.envs.take(len(chunk.seeds)), chunk.seeds,
                            w.spec.max_steps)


def _first_frame(w: _Worker, seed: int) -> np.ndarray:
    """The track's first frame as V sees it (64, 64, 3), kept for the worker's next chunks."""
    if seed not in w.first_frames:
        if len(w.first_frames) > 4096:
            w.first_frames.clear()
        w.first_frames[seed] = frames.to_input(w.envs.take(1)[0].reset(seed=seed)[0])
    return w.first_frames[seed]


def run_dreams(vae: VAE, mdnrnn: MDNRNN, policy: Controller, starts: np.ndarray, tau: float,
               max_steps: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Drives one dream per start frame (n, 64, 64, 3) in lockstep, each with the policy's
    controller for its row, until M's done head ends it or ``max_steps``; (scores, steps)
    with the rewards M's reward head predicts. ``seed`` seeds the dreams' draws."""
    from studio_drive.dream import DreamVecEnv

    n = len(starts)
    dreams = DreamVecEnv(vae, mdnrnn, n, observation="latent", tau=tau, max_steps=max_steps,
                         autoreset=False)
    dreams.reset(seed=seed, options={"frames": starts})
    scores, steps = np.zeros(n), np.zeros(n, np.int64)
    going = np.ones(n, bool)
    while going.any():
        a = policy.act(dreams.z, dreams.h)
        _, reward, terminated, truncated, _ = dreams.step(a)
        scores[going] += reward[going]
        steps[going] += 1
        going &= ~(terminated | truncated)
    return scores, steps


def make_chunk(params: np.ndarray, pairs: Sequence[tuple[int, int]], dream: bool = False
               ) -> Chunk:
    """The chunk of episodes ``pairs`` ((candidate row of ``params``, track seed) each),
    carrying only the candidates it uses."""
    cands = sorted({c for c, _ in pairs})
    index = {c: i for i, c in enumerate(cands)}
    return Chunk(np.asarray(params[cands], np.float32),
                 np.array([index[c] for c, _ in pairs], np.int64),
                 np.array([s for _, s in pairs], np.int64), dream)
