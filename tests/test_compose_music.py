"""The compose plugin's music I/O: MIDI and MusicXML in, MIDI and WAV out, the four-voice
reduction and the MuseGAN metrics. Every input is made here; no Qt, no torch."""

from __future__ import annotations

import io
import math
import wave
import zipfile
from pathlib import Path

import mido
import numpy as np
import pretty_midi
import pytest

from studio.errors import UserError
from studio_compose import midi_io, synth
from studio_compose.metrics import evaluate, format_table
from studio_compose.midi_io import (
    MusicError,
    read_midi,
    read_music,
    read_musicxml,
    score_to_midi,
    time_signature,
    to_voices,
)
from studio_compose.score import REST, Note, Score
from studio_compose.synth import TAIL, find_soundfont, render_wav


def key(score: Score) -> list[tuple[int, int, int, int]]:
    return sorted((n.pitch, n.start, n.length, n.voice) for n in score.notes)


def one_line_error(exc: pytest.ExceptionInfo, *words: str) -> str:
    message = str(exc.value)
    assert isinstance(exc.value, UserError)
    assert "\n" not in message
    for word in words:
        assert word in message, message
    return message


def midi_file(tracks: list[list[mido.Message | mido.MetaMessage]], *, type_: int = 1,
              tpb: int = 480) -> bytes:
    """A MIDI file from tracks of messages whose ``time`` is the delta in ticks."""
    mid = mido.MidiFile(type=type_, ticks_per_beat=tpb)
    for messages in tracks:
        mid.tracks.append(mido.MidiTrack(messages))
    buf = io.BytesIO()
    mid.save(file=buf)
    return buf.getvalue()


def notes_track(notes: list[tuple[int, float, float]], tpb: int, channel: int = 0,
                name: str | None = None, program: int = 0) -> list:
    """Messages for (pitch, start beat, end beat) notes."""
    events = []
    for pitch, start, end in notes:
        events.append((round(start * tpb), 1, pitch))
        events.append((round(end * tpb), 0, pitch))
    events.sort(key=lambda e: (e[0], e[1]))
    out: list = [mido.MetaMessage("track_name", name=name, time=0)] if name else []
    out.append(mido.Message("program_change", program=program, channel=channel, time=0))
    now = 0
    for tick, on, pitch in events:
        out.append(mido.Message("note_on" if on else "note_off", note=pitch, velocity=80,
                                channel=channel, time=tick - now))
        now = tick
    return out


# --- MIDI out and back -----------------------------------------------------------------------

def sample_score() -> Score:
    notes = [
        Note(72, 0, 4, 0), Note(72, 4, 4, 0),  # a repeated pitch: two notes
        Note(74, 8, 20, 0),  # held over the bar line at step 16
        Note(67, 32, 8, 0),  # after a rest of 4 steps
        Note(60, 0, 16, 1), Note(55, 16, 24, 1),
    ]
    return Score(notes, voices=["melody", "bass"], programs=[73, 32], tempo=100,
                 steps_per_bar=12, n_steps=48)


def test_round_trip_keeps_notes_durations_and_metadata():
    score = sample_score()
    back = read_midi(score_to_midi(score))
    assert key(back) == key(score)
    assert back.voices == ["melody", "bass"]
    assert back.programs == [73, 32]
    assert back.tempo == pytest.approx(100)
    assert back.steps_per_bar == 12


def test_held_note_is_one_note_and_rest_is_silence():
    score = sample_score()
    pm = pretty_midi.PrettyMIDI(io.BytesIO(score_to_midi(score)))
    melody = sorted(pm.instruments[0].notes, key=lambda n: n.start)
    sps = score.seconds_per_step
    assert [n.pitch for n in melody] == [72, 72, 74, 67]  # no B5 (83) for the rest
    held = melody[2]
    assert held.start == pytest.approx(8 * sps, abs=1e-3)
    assert held.end - held.start == pytest.approx(20 * sps, abs=1e-3)
    assert not any(n.start < 30 * sps < n.end for n in melody)  # steps 28..31 are a rest
    assert [(ts.numerator, ts.denominator) for ts in pm.time_signature_changes] == [(3, 4)]


