"""``drive.watch`` and ``drive.dream``: the agent driving in real time beside what it sees and
what it dreams, for the drive panel (and, headless, to record a video).

Watch: the agent drives the track of the run's seed (then the next seeds, with ``--episodes``).
At every step V encodes the 64x64 frame to z, C acts on [z, h] (or the user does: the arrow
keys in the panel), M reads z and the action, and its mixture's likeliest next z is decoded as
the frame M expects next. Dream: M stands in for the game (``dream.DreamVecEnv``): it starts
from a real frame of the track (with M's memory of the drive so far) or from nothing (z drawn
from N(0, I)), and the agent (or the user) drives in it; the temperature can change while it
runs; M's heads give each step's reward and the chance that the episode ends there.

Each step yields a ``Preview`` whose data is a dict (``"mode"``: "track" or "dream", the
pictures, score, action...), at most ``SHOW_FPS`` a second with pictures ("screen": the track
drawn at the panel's size, or the dream blown up to it, as the screen takes it (``screen``);
"input", "reconstruction", "prediction", "dream": 64x64 RGB frames): at real time (50
steps a second) every step is shown; faster, the steps between two shown frames are driven
without being drawn. ``--speed`` paces the steps (1: real time; 0: as fast as they go, the
default on the command line).

While it runs, the panel steers it through ``ctx.controls`` (docs/plugins.md, live controls):

values:   "speed" (times real time, 0: as fast as it goes), "human" ((steer, gas, brake) while
          the user drives, None when the agent does), "tau" (the dream's temperature), "view"
          ((width, height) of the panel's view, drawn at that size by the fast renderer),
          "panes" (what the next recording shows)
commands: "pause" (True/False), "step" (one step while paused), "restart" (this track or
          dream again), "next" (the next track), "dream" (dream from here), "wake" (back to
          the track where the dream began), "record" ("mp4", "gif" or None to stop and save),
          "decode" (a list of z values: V's decoding of it comes back as "explored"),
          "redraw" (the view changed size), "stop" (end now, saving a recording in progress)

A recording (``--record`` or the "record" command) is saved as an ``Output`` (.mp4 or .gif)
when it is stopped, when its episode ends, or when the run ends by "stop" or by itself.
"""

from __future__ import annotations

import math
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from studio.errors import UserError
from studio.tasks import Context, Event, Log, Output, Preview, Progress, Task, param
from studio_drive.mind import Mind
from studio_drive.record import FORMATS, PANES, VIEW_SIZE, Recorder, compose

FPS = 50  # CarRacing's steps per second of game time
SHOW_FPS = 60  # frames with pictures per second at most: no screen shows more
HOLD = 1.0  # seconds an ended episode's last frame stays when watching in real time
TRACK_LIMIT = 2**32  # track seeds are 0 .. 2**32 - 1
VIEW_LIMIT = (1920, 1536)  # the largest view drawn for the panel
DEFAULT_MODEL = "drive.carracing"


@dataclass
class WatchParams:
    model: str = param(DEFAULT_MODEL, model="drive",
                       help="the drive model at the wheel (with V, M and C)")
    steps: int = param(1000, min=1, max=100_000,
                       help="steps to drive each track at most (the game ends at 1000)")
    episodes: int = param(1, min=1, max=100_000,
                          help="tracks to drive one after the other: the run's --seed, then "
                               "the next seeds")
    speed: float = param(0.0, min=0.0, max=64.0,
                         help="times real time (50 steps a second); 0: as fast as it goes")
    record: str = param("none", choices=("none", *FORMATS),
                        help="record the drive to a video (mp4 or gif) in the gallery")
    panes: str = param("all", choices=PANES,
                       help="what the video shows: all (the track beside what the agent "
                            "sees, V's reconstruction and M's prediction) or one of them")
    renderer: str = param("fast", choices=("fast", "stock"), advanced=True,
                          help="the agent's observation renderer (the view is always drawn "
                               "by the fast one)")
    precision: str = param("auto", choices=("auto", "fp32", "bf16"), advanced=True,
                           help="V's products (auto: bf16 where the CPU has it)")


