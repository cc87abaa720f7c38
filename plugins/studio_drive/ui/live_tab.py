"""The drive panel's Drive tab: watch the agent drive a track in real time beside what it sees
(the 64x64 frame), what V keeps of it (the reconstruction) and what M expects next; flip into
M's dream; take the wheel with the arrow keys (or WASD); explore V's latent space; record.

Every step is computed by a task on the compute lane (``drive.watch``, ``drive.dream``,
``drive.explore``); the tab shows the newest frame each brings and sends the user's keys,
sliders and buttons back through the job's live controls (``job.controls``).
"""

from __future__ import annotations

import collections
import contextlib
import random
import time
from typing import Any

import numpy as np
from PySide6.QtCore import QEvent, QObject, Qt, QTimer, Signal
from PySide6.QtWidgets import (
    QComboBox,
    QFrame,
    QGridLayout,
    QHBoxLayout,
    QLabel,
    QPushButton,
    QSlider,
    QSpinBox,
    QSplitter,
    QVBoxLayout,
    QWidget,
)

from studio.ui import theme
from studio.ui.chart import LineChart
from studio.ui.widgets import FlowLayout, ModelPicker, group_row, show_status
from studio_drive.ui.explorer import LatentExplorer
from studio_drive.ui.live_buttons import DreamButton, RecordButton
from studio_drive.ui.views import FrameView, Meter, Stage

WATCH, DREAM, EXPLORE = "drive.watch", "drive.dream", "drive.explore"
DEFAULT_MODEL = "drive.carracing"
SPEEDS = (0.25, 0.5, 1.0, 2.0, 4.0, 8.0, 0.0)  # the speed slider's stops; 0: as fast as it goes
REAL_TIME = SPEEDS.index(1.0)
TRACK_MAX = 2**31 - 1
STOP_GRACE_MS = 2000  # a stop asked of a running drive; then it is interrupted
CAPTIONS = {"input": "it sees", "reconstruction": "V keeps", "prediction": "M expects"}
TIPS = {"input": "What the agent sees: the 64x64 frame V encodes",
        "reconstruction": "What V keeps of it: the frame decoded back from z",
        "prediction": "What M expects next: its likeliest next z, decoded by V"}
KEYS = {Qt.Key_Left: "left", Qt.Key_A: "left", Qt.Key_Right: "right", Qt.Key_D: "right",
        Qt.Key_Up: "gas", Qt.Key_W: "gas", Qt.Key_Down: "brake", Qt.Key_S: "brake"}
HINT = ("Arrows or WASD: drive · Enter: the agent drives · Space: pause · .: one step")


def action_of(held: set[str]) -> tuple[float, float, float]:
    """The keys held -> (steer, gas, brake), as gymnasium's CarRacing keyboard play has it."""
    steer = (-1.0 if "left" in held else 0.0) + (1.0 if "right" in held else 0.0)
    return steer, 1.0 if "gas" in held else 0.0, 0.8 if "brake" in held else 0.0


def speed_text(speed: float) -> str:
    return "max" if speed <= 0 else f"{speed:g}x"


class _Keys(QObject):
    """The stage's keys, handed to the tab (it drives with them)."""

    def __init__(self, tab: LiveTab):
        super().__init__(tab)
        self.tab = tab

    def eventFilter(self, watched, event) -> bool:  # noqa: N802 (Qt's name)
        if event.type() in (QEvent.KeyPress, QEvent.KeyRelease):
            return self.tab.key(event, event.type() == QEvent.KeyPress)
        if event.type() == QEvent.FocusOut:
            self.tab.release_keys()
        return False