@pytest.mark.parametrize(("steps_per_bar", "steps_per_beat", "expected"), [
    (16, 4, (4, 4)), (12, 4, (3, 4)), (8, 4, (2, 4)), (14, 4, (7, 8)), (6, 2, (3, 4)),
    (24, 4, (6, 4)),
])
def test_time_signature(steps_per_bar, steps_per_beat, expected):
    assert time_signature(steps_per_bar, steps_per_beat) == expected


# --- MIDI in ---------------------------------------------------------------------------------

@pytest.mark.parametrize("tpb", [96, 384, 1000])
def test_type1_file_is_quantized_from_ticks_despite_a_tempo_change(tpb):
    meta = [mido.MetaMessage("time_signature", numerator=3, denominator=4, time=0),
            mido.MetaMessage("set_tempo", tempo=mido.bpm2tempo(80), time=0),
            mido.MetaMessage("set_tempo", tempo=mido.bpm2tempo(150), time=2 * tpb)]
    # a sixteenth shortened a little, as players do; a note across the tempo change
    melody = notes_track([(72, 0, 1), (74, 1, 1.23), (76, 1.5, 3.5), (77, 4, 4.1)], tpb,
                         name="Flute", program=73)
    bass = notes_track([(48, 0, 3), (43, 3, 6)], tpb, channel=1, program=32)
    score = read_midi(midi_file([meta, melody, bass], tpb=tpb))
    assert score.voices == ["Flute", "track 2"]
    assert score.programs == [73, 32]
    assert score.tempo == pytest.approx(80)
    assert score.steps_per_bar == 12
    assert key(score) == sorted([(72, 0, 4, 0), (74, 4, 1, 0), (76, 6, 8, 0), (77, 16, 1, 0),
                                 (48, 0, 12, 1), (43, 12, 12, 1)])


def test_type0_file_gives_a_voice_per_channel():
    track = [
        mido.MetaMessage("time_signature", numerator=6, denominator=8, time=0),
        mido.Message("program_change", program=40, channel=0, time=0),
        mido.Message("note_on", note=67, velocity=70, channel=0, time=0),
        mido.Message("note_on", note=40, velocity=70, channel=1, time=0),
        mido.Message("note_off", note=67, velocity=0, channel=0, time=96),
        mido.Message("note_off", note=40, velocity=0, channel=1, time=96),
    ]
    score = read_midi(midi_file([track], type_=0, tpb=96))
    assert score.steps_per_bar == 12  # 6/8: six eighths
    assert len(score.voices) == 2
    by_pitch = {n.pitch: n for n in score.notes}
    assert (by_pitch[67].start, by_pitch[67].length) == (0, 4)
    assert (by_pitch[40].start, by_pitch[40].length) == (0, 8)
    assert by_pitch[67].voice != by_pitch[40].voice
    assert score.programs[by_pitch[67].voice] == 40


def test_two_four_and_a_single_short_note(tmp_path):
    meta = [mido.MetaMessage("time_signature", numerator=2, denominator=4, time=0)]
    path = tmp_path / "one.mid"
    path.write_bytes(midi_file([meta, notes_track([(64, 2, 2.05)], 480)]))
    score = read_music(path)
    assert score.steps_per_bar == 8
    assert key(score) == [(64, 8, 1, 0)]  # shorter than a step: one step
    assert score.tempo == pytest.approx(120)  # MIDI's default


def test_steps_per_beat_is_honoured():
    data = midi_file([notes_track([(60, 0, 1), (62, 1, 1.5)], 480)])
    assert key(read_midi(data, steps_per_beat=2)) == [(60, 0, 2, 0), (62, 2, 1, 0)]
    with pytest.raises(MusicError) as exc:
        read_midi(data, steps_per_beat=0)
    one_line_error(exc, "steps per beat")


def drums_only() -> bytes:
    return midi_file([notes_track([(36, 0, 1), (38, 1, 2)], 480, channel=9)])