@dataclass
class DreamParams:
    model: str = param(DEFAULT_MODEL, model="drive",
                       help="the drive model whose M dreams (its C drives when it has one)")
    start: str = param("track", choices=("track", "nothing"),
                       help="track: from a real frame of the run's --seed track, with M's "
                            "memory of the drive to it; nothing: from z drawn at random")
    after: int = param(50, min=0, max=1000,
                       help="steps the agent drives the track before the dream begins "
                            "(the first 50 are the game's zoom)")
    tau: float = param(1.0, min=0.0, max=3.0,
                       help="temperature: 0 the likeliest future, above 1 wilder")
    steps: int = param(1000, min=1, max=100_000, help="steps to dream at most")
    episodes: int = param(1, min=1, max=100_000,
                          help="dreams one after the other (a dream ends when M says so)")
    speed: float = param(0.0, min=0.0, max=64.0,
                         help="times real time (50 steps a second); 0: as fast as it goes")
    record: str = param("none", choices=("none", *FORMATS),
                        help="record the dream to a video (mp4 or gif) in the gallery")
    precision: str = param("auto", choices=("auto", "fp32", "bf16"), advanced=True,
                           help="V's products (auto: bf16 where the CPU has it)")


def track_of(seed: int, episodes: int = 1) -> int:
    """The first track's seed (the run's), checked: CarRacing takes 0 .. 2**32 - 1."""
    if not 0 <= seed <= TRACK_LIMIT - episodes:
        raise UserError(f"--seed {seed}: a track seed is a whole number from 0 to "
                        f"{TRACK_LIMIT - episodes}" + (f" (with {episodes} episodes)"
                                                       if episodes > 1 else ""))
    return seed


# ---------------------------------------------------------------------------------------------
# The session: pacing, the panel's controls, recording.


@dataclass
class Episode:
    """One drive or dream: what the panel's readouts and curve show."""

    mode: str  # "track" or "dream"
    track: int | None
    steps: int  # the most it may take
    t: int = 0
    score: float = 0.0
    scores: list[float] | None = None
    dones: list[float] | None = None  # the dream's done probability per step
    ended: str = ""  # why it ended ("" while it goes on)

    def __post_init__(self) -> None:
        self.scores = [] if self.scores is None else self.scores
        self.dones = [] if self.dones is None else self.dones


