"""Rollouts on disk: one compressed ``.npz`` per episode, read back without unpickling and
streamed through a small buffer, never all at once (a thousand episodes of 64x64 frames are
12 GB raw; the reference code's users ran out of memory loading them).

A rollout file holds, for an episode of T steps:

    frames   uint8   (T, 64, 64, 3)  what the car saw before each action, preprocessed
                                     (``frames.to_input``)
    actions  float32 (T, 3)          steer, gas, brake
    rewards  float32 (T,)            the reward each action earned
    dones    bool    (T,)            the episode ended with that action (terminated: the lap
                                     done, or off the playfield; a time limit is not an end)
    seed     int64   ()              the track's seed
    policy   str     ()              what drove ("brownian", "pursuit", "model:<id>")

Writes go through a temporary file and a rename, so a killed collector never leaves half a
file under a rollout's name. A file that cannot be read raises ``RolloutError`` naming it; the
training samplers skip such a file with a warning instead (one bad file among two thousand
should not end a long run), and refuse a folder in which none can be read.
"""

from __future__ import annotations

import zipfile
import zlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from studio.errors import UserError

SUFFIX = ".npz"
FRAME_SHAPE = (64, 64, 3)
FIELDS = ("frames", "actions", "rewards", "dones", "seed", "policy")


class RolloutError(UserError):
    """A rollout file that cannot be read; the message names it."""


@dataclass
class Rollout:
    frames: np.ndarray | None  # None when read without them
    actions: np.ndarray
    rewards: np.ndarray
    dones: np.ndarray
    seed: int
    policy: str
    path: Path | None = None

    def __len__(self) -> int:
        return len(self.actions)

    @property
    def score(self) -> float:
        return float(self.rewards.sum())


def rollout_name(index: int) -> str:
    return f"rollout-{index:06d}{SUFFIX}"


def rollout_index(path: Path) -> int | None:
    """The episode number in a file named by ``rollout_name``, or None for another name."""
    stem = path.name[:-len(SUFFIX)] if path.name.endswith(SUFFIX) else ""
    number = stem.removeprefix("rollout-")
    return int(number) if number != stem and number.isdigit() else None


def write_rollout(folder: Path, index: int, frames: np.ndarray, actions: np.ndarray,
                  rewards: np.ndarray, dones: np.ndarray, seed: int, policy: str = "") -> Path:
    """Write one episode as ``folder/rollout-<index>.npz`` (atomically); returns the path."""
    from studio.atomic import write_atomic_with

    frames = np.ascontiguousarray(frames, dtype=np.uint8)
    actions = np.asarray(actions, dtype=np.float32)
    rewards = np.asarray(rewards, dtype=np.float32)
    dones = np.asarray(dones, dtype=bool)
    t = len(actions)
    if frames.shape != (t, *FRAME_SHAPE) or actions.shape != (t, 3) or rewards.shape != (t,) \
            or dones.shape != (t,) or t == 0:
        raise ValueError(f"a rollout needs T >= 1 frames (T, 64, 64, 3), actions (T, 3), "
                         f"rewards and dones (T,); got {frames.shape}, {actions.shape}, "
                         f"{rewards.shape}, {dones.shape}")
    path = Path(folder) / rollout_name(index)

    def fill(tmp: Path) -> None:
        with open(tmp, "wb") as f:
            np.savez_compressed(f, frames=frames, actions=actions, rewards=rewards, dones=dones,
                                seed=np.int64(seed), policy=np.str_(policy))

    write_atomic_with(path, fill)
    return path