@pytest.mark.parametrize(("data", "words"), [
    (b"", ["empty file"]),
    (b"RIFF\x00\x00\x00\x00WAVEfmt ", ["not a MIDI file"]),
    (b"MThd\x00\x00\x00\x06\x00\x01\x00\x01\x01\xe0MTrk\x00\x00\x00\x08\x90\xff\xff",
     ["track 1 of 1 says it is 8 bytes long but only 3 bytes follow"]),
    (b"MThd\x00\x00\x00\x06\x00\x01\x00\x01\x00\x00", ["0 ticks per beat"]),
    (b"MThd\x00\x00\x00\x06\x00\x01\x00\x01\xe7\x28", ["SMPTE"]),
    (drums_only(), ["only drums"]),
    (midi_file([[mido.MetaMessage("track_name", name="silence", time=0)]]), ["no notes"]),
])
def test_bad_midi_is_refused_in_one_line(tmp_path, data, words):
    path = tmp_path / "bad song.mid"
    path.write_bytes(data)
    with pytest.raises(MusicError) as exc:
        read_music(path)
    one_line_error(exc, "bad song.mid", *words)
    with pytest.raises(MusicError):
        read_midi(data)


def test_limits_are_enforced(tmp_path, monkeypatch):
    path = tmp_path / "big.mid"
    path.write_bytes(midi_file([notes_track([(60 + i, i, i + 1) for i in range(5)], 480)]))
    monkeypatch.setattr(midi_io, "MAX_NOTES", 4)
    with pytest.raises(MusicError) as exc:
        read_midi(path)
    one_line_error(exc, "big.mid", "too many notes")
    monkeypatch.setattr(midi_io, "MAX_BYTES", path.stat().st_size - 1)
    with pytest.raises(MusicError) as exc:
        read_midi(path)
    one_line_error(exc, "big.mid", "too large")


def test_missing_and_unknown_files(tmp_path):
    with pytest.raises(MusicError) as exc:
        read_music(tmp_path / "nowhere.mid")
    one_line_error(exc, "nowhere.mid", "no such file")
    (tmp_path / "song.mp3").write_bytes(b"ID3")
    with pytest.raises(MusicError) as exc:
        read_music(tmp_path / "song.mp3")
    one_line_error(exc, "song.mp3", ".mp3")


# --- MusicXML in -----------------------------------------------------------------------------

def musicxml(*parts: tuple[str, str], header: str = "") -> str:
    part_list = "".join(f'<score-part id="P{i}"><part-name>{name}</part-name></score-part>'
                        for i, (name, _) in enumerate(parts, 1))
    body = "".join(f'<part id="P{i}">{measures}</part>'
                   for i, (_, measures) in enumerate(parts, 1))
    return (f'<?xml version="1.0" encoding="UTF-8"?>{header}<score-partwise version="3.1">'
            f"<part-list>{part_list}</part-list>{body}</score-partwise>")


def note(step: str, octave: int, duration: int, *extra: str, alter: int = 0) -> str:
    alter_el = f"<alter>{alter}</alter>" if alter else ""
    return (f"<note>{''.join(e for e in extra if e in ('<chord/>', '<grace/>'))}"
            f"<pitch><step>{step}</step>{alter_el}<octave>{octave}</octave></pitch>"
            f"<duration>{duration}</duration>"
            f"{''.join(e for e in extra if e not in ('<chord/>', '<grace/>'))}</note>")


def rest(duration: int) -> str:
    return f"<note><rest/><duration>{duration}</duration></note>"


ATTRS = ("<attributes><divisions>2</divisions><time><beats>3</beats><beat-type>4</beat-type>"
         "</time></attributes>")
TEMPO = '<direction><direction-type><words>Andante</words></direction-type>' \
        '<sound tempo="72"/></direction>'