class Session:
    """The loop both tasks share: commands from the panel, pause and single steps, pacing to
    the speed asked, previews at most ``SHOW_FPS`` a second, recording."""

    def __init__(self, ctx: Context, model: str, vae: Any, mdnrnn: Any, controller: Any,
                 speed: float, record: str, panes: str, precision: str,
                 renderer: str = "fast", tau: float = 1.0):
        from studio.device import use_bf16

        self.ctx, self.model = ctx, model
        self.controls = ctx.controls
        self.mind = Mind(vae, mdnrnn, controller, use_bf16(precision, str(ctx.device)))
        self.speed, self.tau, self.renderer = speed, tau, renderer
        self.panes = panes
        self.record_next = record if record in FORMATS else None  # start with the episode
        self.recorder: Recorder | None = None
        self.recorded_from = 0
        self.paused = False
        self.step_once = False
        self.jump = ""  # "restart", "next", "dream", "wake" or "stop"
        self.explored: dict[str, Any] | None = None
        self.explore_version = 0
        self.last_shown = 0.0
        self.shown_at = -1  # total_steps at the last frame shown
        self.next_tick = time.perf_counter()
        self.rate_clock = (time.perf_counter(), 0)
        self.steps_per_s = 0.0
        self.total_steps = 0
        self.driver = "agent"
        self.redraw = False
        self.last_action = np.zeros(3, np.float32)
        self.last_data: dict[str, Any] = {}  # the last frame shown with pictures
        self.outputs: list[tuple[Log, Output]] = []  # finished recordings, not yet yielded
        self.recordings = 0
        self.recorded_by_you = False  # the user drove during the recording in progress
        self.recording_ep: Episode | None = None
        self.recording_panes = panes

    # -- the panel's controls ---------------------------------------------------------------
    def commands(self) -> None:
        for name, value in self.controls.take():
            if name == "pause":
                self.paused = bool(value) if value is not None else not self.paused
                self.redraw = True
            elif name == "step":
                self.paused, self.step_once = True, True
            elif name in ("restart", "next", "dream", "wake", "stop"):
                self.jump = name
            elif name == "record":
                self.set_recording(value)
            elif name == "decode":
                self.explore(value)
            elif name == "redraw":  # the panel's view changed size
                self.redraw = True

    def explore(self, values: Any) -> None:
        try:
            z = np.asarray(values, np.float32).reshape(-1)
        except (TypeError, ValueError):
            return
        if z.shape != (self.mind.vae.z_size,) or not np.isfinite(z).all():
            return
        self.explore_version += 1
        self.explored = {"z": z.tolist(), "image": self.mind.decode(z[None])[0],
                         "version": self.explore_version}
        self.redraw = True

    def set_recording(self, fmt: Any) -> None:
        if fmt in FORMATS and self.recorder is None:
            self.record_next = fmt  # opened at the next step drawn (it knows the episode)
        elif fmt not in FORMATS:
            self.record_next = None
            self.finish_recording("stopped")

    def human(self) -> np.ndarray | None:
        h = self.controls.get("human")
        if h is None:
            return None
        try:
            a = np.asarray(h, np.float32).reshape(3)
        except (TypeError, ValueError):
            return None
        return np.clip(a, [-1, 0, 0], [1, 1, 1]).astype(np.float32)

    def view_size(self) -> tuple[int, int]:
        size = self.controls.get("view", VIEW_SIZE)
        try:
            w, h = (int(v) for v in size)
        except (TypeError, ValueError):
            w, h = VIEW_SIZE
        return min(max(w, 16), VIEW_LIMIT[0]), min(max(h, 16), VIEW_LIMIT[1])

    # -- time ----------------------------------------------------------------------------
    def speed_now(self) -> float:
        try:
            return max(float(self.controls.get("speed", self.speed)), 0.0)
        except (TypeError, ValueError):
            return self.speed

    def due(self) -> bool:
        """A frame with pictures is due: paused (stepping once) or asked to redraw; at a set
        speed, every k-th step so that no more than SHOW_FPS are drawn a second of it (real
        time: every step); as fast as it goes, 1/SHOW_FPS s after the last one."""
        if self.paused or self.redraw:
            return True
        speed = self.speed_now()
        if speed > 0:
            return self.total_steps - self.shown_at >= math.ceil(FPS * speed / SHOW_FPS)
        return time.perf_counter() - self.last_shown >= 1 / SHOW_FPS

    def pace(self) -> None:
        """Sleep until the next step is due at the speed asked (real time: 50 a second)."""
        self.total_steps += 1
        now = time.perf_counter()
        t0, n0 = self.rate_clock
        if now - t0 >= 0.5:
            self.steps_per_s = (self.total_steps - n0) / (now - t0)
            self.rate_clock = (now, self.total_steps)
        speed = self.speed_now()
        if speed <= 0 or self.paused:
            self.next_tick = now
            return
        self.next_tick += 1 / (FPS * speed)
        if self.next_tick < now - 0.1:  # fell behind (a slow step): do not rush to catch up
            self.next_tick = now
        self.sleep_until(self.next_tick)

    def sleep_until(self, when: float) -> None:
        while (left := when - time.perf_counter()) > 0 and not self.ctx.is_cancelled():
            time.sleep(min(left, 0.05))

    def hold(self) -> Iterator[Event]:
        """An ended episode's last frame stays a moment when watching in real time."""
        if self.speed_now() > 0 and self.jump != "stop":
            end = time.perf_counter() + HOLD
            while time.perf_counter() < end and not self.ctx.is_cancelled():
                self.commands()
                if self.jump:
                    break
                self.controls.wait(min(0.05, end - time.perf_counter()))
                yield Progress(None)

    def wait_paused(self) -> bool:
        """Paused: wait a moment for the panel; False when the run is stopped."""
        self.controls.wait(0.05)
        return not self.ctx.is_cancelled()

    # -- recording -----------------------------------------------------------------------
    def record(self, ep: Episode, panes: dict[str, np.ndarray]) -> None:
        if self.recorder is None and self.record_next is not None:
            fmt = self.record_next
            self.record_next = None
            self.recordings += 1
            path = self.ctx.scratch / f"recording-{self.recordings}.{fmt}"
            self.recorder = Recorder(path, fmt, FPS)
            self.recorded_by_you = False
            self.recorded_from = ep.t
            self.recording_ep = ep
            which = self.controls.get("panes", self.panes)
            self.recording_panes = which if which in PANES else self.panes
        if self.recorder is None:
            return
        self.recorded_by_you |= self.driver == "you"
        note = (f"track {ep.track}" if ep.mode == "track" else "dream") + \
            f"  step {ep.t}  score {ep.score:.0f}"
        if ep.mode == "dream":
            note += f"  tau {self.tau:.2f}"
        self.recorder.add(compose(panes, self.recording_panes, note=note))

    def finish_recording(self, why: str) -> None:
        """Close the recording in progress; its Output waits in ``outputs``."""
        rec, self.recorder = self.recorder, None
        if rec is None:
            return
        path = rec.close()
        if path is None:
            return
        ep = self.recording_ep
        where = f"track {ep.track}" if ep.mode == "track" else "dream"
        drove = " (you drove)" if self.recorded_by_you else ""
        name = f"{self.model} {where} steps {self.recorded_from}-{ep.t}{drove}"
        self.outputs.append((Log(f"recorded {rec.describe()}: {name} ({why})"),
                             Output(Path(path).read_bytes(), name=name, suffix=f".{rec.fmt}")))

    def flush(self) -> Iterator[Event]:
        """The recordings finished since the last flush, each with its log line."""
        while self.outputs:
            yield from self.outputs.pop(0)

    # -- frames for the panel ----------------------------------------------------------------
    def preview(self, ep: Episode, pictures: dict[str, Any], action: np.ndarray | None,
                extra: dict[str, Any]) -> Preview:
        """A frame for the panel (``action`` None: the last one taken)."""
        self.last_shown = time.perf_counter()
        self.shown_at = self.total_steps
        self.redraw = False
        if action is None:
            action = self.last_action
        self.last_action = np.asarray(action, np.float32)
        data = {"mode": ep.mode, "track": ep.track, "step": ep.t, "score": ep.score,
                "scores": np.asarray(ep.scores, np.float32),
                "action": [float(v) for v in action], "driver": self.driver,
                "paused": self.paused, "ended": ep.ended, "model": self.model,
                "steps_per_s": round(self.steps_per_s, 1), "speed_asked": self.speed_now(),
                "recording": self.recorder.fmt if self.recorder else None,
                "recorded_s": round(self.recorder.seconds, 1) if self.recorder else 0.0,
                "explored": self.explored, **pictures, **extra}
        if ep.mode != self.last_data.get("mode") or pictures:
            self.last_data = data
        return Preview(data, label=f"{ep.mode} step {ep.t}")

    def again(self) -> Preview:
        """The frame on screen once more, with what changed since (paused, the explorer's
        decoding, recording): while paused the picture stays the one shown, so that a single
        step always moves it on."""
        self.last_shown = time.perf_counter()
        self.redraw = False
        data = {**self.last_data, "paused": self.paused, "explored": self.explored,
                "driver": self.driver, "speed_asked": self.speed_now(),
                "recording": self.recorder.fmt if self.recorder else None,
                "recorded_s": round(self.recorder.seconds, 1) if self.recorder else 0.0}
        return Preview(data, label=f"{data.get('mode', '')} step {data.get('step', 0)}")


