"""The Compose panel, offscreen: the piano roll, the player's fallbacks, and the panel driving the
compose tasks (re-rolls, mute and solo, drag, open, export, training) on a real job manager."""

from __future__ import annotations

import os
import stat
import sys
import time
import wave
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parent.parent
try:
    import studio_compose  # noqa: F401
except ImportError:  # the plugins folder is not installed (yet): import it from the checkout
    sys.path.insert(0, str(ROOT / "plugins"))

from PySide6.QtCore import QPoint, Qt  # noqa: E402
from PySide6.QtGui import QImage  # noqa: E402

from studio.tasks import Context, Event, Output, Preview, Progress, Task, param  # noqa: E402
from studio_compose.score import Note, Score  # noqa: E402

VOICE_RGB = ("#e06c75", "#e0a458", "#98c379", "#61afef")


def chorale(bars: int = 4, seed: int = 0, tempo: float = 90.0) -> Score:
    """Four voices of random-walk quarter and half notes, in their registers."""
    rng = np.random.default_rng(seed)
    notes = []
    for v, base in enumerate((72, 64, 57, 45)):
        t, pitch = 0, base
        while t < bars * 16:
            length = int(rng.choice([4, 8]))
            pitch = int(np.clip(pitch + rng.integers(-2, 3), base - 5, base + 5))
            notes.append(Note(pitch, t, min(length, bars * 16 - t), v))
            t += length
    return Score(notes, tempo=tempo, n_steps=bars * 16)


def colours(image: QImage) -> set[int]:
    img = image.convertToFormat(QImage.Format_RGB32)
    arr = np.frombuffer(img.constBits(), dtype=np.uint32)
    return set(np.unique(arr & 0xFFFFFF).tolist())


def rgb(name: str) -> int:
    return int(name.lstrip("#"), 16)