UPPER = (
    f'<measure number="1">{ATTRS}{TEMPO}'
    + note("C", 5, 2) + note("E", 5, 2, "<chord/>")  # a chord
    + rest(2)  # a rest: silence
    + note("D", 5, 2, '<tie type="start"/>')  # tied over the bar line
    + "</measure>"
    '<measure number="2">'
    + note("D", 5, 2, '<tie type="stop"/>')
    + note("G", 4, 0, "<grace/>")  # a grace note: skipped
    + note("F", 5, 4, alter=1)
    + "<backup><duration>6</duration></backup>"  # a second voice in the same part
    + note("A", 4, 4) + "<forward><duration>2</duration></forward>"
    + "</measure>"
)
LOWER = (f'<measure number="1">{ATTRS}' + note("C", 3, 6) + "</measure>"
         '<measure number="2">' + note("G", 2, 6) + "</measure>")


def check_upper_lower(score: Score) -> None:
    assert score.voices == ["Upper", "Lower"]
    assert score.steps_per_bar == 12
    assert score.tempo == 72
    assert score.n_steps == 24
    assert key(score) == sorted([
        (72, 0, 4, 0), (76, 0, 4, 0),  # the chord
        (74, 8, 8, 0),  # the tie: one held note across the bar line
        (78, 16, 8, 0),  # F#5
        (69, 12, 8, 0),  # the second voice, after <backup>
        (48, 0, 12, 1), (43, 12, 12, 1),
    ])
    assert not any(n.start <= 5 < n.end for n in score.voice_notes(0))  # the rest


def test_musicxml_chords_rests_ties_backup_time_and_tempo(tmp_path):
    path = tmp_path / "two.musicxml"
    path.write_text(musicxml(("Upper", UPPER), ("Lower", LOWER)))
    check_upper_lower(read_musicxml(path))
    check_upper_lower(read_music(path))


def test_compressed_mxl(tmp_path):
    path = tmp_path / "two.mxl"
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as z:
        z.writestr("META-INF/container.xml",
                   '<?xml version="1.0"?><container><rootfiles>'
                   '<rootfile full-path="scores/piece.xml"/></rootfiles></container>')
        z.writestr("decoy.xml", "<not-music/>")
        z.writestr("scores/piece.xml", musicxml(("Upper", UPPER), ("Lower", LOWER)))
    check_upper_lower(read_music(path))


def test_musicxml_without_tempo_plays_at_120_like_midi(tmp_path):
    path = tmp_path / "plain.xml"
    path.write_text(musicxml(("Voice", LOWER)))
    score = read_music(path)
    assert score.tempo == 120
    midi = tmp_path / "plain.mid"
    midi.write_bytes(midi_file([notes_track([(60, 0, 1)], 480)]))
    assert read_music(midi).tempo == score.tempo  # one default for both
    assert key(score) == [(43, 12, 12, 0), (48, 0, 12, 0)]


@pytest.mark.parametrize(("name", "content", "words"), [
    ("bomb.xml", musicxml(("A", LOWER), header='<!DOCTYPE s [<!ENTITY a "aaaa">]>'),
     ["entity"]),
    ("broken.xml", "<score-partwise><part>", ["not well-formed"]),
    ("time.xml", "<score-timewise/>", ["timewise"]),
    ("html.xml", "<html/>", ["not a MusicXML score"]),
    ("silent.xml", musicxml(("A", f'<measure number="1">{ATTRS}{rest(6)}</measure>')),
     ["no notes"]),
    ("nozip.mxl", "plain text", ["not a zip"]),
])
def test_bad_musicxml_is_refused_in_one_line(tmp_path, name, content, words):
    path = tmp_path / name
    path.write_text(content)
    with pytest.raises(MusicError) as exc:
        read_music(path)
    one_line_error(exc, name, *words)


def test_mxl_without_a_score(tmp_path):
    path = tmp_path / "empty.mxl"
    with zipfile.ZipFile(path, "w") as z:
        z.writestr("readme.txt", "nothing")
    with pytest.raises(MusicError) as exc:
        read_music(path)
    one_line_error(exc, "empty.mxl", "no score")


# --- four voices -----------------------------------------------------------------------------