# ---------------------------------------------------------------------------------------------
# The episodes.


def drive_track(s: Session, env: Any, track: int, steps: int) -> Iterator[Event]:
    """The agent (or the user) drives ``track`` for up to ``steps`` steps; a "dream" command
    dreams from the frame on screen and comes back here on "wake"."""
    from studio_drive.frames import to_input

    car_env = env.unwrapped
    obs, _ = env.reset(seed=track)
    s.mind.reset()
    ep = Episode("track", track, steps)
    yield Log(f"{s.model} drives track {track}")
    while ep.t < steps and not s.ctx.is_cancelled():
        s.commands()
        yield from s.flush()  # a recording stopped by the panel
        if s.jump == "dream":
            s.jump = ""
            frame64 = to_input(obs)
            s.mind.see(frame64)
            yield from dream_from(s, s.mind.z, s.mind.state, steps, frame64)
            if s.jump == "wake":
                s.jump = ""
            s.redraw = True
        if s.jump:
            break
        if s.paused and not s.step_once:
            if s.redraw:  # show what changed (a pause, the explorer's decoding)
                yield s.again() if s.last_data else s.preview(ep, {}, None, {})
            if not s.wait_paused():
                return
            continue
        s.step_once = False
        frame64 = to_input(obs)
        s.mind.see(frame64)
        human = s.human()
        s.driver = "you" if human is not None else "agent"
        action = human if human is not None else s.mind.act()
        s.mind.predict(action)
        show, recording = s.due(), s.recorder is not None or s.record_next is not None
        if show or recording:
            recon, predicted = s.mind.pictures()
            small = {"input": frame64, "reconstruction": recon, "prediction": predicted}
            extra = {"car_speed": _car_speed(car_env),
                     "z": s.mind.z[0].float().cpu().numpy().tolist()}
            if recording:
                s.record(ep, {"view": car_env.render_view(*VIEW_SIZE), **small})
            if show:
                yield s.preview(ep, {"screen": screen(car_env.render_view(*s.view_size())),
                                     **small}, action, extra)
        obs, reward, terminated, truncated, _ = env.step(action)
        s.mind.advance()
        ep.t += 1
        ep.score += float(reward)
        ep.scores.append(ep.score)
        if terminated or truncated or ep.t >= steps:
            ep.ended = _why_it_ended(car_env, terminated, ep.t, steps)
        yield Progress(None, f"track {track} step {ep.t} score {ep.score:.0f}")
        if ep.ended:
            break
        s.pace()
    if ep.ended:
        yield Log(f"track {track}: score {ep.score:.1f} in {ep.t} steps ({ep.ended})")
        if not s.ctx.is_cancelled():
            yield s.preview(ep, {"screen": screen(car_env.render_view(*s.view_size()))}, None,
                            {})
            s.finish_recording(ep.ended)
            yield from s.flush()
            yield from s.hold()
    s.finish_recording("the run ended" if s.jump in ("stop", "") else s.jump)
    yield from s.flush()


