"""The drive plugin's CarRacing: the fast renderer draws what gymnasium's pygame renderer draws
(one trajectory through both, with the tolerance achieved stated below), the physics and rewards
are gymnasium's own, a seed gives back its track, the stock renderer is one flag away, and the
panel's larger view comes from the same renderer."""

from __future__ import annotations

import cv2
import gymnasium as gym
import numpy as np
import pytest
from gymnasium.envs.box2d.car_racing import CarRacing

from studio_drive.env import make_env

SEED = 3
STEPS = 260

# What the fast renderer achieves against the stock one over trajectory() (grey levels, 0..255,
# per channel), measured: the mean over all pixels of all frames 0.17; the worst frame's mean 0.74
# (the first frame of the first second's zoom, when the whole track is a few pixels wide); 99.9 %
# of pixel differences at most 20; the largest 98 (an edge of a kerb or of the car that falls in
# the next pixel). The tolerances leave room for other platforms' rounding.
MEAN_TOLERANCE = 0.5  # mean absolute difference, all frames
FRAME_MEAN_TOLERANCE = 1.5  # mean absolute difference, any one frame
MAX_TOLERANCE = 140  # largest difference of any pixel in any frame
P999_TOLERANCE = 40  # 99.9 % of all pixel differences are at most this


def trajectory() -> list[np.ndarray]:
    """The first second's zoom standing still then gently away, some steering, a hard right
    turn off the road onto the grass, braking, then random steering."""
    rng = np.random.default_rng(0)
    actions = []
    for i in range(STEPS):
        if i < 60:
            a = (0.0, 0.3 if i > 5 else 0.0, 0.0)
        elif i < 150:
            a = (0.4 * np.sin(i / 10), 0.6, 0.0)
        elif i < 200:
            a = (1.0, 0.8, 0.0)
        elif i < 240:
            a = (-0.3, 0.2, 0.5)
        else:
            a = (rng.uniform(-1, 1), 0.5, 0.0)
        actions.append(np.array(a, np.float32))
    return actions


def drive(renderer: str, **kwargs) -> dict:
    env = make_env(renderer, seed=SEED, **kwargs)
    obs, _ = env.reset()
    car = env.unwrapped.car
    out = {"obs": [obs], "steps": [], "grass": False, "positions": []}
    for action in trajectory():
        obs, reward, terminated, truncated, info = env.step(action)
        out["obs"].append(obs)
        out["steps"].append((reward, terminated, truncated, info))
        out["positions"].append((*car.hull.position, car.hull.angle))
        out["grass"] |= all(not w.tiles for w in car.wheels)
        if terminated or truncated:
            break
    out["env"] = env
    return out


@pytest.fixture(scope="module")
def both() -> tuple[dict, dict]:
    return drive("stock"), drive("fast")


def test_fast_frames_match_stock(both):
    stock, fast = both
    assert stock["grass"], "the trajectory should leave the road"
    assert len(fast["obs"]) == STEPS + 1
    diffs = np.stack([np.abs(a.astype(np.int16) - b.astype(np.int16))
                      for a, b in zip(stock["obs"], fast["obs"], strict=True)])
    assert fast["obs"][0].shape == (96, 96, 3) and fast["obs"][0].dtype == np.uint8
    assert diffs.mean() < MEAN_TOLERANCE
    assert diffs.mean(axis=(1, 2, 3)).max() < FRAME_MEAN_TOLERANCE
    assert np.percentile(diffs, 99.9) <= P999_TOLERANCE
    assert diffs.max() <= MAX_TOLERANCE
    # the zoom of the first second is drawn: the first frames show the whole track, small
    first = fast["obs"][1][:84].reshape(-1, 3)
    assert (first == 0).all(axis=1).mean() > 0.2  # black beyond the playfield
    assert (np.abs(fast["obs"][100][:84].astype(int) - stock["obs"][100][:84]).mean()) < 0.5


def test_physics_and_rewards_untouched(both):
    stock, fast = both
    assert fast["steps"] == stock["steps"]
    assert fast["positions"] == stock["positions"]
    assert any(reward > 0 for reward, *_ in fast["steps"])  # tiles were visited