def test_four_monophonic_parts_are_ordered_high_to_low():
    notes = [Note(48, 0, 4, 0), Note(72, 0, 4, 1), Note(60, 0, 2, 2), Note(64, 0, 4, 3)]
    score = Score(notes, voices=["B", "S", "T", "A"], n_steps=4)
    grid = to_voices(score)
    assert grid.shape == (4, 4)
    assert grid[0].tolist() == [72, 64, 60, 48]
    assert grid[3].tolist() == [72, 64, REST, 48]  # the tenor rests


def test_pooled_pitches_fill_outer_voices_first():
    # one polyphonic piano part: 1, 2, 3, 6 pitches at once, then nothing
    chords = [[60], [60, 67], [60, 64, 67], [48, 55, 60, 64, 67, 72], []]
    notes = [Note(p, t, 1, 0) for t, chord in enumerate(chords) for p in chord]
    grid = to_voices(Score(notes, voices=["piano"], n_steps=5))
    assert grid.tolist() == [
        [60, REST, REST, REST],
        [67, REST, REST, 60],
        [67, 64, REST, 60],
        [72, 64, 60, 48],  # highest, evenly spaced inner ranks 2 and 3 of 6, lowest
        [REST] * 4,
    ]


def test_unison_of_two_parts_counts_twice():
    notes = [Note(67, 0, 2, 0), Note(60, 0, 2, 1), Note(60, 0, 2, 2), Note(62, 0, 2, 2)]
    grid = to_voices(Score(notes, voices=["a", "b", "c"], n_steps=2))
    assert grid[0].tolist() == [67, 62, 60, 60]


# --- WAV -------------------------------------------------------------------------------------

def read_wav(data: bytes) -> tuple[np.ndarray, int]:
    with wave.open(io.BytesIO(data)) as w:
        assert (w.getnchannels(), w.getsampwidth()) == (1, 2)
        return np.frombuffer(w.readframes(w.getnframes()), "<i2").astype(float), w.getframerate()


def chorale_like(bars: int = 8) -> Score:
    rng = np.random.default_rng(0)
    base = np.array([72, 64, 57, 48])
    grid = np.repeat(base + rng.integers(-3, 4, size=(bars * 4, 4)), 4, axis=0)
    return Score.from_grid(grid, tempo=90)


def test_wav_has_the_right_length_rate_and_no_clipping():
    score = chorale_like(2)
    samples, rate = read_wav(render_wav(score, sample_rate=16000))
    assert rate == 16000
    assert len(samples) == math.ceil((score.duration + TAIL) * 16000)
    assert 1000 < np.abs(samples).max() < 32767
    assert samples[0] == 0 and abs(samples[-1]) < 50  # starts and ends quietly


def test_muting_changes_the_audio_and_all_muted_is_silent():
    score = chorale_like(1)
    full, _ = read_wav(render_wav(score))
    no_bass, _ = read_wav(render_wav(score, voices={0, 1, 2}))
    bass, _ = read_wav(render_wav(score, voices=[3]))
    silent, _ = read_wav(render_wav(score, voices=[]))
    assert len(full) == len(no_bass) == len(bass) == len(silent)
    assert not np.array_equal(full, no_bass)
    assert np.abs(bass).max() < np.abs(full).max()  # a solo is not turned up
    assert not silent.any()


def test_rests_are_silent_and_repeated_notes_are_separate():
    notes = [Note(60, 0, 4, 0), Note(60, 4, 4, 0), Note(60, 40, 4, 0)]
    score = Score(notes, voices=["choir"], programs=[52], tempo=90, n_steps=44)
    samples, rate = read_wav(render_wav(score))
    step = score.seconds_per_step * rate
    assert np.abs(samples[int(16 * step):int(40 * step) - 1]).max() <= 1  # the long rest

    def level(at_step: float) -> float:
        mid = int(at_step * step)
        return float(np.sqrt(np.mean(samples[mid - 100:mid + 100] ** 2)))

    assert level(4) < 0.3 * level(2)  # a dip between the two notes