def screen(frame: np.ndarray, size: tuple[int, int] | None = None) -> np.ndarray:
    """A picture as the screen takes it: uint8 (H, W, 4) in B, G, R, 255 order (Qt's RGB32,
    drawn without a conversion on the window's thread). ``size``: a 64x64 frame is first
    blown up (smoothly) to the largest square within it."""
    import cv2

    if size is not None:
        side = max(min(size), 1)
        frame = cv2.resize(frame, (side, side), interpolation=cv2.INTER_LINEAR)
    return cv2.cvtColor(frame, cv2.COLOR_RGB2BGRA)


def _car_speed(car_env: Any) -> float:
    v = car_env.car.hull.linearVelocity
    return float(math.hypot(v[0], v[1]))


def _why_it_ended(car_env: Any, terminated: bool, t: int, steps: int) -> str:
    if terminated:
        if car_env.tile_visited_count >= len(car_env.track):
            return "lap complete"
        return "off the playfield"
    return "time is up" if t >= 1000 else f"{steps} steps"


def dream_from(s: Session, z: Any, state: Any, steps: int, start: np.ndarray | None
               ) -> Iterator[Event]:
    """Dream from latent ``z`` (1, z_size) with M's ``state`` (its memory; None: a fresh one)
    until M says the episode ends, ``steps`` steps, or "wake"; ``start`` is the real frame it
    began from (shown beside the dream), or None."""
    import torch

    from studio_drive.dream import DreamVecEnv

    mind = s.mind
    dreams = DreamVecEnv(mind.vae, mind.mdnrnn, 1, observation="latent", tau=s.tau,
                         max_steps=steps, autoreset=False)
    dreams.bf16 = False  # its frames are decoded one at a time (see Mind.decode)
    dreams.reset(seed=int(s.ctx.numpy_rng().integers(2**31)) + s.total_steps,
                 options={"z": z.float().cpu().numpy()})
    if state is not None:
        dreams.state = (state[0].clone(), state[1].clone())
    ep = Episode("dream", None, steps)
    reward, p_done = 0.0, 0.0
    yield Log("dreaming from " + ("the frame on screen" if start is not None else "nothing")
              + f" at temperature {s.tau:g}")
    while ep.t < steps and not s.ctx.is_cancelled():
        s.commands()
        yield from s.flush()
        if s.jump:
            break
        s.tau = _tau(s.controls.get("tau", s.tau), s.tau)
        dreams.tau = s.tau
        if s.paused and not s.step_once:
            if s.redraw:
                yield s.again() if s.last_data.get("mode") == "dream" else s.preview(
                    ep, {}, None, {"tau": s.tau})
            if not s.wait_paused():
                return
            continue
        s.step_once = False
        human = s.human()
        s.driver = "you" if human is not None else "agent"
        action = human if human is not None else mind.act(dreams.z, dreams.h)
        show, recording = s.due(), s.recorder is not None or s.record_next is not None
        if show or recording:
            frame = dreams.frames()[0]
            panes = {"dream": frame}
            if recording:
                s.record(ep, panes)
            if show:
                panes["screen"] = screen(frame, s.view_size())
                extra = {"tau": s.tau, "reward": reward, "done": p_done,
                         "dones": np.asarray(ep.dones, np.float32),
                         "z": dreams.z[0].float().cpu().numpy().tolist()}
                if start is not None:
                    extra["start"] = start
                yield s.preview(ep, panes, action, extra)
        with torch.no_grad():
            _, r, terminated, truncated, info = dreams.step(action[None])
        reward, p_done = float(r[0]), float(info["done_probability"][0])
        ep.t += 1
        ep.score += reward
        ep.scores.append(ep.score)
        ep.dones.append(p_done)
        if terminated[0]:
            ep.ended = f"M says the episode ends here (done {p_done:.0%})"
        elif truncated[0] or ep.t >= steps:
            ep.ended = f"{ep.t} steps"
        yield Progress(None, f"dream step {ep.t} score {ep.score:.0f}")
        if ep.ended:
            break
        s.pace()
    if ep.ended:
        yield Log(f"dream: {ep.ended}; dreamed score {ep.score:.1f} in {ep.t} steps")
        if not s.ctx.is_cancelled():
            frame = dreams.frames()[0]
            yield s.preview(ep, {"dream": frame, "screen": screen(frame, s.view_size())}, None,
                            {"tau": s.tau, "reward": reward, "done": p_done,
                             "dones": np.asarray(ep.dones, np.float32)})
            s.finish_recording(ep.ended)
            yield from s.flush()
            yield from s.hold()
    s.finish_recording("woke" if s.jump == "wake" else "the dream ended")
    yield from s.flush()