class LiveTab(QWidget):
    train_requested = Signal()  # the user asked to train a model (no model with C here)

    def __init__(self, host, parent: QWidget | None = None):
        super().__init__(parent)
        self.host = host
        self.job = None  # the drive, dream or explorer run this tab follows
        self.kind = ""  # its task id
        self.mode = "track"  # what the newest frame shows: "track" or "dream"
        self.held: set[str] = set()
        self.human = False  # the user has the wheel
        self.z_now: list[float] | None = None  # z of the frame on screen
        self.explored_version = (None, -1)
        self.shown: collections.deque[float] = collections.deque(maxlen=240)
        self.fps = 0.0  # frames with pictures shown per second, over the last second
        self._charted = 0  # the score points the chart was drawn from
        self._submitting = False
        self._end_note = ""  # why the run ended, when the tab ended it for another job
        self._build()
        self.host.jobs.job_preview.connect(self._on_preview)
        self.host.jobs.job_changed.connect(self._on_changed)
        self.host.jobs.job_output.connect(self._on_output)
        self.host.jobs.job_added.connect(self._on_added)
        self._clock = QTimer(self)
        self._clock.setInterval(500)
        self._clock.timeout.connect(self._tick)
        self._clock.start()
        self.refresh_models()
        self._sync()

    # -- building ------------------------------------------------------------------------------
    def _build(self) -> None:
        self.model = ModelPicker(self.host.models, "drive", DEFAULT_MODEL)
        self.model.setMinimumContentsLength(18)
        # a long title shows its start, not its end (unless the user is typing in it)
        self.model.editTextChanged.connect(
            lambda text: self.model.lineEdit().setCursorPosition(0)
            if not self.model.lineEdit().hasFocus() else None)
        self.model.setSizeAdjustPolicy(QComboBox.AdjustToMinimumContentsLengthWithIcon)
        self.model.currentTextChanged.connect(lambda _: self._check_models())
        self.track = QSpinBox()
        self.track.setRange(0, TRACK_MAX)
        self.track.setValue(3)
        self.track.setToolTip("The track's seed: the same seed, the same track")
        self.track.editingFinished.connect(self._track_chosen)
        self._track_shown: int | None = None  # the track the newest frame is on
        self.track.setFixedWidth(self.track.fontMetrics().horizontalAdvance("2147483647") + 40)
        self.dice = QPushButton("Random")
        self.dice.setToolTip("A random track")
        self.dice.clicked.connect(self.random_track)
        self.watch_button = QPushButton("Watch")
        self.watch_button.setObjectName("primary")
        self.watch_button.setToolTip("The agent drives this track in real time")
        self.watch_button.clicked.connect(self.watch)
        self.dream_button = DreamButton()
        self.dream_button.clicked.connect(self.dream)
        self.stop_button = QPushButton("Stop")
        self.stop_button.clicked.connect(self.stop)
        self.pause_button = QPushButton("Pause")
        self.pause_button.setCheckable(True)
        self.pause_button.toggled.connect(self.set_paused)
        self.step_button = QPushButton("Step")
        self.step_button.setToolTip("One step (it pauses first)")
        self.step_button.clicked.connect(self.step)
        self.speed = QSlider(Qt.Horizontal)
        self.speed.setRange(0, len(SPEEDS) - 1)
        self.speed.setValue(REAL_TIME)
        self.speed.setFixedWidth(110)
        self.speed.setToolTip("Times real time (50 steps a second); max: as fast as it goes")
        self.speed_label = QLabel(speed_text(1.0))
        self.speed_label.setMinimumWidth(self.speed_label.fontMetrics().horizontalAdvance("0.25x"))
        self.speed.valueChanged.connect(self._speed_changed)
        self.tau = QSlider(Qt.Horizontal)
        self.tau.setRange(0, 300)
        self.tau.setValue(100)
        self.tau.setFixedWidth(110)
        self.tau.setToolTip("The dream's temperature: 0 the likeliest future, above 1 wilder; "
                            "it changes the dream as it runs")
        self.tau_label = QLabel("1.00")
        self.tau_label.setMinimumWidth(self.tau_label.fontMetrics().horizontalAdvance("0.00"))
        self.tau.valueChanged.connect(self._tau_changed)
        self.record_button = RecordButton()
        self.record_button.toggled.connect(self.set_recording)
        self.record_button.panes_changed.connect(self._panes_changed)
        self.latents_button = QPushButton("Latents")
        self.latents_button.setCheckable(True)
        self.latents_button.setToolTip("V's latent values as sliders")
        self.latents_button.toggled.connect(self.show_explorer)

        bar = QWidget()
        flow = FlowLayout(bar)
        for w in (group_row(QLabel("Model"), self.model),
                  group_row(QLabel("Track"), self.track, self.dice),
                  group_row(self.watch_button, self.dream_button, self.stop_button),
                  group_row(self.pause_button, self.step_button),
                  group_row(QLabel("Speed"), self.speed, self.speed_label),
                  group_row(QLabel("Temperature"), self.tau, self.tau_label),
                  group_row(self.record_button, self.latents_button)):
            flow.addWidget(w)

        # no model to watch: say so, and offer to train one
        self.notice = QFrame()
        self.notice.setObjectName("card")
        self.notice_text = QLabel("")
        self.notice_text.setWordWrap(True)
        self.train_button = QPushButton("Train a model…")
        self.train_button.clicked.connect(self.train_requested)
        nl = theme.pad(QHBoxLayout(self.notice), (theme.SPACE_L, theme.SPACE, theme.SPACE_L,
                                                  theme.SPACE))
        nl.addWidget(self.notice_text, 1)
        nl.addWidget(self.train_button)

        self.view = FrameView("", "Press Watch: the agent drives the track in real time",
                              sharp=False, aspect=5 / 4)
        self.panes = {k: FrameView(c, "", sharp=True, aspect=1.0) for k, c in CAPTIONS.items()}
        for k, pane in self.panes.items():
            pane.setToolTip(TIPS[k])
        self.stage = Stage(self.view, list(self.panes.values()))
        self.stage.resized.connect(self._send_view_size)
        self.stage.installEventFilter(_Keys(self))
        self.explorer = LatentExplorer()
        self.explorer.changed.connect(self.explore)
        self.explorer.from_frame.clicked.connect(self._from_frame)
        self.explorer.hide()
        self.split = QSplitter(Qt.Horizontal)
        self.split.addWidget(self.stage)
        self.split.addWidget(self.explorer)
        self.split.setStretchFactor(0, 1)
        self.split.setStretchFactor(1, 0)
        self.split.setChildrenCollapsible(False)

        # readouts and the score's curve
        self.score = QLabel("")
        self.score.setObjectName("title")
        self.detail = QLabel("")
        self.detail.setObjectName("muted")
        self.steer = Meter("Steer", -1, 1)
        self.gas = Meter("Gas", 0, 1, theme.OK)
        self.brake = Meter("Brake", 0, 1, theme.ERROR)
        self.done = Meter("Done", 0, 1, theme.ERROR)
        self.done.hide()
        self.driver = QLabel("")
        self.rate = QLabel("")
        self.rate.setObjectName("muted")
        self.status = QLabel("")
        self.status.setObjectName("muted")
        self.status.setWordWrap(True)
        # the readouts change every frame: their sizes are fixed so that no new text moves
        # anything (a layout that moved would repaint the whole tab, fifty times a second)
        # (a label whose size is fixed asks for no layout when its text changes)
        self._live_labels = (self.score, self.detail, self.driver, self.rate)
        readouts = QWidget()
        self.readouts = readouts
        grid = theme.pad(QGridLayout(readouts), 0, theme.SPACE_S)
        grid.addWidget(self.score, 0, 0)
        grid.addWidget(self.detail, 1, 0)
        for i, m in enumerate((self.steer, self.gas, self.brake, self.done)):
            grid.addWidget(m, 2 + i, 0)
        grid.addWidget(self.driver, 6, 0)
        grid.addWidget(self.rate, 7, 0)
        grid.setRowStretch(8, 1)
        readouts.setFixedWidth(260)
        self.chart = LineChart({"score": theme.ACCENT, "dreamed score": "#61afef"},
                               "The score's curve appears as it drives")
        self.chart.setMinimumHeight(120)
        bottom = theme.pad(QHBoxLayout(), 0, theme.SPACE_L)
        bottom.addWidget(readouts)
        bottom.addWidget(self.chart, 1)

        self.stage.setToolTip(HINT)
        self.driver.setToolTip(HINT)
        lay = theme.pad(QVBoxLayout(self))
        lay.addWidget(bar)
        lay.addWidget(self.notice)
        lay.addWidget(self.split, 1)
        lay.addLayout(bottom)
        lay.addWidget(self.status)
        self.status.hide()

    def resizeEvent(self, event) -> None:  # noqa: N802 (Qt's name)
        super().resizeEvent(event)
        width = max(240, min(340, int(self.width() * 0.42)))
        self.readouts.setFixedWidth(width)
        for label in self._live_labels:
            label.setFixedSize(width, label.fontMetrics().height() + 4)

    # -- models --------------------------------------------------------------------------------
    def refresh_models(self, select: str | None = None) -> None:
        self.model.refresh(select)
        if select is None and self.model.model_id() not in self._drivable():
            ready = self._drivable()
            if ready:
                self.model.select(ready[0])
        self.model.lineEdit().setCursorPosition(0)  # (the picker's refresh sends no signal)
        self._check_models()

    def _cards(self) -> list:
        return self.model.cards()

    def _drivable(self) -> list[str]:
        """Drive models with a controller (V, M and C): what Watch needs."""
        return [c.id for c in self._cards() if "controller" in (c.quality or {})]

    def _check_models(self) -> None:
        cards = {c.id: c for c in self._cards()}
        chosen = self.model.model_id()
        if not self._drivable():
            dreamable = [i for i, c in cards.items() if "mdnrnn" in (c.quality or {})]
            self.notice_text.setText(
                "No drive model with a controller here yet, so no agent can drive. Train one "
                "in the Train tab (collect rollouts, then V, M and C)"
                + (f"; {dreamable[0]} has V and M: you can drive its dream yourself."
                   if dreamable else ", or put the starter agent in your model folder."))
            self.notice.show()
        elif chosen in cards and "controller" not in (cards[chosen].quality or {}):
            self.notice_text.setText(f"{chosen} has no controller yet: it can dream (drive it "
                                     "yourself) but not watch. Train its C in the Train tab.")
            self.notice.show()
        else:
            self.notice.hide()

    def showEvent(self, event) -> None:  # noqa: N802 (Qt's name)
        super().showEvent(event)
        self.refresh_models()

    # -- values --------------------------------------------------------------------------------
    def speed_value(self) -> float:
        return SPEEDS[self.speed.value()]

    def tau_value(self) -> float:
        return self.tau.value() / 100

    def random_track(self) -> None:
        self.track.setValue(random.randrange(TRACK_MAX))
        self._track_chosen()

    def _track_chosen(self) -> None:
        """Another track while the agent drives: it drives that one now."""
        if self.live() and self.kind == WATCH and self.mode == "track" \
                and self.track.value() != self._track_shown:
            self.watch()

    def running(self) -> bool:
        return self.job is not None and not self.job.state.finished

    def live(self) -> bool:
        """A drive or dream runs (it takes the controls)."""
        return self.running() and self.kind in (WATCH, DREAM)

    def _send_view_size(self) -> None:
        if self.running() and self.kind in (WATCH, DREAM):
            r = self.view.picture_rect()
            dpr = self.view.devicePixelRatioF()
            self.job.controls.set(view=(int(r.width() * dpr), int(r.height() * dpr)))
            self.job.controls.send("redraw")

    def _speed_changed(self) -> None:
        self.speed_label.setText(speed_text(self.speed_value()))
        if self.live():
            self.job.controls.set(speed=self.speed_value())

    def _tau_changed(self) -> None:
        self.tau_label.setText(f"{self.tau_value():.2f}")
        if self.live():
            self.job.controls.set(tau=self.tau_value())

    def _panes_changed(self) -> None:
        if self.live():
            self.job.controls.set(panes=self.record_button.panes())

    # -- running -------------------------------------------------------------------------------
    def _submit(self, task_id: str, values: dict[str, Any], seed: int | None = None):
        self._finish_current()
        try:
            params = self.host.task(task_id).make_params(values)
        except (KeyError, ValueError) as exc:
            self._say(str(exc), True)
            return None
        self._submitting = True  # our own job being added is no reason to stop
        try:
            self.job = self.host.submit(task_id, params, seed=seed)
        finally:
            self._submitting = False
        self.kind = task_id
        self._end_note = ""
        c = self.job.controls
        c.set(speed=self.speed_value(), tau=self.tau_value(),
              panes=self.record_button.panes(), human=None)
        self.human = False
        self.held.clear()
        if self.pause_button.isChecked() and task_id != EXPLORE:
            c.send("pause", True)
        self.shown.clear()
        self._send_view_size()
        self._sync()
        return self.job

    def _finish_current(self) -> None:
        """Ask the run this tab follows to end (it saves a recording in progress); interrupt
        it if it has not after a moment."""
        job = self.job
        if job is None or job.state.finished:
            return
        job.controls.send("stop")
        if job.state.name == "QUEUED":
            job.cancel()
            return
        QTimer.singleShot(STOP_GRACE_MS, lambda: job.cancel() if not job.state.finished
                          else None)

    def watch(self):
        """Watch the agent drive the chosen track (tracks after it follow)."""
        values = {"model": self.model.model_id(), "steps": 1000, "episodes": 100_000,
                  "speed": self.speed_value(), "panes": self.record_button.panes(),
                  "record": self.record_button.fmt()
                  if self.record_button.isChecked() else "none"}
        self._clear_chart()
        job = self._submit(WATCH, values, seed=self.track.value())
        if job is not None:
            self.stage.setFocus(Qt.OtherFocusReason)
        return job

    def dream(self):
        """While watching: dream from the frame on screen (or wake). Otherwise: a dream from
        the track's start or from nothing."""
        if self.live() and self.kind == WATCH:
            self.job.controls.send("wake" if self.mode == "dream" else "dream")
            return self.job
        values = {"model": self.model.model_id(), "start": self.dream_button.start(),
                  "tau": self.tau_value(), "episodes": 100_000, "speed": self.speed_value(),
                  "record": self.record_button.fmt()
                  if self.record_button.isChecked() else "none"}
        self._clear_chart()
        job = self._submit(DREAM, values, seed=self.track.value())
        if job is not None:
            self.stage.setFocus(Qt.OtherFocusReason)
        return job

    def stop(self) -> None:
        self._finish_current()

    def set_paused(self, on: bool) -> None:
        self.pause_button.setText("Resume" if on else "Pause")
        if self.live():
            self.job.controls.send("pause", on)

    def step(self) -> None:
        if not self.pause_button.isChecked():
            self.pause_button.setChecked(True)
        if self.live():
            self.job.controls.send("step")

    def set_recording(self, on: bool) -> None:
        if self.live():
            self.job.controls.send("record", self.record_button.fmt() if on else None)

    def give_back_wheel(self) -> None:
        self.human = False
        self.held.clear()
        if self.live():
            self.job.controls.set(human=None)
        self._show_driver("agent")

    # -- the keys ------------------------------------------------------------------------------
    def key(self, event, pressed: bool) -> bool:
        """A key on the stage: True when it was the tab's."""
        k = event.key()
        if k in KEYS:
            if event.isAutoRepeat():
                return True
            (self.held.add if pressed else self.held.discard)(KEYS[k])
            if pressed and not self.human:
                self.human = True
            if self.human and self.live():
                self.job.controls.set(human=action_of(self.held))
            return True
        if not pressed or event.isAutoRepeat():
            return k in (Qt.Key_Return, Qt.Key_Enter, Qt.Key_Space, Qt.Key_Period)
        if k in (Qt.Key_Return, Qt.Key_Enter):
            self.give_back_wheel()
            return True
        if k == Qt.Key_Space:
            self.pause_button.toggle()
            return True
        if k == Qt.Key_Period:
            self.step()
            return True
        return False

    def release_keys(self) -> None:
        """Focus left the stage: keys held are let go (the car coasts, the user still drives)."""
        if self.held:
            self.held.clear()
            if self.human and self.live():
                self.job.controls.set(human=action_of(self.held))

    # -- the explorer --------------------------------------------------------------------------
    def show_explorer(self, on: bool) -> None:
        self.explorer.setVisible(on)
        if on:
            width = max(260, min(420, self.width() // 3))
            total = sum(self.split.sizes()) or self.width()
            self.split.setSizes([max(total - width, 200), width])

    def _from_frame(self) -> None:
        if self.z_now is not None:
            self.explorer.set_values(self.z_now, emit=True)

    def explore(self, values: list[float]) -> None:
        """Decode the sliders' values: by the drive or dream that runs, else by
        drive.explore (started when needed, lingering while the sliders move)."""
        if self.running() and self.kind in (WATCH, DREAM, EXPLORE):
            self.job.controls.send("decode", values)
            return
        latent = ",".join(f"{v:g}" for v in values)
        job = self._submit(EXPLORE, {"model": self.model.model_id(), "latent": latent,
                                     "linger": 30.0, "save": False})
        if job is not None and job.state.name == "QUEUED" and self.host.jobs.running:
            self.explorer.say(f"Waiting for {self.host.jobs.running.title} to finish…")

    # -- what the job says ---------------------------------------------------------------------
    def _on_preview(self, job, preview) -> None:
        if job is not self.job or not isinstance(preview.data, dict):
            return
        d = preview.data
        explored = d.get("explored")
        if isinstance(explored, dict) and (job.id, explored.get("version")) != \
                self.explored_version:
            self.explored_version = (job.id, explored.get("version"))
            self.explorer.show_image(explored.get("image"))
            self.explorer.say("")
        mode = d.get("mode")
        if mode == "track":
            self._show_track(d)
        elif mode == "dream":
            self._show_dream(d)

    def _set_mode(self, mode: str) -> None:
        if mode == self.mode:
            return
        self.mode = mode
        dream = mode == "dream"
        self.panes["input"].caption = "it began from" if dream else CAPTIONS["input"]
        self.panes["input"].setToolTip("The real frame the dream began from" if dream
                                       else TIPS["input"])
        for key in ("reconstruction", "prediction"):
            self.panes[key].setVisible(not dream)
        self.view.aspect = 1.0 if dream else 5 / 4
        self.view.sharp = False
        self.done.setVisible(dream)
        self._clear_chart()
        self.stage.arrange()
        self._send_view_size()
        self._sync()

    def _common(self, d: dict[str, Any]) -> None:
        action = d.get("action") or (0.0, 0.0, 0.0)
        self.steer.set_value(action[0])
        self.gas.set_value(action[1])
        self.brake.set_value(action[2])
        if d.get("z") is not None:
            self.z_now = d["z"]
            self.explorer.from_frame.setEnabled(True)
            if len(self.z_now) != self.explorer.z_size:
                self.explorer.set_size(len(self.z_now))
        self._show_driver(d.get("driver", "agent"))
        badge = "PAUSED" if d.get("paused") else ""
        if d.get("recording"):
            badge = (badge + "  " if badge else "") + f"● REC {d.get('recorded_s', 0):.0f} s"
        if d.get("ended"):
            badge = "ENDED: " + d["ended"]
        if badge != self.view.badge:
            self.view.badge = badge
            self.view.update()
        scores = d.get("scores")
        if isinstance(scores, np.ndarray) and len(scores) != self._charted:
            self._charted = len(scores)
            series = "dreamed score" if d.get("mode") == "dream" else "score"
            # a point per 2 px of the chart is all it can show (and the window's time is dear)
            step = max(1, -(-len(scores) // max(self.chart.width() // 2, 50)))
            picked = scores[::step].tolist()
            if len(scores) and (len(scores) - 1) % step:
                picked.append(float(scores[-1]))  # the newest point always
            steps = list(range(1, len(scores) + 1, step))[:len(picked)]
            if len(steps) < len(picked):
                steps.append(len(scores))
            self.chart.steps = steps
            nan = [float("nan")] * len(steps)
            self.chart.values = {name: picked if name == series else nan
                                 for name in self.chart.values}
            self.chart.update()

    def _clear_chart(self) -> None:
        self.chart.clear()
        self._charted = 0

    def _count_frame(self) -> None:
        now = time.perf_counter()
        self.shown.append(now)
        while self.shown and now - self.shown[0] > 1.0:
            self.shown.popleft()

    def _show_track(self, d: dict[str, Any]) -> None:
        self._set_mode("track")
        if "screen" in d:
            self.view.set_frame(d["screen"])
            self._count_frame()
        for key, pane in self.panes.items():
            if key in d:
                pane.set_frame(d[key])
        self._common(d)
        self.score.setText(f"Score {d.get('score', 0.0):.0f}")
        track = d.get("track")
        self._track_shown = track
        if track is not None and track <= TRACK_MAX and track != self.track.value():
            self.track.blockSignals(True)
            self.track.setValue(track)
            self.track.blockSignals(False)
        self.detail.setText(f"track {track} · step {d.get('step', 0)} · speed "
                            f"{d.get('car_speed', 0.0):.0f}")
        self._show_rate(d)

    def _show_rate(self, d: dict[str, Any]) -> None:
        self.rate.setText(f"{self.fps:.0f} frames/s shown, {d.get('steps_per_s', 0):.0f} "
                          f"steps/s ({speed_text(d.get('speed_asked', 1.0))})")

    def _show_dream(self, d: dict[str, Any]) -> None:
        self._set_mode("dream")
        if "screen" in d or "dream" in d:
            self.view.set_frame(d.get("screen", d.get("dream")))
            self._count_frame()
        start = d.get("start")
        if isinstance(start, np.ndarray):
            self.panes["input"].set_frame(start)
        elif "dream" in d and d.get("step") == 0:
            self.panes["input"].set_frame(None)
            self.panes["input"].empty = "from nothing: z drawn at random"
        self._common(d)
        self.done.set_value(d.get("done", 0.0), f"{d.get('done', 0.0):.0%}")
        self.score.setText(f"Dreamed score {d.get('score', 0.0):.0f}")
        self.detail.setText(f"dream step {d.get('step', 0)} · reward {d.get('reward', 0.0):+.2f}"
                            f" · τ {d.get('tau', self.tau_value()):.2f}")
        self._show_rate(d)

    def _show_driver(self, who: str) -> None:
        text = ("You drive (Enter: the agent)" if who == "you"
                else "The agent drives (arrows: you)")
        if self.driver.text() != text:
            self.driver.setText(text)

    def _tick(self) -> None:
        now = time.perf_counter()
        while self.shown and now - self.shown[0] > 1.0:
            self.shown.popleft()
        self.fps = float(len(self.shown))

    def _on_changed(self, job) -> None:
        if job is not self.job:
            return
        if job.state.finished:
            words = {"DONE": "Ended", "CANCELLED": "Stopped", "FAILED": f"Failed: {job.error}"}
            if self._end_note and job.state.name != "FAILED":
                self._say(self._end_note)
            elif self.kind == EXPLORE and job.state.name != "FAILED":
                self._say("")
            else:
                self._say(words.get(job.state.name, job.state.value),
                            job.state.name == "FAILED")
            if self.kind == EXPLORE and job.state.name == "FAILED":
                self.explorer.say(job.error)
            self.view.badge = ""
            self.view.update()
            self.record_button.set_quietly(False)
        elif job.state.name == "QUEUED" and self.host.jobs.running is not None:
            self._say(f"Waiting for {self.host.jobs.running.title} to finish…")
        elif job.state.name == "RUNNING":
            self._say("")  # the readouts say what it does
        self._sync()

    def _on_added(self, job) -> None:
        """Another job wants the compute lane: a drive, a dream or the explorer would hold it
        for as long as one watches, so it ends (saving a recording in progress) and lets the
        other one run."""
        if job is self.job or self._submitting or not self.running():
            return
        what = {WATCH: "Watching", DREAM: "Dreaming", EXPLORE: ""}[self.kind]
        self._finish_current()
        self._end_note = f"{what} stopped: {job.title} needs the compute lane" if what else ""

    def _on_output(self, job, saved) -> None:
        if job is not self.job:
            return
        path = getattr(saved, "path", None)
        if path is not None and path.suffix in (".mp4", ".gif"):
            self.host.notify(f"Recording saved to the gallery: {path.name}")
            self.record_button.set_quietly(False)

    def _say(self, text: str, error: bool = False) -> None:
        """The status line under the readouts: shown only when it has something to say."""
        show_status(self.status, text, error)
        self.status.setVisible(bool(text))

    def _sync(self) -> None:
        live = self.live()
        watching = live and self.kind == WATCH
        self.stop_button.setEnabled(self.running())
        self.step_button.setEnabled(live)
        self.dream_button.setText("Wake" if watching and self.mode == "dream" else "Dream")
        self.tau.setEnabled(True)

    # -- kept between sessions -----------------------------------------------------------------
    def current_values(self) -> dict[str, Any]:
        return {"model": self.model.model_id(), "track": self.track.value(),
                "speed": self.speed.value(), "tau": self.tau.value(),
                "format": self.record_button.fmt(), "panes": self.record_button.panes(),
                "dream_from": self.dream_button.start(),
                "latents": self.latents_button.isChecked()}

    def restore_values(self, v: dict[str, Any]) -> None:
        with contextlib.suppress(TypeError, ValueError):
            if isinstance(v.get("model"), str) and v["model"]:
                self.refresh_models(v["model"])
                if self.model.model_id() != v["model"]:
                    self.model.setEditText(v["model"])
            self.track.setValue(int(v.get("track", self.track.value())))
            self.speed.setValue(int(v.get("speed", self.speed.value())))
            self.tau.setValue(int(v.get("tau", self.tau.value())))
            self.record_button.choose(v.get("format"), v.get("panes"))
            self.dream_button.choose(v.get("dream_from"))
            self.latents_button.setChecked(bool(v.get("latents", False)))
        self._check_models()
