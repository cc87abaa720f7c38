"""The dream: M standing in for the game, batched, behind gymnasium's API.

Each dream keeps a latent z and M's LSTM state (h, c). A step feeds [z, action] to M, takes the
reward and the episode's end from its heads (ended when the done probability passes
``done_threshold``) and draws the next z from its mixture at temperature ``tau`` (the weights'
logits divided by tau, the deviations times sqrt(tau): above 1 the dream grows wilder and
harder to exploit, near 0 it settles on the likeliest future). ``tau`` may be changed between
steps. An episode is cut (truncated) after ``max_steps``.

What the agent observes (``observation``):

- ``"frame"``: V's decoding of z, a uint8 (64, 64, 3) image, what the dream looks like;
- ``"latent"``: z itself, float32 (z_size,);
- ``"latent_hidden"``: [z, h], float32 (z_size + hidden,), what the World Models controller
  reads; h is M's state before it reads this z.

A dream starts from a z drawn from N(0, I), or from a real frame's (V's mean of it): give
``starts`` (frames (K, 64, 64, 3) uint8 or latents (K, z)) and each episode begins from one of
them at random, or give ``reset(options={"frames": ...})`` / ``{"z": ...}`` with one per dream.

V encodes and decodes in bfloat16 where the device computes it natively (``precision``
"auto"; "fp32" or "bf16" to choose). ``DreamVecEnv`` is the batched form (a
``gymnasium.vector.VectorEnv``, next-step autoreset, as gymnasium's own vector environments);
``DreamEnv`` is one dream as a ``gymnasium.Env``.
Both also expose the current ``z`` and ``h`` as torch tensors on the models' device, for
controllers that stay in torch.
"""

from __future__ import annotations

from typing import Any

import gymnasium as gym
import numpy as np
import torch
from gymnasium.vector import AutoresetMode, VectorEnv
from gymnasium.vector.utils import batch_space

from studio_drive.frames import to_image, to_tensor
from studio_drive.mdnrnn import MDNRNN
from studio_drive.vae import VAE

OBSERVATIONS = ("frame", "latent", "latent_hidden")


def action_space() -> gym.spaces.Box:
    return gym.spaces.Box(np.array([-1, 0, 0], np.float32), np.array([1, 1, 1], np.float32),
                          dtype=np.float32)


def observation_space(observation: str, z_size: int, hidden: int) -> gym.spaces.Box:
    if observation == "frame":
        return gym.spaces.Box(0, 255, (64, 64, 3), np.uint8)
    width = z_size if observation == "latent" else z_size + hidden
    return gym.spaces.Box(-np.inf, np.inf, (width,), np.float32)