def _tau(value: Any, default: float) -> float:
    try:
        v = float(value)
    except (TypeError, ValueError):
        return default
    return min(max(v, 0.0), 3.0) if math.isfinite(v) else default


# ---------------------------------------------------------------------------------------------
# The tasks.


def watch(p: WatchParams, ctx: Context) -> Iterator[Event]:
    from studio_drive.env import make_env
    from studio_drive.loading import load_world_model

    first = track_of(ctx.seed, p.episodes)
    _, vae, mdnrnn, controller = load_world_model(ctx, p.model,
                                                  require=("vae", "mdnrnn", "controller"))
    s = Session(ctx, p.model, vae, mdnrnn, controller, p.speed, p.record, p.panes,
                p.precision, p.renderer)
    env = make_env(p.renderer)
    try:
        k = 0
        while k < p.episodes and not ctx.is_cancelled():
            yield from drive_track(s, env, first + k, p.steps)
            jump, s.jump = s.jump, ""
            if jump == "stop":
                break
            if jump != "restart":
                k += 1
    finally:
        env.close()
        if s.recorder is not None:
            s.recorder.close()


def dream(p: DreamParams, ctx: Context) -> Iterator[Event]:
    from studio_drive.loading import load_world_model

    first = track_of(ctx.seed, 1)
    _, vae, mdnrnn, controller = load_world_model(ctx, p.model, require=("vae", "mdnrnn"))
    if controller is None:
        yield Log(f"{p.model} has no controller yet: nobody drives unless you do (the arrow "
                  "keys)", "warning")
    s = Session(ctx, p.model, vae, mdnrnn, controller, p.speed, p.record, "all",
                p.precision, tau=p.tau)
    try:
        k = 0
        while k < p.episodes and not ctx.is_cancelled():
            if p.start == "track":
                z, state, frame = yield from _drive_to(s, first, p.after)
            else:
                z = s.mind.torch.randn(1, vae.z_size,
                                       generator=ctx.torch_generator().manual_seed(ctx.seed + k))
                state, frame = None, None
            if ctx.is_cancelled():
                return
            yield from dream_from(s, z, state, p.steps, frame)
            jump, s.jump = s.jump, ""
            if jump == "stop":
                break
            if jump != "restart":
                k += 1
    finally:
        if s.recorder is not None:
            s.recorder.close()


