"""The Compose panel: generate a few bars of four-voice chorale, re-roll one part of it (the
chords, the style, one voice's melody or groove) keeping the rest, hear it at once, see it as a
piano roll, mute or solo voices, and drag the MIDI into a DAW. A Train tab
(``ComposeTrainTab``) trains a MuseGAN.

Every computation runs as a task on the shared lane (``host.submit``), the mix of the sounding
voices too (``compose.render``: the numpy synth needs about 50 ms for 8 bars, too long for the GUI
thread); the panel never starts a thread.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import tempfile
import traceback
import weakref
from pathlib import Path
from typing import Any

from PySide6.QtCore import Qt, QTimer
from PySide6.QtGui import QKeySequence, QShortcut
from PySide6.QtWidgets import (
    QCheckBox,
    QFileDialog,
    QGridLayout,
    QGroupBox,
    QHBoxLayout,
    QLabel,
    QPushButton,
    QScrollArea,
    QSizePolicy,
    QTabWidget,
    QVBoxLayout,
    QWidget,
)

from studio.ui import theme
from studio.ui.player import Player
from studio.ui.widgets import FlowLayout, show_status, side_by_side
from studio_compose.keys import Key, estimate_key, shift_to, tonic_number
from studio_compose.score import SATB, Score
from studio_compose.ui.drag import DragHandle
from studio_compose.ui.pianoroll import PianoRoll, voice_colour
from studio_compose.ui.seeds import GENERATE, Seeds, new_seed
from studio_compose.ui.settings import PieceSettings, seed_box
from studio_compose.ui.train_tab import TRAIN, ComposeTrainTab
from studio_compose.ui.voices import VoiceStrip

RENDER = "compose.render"
OPENS = (".mid", ".midi", ".xml", ".musicxml", ".mxl")
# the generate parameters that are settings, not seeds (the reproduce line names them)
SETTINGS = ("model", "bars", "tempo", "key", "transpose", "variation", "instruments")


class ComposePanel(QWidget):
    def __init__(self, host, parent: QWidget | None = None):
        super().__init__(parent)
        self.host = host
        self.job = None  # the generate job whose result is awaited
        self.score: Score | None = None
        self.shown: Seeds | None = None  # the version on screen
        self.shown_key = ""  # its key, as compose.generate estimated it
        self.shown_settings: dict[str, Any] = {}  # the generate parameters that made it
        self.wanted: Seeds | None = None  # the version last asked for (re-rolls build on it)
        self.job_seeds: dict[int, Seeds] = {}
        self.midi_path: Path | None = None
        self.wav_path: Path | None = None  # all voices
        self.source = ""  # what is shown: "" (generated) or an opened file's name
        self.cue = 0.0  # where Play starts
        self._mixes: dict[frozenset[int], Path] = {}  # WAVs by the voices that sound
        self.render_job = None
        self.render_voices: frozenset[int] = frozenset()
        self._pending_play: float | None = None  # play from here once the mix arrives
        self._pending_export: Path | None = None
        self._resume = False  # play the next version's WAV from the cue when it arrives
        self._tmp = tempfile.mkdtemp(prefix="studio-compose-")  # mixes, converted MIDI
        weakref.finalize(self, shutil.rmtree, self._tmp, True)
        self.player = Player(self)
        self.player.position.connect(self._on_position)
        self.player.finished.connect(self._on_play_finished)
        self.player.notice.connect(lambda text: self.host.notify(text, "info"))

        tabs = QTabWidget()
        tabs.addTab(self._compose_tab(), "Compose")
        self.train_tab: ComposeTrainTab | None = None
        if TRAIN in host.registry.tasks:
            self.train_tab = ComposeTrainTab(host)
            self.train_tab.model_trained.connect(self.refresh_models)
            tabs.addTab(self.train_tab, "Train")
        self.tabs = tabs
        lay = theme.pad(QVBoxLayout(self))
        lay.addWidget(tabs)
        host.jobs.job_changed.connect(self._on_changed)
        host.jobs.job_preview.connect(self._on_preview)
        host.jobs.job_output.connect(self._on_output)
        self._sync()

    # -- building ------------------------------------------------------------------------------
    def _compose_tab(self) -> QWidget:
        self.settings = PieceSettings(self.host.models)

        self.generate_button = QPushButton("Generate")
        self.generate_button.setObjectName("primary")
        self.generate_button.setToolTip("A new piece from the seed (Ctrl+Enter)")
        self.generate_button.clicked.connect(self.run_default)
        self.apply_button = QPushButton("Apply settings")
        self.apply_button.setToolTip("The same seeds again, with the bars, tempo, key and "
                                     "instruments set above")
        self.apply_button.clicked.connect(lambda: self.reroll(None))

        reroll = QGroupBox("Re-roll one part, keep the rest")
        grid = QGridLayout(reroll)
        self.reroll_buttons: dict[tuple[str, int], QPushButton] = {}
        for col, what in enumerate(("chords", "style")):
            b = QPushButton(what.capitalize())
            b.setToolTip(f"New {what} for the whole piece; the melodies and grooves stay")
            b.clicked.connect(lambda _=False, w=what: self.reroll(w))
            grid.addWidget(b, 0, 1 + col * 2, 1, 2)
            self.reroll_buttons[(what, -1)] = b
        for v, name in enumerate(SATB):
            label = QLabel(name[0].upper())
            label.setToolTip(name)
            label.setStyleSheet(f"color: {voice_colour(v).name()}; font-weight: 600;")
            grid.addWidget(label, 1 + v, 0)
            for col, what in enumerate(("melody", "groove")):
                b = QPushButton(what.capitalize())
                b.setToolTip(f"A new {what} for the {name}; everything else stays")
                b.clicked.connect(lambda _=False, w=what, i=v: self.reroll(w, i))
                grid.addWidget(b, 1 + v, 1 + col * 2, 1, 2)
                self.reroll_buttons[(what, v)] = b
        for c in range(1, 5):
            grid.setColumnStretch(c, 1)
        self.to_seed = seed_box("The seed to morph to (random: a new one)")
        self.morph_button = QPushButton("Morph to seed")
        self.morph_button.setToolTip("Move from this version's inputs to another seed's across "
                                     "the piece")
        self.morph_button.clicked.connect(self.morph)
        grid.addWidget(self.morph_button, 5, 0, 1, 3)
        grid.addWidget(self.to_seed, 5, 3, 1, 2)
        self.seeds_label = QLabel("No version yet")
        self.seeds_label.setObjectName("muted")
        self.seeds_label.setWordWrap(True)
        self.seeds_label.setTextInteractionFlags(Qt.TextSelectableByMouse)
        self.autoplay = QCheckBox("Play when ready")
        self.autoplay.setChecked(True)

        side = QWidget()
        sv = theme.pad(QVBoxLayout(side), (theme.SPACE, theme.SPACE, theme.SPACE, 0))
        sv.addWidget(self.settings)
        row = QHBoxLayout()
        row.addWidget(self.generate_button, 1)
        row.addWidget(self.apply_button)
        sv.addLayout(row)
        sv.addWidget(self.autoplay)
        sv.addWidget(reroll)
        sv.addWidget(self.seeds_label)
        sv.addStretch(1)
        scroll = QScrollArea()
        scroll.setWidgetResizable(True)
        scroll.setFrameShape(QScrollArea.NoFrame)
        scroll.setWidget(side)
        # as wide as the settings need: they scroll up and down, never sideways
        scroll.setHorizontalScrollBarPolicy(Qt.ScrollBarAlwaysOff)
        scroll.setMinimumWidth(side.minimumSizeHint().width()
                               + scroll.verticalScrollBar().sizeHint().width())

        # the right side: transport, voices, files; the roll; a status line
        self.play_button = QPushButton("Play")
        self.play_button.setObjectName("primary")
        self.play_button.setMinimumWidth(72)
        self.play_button.setToolTip("Play or stop (Space on the roll); click the roll to play "
                                    "from there")
        self.play_button.clicked.connect(self.toggle_play)
        self.time_label = QLabel("0:00.0 / 0:00.0")
        self.time_label.setObjectName("muted")
        self.loop_button = QPushButton("↻")
        self.loop_button.setCheckable(True)
        self.loop_button.setFixedWidth(32)
        self.loop_button.setToolTip("Loop: play the piece over and over until you stop it")
        self.voice_strip = VoiceStrip()
        self.voice_strip.changed.connect(self._voices_changed)
        self.open_button = QPushButton("Open…")
        self.open_button.setToolTip("Show and play a MIDI or MusicXML file")
        self.open_button.clicked.connect(lambda: self.open_file())
        self.export_midi_button = QPushButton("Export MIDI…")
        self.export_midi_button.clicked.connect(lambda: self.export("midi"))
        self.export_wav_button = QPushButton("Export WAV…")
        self.export_wav_button.setToolTip("The mix as you hear it (mutes and solos applied)")
        self.export_wav_button.clicked.connect(lambda: self.export("wav"))
        self.drag = DragHandle("⠿ Drag MIDI")
        self.roll = PianoRoll(legend=False)  # the coloured S A T B above it are its legend
        self.roll.setFocusPolicy(Qt.ClickFocus)
        QShortcut(QKeySequence(Qt.Key_Space), self.roll, self.toggle_play,
                  context=Qt.WidgetWithChildrenShortcut)
        self.roll.seek_requested.connect(self.seek)
        self.status = QLabel("Ready")
        self.status.setObjectName("muted")
        # a narrow window cuts the status line (whole in its tooltip), never the buttons' labels
        self.status.setSizePolicy(QSizePolicy.Ignored, QSizePolicy.Preferred)
        self.hover_label = QLabel("")
        self.hover_label.setObjectName("muted")
        self.roll.hovered.connect(self.hover_label.setText)
        # transport and voices above the roll, the files below it: each row folds onto a
        # second line in a narrow window rather than cutting a button
        transport = QWidget()
        tl = theme.pad(QHBoxLayout(transport), 0)
        tl.addWidget(self.play_button)
        tl.addWidget(self.time_label)
        tl.addWidget(self.loop_button)
        top = FlowLayout(spacing=theme.SPACE_L)
        top.addWidget(transport)
        top.addWidget(self.voice_strip)
        files = FlowLayout()
        for widget in (self.open_button, self.export_midi_button, self.export_wav_button,
                       self.drag):
            files.addWidget(widget)
        status = theme.pad(QHBoxLayout(), 0)
        status.addWidget(self.status, 1)
        status.addWidget(self.hover_label)
        main = QWidget()
        mv = theme.pad(QVBoxLayout(main))
        mv.addLayout(top)
        mv.addWidget(self.roll, 1)
        mv.addLayout(files)
        mv.addLayout(status)

        # the settings as narrow as they can be, the roll gets the rest of the width
        split = side_by_side(scroll, main, (scroll.minimumWidth(), 900), stretch=(0, 1))
        split.setChildrenCollapsible(False)
        return split

    def refresh_models(self, select: str | None = None) -> None:
        self.settings.model.refresh(select)

    def showEvent(self, event) -> None:
        super().showEvent(event)
        self.refresh_models()  # models installed or trained meanwhile

    # -- generating ----------------------------------------------------------------------------
    def run_default(self):
        return self.generate()

    def generate(self):
        """A new piece: the seed box's seed (or a fresh one), every input from it."""
        return self.submit(Seeds(self.settings.start_seed()))

    def reroll(self, what: str | None, voice: int = -1):
        """The last version with a new seed for ``what`` ("chords", "style", "melody" or
        "groove" of ``voice``); None: the same seeds (with the current settings)."""
        base = (self.wanted or self.shown)
        if base is None:
            return self.generate()
        seeds = base.copy()
        if what in ("chords", "style"):
            setattr(seeds, what, new_seed())
            seeds.written = ""  # new harmony for every voice: its key is found afresh
        elif what in ("melody", "groove"):
            getattr(seeds, what)[voice] = new_seed()
        return self.submit(seeds)

    def morph(self):
        base = self.wanted or self.shown
        if base is None:
            base = Seeds(self.settings.start_seed())
        seeds = base.copy()
        seeds.to_seed = self.to_seed.value() if self.to_seed.value() >= 0 else new_seed()
        return self.submit(seeds)

    def submit(self, seeds: Seeds):
        if GENERATE not in self.host.registry.tasks:
            self._say(f"{GENERATE} is not available (the compose tasks did not load)", error=True)
            return None
        task = self.host.task(GENERATE)
        names = {s.name for s in task.schema()}
        values = {**self.settings.values(), **seeds.params(), "wav": True}
        tonic = values["key"]
        if seeds.written and tonic != "auto":  # the move the first version took, kept
            values["key"] = "auto"
            values["transpose"] = shift_to(Key.parse(seeds.written), tonic_number(tonic))
        try:
            params = task.make_params({k: v for k, v in values.items() if k in names})
        except ValueError as exc:
            self._say(str(exc), error=True)
            return None
        if self.job is not None and not self.job.state.finished:
            self.host.jobs.cancel(self.job)  # the newest request wins
        self.wanted = seeds
        self.job = self.host.submit(task, params, seed=seeds.seed)
        self.job_seeds[self.job.id] = seeds
        self._say("Composing…")
        self._sync()
        return self.job

    # -- job events ----------------------------------------------------------------------------
    def _on_preview(self, job, preview) -> None:
        data = preview.data if isinstance(preview.data, dict) else None
        if data is None:
            return
        if job is self.job and isinstance(data.get("score"), Score):
            self.shown_key = str(data.get("key") or "")
            seeds = self.job_seeds.get(job.id)
            if seeds is not None and not seeds.written:
                seeds.written = str(data.get("written") or "")
            self._show_version(job, data["score"])
        elif job is self.render_job and isinstance(data.get("wav"), bytes):
            path = Path(self._tmp) / f"mix{job.id}.wav"
            path.write_bytes(data["wav"])
            self._mixed(self.render_voices, path)

    def _forget_audio(self) -> None:
        """A new piece is on screen: the old mixes and any mix on the way are not its own."""
        self.player.stop()
        if self.render_job is not None and not self.render_job.state.finished:
            self.host.jobs.cancel(self.render_job)
        self.render_job = None
        self._pending_play = self._pending_export = None
        self._mixes.clear()

    def _show_version(self, job, score: Score) -> None:
        # a re-roll heard while playing goes on from the same place, to compare the two
        at = self.player.seconds() if self.player.playing else None
        self._forget_audio()
        self.score, self.source = score, ""
        self.midi_path = self.wav_path = None
        self.drag.set_path(None)
        self.shown = self.job_seeds.get(job.id, self.shown)
        self.shown_settings = {k: getattr(job.params, k) for k in SETTINGS
                               if hasattr(job.params, k)}
        self.cue = at if at is not None and at < score.duration else 0.0
        self._resume = at is not None
        self.roll.set_score(score, keep_view=at is not None)
        self.roll.set_playhead(self.cue if at is not None else None, follow=False)
        self.voice_strip.set_voices(score.voices)
        self._apply_voices(replay=False)
        self._show_seeds()

    def _on_output(self, job, saved) -> None:
        if job is not self.job and job is not self.render_job:
            return
        output = getattr(saved, "output", saved)
        path = getattr(saved, "path", None)
        suffix = (getattr(output, "file_suffix", "") or "").lower()
        if path is None:  # nothing saved it (no gallery): keep the bytes in the panel's folder
            data = getattr(output, "data", None)
            if not isinstance(data, bytes | bytearray):
                return
            path = Path(self._tmp) / f"job{job.id}{suffix}"
            path.write_bytes(data)
        path = Path(path)
        if job is self.render_job:
            if suffix == ".wav":
                self._mixed(self.render_voices, path)
            return
        if suffix in (".mid", ".midi"):
            self.midi_path = path
            self.drag.set_path(path)
        elif suffix == ".wav":
            self.wav_path = path
            n = len(self.score.voices) if self.score is not None else len(SATB)
            self._mixes[frozenset(range(n))] = path
            if self.autoplay.isChecked() or self._resume:
                self._resume = False
                self.play()
        self._sync()

    def _on_changed(self, job) -> None:
        if job is self.render_job:
            if job.state.name == "FAILED":
                self._pending_play = self._pending_export = None
                self._say(f"Cannot mix: {job.error}", error=True)
            elif job.state.name == "DONE":
                self._say("Ready")
            return
        if job is not self.job:
            return
        if job.state.finished:
            name = job.state.name
            if name == "DONE":
                if self.score is None and self.midi_path is not None:  # no preview came
                    wav = self.wav_path
                    if self._load_score(self.midi_path, play=False, source="") and wav:
                        self.wav_path = wav
                        self._mixes[frozenset(range(len(self.score.voices)))] = wav
                        if self.autoplay.isChecked():
                            self.play()
                self._say(f"Done in {job.ended - job.started:.1f} s" if job.started else "Done")
            elif name == "CANCELLED":
                self._say("Stopped")
            else:
                self._say(f"Failed: {job.error}", error=True)
            if name != "DONE":
                self.wanted = self.shown  # re-rolls go on from what is on screen
            self.job_seeds.pop(job.id, None)
        else:
            self._say(job.message or job.state.value)
        self._sync()

    def _show_seeds(self) -> None:
        if self.source:
            key = estimate_key(self.score.to_grid()) if self.score is not None else None
            self.seeds_label.setText(" · ".join(filter(None, [f"Opened {self.source}",
                                                              str(key or "")])))
            self.seeds_label.setToolTip("")
        elif self.shown is not None:
            self.seeds_label.setText(" · ".join(filter(None, [self.shown.text(),
                                                               self.shown_key])))
            settings = {k: v for k, v in self.shown_settings.items()
                        if (k, v) not in (("key", "auto"), ("transpose", 0))}
            self.seeds_label.setToolTip("Reproduce it with:\n" + self.shown.command(settings))

    # -- listening -----------------------------------------------------------------------------
    def sounding(self) -> set[int]:
        """The voices that play: the soloed ones if any, else all but the muted."""
        return self.voice_strip.sounding()

    def _voices_changed(self) -> None:
        self._apply_voices(replay=True)

    def _apply_voices(self, replay: bool) -> None:
        n = len(self.score.voices) if self.score is not None else len(SATB)
        self.roll.set_muted(set(range(n)) - self.sounding())
        if replay and self.player.playing:
            voices = frozenset(self.sounding())
            if voices in self._mixes:
                self.player.play(self._mixes[voices], self.player.seconds())
            else:  # the old mix plays on until the new one arrives
                self._request_mix(voices)

    def _request_mix(self, voices: frozenset[int]) -> None:
        """Render the WAV of ``voices`` as a ``compose.render`` job on the shared lane (the numpy
        synth takes about 50 ms for 8 bars and 100 ms for 16: too long for the GUI thread).
        Without that task, it renders here with the built-in synthesiser."""
        if self.score is None or self.midi_path is None:
            return
        busy = self.render_job is not None and not self.render_job.state.finished
        if busy and self.render_voices == voices:
            return
        if busy:
            self.host.jobs.cancel(self.render_job)
        n = len(self.score.voices)
        mute = ",".join(str(v) for v in range(n) if v not in voices)
        if RENDER not in self.host.registry.tasks:
            self._mix_here(voices)
            return
        task = self.host.task(RENDER)
        names = {s.name for s in task.schema()}
        values = {"file": str(self.midi_path), "mute": mute, "solo": "", "keep": False}
        try:
            params = task.make_params({k: v for k, v in values.items() if k in names})
        except ValueError as exc:
            self._say(f"Cannot mix: {exc}", error=True)
            return
        self.render_voices = voices
        self.render_job = self.host.submit(task, params)
        self._say("Mixing the sounding voices…")

    def _mix_here(self, voices: frozenset[int]) -> None:
        try:
            from studio_compose.synth import render_wav

            data = render_wav(self.score, voices=sorted(voices))
        except Exception as exc:  # never let the synth take the window down
            self.host.notify(f"Cannot render the audio: {exc}", "error", traceback.format_exc())
            return
        fd, name = tempfile.mkstemp(".wav", "mix-", self._tmp)
        os.close(fd)
        path = Path(name)
        path.write_bytes(data)
        self._mixed(voices, path)

    def _mixed(self, voices: frozenset[int], path: Path) -> None:
        """A mix arrived: play it if it is what should sound now."""
        self._mixes[voices] = path
        if voices != frozenset(self.sounding()):
            return
        if self.player.playing:
            self.player.play(path, self.player.seconds())
        elif self._pending_play is not None:
            self.player.play(path, self._pending_play)
        self._pending_play = None
        if self._pending_export is not None:
            dest, self._pending_export = self._pending_export, None
            self._copy(path, dest)
        self._sync()

    def play(self, start: float | None = None) -> None:
        """Play the sounding voices from ``start`` (default: the cue), mixing them first when
        that mix is not there yet."""
        if self.score is None:
            return
        start = self.cue if start is None else start
        voices = frozenset(self.sounding())
        path = self._mixes.get(voices)
        if path is not None:
            self._pending_play = None
            self.player.play(path, start)
        else:
            self._pending_play = start
            self._request_mix(voices)
        self._sync()

    def stop(self) -> None:
        self.cue = self.player.seconds() if self.player.playing else self.cue
        self.player.stop()
        self._sync()

    def toggle_play(self) -> None:
        if self.player.playing:
            self.stop()
        else:
            self.play()

    def seek(self, seconds: float) -> None:
        """Play from ``seconds`` (a click on the roll); when stopped, Play starts there."""
        self.cue = seconds
        if self.player.playing:
            self.play(seconds)
        else:
            self.roll.set_playhead(seconds, follow=False)
            self._show_time(seconds)

    def _on_position(self, seconds: float) -> None:
        if self._looping() and seconds >= self.score.duration:
            self._round_again()  # at the piece's end, not the WAV's (it rings on a little)
            return
        self.roll.set_playhead(seconds)
        self._show_time(seconds)

    def _looping(self) -> bool:
        return (self.loop_button.isChecked() and self.score is not None
                and self.score.duration > 0.1)

    def _round_again(self) -> None:
        self.cue = 0.0
        self.player.stop()  # no more positions from this round
        QTimer.singleShot(0, lambda: self.play(0.0))  # not from inside the player's own signal

    def _on_play_finished(self) -> None:
        if self._looping():
            self._round_again()
            return
        self.cue = 0.0
        self.roll.set_playhead(None)
        self._show_time(0.0)
        self._sync()

    def _show_time(self, seconds: float) -> None:
        total = self.score.duration if self.score is not None else 0.0

        def mmss(t: float) -> str:
            return f"{int(t // 60)}:{t % 60:04.1f}"

        self.time_label.setText(f"{mmss(seconds)} / {mmss(total)}")

    # -- files ---------------------------------------------------------------------------------
    def open_file(self, path: Path | None = None) -> bool:
        if path is None:
            name, _ = QFileDialog.getOpenFileName(
                self, "Open music", str(Path.home()),
                "Music (*.mid *.midi *.xml *.musicxml *.mxl);;All files (*)")
            if not name:
                return False
            path = Path(name)
        return self._load_score(Path(path), play=True, source=Path(path).name)

    def handle_drop(self, paths: list[Path]) -> bool:
        for path in paths:
            if Path(path).suffix.lower() in OPENS:
                self.open_file(Path(path))
                return True
        return False

    def _load_score(self, path: Path, play: bool, source: str) -> bool:
        """Show (and play) a MIDI or MusicXML file; ``source`` names it ("" for a generated
        piece read back from its MIDI)."""
        from studio.errors import UserError

        try:
            from studio_compose.midi_io import read_music, score_to_midi

            score = read_music(path)
            midi = path if path.suffix.lower() in (".mid", ".midi") else None
            if midi is None:
                midi = Path(self._tmp) / f"{path.stem}.mid"
                midi.write_bytes(score_to_midi(score))
        except UserError as exc:
            self.host.notify(str(exc), "error")
            return False
        except Exception as exc:  # a reader's bug is a message, not a crash
            self.host.notify(f"Cannot open {path.name}: {type(exc).__name__}: {exc}", "error",
                             traceback.format_exc())
            return False
        self._forget_audio()
        self.score, self.source = score, source
        self.midi_path, self.wav_path = midi, None
        self.drag.set_path(midi)
        self.cue = 0.0
        self.roll.set_score(score)
        self.roll.set_playhead(None)
        self.voice_strip.set_voices(score.voices)
        self._apply_voices(replay=False)
        self._show_seeds()
        self._show_time(0.0)
        self._say(f"{path.name}: {score.n_bars} bars, {len(score.voices)} voices, "
                  f"{score.tempo:g} bpm")
        if play:
            self.play()
        self._sync()
        return True

    def export(self, kind: str, dest: Path | None = None) -> Path | None:
        """Copy the MIDI, or the WAV as it sounds now, to ``dest`` (asked for when None). A mix
        not rendered yet is copied when it arrives."""
        if self.score is None or (kind == "midi" and self.midi_path is None):
            self._say("Nothing to export yet", error=True)
            return None
        suffix = ".mid" if kind == "midi" else ".wav"
        if dest is None:
            stem = Path(self.source).stem if self.source else (
                f"chorale-{self.shown.seed}" if self.shown else "chorale")
            name, _ = QFileDialog.getSaveFileName(
                self, f"Export {kind.upper()}", str(Path.home() / f"{stem}{suffix}"),
                "MIDI (*.mid)" if kind == "midi" else "WAV audio (*.wav)")
            if not name:
                return None
            dest = Path(name)
        if not dest.suffix:
            dest = dest.with_suffix(suffix)
        if kind == "midi":
            return self._copy(self.midi_path, dest)
        voices = frozenset(self.sounding())
        if voices in self._mixes:
            return self._copy(self._mixes[voices], dest)
        self._pending_export = dest
        self._request_mix(voices)
        return dest

    def _copy(self, src: Path, dest: Path) -> Path | None:
        try:
            shutil.copyfile(src, dest)
        except OSError as exc:
            self.host.notify(f"Cannot write {dest}: {exc}", "error")
            return None
        self._say(f"Saved {dest}")
        return dest

    # -- persistence ---------------------------------------------------------------------------
    def current_values(self) -> dict[str, Any]:
        return {**self.settings.saved(), "to_seed": self.to_seed.value(),
                "autoplay": self.autoplay.isChecked(), "loop": self.loop_button.isChecked(),
                "train": self.train_tab.form.values() if self.train_tab else {}}

    def restore_values(self, v: dict[str, Any]) -> None:
        self.settings.restore(v)
        with contextlib.suppress(TypeError, ValueError):
            self.to_seed.setValue(int(v.get("to_seed", -1)))
            self.autoplay.setChecked(bool(v.get("autoplay", True)))
            self.loop_button.setChecked(bool(v.get("loop", False)))
        if self.train_tab is not None and isinstance(v.get("train"), dict):
            self.train_tab.form.set_values(v["train"])

    # -- state ---------------------------------------------------------------------------------
    def _say(self, text: str, error: bool = False) -> None:
        show_status(self.status, text, error)
        self.status.setToolTip(text)

    def _sync(self) -> None:
        can = GENERATE in self.host.registry.tasks
        have = self.score is not None
        generated = self.shown is not None or self.wanted is not None
        self.generate_button.setEnabled(can)
        self.apply_button.setEnabled(can and generated)
        for b in self.reroll_buttons.values():
            b.setEnabled(can and generated)
        self.morph_button.setEnabled(can)
        self.play_button.setEnabled(have)
        self.play_button.setText("Stop" if self.player.playing else "Play")
        self.export_midi_button.setEnabled(self.midi_path is not None)
        self.export_wav_button.setEnabled(have)


def panel(host) -> ComposePanel:
    """The capability's panel factory."""
    return ComposePanel(host)