class DreamVecEnv(VectorEnv):
    """``num_envs`` dreams stepping in lockstep; M and V run once per step for all of them."""

    metadata = {"autoreset_mode": AutoresetMode.NEXT_STEP, "render_modes": ["rgb_array"]}

    def __init__(self, vae: VAE, mdnrnn: MDNRNN, num_envs: int = 1,
                 observation: str = "frame", tau: float = 1.0, max_steps: int = 1000,
                 starts: np.ndarray | None = None, done_threshold: float = 0.5,
                 render_mode: str | None = None, autoreset: bool = True,
                 precision: str = "auto"):
        from studio.device import use_bf16

        if observation not in OBSERVATIONS:
            raise ValueError(f"observation {observation!r}: one of {', '.join(OBSERVATIONS)}")
        if vae.z_size != mdnrnn.z_size:
            raise ValueError(f"V has z = {vae.z_size} but M reads z = {mdnrnn.z_size}")
        self.vae, self.mdnrnn = vae.eval(), mdnrnn.eval()
        self.device = next(mdnrnn.parameters()).device
        self.bf16 = use_bf16(precision, str(self.device))  # V's decoding, where the device gains
        self.num_envs, self.observation, self.max_steps = num_envs, observation, max_steps
        self.done_threshold, self.render_mode = done_threshold, render_mode
        self.tau = tau
        if not autoreset:
            self.metadata = {**self.metadata, "autoreset_mode": AutoresetMode.DISABLED}
        self.single_action_space = action_space()
        self.action_space = batch_space(self.single_action_space, num_envs)
        self.single_observation_space = observation_space(observation, vae.z_size,
                                                          mdnrnn.hidden)
        self.observation_space = batch_space(self.single_observation_space, num_envs)
        self._g = torch.Generator(device="cpu").manual_seed(0)
        self.starts = None if starts is None else self.latents(starts)
        self.z = torch.zeros(num_envs, vae.z_size, device=self.device)
        self.state = mdnrnn.initial_state(num_envs, self.device)
        self.t = np.zeros(num_envs, np.int64)
        self._ended = np.zeros(num_envs, bool)

    @property
    def h(self) -> torch.Tensor:
        """M's hidden state before it reads the current z, (num_envs, hidden)."""
        return self.state[0][-1]

    @property
    def tau(self) -> float:
        return self._tau

    @tau.setter
    def tau(self, value: float) -> None:
        if not value >= 0:
            raise ValueError(f"tau must be 0 or more, not {value}")
        self._tau = float(value)

    def latents(self, x: np.ndarray | torch.Tensor) -> torch.Tensor:
        """Frames (K, 64, 64, 3) uint8 -> V's means (K, z); latents (K, z) pass through."""
        x = torch.as_tensor(np.asarray(x))
        if x.dim() == 4:
            with torch.no_grad(), self._autocast():
                return self.vae.encode(to_tensor(x, self.device))[0].float()
        if x.dim() != 2 or x.shape[1] != self.vae.z_size:
            raise ValueError(f"starts: frames (K, 64, 64, 3) or latents (K, {self.vae.z_size}),"
                             f" not {tuple(x.shape)}")
        return x.float().to(self.device)

    def _fresh_z(self, n: int) -> torch.Tensor:
        if self.starts is not None:
            pick = torch.randint(len(self.starts), (n,), generator=self._g)
            return self.starts[pick.to(self.device)]
        return torch.randn(n, self.vae.z_size, generator=self._g).to(self.device)

    def _restart(self, rows: np.ndarray, z: torch.Tensor | None = None) -> None:
        idx = torch.as_tensor(rows, device=self.device)
        self.z[idx] = self._fresh_z(len(rows)) if z is None else z
        for s in self.state:
            s[:, idx] = 0
        self.t[rows] = 0
        self._ended[rows] = False

    def reset(self, *, seed: int | None = None, options: dict[str, Any] | None = None
              ) -> tuple[np.ndarray, dict[str, Any]]:
        if seed is not None:
            self._g.manual_seed(seed)
            self._np_random, self._np_random_seed = gym.utils.seeding.np_random(seed)
        options = options or {}
        start = None
        if "frames" in options or "z" in options:
            start = self.latents(options["frames"] if "frames" in options else options["z"])
            if len(start) != self.num_envs:
                raise ValueError(f"{len(start)} starts for {self.num_envs} dreams")
        self.state = self.mdnrnn.initial_state(self.num_envs, self.device)
        self._restart(np.arange(self.num_envs), start)
        return self._observe(), {}

    def step(self, actions: np.ndarray | torch.Tensor
             ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, dict[str, Any]]:
        a = torch.as_tensor(np.asarray(actions, np.float32) if not torch.is_tensor(actions)
                            else actions).float().to(self.device).view(self.num_envs, 3)
        low = torch.tensor([-1.0, 0.0, 0.0], device=self.device)
        a = torch.maximum(torch.minimum(a, torch.ones_like(a)), low)
        autoreset = self.metadata["autoreset_mode"] == AutoresetMode.NEXT_STEP
        restarting = self._ended.copy() if autoreset else np.zeros(self.num_envs, bool)
        with torch.no_grad():
            out = self.mdnrnn.step(self.z, a, self.state)
            z = self.mdnrnn.sample_next(out, self.tau, self._g if self.device.type == "cpu"
                                        else None)
            p_done = torch.sigmoid(out.done_logit)
        self.z, self.state = z, (out.state[0].clone(), out.state[1].clone())
        self.t += 1
        reward = out.reward.float().cpu().numpy().astype(np.float64)
        terminated = (p_done > self.done_threshold).cpu().numpy()
        truncated = (self.t >= self.max_steps) & ~terminated
        if restarting.any():  # next-step autoreset: these dreams begin again, ignoring the action
            self._restart(np.flatnonzero(restarting))
            reward[restarting], terminated[restarting], truncated[restarting] = 0.0, False, False
        self._ended = terminated | truncated
        info = {"done_probability": p_done.float().cpu().numpy()}
        return self._observe(), reward, terminated, truncated, info

    def _observe(self) -> np.ndarray:
        if self.observation == "frame":
            return self.frames()
        x = self.z if self.observation == "latent" else torch.cat([self.z, self.h], -1)
        return x.float().cpu().numpy().astype(np.float32)

    def frames(self) -> np.ndarray:
        """What the dreams look like now: V's decoding of each z, uint8 (num_envs, 64, 64, 3)."""
        with torch.no_grad(), self._autocast():
            return to_image(self.vae.decode(self.z))

    def _autocast(self) -> torch.autocast:
        return torch.autocast(self.device.type, torch.bfloat16, enabled=self.bf16)

    def render(self) -> tuple[np.ndarray, ...] | None:
        return tuple(self.frames()) if self.render_mode == "rgb_array" else None