def _drive_to(s: Session, track: int, after: int) -> Iterator[Event]:
    """The agent drives ``after`` steps of ``track`` (unseen, as fast as it goes); returns the
    frame it reaches as z, M's state there and the 64x64 frame."""
    from studio_drive.env import make_env
    from studio_drive.frames import to_input

    env = make_env("fast")
    try:
        obs, _ = env.reset(seed=track)
        s.mind.reset()
        for t in range(after):
            s.mind.see(to_input(obs))
            action = s.mind.act()
            s.mind.predict(action)
            obs, _, terminated, truncated, _ = env.step(action)
            s.mind.advance()
            if terminated or truncated:
                break
            if t % 10 == 0:
                yield Progress(None, f"driving to the dream's start: step {t}/{after}")
                if s.ctx.is_cancelled():
                    break
        frame = to_input(obs)
        return s.mind.see(frame), s.mind.state, frame
    finally:
        env.close()


WATCH = Task("drive.watch", "Watch the agent drive", WatchParams, watch,
             "The agent drives a track in real time beside what it sees, V's reconstruction and "
             "M's prediction; records it to MP4 or GIF.")
DREAM = Task("drive.dream", "Dream", DreamParams, dream,
             "The agent drives in M's dream, from a real frame or from nothing, at a "
             "temperature; records it to MP4 or GIF.")