def read_rollout(path: Path, frames: bool = True) -> Rollout:
    """One episode (without decompressing its frames when ``frames`` is False), checked; a
    file that is not a whole rollout raises RolloutError naming it."""
    path = Path(path)
    try:
        with np.load(path, allow_pickle=False) as z:
            missing = [k for k in FIELDS if k not in z.files]
            if missing:
                raise ValueError(f"missing {', '.join(missing)}")
            out = Rollout(z["frames"] if frames else None, z["actions"], z["rewards"],
                          z["dones"], int(z["seed"]), str(z["policy"]), path)
    except RolloutError:
        raise
    except (OSError, ValueError, KeyError, EOFError, zipfile.BadZipFile, zlib.error) as exc:
        raise RolloutError(f"rollout {path} cannot be read ({_first_line(exc)}); delete it "
                           "or collect it again") from None
    t = len(out.actions)
    shapes_ok = (out.actions.shape == (t, 3) and out.rewards.shape == (t,)
                 and out.dones.shape == (t,) and t > 0)
    if frames and out.frames is not None:
        shapes_ok = shapes_ok and out.frames.shape == (t, *FRAME_SHAPE) \
            and out.frames.dtype == np.uint8
    if not shapes_ok:
        raise RolloutError(f"rollout {path} is not a whole episode (actions "
                           f"{out.actions.shape}, rewards {out.rewards.shape}"
                           + (f", frames {out.frames.shape}" if out.frames is not None else "")
                           + "); delete it or collect it again")
    out.actions = out.actions.astype(np.float32, copy=False)
    out.rewards = out.rewards.astype(np.float32, copy=False)
    out.dones = out.dones.astype(bool, copy=False)
    return out


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__


def rollout_files(folder: Path) -> list[Path]:
    """The rollout files in ``folder`` (not its subfolders), sorted; raises a one-line
    UserError when the folder is missing or holds none."""
    folder = Path(folder)
    if not folder.is_dir():
        raise UserError(f"{folder} is not a folder of rollouts")
    files = sorted(p for p in folder.glob("*" + SUFFIX) if p.is_file())
    if not files:
        raise UserError(f"{folder} holds no rollouts (*.npz); collect some with drive.collect")
    return files


def iter_rollouts(folder: Path, frames: bool = True,
                  on_error: Callable[[Path, str], None] | None = None) -> Iterator[Rollout]:
    """Every rollout in ``folder`` in name order, one at a time. A file that cannot be read
    raises RolloutError, or is passed to ``on_error(path, message)`` and skipped."""
    for path in rollout_files(folder):
        try:
            yield read_rollout(path, frames)
        except RolloutError as exc:
            if on_error is None:
                raise
            on_error(path, str(exc))


# ---------------------------------------------------------------------------------------------
# Streaming for training: a few episodes in memory at a time.


class EpisodeBuffer:
    """Up to ``size`` episodes in memory, drawn from ``files`` in a fresh random order each
    pass; ``swap()`` replaces the oldest with the next file. ``load(path)`` reads one
    episode (raising RolloutError for a bad file, which is then skipped for good and reported
    through ``on_error``)."""

    def __init__(self, files: list[Path], load: Callable[[Path], object], size: int,
                 rng: np.random.Generator,
                 on_error: Callable[[Path, str], None] | None = None):
        self.files, self.load, self.size, self.rng = list(files), load, max(1, size), rng
        self.on_error = on_error
        self.bad: set[Path] = set()
        self.episodes: list = []
        self.order: list[int] = []
        self.passes = 0
        while len(self.episodes) < min(self.size, len(self.files) - len(self.bad)) \
                and self._add():
            pass
        if not self.episodes:
            raise UserError(f"none of the {len(self.files)} rollout files could be read "
                            f"(the first: {self.files[0] if self.files else '-'})")

    def _next_path(self) -> Path | None:
        for _ in range(2 * len(self.files) + 1):
            if not self.order:
                self.order = list(self.rng.permutation(len(self.files)))
                self.passes += 1
            path = self.files[self.order.pop()]
            if path not in self.bad:
                return path
        return None

    def _add(self) -> bool:
        while (path := self._next_path()) is not None:
            try:
                self.episodes.append(self.load(path))
                return True
            except RolloutError as exc:
                self.bad.add(path)
                if self.on_error is None:
                    raise
                self.on_error(path, str(exc))
                if len(self.bad) == len(self.files):
                    return False
        return False

    def swap(self) -> None:
        """Drop the oldest episode and read the next one (when there are more files than the
        buffer holds)."""
        if len(self.files) - len(self.bad) > len(self.episodes) and self._add():
            self.episodes.pop(0)