def test_engine_choice(monkeypatch, tmp_path):
    monkeypatch.delenv("STUDIO_SYNTH")  # "auto" as a user's machine has it
    calls = []

    def fake_run(cmd, **kwargs):
        calls.append(cmd)
        out = Path(cmd[cmd.index("-F") + 1])
        with wave.open(str(out), "wb") as w:
            w.setnchannels(2)
            w.setsampwidth(2)
            w.setframerate(int(cmd[cmd.index("-r") + 1]))
            w.writeframes(b"\x01\x00" * 2 * 100)
        return type("Done", (), {"returncode": 0, "stderr": b""})()

    monkeypatch.setattr(synth.subprocess, "run", fake_run)
    font = tmp_path / "gm.sf2"
    font.write_bytes(b"RIFF")
    score = chorale_like(1)

    monkeypatch.setattr(synth, "find_fluidsynth", lambda: "/opt/fluidsynth")
    monkeypatch.setattr(synth, "find_soundfont", lambda: font)
    with wave.open(io.BytesIO(render_wav(score, 8000))) as w:
        assert w.getnchannels() == 2  # FluidSynth's stereo, padded to the score's length
        assert w.getnframes() == math.ceil((score.duration + TAIL) * 8000)
    assert calls and calls[-1][:2] == ["/opt/fluidsynth", "-ni"] and str(font) in calls[-1]

    calls.clear()
    read_wav(render_wav(score, engine="builtin"))
    monkeypatch.setenv("STUDIO_SYNTH", "builtin")  # "auto" means the built-in one
    read_wav(render_wav(score))
    monkeypatch.delenv("STUDIO_SYNTH")
    monkeypatch.setattr(synth, "find_soundfont", lambda: None)
    read_wav(render_wav(score))  # auto without a soundfont: built-in, mono
    assert not calls
    with pytest.raises(MusicError) as exc:
        render_wav(score, engine="fluidsynth")
    one_line_error(exc, "soundfont")
    with pytest.raises(MusicError) as exc:
        render_wav(score, engine="timidity")
    one_line_error(exc, "timidity")

    monkeypatch.setattr(synth, "find_soundfont", lambda: font)
    monkeypatch.setattr(synth.subprocess, "run", lambda cmd, **kw: type(
        "Done", (), {"returncode": 1, "stderr": b"fluidsynth: error: bad font\n"})())
    read_wav(render_wav(score))  # auto falls back to the built-in synthesiser
    with pytest.raises(MusicError) as exc:
        render_wav(score, engine="fluidsynth")
    one_line_error(exc, "bad font")


@pytest.mark.skipif(not (synth.find_fluidsynth() and find_soundfont()),
                    reason="needs the fluidsynth program and a General MIDI soundfont")
def test_fluidsynth_renders_the_score_when_installed():
    score = chorale_like(2)
    with wave.open(io.BytesIO(render_wav(score, engine="fluidsynth"))) as w:
        assert (w.getnchannels(), w.getsampwidth(), w.getframerate()) == (2, 2, 22050)
        assert w.getnframes() == math.ceil((score.duration + TAIL) * 22050)
        pcm = np.frombuffer(w.readframes(w.getnframes()), "<i2").astype(np.float64)
    assert 1000 < np.abs(pcm).max() < 32767  # it sounds, and does not clip
    quiet = render_wav(score, engine="fluidsynth", voices=[])
    with wave.open(io.BytesIO(quiet)) as w:
        assert not np.any(np.frombuffer(w.readframes(w.getnframes()), "<i2"))


def test_find_soundfont(monkeypatch, tmp_path):
    font = tmp_path / "mine.sf2"
    font.write_bytes(b"RIFF")
    monkeypatch.setattr(synth, "SOUNDFONTS", (str(tmp_path / "none.sf2"),))
    monkeypatch.setenv("STUDIO_SOUNDFONT", str(font))
    assert find_soundfont() == font
    monkeypatch.setenv("STUDIO_SOUNDFONT", str(tmp_path / "missing.sf2"))
    assert find_soundfont() is None
    monkeypatch.setattr(synth, "SOUNDFONTS", (str(tmp_path / "none.sf2"),
                                              str(tmp_path / "*.sf2")))
    assert find_soundfont() == font