class DreamEnv(gym.Env):
    """One dream as a ``gymnasium.Env`` (reset it after an episode ends, as usual)."""

    metadata = {"render_modes": ["rgb_array"], "render_fps": 50}

    def __init__(self, vae: VAE, mdnrnn: MDNRNN, observation: str = "frame", tau: float = 1.0,
                 max_steps: int = 1000, starts: np.ndarray | None = None,
                 done_threshold: float = 0.5, render_mode: str | None = None,
                 precision: str = "auto"):
        self.dreams = DreamVecEnv(vae, mdnrnn, 1, observation, tau, max_steps, starts,
                                  done_threshold, autoreset=False, precision=precision)
        self.action_space = self.dreams.single_action_space
        self.observation_space = self.dreams.single_observation_space
        self.render_mode = render_mode

    @property
    def tau(self) -> float:
        return self.dreams.tau

    @tau.setter
    def tau(self, value: float) -> None:
        self.dreams.tau = value

    @property
    def z(self) -> torch.Tensor:
        return self.dreams.z[0]

    @property
    def h(self) -> torch.Tensor:
        return self.dreams.h[0]

    def reset(self, *, seed: int | None = None, options: dict[str, Any] | None = None
              ) -> tuple[np.ndarray, dict[str, Any]]:
        super().reset(seed=seed)
        options = dict(options or {})
        for key in ("frames", "z"):  # one start, for the one dream
            if key in options:
                options[key] = np.asarray(options[key])[None]
        dream_seed = int(self.np_random.integers(2**31)) if seed is not None else None
        obs, info = self.dreams.reset(seed=dream_seed, options=options)
        return obs[0], info

    def step(self, action: np.ndarray) -> tuple[np.ndarray, float, bool, bool, dict[str, Any]]:
        obs, reward, terminated, truncated, info = self.dreams.step(np.asarray(action)[None])
        return (obs[0], float(reward[0]), bool(terminated[0]), bool(truncated[0]),
                {k: v[0] for k, v in info.items()})

    def render(self) -> np.ndarray | None:
        return self.dreams.frames()[0] if self.render_mode == "rgb_array" else None