class FrameSampler:
    """Endless batches of uint8 frames (B, 64, 64, 3) drawn at random from a buffer of
    episodes, one episode swapped in every so often, so that each frame is drawn about once
    per pass over the data while at most ``buffer`` episodes are in memory."""

    def __init__(self, files: list[Path], batch: int, rng: np.random.Generator,
                 buffer: int = 16, on_error: Callable[[Path, str], None] | None = None):
        self.batch, self.rng = batch, rng
        self.buf = EpisodeBuffer(files, lambda p: read_rollout(p).frames, buffer, rng, on_error)
        self.drawn = 0

    def __iter__(self) -> Iterator[np.ndarray]:
        return self

    def __next__(self) -> np.ndarray:
        eps = self.buf.episodes
        lengths = np.array([len(e) for e in eps])
        picks = self.rng.integers(lengths.sum(), size=self.batch)
        starts = np.concatenate([[0], np.cumsum(lengths)[:-1]])
        which = np.searchsorted(starts, picks, side="right") - 1
        out = np.stack([eps[w][p - starts[w]] for w, p in zip(which, picks, strict=True)])
        self.drawn += self.batch
        if self.drawn >= lengths.mean():  # about one episode's worth drawn: swap one in
            self.drawn = 0
            self.buf.swap()
        return out


@dataclass
class SequenceBatch:
    """B windows of L steps: what M reads and what it predicts.

    ``mu`` and ``logvar`` (B, L + 1, z) are the latents of the L frames and the one after;
    ``actions`` (B, L, 3), ``rewards`` and ``dones`` (B, L); ``mask`` (B, L): the step exists
    (short episodes are padded); ``next_mask``: it also has a next frame (not the episode's
    last)."""

    mu: np.ndarray
    logvar: np.ndarray
    actions: np.ndarray
    rewards: np.ndarray
    dones: np.ndarray
    mask: np.ndarray
    next_mask: np.ndarray


class SequenceSampler:
    """Endless ``SequenceBatch``es of ``length`` steps from episodes that ``load(path)`` reads
    as dicts of arrays ``mu``, ``logvar`` (T, z), ``actions`` (T, 3), ``rewards`` and ``dones``
    (T,): the latent cache of ``train_rnn``. Windows start anywhere in an episode; at most
    ``buffer`` episodes are in memory."""

    def __init__(self, files: list[Path], load: Callable[[Path], dict[str, np.ndarray]],
                 batch: int, length: int, rng: np.random.Generator, buffer: int = 64,
                 on_error: Callable[[Path, str], None] | None = None):
        self.batch, self.length, self.rng = batch, length, rng
        self.buf = EpisodeBuffer(files, load, buffer, rng, on_error)
        self.drawn = 0

    def __iter__(self) -> Iterator[SequenceBatch]:
        return self

    def __next__(self) -> SequenceBatch:
        eps = self.buf.episodes
        b, n = self.batch, self.length
        z = eps[0]["mu"].shape[1]
        out = SequenceBatch(np.zeros((b, n + 1, z), np.float32), np.zeros((b, n + 1, z),
                                                                          np.float32),
                            np.zeros((b, n, 3), np.float32), np.zeros((b, n), np.float32),
                            np.zeros((b, n), bool), np.zeros((b, n), bool),
                            np.zeros((b, n), bool))
        lengths = np.array([len(e["actions"]) for e in eps])
        # episodes in proportion to their windows, so that every step is as likely
        which = self.rng.choice(len(eps), size=b, p=lengths / lengths.sum())
        for i, w in enumerate(which):
            ep, t = eps[w], lengths[w]
            s = int(self.rng.integers(max(1, t - n + 1)))
            m = min(n, t - s)
            k = min(m + 1, t - s)  # the frame after the window's last, when there is one
            out.mu[i, :k] = ep["mu"][s:s + k]
            out.logvar[i, :k] = ep["logvar"][s:s + k]
            out.actions[i, :m] = ep["actions"][s:s + m]
            out.rewards[i, :m] = ep["rewards"][s:s + m]
            out.dones[i, :m] = ep["dones"][s:s + m]
            out.mask[i, :m] = True
            out.next_mask[i, :m] = np.arange(s, s + m) < t - 1
        self.drawn += b * n
        if self.drawn >= lengths.mean():
            self.drawn = 0
            self.buf.swap()
        return out