def test_stock_renderer_is_gymnasiums_own():
    ours = make_env("stock", seed=SEED)
    theirs = gym.make("CarRacing-v3")
    a, _ = ours.reset()
    b, _ = theirs.reset(seed=SEED)
    assert np.array_equal(a, b)
    for action in trajectory()[:40:4]:
        a, ra, *_ = ours.step(action)
        b, rb, *_ = theirs.step(action)
        assert np.array_equal(a, b) and ra == rb
    assert make_env("fast").unwrapped.renderer == "fast"
    with pytest.raises(ValueError, match="unknown renderer 'pygame'"):
        make_env("pygame")


def test_seed_reproduces_track():
    env = make_env("fast")
    first, _ = env.reset(seed=11)
    track = [tuple(map(tuple, poly)) for poly, _ in env.unwrapped.road_poly]
    env.reset(seed=12)
    assert [tuple(map(tuple, poly)) for poly, _ in env.unwrapped.road_poly] != track
    again, _ = env.reset(seed=11)
    assert [tuple(map(tuple, poly)) for poly, _ in env.unwrapped.road_poly] == track
    assert np.array_equal(first, again)
    # make_env's seed is the first reset's
    seeded, _ = make_env("fast", seed=11).reset()
    assert np.array_equal(seeded, first)


def test_touched_tiles_are_redrawn(both):
    _, fast = both
    env = fast["env"].unwrapped
    renderer = env.fast
    road = [int(c) - 2 for c in env.road_color]  # as drawn (see render.OFFSET)
    changed = [t for t in env.road if t.road_visited and t.idx % 3]  # shaded tiles, touched
    assert changed
    for tile in changed:
        poly = next(p for p, c in env.road_poly if c is tile.color)
        x, y = np.mean(poly, axis=0)
        from studio_drive.render import PLAYFIELD, TEXELS

        texel = renderer.levels[0][int((PLAYFIELD - y) * TEXELS), int((x + PLAYFIELD) * TEXELS)]
        assert list(texel) == road


def test_dashboard_bars_above_the_strip():
    """Wheels spinning fast draw their bars up over the road; the stock draws them the same."""
    env = make_env("fast", seed=SEED)
    env.reset()
    for action in trajectory()[:70]:
        env.step(action)
    car = env.unwrapped.car
    for wheel in car.wheels:
        wheel.omega = 650.0  # 0.01 * omega * 20 canvas pixels: 130, above the strip's 100
    stock = CarRacing._render(env.unwrapped, "state_pixels")
    fast = env.unwrapped.render_view(96, 96)
    assert (stock[78:84, 16:27, 2] > 200).mean() > 0.8  # blue over the road
    diff = np.abs(stock.astype(int) - fast)
    assert diff.mean() < FRAME_MEAN_TOLERANCE and diff[76:84].max() < 64


def test_domain_randomized_colours():
    stock = make_env("stock", seed=5, domain_randomize=True)
    fast = make_env("fast", seed=5, domain_randomize=True)
    a, _ = stock.reset()
    b, _ = fast.reset()
    for action in trajectory()[:60:6]:
        a, *_ = stock.step(action)
        b, *_ = fast.step(action)
    assert np.abs(a.astype(int) - b).mean() < FRAME_MEAN_TOLERANCE


def test_render_view(both):
    _, fast = both
    env = fast["env"].unwrapped
    obs = fast["obs"][-1]
    assert np.array_equal(env.render_view(96, 96), obs)  # the observation is this, at 96x96
    big = env.render_view(480, 384)
    assert big.shape == (384, 480, 3) and big.dtype == np.uint8
    # the same framing: shrunk to the observation's size it is the observation
    small = cv2.resize(big, (96, 96), interpolation=cv2.INTER_AREA)
    assert np.abs(small[:84].astype(int) - obs[:84]).mean() < 3
    # drawn at that size, not blown up: the large view has far more distinct edges
    assert len(np.unique(big.reshape(-1, 3), axis=0)) > len(np.unique(obs.reshape(-1, 3), axis=0))
    bare = env.render_view(480, 384, dashboard=False)
    assert np.array_equal(bare[:330], big[:330])
    assert (big[340:] == 0).mean() > 0.8 and (bare[340:] == 0).mean() < 0.1
    for w, h in ((0, 10), (10, -1), (2.5, 10)):
        with pytest.raises(ValueError, match="view size"):
            env.render_view(w, h)
    with pytest.raises(ValueError, match="reset"):
        make_env("fast").unwrapped.render_view(96, 96)