def write_wav(path: Path, seconds: float, rate: int = 8000) -> Path:
    with wave.open(str(path), "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(rate)
        w.writeframes(b"\0\0" * int(seconds * rate))
    return path


# -- stand-ins for the compose tasks, used when the real ones are not registered ------------------
@dataclass
class FakeGenerateParams:
    model: str = param("compose.chorales")
    bars: int = param(8, min=1, max=64)
    tempo: float = param(90.0, min=20, max=300)
    instruments: str = param("")
    chords: int = param(-1)
    style: int = param(-1)
    melody: str = param("")
    groove: str = param("")
    variation: float = param(0.5, min=0.0, max=1.0)
    to_seed: int = param(-1)
    wav: bool = param(True)


def fake_generate(p: FakeGenerateParams, ctx: Context) -> Iterator[Event]:
    from studio_compose.midi_io import score_to_midi
    from studio_compose.synth import render_wav

    if p.model == "compose.broken":
        raise ValueError("this model is broken on purpose")
    score = chorale(p.bars, ctx.seed, p.tempo)
    yield Progress(0.5)
    yield Preview({"score": score, "seeds": {"seed": ctx.seed}}, label="composed")
    yield Output(score_to_midi(score), name="music", suffix=".mid")
    if p.wav:
        yield Output(render_wav(score, engine="builtin"), name="music", suffix=".wav")


@dataclass
class FakeRenderParams:
    file: Path = param(filter="MIDI (*.mid)")
    mute: str = param("")
    solo: str = param("")


def fake_render(p: FakeRenderParams, ctx: Context) -> Iterator[Event]:
    from studio_compose.midi_io import read_music
    from studio_compose.synth import render_wav

    score = read_music(p.file)
    mute = {int(v) for v in p.mute.split(",") if v.strip()}
    voices = [v for v in range(len(score.voices)) if v not in mute]
    yield Output(render_wav(score, voices=voices, engine="builtin"), name="music", suffix=".wav")


@dataclass
class FakeTrainParams:
    data: Path | None = param(None)
    model_id: str = param("compose.mine")
    steps: int = param(3, min=1, max=1000)
    bars: int = param(2, min=2, max=16)
    resume: bool = param(False)
    start_from: str | None = param(None, model="compose")
    line_weight: float = param(0.0, min=0.0, max=10.0)
    crossing_weight: float = param(0.0, min=0.0, max=10.0)
    motion_weight: float = param(0.0, min=0.0, max=10.0)


def fake_train(p: FakeTrainParams, ctx: Context) -> Iterator[Event]:
    for step in range(1, p.steps + 1):
        line = {"line": 0.7} if p.line_weight > 0 else {}
        if p.crossing_weight > 0:
            line |= {"match": 0.5, "crossing": 0.25 / step}
        if p.motion_weight > 0:
            line |= {"motion": 0.75}
        yield Preview({"step": step, "critic": -1.0 / step, "generator": 0.5 * step,
                       "score": chorale(2, step), **line}, label=f"step {step}")
        yield Progress(step / p.steps)
        time.sleep(0.01)  # a step takes a while, so the panel sees several previews


FAKES = {
    "compose.generate": Task("compose.generate", "Compose", FakeGenerateParams, fake_generate),
    "compose.render": Task("compose.render", "Render", FakeRenderParams, fake_render),
    "compose.train": Task("compose.train", "Train", FakeTrainParams, fake_train, grad=True),
}


def compose_tasks(real_train: bool = False) -> list[Task]:
    """The plugin's own tasks where it has them, stand-ins for the others. Training stays a
    stand-in unless asked for: one real step of MuseGAN takes over ten seconds on a small CPU."""
    import studio_compose

    real = {t.id: t for cap in studio_compose.studio_capabilities() for t in cap.tasks}
    if not real_train:
        real.pop("compose.train", None)
    tasks = [real.get(task_id, fake) for task_id, fake in FAKES.items()]
    for t in tasks:
        t.capability, t.plugin = "compose", t.plugin or "studio_compose"
    return tasks


def fake_registry():
    """A registry with just the compose capability (the real tasks, where they exist)."""
    from studio.hookspecs import Capability
    from studio.plugins import Registry

    return Registry(capabilities=[Capability("compose", "Compose", compose_tasks())])


REAL_GENERATE = compose_tasks()[0].run is not fake_generate


# -- fixtures -------------------------------------------------------------------------------------
@pytest.fixture(autouse=True)
def silent(monkeypatch):
    """Tests never make a sound: the player runs its silent clock."""
    monkeypatch.setenv("STUDIO_AUDIO", "silent")


@pytest.fixture
def roll(qtbot):
    from studio_compose.ui.pianoroll import PianoRoll

    r = PianoRoll()
    qtbot.addWidget(r)
    r.resize(800, 300)
    r.show()
    r.set_score(chorale(4))
    return r


class Host:
    """A PanelHost on a real JobManager, model store and gallery; notifications are recorded."""

    def __init__(self, registry, gallery, models=None):
        from studio.ui.jobs import JobManager
        from studio.ui.panel_host import PanelHost

        self.notes: list[tuple[str, str]] = []
        self.jobs = JobManager(sink=gallery, models=models, device="cpu")
        self.host = PanelHost(self.jobs, registry, models, gallery,
                              lambda m, level, d: self.notes.append((level, m)))


@pytest.fixture(scope="session")
def tiny_model(tmp_path_factory) -> Path:
    """A MuseGAN with random weights, in the model folder layout (made once)."""
    folder = tmp_path_factory.mktemp("models") / "compose.tiny"
    if REAL_GENERATE:
        import torch

        from studio_compose.musegan import Critic, Generator, MuseGANConfig
        from studio_compose.train import write_model_folder

        torch.manual_seed(0)
        cfg = MuseGANConfig()
        write_model_folder(folder, Generator(cfg), Critic(cfg), cfg, title="Tiny",
                           command="tests", quality={})
    return folder


@pytest.fixture
def panel(qtbot, user_data, tiny_model):
    import shutil

    from studio import paths
    from studio.gallery import Gallery
    from studio.models import ModelStore
    from studio_compose.ui.panel import ComposePanel

    if REAL_GENERATE:
        shutil.copytree(tiny_model, paths.models_dir() / "compose.tiny")
    h = Host(fake_registry(), Gallery(), ModelStore())
    p = ComposePanel(h.host)
    p.notes = h.notes
    p.settings.model.setEditText("compose.tiny")
    qtbot.addWidget(p)
    p.resize(1200, 700)
    p.show()
    yield p
    h.jobs.cancel_all()
    h.jobs.wait(5000)


def finish(qtbot, job, timeout=30000):
    qtbot.waitUntil(lambda: job.reported, timeout=timeout)
    return job


# -- the piano roll -------------------------------------------------------------------------------
def test_the_roll_draws_the_four_voices_in_their_colours(roll):
    seen = colours(roll.grab().toImage())
    for name in VOICE_RGB:
        assert rgb(name) in seen, name


def test_muting_fades_a_voice(roll):
    from PySide6.QtGui import QColor

    from studio_compose.ui.pianoroll import faded

    roll.set_muted({2})
    seen = colours(roll.grab().toImage())
    assert rgb(VOICE_RGB[2]) not in seen
    assert faded(QColor(VOICE_RGB[2])).rgb() & 0xFFFFFF in seen
    assert rgb(VOICE_RGB[0]) in seen and rgb(VOICE_RGB[3]) in seen


def test_the_playhead_moves_and_stays_in_view(roll):
    from studio_compose.ui.pianoroll import PLAYHEAD

    white = PLAYHEAD.rgb() & 0xFFFFFF

    def playhead_x() -> int:
        img = roll.viewport().grab().toImage().convertToFormat(QImage.Format_RGB32)
        row = [img.pixel(x, img.height() - 3) & 0xFFFFFF for x in range(img.width())]
        return row.index(white) if white in row else -1

    assert playhead_x() == -1
    roll.set_playhead(1.0)
    first = playhead_x()
    roll.set_playhead(2.0)
    second = playhead_x()
    assert 0 < first < second
    step_px = roll.pps / roll.score.seconds_per_step  # px per second
    assert abs((second - first) - step_px) <= 2
    # zoomed in, the view follows the playhead to the end of the piece
    roll.set_zoom(40)
    assert roll.horizontalScrollBar().maximum() > 0
    roll.set_playhead(roll.score.duration * 0.9)
    assert 0 < playhead_x() < roll.viewport().width()
    assert roll.horizontalScrollBar().value() > 0


def test_ctrl_wheel_zooms_and_the_hovered_note_is_described(qtbot, roll):
    from PySide6.QtCore import QPointF
    from PySide6.QtGui import QWheelEvent

    before = roll.pps
    ev = QWheelEvent(QPointF(200, 100), QPointF(200, 100), QPoint(0, 0), QPoint(0, 240),
                     Qt.NoButton, Qt.ControlModifier, Qt.NoScrollPhase, False)
    roll.wheelEvent(ev)
    assert roll.pps > before and not roll.fit
    roll.zoom_to_fit()
    note = roll.score.voice_notes(0)[1]  # the soprano's second note
    rect = roll._note_rect(note)
    assert roll.note_at(rect.center()) == note
    with qtbot.waitSignal(roll.hovered) as blocker:
        qtbot.mouseMove(roll.viewport(), rect.center())
    text = blocker.args[0]
    assert "soprano" in text and text.startswith(("C", "D", "E", "F", "G", "A", "B"))
    assert "1." in text and "beat" in text


def test_the_silent_player_reports_positions_and_finishes(qtbot, tmp_path):
    from studio.ui.player import Player

    player = Player(backend="silent")
    notices, positions = [], []
    player.notice.connect(notices.append)
    player.position.connect(positions.append)
    wav = write_wav(tmp_path / "a.wav", 0.4)
    with qtbot.waitSignal(player.finished, timeout=3000):
        player.play(wav)
    assert player.backend == "silent" and not player.playing
    assert len(positions) >= 5  # ~30 a second
    assert positions == sorted(positions) and positions[-1] == pytest.approx(0.4)
    assert len(notices) == 1 and notices[0].startswith("no audio output found")
    # from a position; stop ends it without "finished"; the notice is not repeated
    positions.clear()
    player.play(wav, start=0.3)
    assert positions[0] == pytest.approx(0.3)
    player.stop()
    assert not player.playing and len(notices) == 1


def fake_program(folder: Path, name: str, body: str) -> None:
    exe = folder / name
    exe.write_text(f"#!/bin/sh\n{body}\n")
    exe.chmod(exe.stat().st_mode | stat.S_IXUSR)


@pytest.mark.skipif(sys.platform == "win32", reason="shell scripts as players")
def test_a_system_player_that_fails_hands_over_to_the_silent_clock(qtbot, tmp_path, monkeypatch):
    from studio.ui.player import Player

    fake_program(tmp_path, "paplay", "echo 'Connection refused' >&2; exit 1")
    monkeypatch.setenv("PATH", str(tmp_path))
    player = Player(backend="process")
    notices = []
    player.notice.connect(notices.append)
    player.play(write_wav(tmp_path / "a.wav", 0.5))
    assert player.backend == "paplay"
    qtbot.waitUntil(lambda: player.backend == "silent", timeout=3000)
    assert player.playing
    assert "paplay: exited with status 1 (Connection refused)" in notices[0]
    with qtbot.waitSignal(player.finished, timeout=3000):
        pass
    player.close()


@pytest.mark.skipif(sys.platform == "win32", reason="shell scripts as players")
def test_stopping_a_system_player_kills_it_and_a_position_plays_a_cut(qtbot, tmp_path,
                                                                      monkeypatch):
    from studio.ui.player import Player

    log = tmp_path / "args.txt"
    fake_program(tmp_path, "aplay", f'echo "$@" > {log}; exec sleep 30')
    monkeypatch.setenv("PATH", str(tmp_path) + os.pathsep + "/bin:/usr/bin")
    player = Player(backend="process")
    wav = write_wav(tmp_path / "a.wav", 2.0)
    player.play(wav, start=1.5)
    assert player.backend == "aplay"
    qtbot.waitUntil(lambda: log.exists() and bool(log.read_text().strip()), timeout=3000)
    args = log.read_text().split()
    assert args[0] == "-q" and Path(args[1]).name.startswith("from-1500")
    with wave.open(args[1]) as w:  # the player got the last half second
        assert w.getnframes() == 4000
    proc = player._proc
    player.stop()
    assert player._proc is None and not player.playing  # returns at once, the kill goes on
    qtbot.waitUntil(lambda: not player._dying, timeout=3000)
    assert proc not in player._dying and player._proc is None
    player.close()


# -- the panel ------------------------------------------------------------------------------------
def test_generate_shows_plays_and_offers_the_midi_to_drag(qtbot, panel):
    from studio.ui.jobs import JobState

    panel.settings.seed.setValue(11)
    panel.settings.bars.setValue(4)
    job = finish(qtbot, panel.generate())
    assert job.state is JobState.DONE and job.seed == 11
    assert job.params.bars == 4 and job.params.instruments == "52,52,52,52"
    assert panel.score is not None and panel.roll.score is panel.score
    assert panel.shown.seed == 11 and "seed 11" in panel.seeds_label.text()
    assert "studio run compose.generate --seed 11" in panel.seeds_label.toolTip()
    assert panel.seeds_label.text().endswith((" major", " minor"))  # the key it is in
    qtbot.waitUntil(lambda: panel.player.playing, timeout=5000)  # heard at once
    qtbot.waitUntil(lambda: panel.roll.playhead is not None and panel.roll.playhead > 0.05,
                    timeout=3000)
    mime = panel.drag.mime_data()
    url = mime.urls()[0]
    assert url.isLocalFile() and url.scheme() == "file"
    path = Path(url.toLocalFile())
    assert path.exists() and path.suffix == ".mid" and path.read_bytes()[:4] == b"MThd"
    assert any("no audio output found" in m for _, m in panel.notes)
    panel.stop()
    assert not panel.player.playing and panel.play_button.text() == "Play"

    panel.loop_button.setChecked(True)  # looped: the end starts it again from the top
    panel.play(panel.score.duration - 0.2)
    qtbot.waitUntil(lambda: panel.player.playing, timeout=5000)
    qtbot.waitUntil(lambda: panel.player.playing and panel.player.seconds() < 0.5,
                    timeout=5000)  # round again at the piece's end, before the WAV's tail
    assert panel.current_values()["loop"] is True
    panel.loop_button.setChecked(False)
    panel.stop()


def test_each_reroll_changes_only_its_own_seed(qtbot, panel):
    panel.settings.seed.setValue(5)
    first = finish(qtbot, panel.generate()).params
    assert (first.chords, first.style, first.melody, first.groove) == (-1, -1, "", "")

    qtbot.waitUntil(lambda: panel.player.seconds() > 0.2, timeout=5000)
    tenor = finish(qtbot, panel.reroll_buttons[("melody", 2)].click() or panel.job)
    # heard while playing, the new version goes on from where the old one was
    qtbot.waitUntil(lambda: panel.player.playing, timeout=5000)
    assert panel.player.seconds() > 0.2
    m = tenor.params.melody.split(",")
    assert len(m) == 4 and m[0] == m[1] == m[3] == "" and int(m[2]) >= 0
    assert tenor.seed == 5 and (tenor.params.chords, tenor.params.style) == (-1, -1)
    assert tenor.params.groove == "" and tenor.params.bars == first.bars

    panel.reroll_buttons[("chords", -1)].click()
    chords = finish(qtbot, panel.job)
    assert chords.seed == 5 and chords.params.chords >= 0
    assert chords.params.melody == tenor.params.melody  # the tenor's new melody is kept
    assert (chords.params.style, chords.params.groove) == (-1, "")

    panel.reroll_buttons[("groove", 3)].click()
    bass = finish(qtbot, panel.job)
    assert bass.params.groove.split(",")[:3] == ["", "", ""] and bass.params.groove[-1] != ","
    assert (bass.params.chords, bass.params.melody) == (chords.params.chords,
                                                        chords.params.melody)
    style = finish(qtbot, panel.reroll_buttons[("style", -1)].click() or panel.job)
    assert style.params.style >= 0 and style.params.groove == bass.params.groove
    assert "tenor melody" in panel.seeds_label.text() and "bass groove" in panel.seeds_label.text()
    command = panel.seeds_label.toolTip().splitlines()[-1]
    assert "--seed 5 " in command and f"--style {style.params.style} " in command
    assert f"--melody {style.params.melody}" in command and "e+" not in command

    written = panel.shown.written  # the key the model wrote this version in
    assert written.endswith((" major", " minor"))
    panel.settings.key.setCurrentIndex(panel.settings.key.findData("G"))
    in_g = finish(qtbot, panel.apply_button.click() or panel.job)  # the same seeds, in G
    assert in_g.params.style == style.params.style and in_g.params.key == "auto"
    assert panel.seeds_label.text().endswith(" · G " + written.split()[1])
    assert f"--transpose {in_g.params.transpose}" in panel.seeds_label.toolTip()
    g_version = panel.score.to_grid()
    alto = finish(qtbot, panel.reroll_buttons[("melody", 1)].click() or panel.job)
    assert alto.params.transpose == in_g.params.transpose  # the move is kept, not re-estimated
    for v in (0, 2, 3):  # so the other voices stay as they were
        assert (panel.score.to_grid()[:, v] == g_version[:, v]).all()

    panel.to_seed.setValue(99)
    morph = finish(qtbot, panel.morph())
    assert morph.params.to_seed == 99 and morph.params.style == style.params.style
    fresh = finish(qtbot, panel.generate())  # Generate starts over from the seed box
    assert (fresh.params.chords, fresh.params.melody, fresh.params.to_seed) == (-1, "", -1)


def test_mute_and_solo_fade_the_roll_and_play_the_sounding_voices(qtbot, panel, tmp_path):
    finish(qtbot, panel.generate())
    qtbot.waitUntil(lambda: panel.player.playing, timeout=5000)
    panel.voice_strip.mute_buttons[1].setChecked(True)
    assert panel.roll.muted == {1}
    render = finish(qtbot, panel.render_job)
    assert render.params.mute == "1"
    qtbot.waitUntil(lambda: panel.player.path == panel._mixes.get(frozenset({0, 2, 3})),
                    timeout=3000)
    assert panel.player.playing
    panel.voice_strip.solo_buttons[3].setChecked(True)  # a solo wins over the mutes
    assert panel.roll.muted == {0, 1, 2}
    render = finish(qtbot, panel.render_job)
    assert render.params.mute == "0,1,2"
    qtbot.waitUntil(lambda: panel.player.path == panel._mixes.get(frozenset({3})), timeout=3000)
    dest = panel.export("wav", tmp_path / "bass")
    assert dest == tmp_path / "bass.wav"
    assert dest.read_bytes() == panel._mixes[frozenset({3})].read_bytes()
    midi = panel.export("midi", tmp_path / "all.mid")
    assert midi.read_bytes() == panel.midi_path.read_bytes()
    panel.voice_strip.solo_buttons[3].setChecked(False)
    panel.voice_strip.mute_buttons[1].setChecked(False)  # back to the generated mix, no new render
    assert panel.player.path == panel.wav_path


def test_opening_a_file_shows_and_plays_it_and_a_corrupt_one_is_a_notification(qtbot, panel,
                                                                             tmp_path):
    from studio_compose.midi_io import score_to_midi

    good = tmp_path / "hymn.mid"
    good.write_bytes(score_to_midi(chorale(3, 7, tempo=120)))
    assert panel.handle_drop([good])
    assert panel.score.n_bars == 3 and panel.roll.score is panel.score
    assert "hymn.mid" in panel.seeds_label.text()
    assert panel.seeds_label.text().endswith((" major", " minor"))  # its key, estimated
    assert panel.drag.path == good
    finish(qtbot, panel.render_job)
    qtbot.waitUntil(lambda: panel.player.playing, timeout=3000)

    bad = tmp_path / "broken.mid"
    bad.write_bytes(b"MThd\0\0\0\6garbage")
    before = panel.score
    panel.notes.clear()
    assert panel.handle_drop([bad])
    assert [level for level, _ in panel.notes] == ["error"]
    assert "broken.mid" in panel.notes[0][1]
    assert panel.score is before  # what was shown stays
    assert not panel.handle_drop([tmp_path / "notes.txt"])


def test_an_opened_file_with_six_voices_gets_six_mute_and_solo_pairs(qtbot, panel, tmp_path):
    from studio_compose.midi_io import score_to_midi

    names = ["flute", "oboe", "clarinet", "horn", "bassoon", "cello"]
    notes = [Note(84 - 6 * v + s % 3, s * 4, 4, v) for v in range(6) for s in range(8)]
    sextet = tmp_path / "sextet.mid"
    sextet.write_bytes(score_to_midi(Score(notes, voices=names, n_steps=32)))
    assert panel.handle_drop([sextet])
    strip = panel.voice_strip
    assert len(strip.mute_buttons) == len(strip.solo_buttons) == 6
    assert strip.solo_buttons[5].toolTip().startswith("Solo the ")
    finish(qtbot, panel.render_job)
    qtbot.waitUntil(lambda: panel.player.playing, timeout=3000)
    strip.solo_buttons[5].setChecked(True)  # the sixth voice, past the chorale's four
    assert panel.sounding() == {5} and panel.roll.muted == {0, 1, 2, 3, 4}
    render = finish(qtbot, panel.render_job)
    assert render.params.mute == "0,1,2,3,4"

    finish(qtbot, panel.generate())  # a chorale again: S A T B, all sounding
    assert len(strip.mute_buttons) == 4 and panel.sounding() == {0, 1, 2, 3}


MUSICXML = """<?xml version="1.0" encoding="UTF-8"?>
<score-partwise version="3.1">
  <part-list><score-part id="P1"><part-name>Soprano</part-name></score-part></part-list>
  <part id="P1"><measure number="1">
    <attributes><divisions>1</divisions><time><beats>4</beats><beat-type>4</beat-type></time>
    </attributes>
    <note><pitch><step>C</step><octave>5</octave></pitch><duration>2</duration></note>
    <note><pitch><step>E</step><octave>5</octave></pitch><duration>2</duration></note>
  </measure></part>
</score-partwise>
"""


def test_a_musicxml_file_is_shown_and_dragged_as_midi(qtbot, panel, tmp_path):
    path = tmp_path / "line.musicxml"
    path.write_text(MUSICXML)
    assert panel.open_file(path)
    assert [n.pitch for n in panel.score.notes] == [72, 76]
    mime = panel.drag.mime_data()
    midi = Path(mime.urls()[0].toLocalFile())
    assert midi.suffix == ".mid" and midi.stem == "line" and midi.read_bytes()[:4] == b"MThd"
    finish(qtbot, panel.render_job)
    qtbot.waitUntil(lambda: panel.player.playing, timeout=3000)


def test_a_failing_generate_is_shown_not_raised(qtbot, panel):
    from studio.ui.jobs import JobState

    panel.settings.model.setEditText("compose.broken")
    job = finish(qtbot, panel.generate())
    assert job.state is JobState.FAILED
    assert panel.status.text().startswith("Failed") and "broken" in panel.status.text()
    assert panel.generate_button.isEnabled()


def test_training_draws_both_losses_and_the_latest_sample(qtbot, panel):
    tab = panel.train_tab
    tab.form.set_values({"steps": 4})
    job = finish(qtbot, tab.train())
    assert job.state.name == "DONE"
    chart = tab.loss_chart
    assert chart.steps[-1] == 4
    assert chart.values["critic"][-1] == pytest.approx(-0.25)
    assert chart.values["generator"][-1] == pytest.approx(2.0)
    assert chart.legend() == ["critic", "generator"]  # no line critic in this run
    assert tab.sample_roll.score is not None
    resumed = finish(qtbot, tab.train(resume=True))
    assert resumed.params.resume is True
    tab.form.set_values({"steps": 2, "line_weight": 0.2})
    finish(qtbot, tab.train())
    assert chart.legend() == ["critic", "generator", "line critic"]
    assert chart.values["line critic"][-1] == pytest.approx(0.7)
    tab.form.set_values({"steps": 2, "line_weight": 0.0, "crossing_weight": 1.0,
                         "motion_weight": 5.0})
    finish(qtbot, tab.train())
    assert chart.legend() == ["critic", "generator", "line mismatch", "crossing mismatch",
                              "motion mismatch"]
    assert chart.values["crossing mismatch"][-1] == pytest.approx(0.125)


def test_a_model_to_start_from_decides_the_networks_shape_fields(qtbot, panel):
    tab = panel.train_tab
    bars = tab.form.widgets["bars"]
    assert bars.isEnabled()
    tab.form.set_values({"bars": 4, "steps": 7})
    tab.form.set_values({**tab.form.values(), "start_from": "compose.chorales"})
    assert tab.form.values()["start_from"] == "compose.chorales"
    assert not bars.isEnabled()
    assert bars.value() == 2  # the model's own, shown greyed
    assert tab.form.widgets["steps"].isEnabled()  # how long to train is still the user's
    assert tab.form.values()["steps"] == 7
    tab.form.set_values({**tab.form.values(), "start_from": None})
    assert bars.isEnabled() and tab.form.values()["start_from"] is None
    assert bars.value() == 4  # what the user had typed comes back


def test_values_survive_a_restart(qtbot, panel):
    panel.settings.bars.setValue(12)
    panel.settings.tempo.setValue(72)
    panel.loop_button.setChecked(True)
    panel.settings.key.setCurrentIndex(panel.settings.key.findData("Eb"))
    panel.settings.instruments[3].setCurrentIndex(panel.settings.instruments[3].findData(42))
    values = panel.current_values()
    panel.settings.bars.setValue(8)
    panel.settings.key.setCurrentIndex(0)
    panel.settings.instruments[3].setCurrentIndex(0)
    panel.loop_button.setChecked(False)
    panel.restore_values(values)
    assert panel.settings.bars.value() == 12 and panel.settings.tempo.value() == 72
    assert panel.loop_button.isChecked()
    assert panel.settings.values()["key"] == "Eb"
    assert panel.settings.values()["instruments"] == "52,52,52,42"
    panel.restore_values({"bars": "nonsense"})  # an old or broken setting is ignored


def test_a_narrow_panel_cuts_the_status_line_not_the_buttons(qtbot, panel):
    panel.resize(760, 600)
    panel.show()
    qtbot.waitExposed(panel)
    long = "Done in 1.4 s; " * 12
    panel._say(long)
    qtbot.wait(20)
    for button in (panel.open_button, panel.export_midi_button, panel.export_wav_button):
        assert button.width() >= button.sizeHint().width(), button.text()
    assert panel.status.toolTip() == long  # the whole line, a hover away
