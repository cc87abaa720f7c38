"""gymnasium's CarRacing-v3 with the fast observation renderer (``render.py``); the stock pygame
renderer is one flag away (``make_env("stock")``).

Only the observation's drawing changes: ``CarRacing.step`` takes its observation from
``self._render("state_pixels")``, which is overridden here; the physics, rewards, terminations,
track generation and ``render()`` for the rgb_array / human modes are gymnasium's own.
"""

from __future__ import annotations

import dataclasses
import os
from typing import Any

os.environ.setdefault("PYGAME_HIDE_SUPPORT_PROMPT", "1")

import gymnasium as gym  # noqa: E402
import numpy as np  # noqa: E402
from gymnasium.envs.box2d.car_racing import STATE_H, STATE_W, CarRacing, FrictionDetector  # noqa: E402

from studio_drive.render import Renderer  # noqa: E402

RENDERERS = ("fast", "stock")


class _TileListener(FrictionDetector):
    """gymnasium's contact listener, unchanged, that also notes the tiles it touches (touching
    recolours a tile), so the fast renderer can redraw them."""

    def __init__(self, env: CarRacing, lap_complete_percent: float, touched: set):
        super().__init__(env, lap_complete_percent)
        self.touched = touched

    def BeginContact(self, contact: Any) -> None:  # noqa: N802 (Box2D's name)
        super().BeginContact(contact)  # recolours a touched tile (ending a contact does again)
        for data in (contact.fixtureA.body.userData, contact.fixtureB.body.userData):
            if data is not None and "road_friction" in data.__dict__:
                self.touched.add(data)


class DriveCarRacing(CarRacing):
    """CarRacing whose 96x96 observation comes from ``renderer`` ("fast" or "stock").

    ``seed`` is the first reset's track seed when that reset is given none. ``render_view``
    draws the same picture at any size with the fast renderer, whichever renders observations.
    """

    def __init__(self, renderer: str = "fast", seed: int | None = None, **kwargs: Any):
        if renderer not in RENDERERS:
            raise ValueError(f"unknown renderer {renderer!r}: choose one of {', '.join(RENDERERS)}")
        super().__init__(**kwargs)
        self.renderer = renderer
        self.fast = Renderer(self)
        self._first_seed = seed

    def reset(self, *, seed: int | None = None, options: dict | None = None
              ) -> tuple[np.ndarray, dict]:
        if seed is None:
            seed, self._first_seed = self._first_seed, None
        obs, info = super().reset(seed=seed, options=options)
        # the first frame was drawn from the colours as they are now; note later recolouring
        listener = _TileListener(self, self.lap_complete_percent, self.fast.touched)
        self.world.contactListener_bug_workaround = listener
        self.world.contactListener = listener
        self.fast.touched.clear()
        return obs, info

    def _render(self, mode: str) -> Any:
        if mode == "state_pixels" and self.renderer == "fast":
            if "t" not in self.__dict__:
                return None  # as the stock: reset() not called yet
            return self.fast.frame(STATE_W, STATE_H)
        return super()._render(mode)

    def render_view(self, width: int, height: int, dashboard: bool = True) -> np.ndarray:
        """The observation's picture drawn at (width, height) by the fast renderer: uint8
        (height, width, 3). The observation is the stock 1000x800 canvas squashed to 96x96; a
        width:height of 5:4 shows it undistorted. Without the dashboard the road shows below."""
        if not (isinstance(width, int) and isinstance(height, int)) or width < 1 or height < 1:
            raise ValueError(f"view size must be positive whole pixels, got {width}x{height}")
        if width * height > 4096 * 4096:
            raise ValueError(f"view size {width}x{height} is too large (at most 4096x4096 pixels)")
        if "t" not in self.__dict__ or self.car is None:
            raise ValueError("reset() the environment before drawing its view")
        return self.fast.frame(width, height, dashboard)


def make_env(renderer: str = "fast", seed: int | None = None, **kwargs: Any) -> gym.Env:
    """CarRacing-v3 as gymnasium makes it (time limit 1000 steps, order and API checks), with
    the observation drawn by ``renderer``: "fast" or "stock" (gymnasium's pygame renderer).
    ``seed`` seeds the first reset (when it is given no seed) and the action space; ``kwargs``
    go to gymnasium (``max_episode_steps``) and to CarRacing (``lap_complete_percent``,
    ``domain_randomize``, ``continuous``, ``render_mode``)."""
    if renderer not in RENDERERS:
        raise ValueError(f"unknown renderer {renderer!r}: choose one of {', '.join(RENDERERS)}")
    spec = dataclasses.replace(gym.spec("CarRacing-v3"), entry_point=DriveCarRacing)
    env = gym.make(spec, renderer=renderer, seed=seed, **kwargs)
    if seed is not None:
        env.action_space.seed(seed)
    return env