# --- metrics ---------------------------------------------------------------------------------

def grid_of(*columns: list[int]) -> np.ndarray:
    return np.array(columns, dtype=np.int64).T


def test_metrics_of_a_hand_made_bar():
    soprano = [60] * 4 + [64] * 4 + [67] * 4 + [72] * 4  # C E G C in quarters
    alto = [55] * 2 + [REST] * 14  # one short note
    tenor = [REST] * 16  # silent
    bass = [48] * 16
    m = evaluate([grid_of(soprano, alto, tenor, bass)], steps_per_bar=16)
    assert m["pitch_classes.soprano"] == 3
    assert m["qualified_notes.soprano"] == 100
    assert m["qualified_notes.alto"] == 0
    assert m["empty_bars.tenor"] == 100 and m["empty_bars.soprano"] == 0
    assert m["empty_bars"] == 25
    assert math.isnan(m["pitch_classes.tenor"]) and math.isnan(m["pitch_range.tenor"])
    assert m["pitch_classes"] == pytest.approx((3 + 1 + 1) / 3)
    assert m["pitch_range.soprano"] == 12 and m["pitch_range.bass"] == 0
    assert m["stepwise_motion.soprano"] == 0  # C E G C: three leaps
    assert math.isnan(m["stepwise_motion.bass"])  # one held note: no moves
    assert m["tonal_distance.soprano-bass"] > 0
    assert math.isnan(m["tonal_distance.soprano-tenor"])


def test_stepwise_motion_counts_steps_among_moves_between_notes():
    line = [60, 62, 62, 64, 67, REST, 65, 64]  # up a step, a step, a leap; a rest; down a step
    m = evaluate([grid_of(line)], steps_per_bar=8)
    assert m["stepwise_motion"] == pytest.approx(100 * 3 / 4)


def test_tonal_distance_by_hand():
    same = grid_of([60, 64, 67, 60], [48, 52, 55, 48])  # the same pitch classes
    assert evaluate([same], 4)["tonal_distance"] == pytest.approx(0, abs=1e-12)
    c_g = evaluate([grid_of([60] * 4, [55] * 4)], 4)["tonal_distance"]

    def phi(pc: int) -> np.ndarray:
        angles = [7 * math.pi / 6, 3 * math.pi / 2, 2 * math.pi / 3]
        radii = [1, 1, 0.5]
        return np.array([f(pc * a) * r for a, r in zip(angles, radii, strict=True)
                         for f in (math.sin, math.cos)])

    assert c_g == pytest.approx(np.linalg.norm(phi(0) - phi(7)))
    assert c_g == pytest.approx(1.7373, abs=1e-4)


def test_empty_bars_crossing_and_nan_rests():
    upper = [72, 72, 60, 60, 70, 70, 70, 70]
    lower = [64, 64, 64, 64, REST, REST, REST, REST]
    m = evaluate([grid_of(upper, lower)], steps_per_bar=4)
    assert m["voice_crossing.0-1"] == 50  # 2 of the 4 steps where both sound
    assert m["empty_bars.1"] == 50
    assert m["qualified_notes.0"] == pytest.approx(100 / 3)  # only the 70 x4 is long
    floats = grid_of(upper, lower).astype(float)
    floats[floats == REST] = np.nan
    assert evaluate([floats], steps_per_bar=4) == m


def test_format_table():
    table = format_table({"real": {"empty_bars": 10.0, "tonal_distance": 0.5},
                          "model": {"empty_bars": 15.0, "tonal_distance": math.nan}})
    lines = table.splitlines()
    assert lines[0] == "| metric | real | model |"
    assert lines[2] == "| empty_bars | 10.00 | 15.00 (+50 %) |"
    assert lines[3] == "| tonal_distance | 0.50 | – |"
