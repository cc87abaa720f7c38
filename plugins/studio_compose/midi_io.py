"""Music in and out: a ``Score`` to MIDI bytes, and MIDI or MusicXML files to a ``Score``.

Qt-free and torch-free. Every bad input raises ``MusicError`` (a ``UserError``) with one line
that names the file and the reason; no other exception escapes for bad input.

Reading quantizes every note to the step grid (``steps_per_beat`` steps per quarter note). MIDI
positions come from the file's own ticks (a beat is ``resolution`` ticks), so tempo changes do
not move notes off the grid; the score keeps the first tempo and the first time signature. MIDI
files are read event by event (``smf``), so a long piece at a fine resolution reads as it is,
and a broken file is refused with what is broken. A file without a tempo plays at 120 bpm,
MIDI or MusicXML alike.
"""

from __future__ import annotations

import io
import math
import xml.etree.ElementTree as ET
import zipfile
from dataclasses import replace
from fractions import Fraction
from pathlib import Path
from xml.parsers import expat

import numpy as np
import pretty_midi

from studio.errors import UserError

from .score import DEFAULT_PROGRAM, REST, Note, Score
from .smf import MidiFile, SmfError, read_smf

MAX_BYTES = 20 * 1024 * 1024  # a MIDI or MusicXML file (compressed .mxl: the archive)
MAX_XML_BYTES = 100 * 1024 * 1024  # the score inside an .mxl, uncompressed
MAX_NOTES = 200_000
MAX_STEPS = 500_000  # about a day of music at 90 bpm in sixteenths
MAX_STEPS_PER_BEAT = 96
MIDI_SUFFIXES = (".mid", ".midi")
XML_SUFFIXES = (".xml", ".musicxml", ".mxl")
# A file that sets no tempo plays at 120 quarter notes per minute: the MIDI standard's default,
# used for MusicXML too, so one piece plays alike from either file.
DEFAULT_TEMPO = 120.0


class MusicError(UserError):
    """A music file that cannot be read, or music that cannot be written."""


def _fail(name: str, reason: str) -> MusicError:
    line = " ".join(str(reason).split())  # one line, whatever the reason held
    return MusicError(f"{name}: {line[:200]}")


# --- writing ---------------------------------------------------------------------------------


def time_signature(steps_per_bar: int, steps_per_beat: int) -> tuple[int, int]:
    """(numerator, denominator) of a bar of ``steps_per_bar`` steps at ``steps_per_beat`` steps
    per quarter note: in quarters when whole (16/4 -> 4/4, 12/4 -> 3/4), else in eighths,
    sixteenths ... (14/4 -> 7/8); 4/4 when nothing fits."""
    for denominator in (4, 8, 16, 32, 2, 1):
        numerator = Fraction(steps_per_bar * denominator, 4 * steps_per_beat)
        if numerator.denominator == 1 and numerator > 0:
            return int(numerator), denominator
    return 4, 4


def score_to_midi(score: Score) -> bytes:
    """A type-1 MIDI file: one instrument per voice (its name and program), the score's tempo
    and time signature. A note of ``L`` steps lasts ``L * seconds_per_step``: a held note is one
    note and a rest is silence."""
    if score.tempo <= 0 or score.steps_per_beat < 1:
        raise MusicError(f"MIDI: bad tempo {score.tempo} or steps per beat {score.steps_per_beat}")
    resolution = 480 if 480 % score.steps_per_beat == 0 else 120 * score.steps_per_beat
    pm = pretty_midi.PrettyMIDI(resolution=resolution, initial_tempo=float(score.tempo))
    numerator, denominator = time_signature(score.steps_per_bar, score.steps_per_beat)
    pm.time_signature_changes.append(pretty_midi.TimeSignature(numerator, denominator, 0.0))
    instruments = []
    for i, name in enumerate(score.voices):
        program = score.programs[i] if i < len(score.programs) else DEFAULT_PROGRAM
        instruments.append(pretty_midi.Instrument(int(np.clip(program, 0, 127)), name=name))
    sps = score.seconds_per_step
    for n in score.notes:
        if not 0 <= n.pitch <= 127 or not 0 <= n.voice < len(instruments) or n.length < 1:
            raise MusicError(f"MIDI: cannot write {n}")
        velocity = int(np.clip(n.velocity, 1, 127))
        instruments[n.voice].notes.append(
            pretty_midi.Note(velocity, n.pitch, n.start * sps, n.end * sps))
    pm.instruments = instruments
    out = io.BytesIO()
    pm.write(out)
    return out.getvalue()


# --- reading MIDI ----------------------------------------------------------------------------


def _read_bytes(path: Path) -> bytes:
    limit = MAX_BYTES
    try:
        size = path.stat().st_size
        if size > limit:
            raise _fail(path.name, f"too large ({size / 2**20:.1f} MB, at most "
                                   f"{limit / 2**20:.0f} MB)")
        return path.read_bytes()
    except FileNotFoundError:
        raise _fail(path.name, "no such file") from None
    except IsADirectoryError:
        raise _fail(path.name, "is a folder, not a file") from None
    except OSError as e:
        raise _fail(path.name, f"cannot read it ({e.strerror or e})") from None


def _check_steps_per_beat(steps_per_beat: int, name: str) -> None:
    if not 1 <= steps_per_beat <= MAX_STEPS_PER_BEAT:
        raise _fail(name, f"steps per beat must be 1 to {MAX_STEPS_PER_BEAT}, "
                          f"not {steps_per_beat}")


def _steps(ticks: np.ndarray, resolution: int, steps_per_beat: int) -> np.ndarray:
    return np.floor(ticks * steps_per_beat / resolution + 0.5).astype(np.int64)


def read_midi(source: Path | bytes, steps_per_beat: int = 4) -> Score:
    """Every non-drum note of a MIDI file (type 0 or 1), one voice per instrument (track,
    channel and program; its name is the track's, or "track N" for the Nth voice), quantized to
    ``steps_per_beat`` steps per quarter note from the file's ticks, however many there are per
    beat and however long the piece (up to ``MAX_STEPS``). Notes shorter than a step last one
    step; of notes of one pitch in one voice that overlap, the earlier is cut where the later
    starts; a note that is never switched off lasts to the end of its track (``Score.remarks``
    says how many). The tempo is the first the file sets, else MIDI's default of 120."""
    if isinstance(source, bytes | bytearray):
        name, data = "MIDI data", bytes(source)
    else:
        path = Path(source)
        name, data = path.name, _read_bytes(path)
    _check_steps_per_beat(steps_per_beat, name)
    if len(data) > MAX_BYTES:
        raise _fail(name, f"too large ({len(data) / 2**20:.1f} MB, at most "
                          f"{MAX_BYTES / 2**20:.0f} MB)")
    try:
        smf = read_smf(data)
    except SmfError as e:
        raise _fail(name, str(e)) from None

    voices, drums, unclosed = _midi_voices(smf)
    if not voices and not drums:
        raise _fail(name, "no notes")
    if not voices:
        raise _fail(name, "only drums (no pitched notes)")
    n_notes = sum(len(v[2]) for v in voices)
    if n_notes > MAX_NOTES:
        raise _fail(name, f"too many notes ({n_notes:,}, at most {MAX_NOTES:,})")
    last_tick = max(end for v in voices for _, end, _, _ in v[2])
    beats = last_tick / smf.division
    if beats * steps_per_beat > MAX_STEPS:
        raise _fail(name, f"too long: {beats:,.0f} beats (at most "
                          f"{MAX_STEPS // steps_per_beat:,} beats, about a day of music)")

    notes: list[Note] = []
    for voice, (_, _, played) in enumerate(voices):
        ticks = np.array([(s, e) for s, e, _, _ in played], dtype=np.int64)
        starts = _steps(ticks[:, 0], smf.division, steps_per_beat)
        ends = np.maximum(_steps(ticks[:, 1], smf.division, steps_per_beat), starts + 1)
        for (_, _, pitch, velocity), s, e in zip(played, starts, ends, strict=True):
            notes.append(Note(pitch, int(s), int(e - s), voice, velocity))
    notes = _untangle(notes)
    n_steps = max(n.end for n in notes)

    tempos = sorted((t for track in smf.tracks for t in track.tempos), key=lambda t: t[0])
    tempo = 60_000_000 / tempos[0][1] if tempos and tempos[0][1] > 0 else DEFAULT_TEMPO
    meters = sorted((m for track in smf.tracks for m in track.meters), key=lambda m: m[0])
    steps_per_bar = 4 * steps_per_beat
    if meters:
        steps_per_bar = _bar_steps(meters[0][1], meters[0][2], steps_per_beat)
    remarks = []
    if unclosed:
        remarks.append(f"{unclosed} note{'' if unclosed == 1 else 's'} never switched off: "
                       "held to the end of the track")
    return Score(
        notes, voices=[v[0] for v in voices], programs=[v[1] for v in voices],
        steps_per_beat=steps_per_beat, steps_per_bar=steps_per_bar, tempo=tempo,
        n_steps=n_steps, remarks=remarks)


Played = list[tuple[int, int, int, int]]  # (start tick, end tick, pitch, velocity)


def _midi_voices(smf: MidiFile) -> tuple[list[tuple[str, int, Played]], int, int]:
    """The pitched voices [(name, program, notes)] in order of their first note, how many
    drum notes there are (channel 10), and how many notes were never switched off.

    A note-off (or a note-on at velocity 0) ends the earliest sounding note of its key and
    channel; a voice is a track's channel in one program."""
    voices: dict[tuple[int, int, int], Played] = {}
    unclosed = 0
    for t, track in enumerate(smf.tracks):
        program = [0] * 16
        sounding: dict[tuple[int, int], list[tuple[int, int, int]]] = {}
        for tick, status, a, b in track.events:
            kind, channel = status >> 4, status & 0x0F
            if kind == 0xC:
                program[channel] = a
            elif kind == 0x9 and b > 0:
                sounding.setdefault((channel, a), []).append((tick, b, program[channel]))
            else:
                started = sounding.get((channel, a))
                if started:
                    _close(voices, t, channel, a, started.pop(0), tick)
        for (channel, pitch), started in sounding.items():
            for note in started:
                _close(voices, t, channel, pitch, note, max(track.end, note[0]))
                unclosed += channel != 9
    names = [track.name for track in smf.tracks]
    order = sorted(voices, key=lambda k: (k[0], min(n[0] for n in voices[k])))
    keys = [k for k in order if k[1] != 9]
    pitched = [(names[t] or f"track {i + 1}", program, voices[(t, channel, program)])
               for i, (t, channel, program) in enumerate(keys)]
    drums = sum(len(p) for (_, channel, _), p in voices.items() if channel == 9)
    return pitched, drums, unclosed


def _close(voices: dict[tuple[int, int, int], Played], track: int, channel: int, pitch: int,
           note: tuple[int, int, int], end: int) -> None:
    start, velocity, program = note
    voices.setdefault((track, channel, program), []).append((start, end, pitch, velocity))


def _untangle(notes: list[Note]) -> list[Note]:
    """One key cannot sound twice in a voice: of notes of one pitch and voice that start at the
    same step the longest is kept, and a note is cut where the next one of its pitch starts."""
    out: list[Note] = []
    key = lambda n: (n.voice, n.pitch, n.start, -n.length)  # noqa: E731
    for n in sorted(notes, key=key):
        if out and (out[-1].voice, out[-1].pitch) == (n.voice, n.pitch):
            prev = out[-1]
            if prev.start == n.start:
                continue
            if prev.end > n.start:
                out[-1] = replace(prev, length=n.start - prev.start)
        out.append(n)
    return sorted(out, key=lambda n: (n.start, n.voice, n.pitch))


def _bar_steps(numerator: float, denominator: float, steps_per_beat: int) -> int:
    """Steps in a bar of numerator/denominator; 4/4 for a nonsensical signature."""
    if not (0 < numerator <= 128 and 0 < denominator <= 128):
        return 4 * steps_per_beat
    return max(1, round(numerator * 4 * steps_per_beat / denominator))


# --- reading MusicXML ------------------------------------------------------------------------

_STEP_PITCH = {"C": 0, "D": 2, "E": 4, "F": 5, "G": 7, "A": 9, "B": 11}


def _xml_bytes(path: Path) -> bytes:
    data = _read_bytes(path)
    if path.suffix.lower() != ".mxl":
        return data
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as z:
            member = _mxl_root(z)
            if member is None:
                raise _fail(path.name, "no score in the .mxl archive")
            size = z.getinfo(member).file_size
            if size > MAX_XML_BYTES:
                raise _fail(path.name, f"the score inside is too large ({size / 2**20:.0f} MB)")
            return z.read(member)
    except zipfile.BadZipFile:
        raise _fail(path.name, "not a compressed MusicXML file (not a zip archive)") from None
    except (KeyError, OSError, RuntimeError, ValueError, EOFError) as e:
        raise _fail(path.name, f"corrupt .mxl archive ({e})") from None


def _mxl_root(z: zipfile.ZipFile) -> str | None:
    """The score's name in an .mxl: the first rootfile of META-INF/container.xml, else the first
    .xml or .musicxml file outside META-INF."""
    names = z.namelist()
    if "META-INF/container.xml" in names:
        container = z.read("META-INF/container.xml")
        if len(container) < 1_000_000:
            try:
                root = _parse_xml(container, "container")
            except MusicError:
                root = None
            if root is not None:
                for rootfile in root.iter("rootfile"):
                    full = rootfile.get("full-path")
                    if full in names:
                        return full
    return next((n for n in names if not n.startswith("META-INF/")
                 and n.lower().endswith((".xml", ".musicxml"))), None)


def _parse_xml(data: bytes, name: str) -> ET.Element:
    """Parse XML, refusing any entity declaration (no entity expansion attacks) and never
    fetching external DTDs (expat does not)."""
    def refuse(*_args: object) -> None:
        raise _fail(name, "XML entity declarations are not allowed")

    check = expat.ParserCreate()
    check.EntityDeclHandler = refuse
    try:
        check.Parse(data, True)
        return ET.fromstring(data)
    except (expat.ExpatError, ET.ParseError) as e:
        raise _fail(name, f"not well-formed XML ({e})") from None


def _number(el: ET.Element | None, name: str, what: str, default: float | None = None) -> float:
    text = el.text.strip() if el is not None and el.text else ""
    if not text:
        if default is None:
            raise _fail(name, f"missing <{what}>")
        return default
    try:
        value = float(text)
    except ValueError:
        raise _fail(name, f"<{what}> is not a number: {text[:20]!r}") from None
    if not math.isfinite(value):
        raise _fail(name, f"<{what}> is not a number: {text[:20]!r}")
    return value


def _exact(value: float) -> Fraction:
    return Fraction(value).limit_denominator(1_000_000)


def _pitch(note: ET.Element, name: str, transpose: int) -> int | None:
    pitch = note.find("pitch")
    if pitch is None:
        return None  # unpitched percussion
    step = (pitch.findtext("step") or "").strip().upper()
    if step not in _STEP_PITCH:
        raise _fail(name, f"bad <step> {step[:5]!r} in a note")
    octave = _number(pitch.find("octave"), name, "octave")
    alter = _number(pitch.find("alter"), name, "alter", 0.0)
    midi = int(round((octave + 1) * 12 + _STEP_PITCH[step] + alter)) + transpose
    return midi if 0 <= midi <= 127 else None


class _Part:
    """One part read measure by measure, in quarter notes (Fractions)."""

    def __init__(self, name: str) -> None:
        self.name = name
        self.notes: list[list] = []  # [start, end, pitch, velocity], quarter notes
        self.end = Fraction(0)
        self._open_ties: dict[int, int] = {}  # pitch -> index of the note a tie continues

    def add(self, start: Fraction, end: Fraction, pitch: int, velocity: int,
            tie_types: set[str]) -> None:
        i = self._open_ties.pop(pitch, None)
        # A tie that starts goes on into the next note of its pitch that starts where it ends,
        # whether or not that note says "stop" (exporters forget): one held note, not two.
        if i is not None and self.notes[i][1] == start:
            self.notes[i][1] = end
        else:
            i = len(self.notes)
            self.notes.append([start, end, pitch, velocity])
        if "start" in tie_types:
            self._open_ties[pitch] = i


def read_musicxml(path: Path, steps_per_beat: int = 4) -> Score:
    """A partwise MusicXML score (.musicxml, .xml, or compressed .mxl): one voice per part that
    has notes (its part-name, its MIDI program when given), chords, rests, ties (a tied chain is
    one held note), <backup>/<forward>, transposing parts at sounding pitch, the first <time>
    for the bar and the first <sound tempo> (else 120, as MIDI). Grace and cue notes are skipped."""
    path = Path(path)
    name = path.name
    _check_steps_per_beat(steps_per_beat, name)
    root = _parse_xml(_xml_bytes(path), name)
    if root.tag == "score-timewise":
        raise _fail(name, "timewise MusicXML is not supported (only partwise)")
    if root.tag != "score-partwise":
        raise _fail(name, f"not a MusicXML score (root element <{root.tag[:40]}>)")

    names: dict[str, str] = {}
    programs: dict[str, int] = {}
    for sp in root.iter("score-part"):
        pid = sp.get("id", "")
        names[pid] = ((sp.findtext("part-name") or "").strip()
                      or (sp.findtext("part-abbreviation") or "").strip() or pid)
        program = sp.find("midi-instrument/midi-program")
        if program is not None:
            programs[pid] = int(np.clip(_number(program, name, "midi-program") - 1, 0, 127))

    tempo: float | None = None
    bar: tuple[float, float] | None = None
    parts: list[tuple[_Part, int]] = []
    n_notes = 0
    for part_el in root.findall("part"):
        pid = part_el.get("id", "")
        part = _Part(names.get(pid) or pid or f"part {len(parts) + 1}")
        divisions = Fraction(1)
        transpose = 0
        measure_start = Fraction(0)
        for measure in part_el.findall("measure"):
            pos = last_start = measure_end = measure_start
            for el in measure:
                if el.tag == "attributes":
                    if el.find("divisions") is not None:
                        divisions = _exact(_number(el.find("divisions"), name, "divisions"))
                        if divisions <= 0:
                            raise _fail(name, "<divisions> must be positive")
                    time = el.find("time")
                    if bar is None and time is not None and time.find("beats") is not None:
                        bar = _time_signature(time, name)
                    tr = el.find("transpose")
                    if tr is not None:
                        transpose = int(_number(tr.find("chromatic"), name, "chromatic", 0)
                                        + 12 * _number(tr.find("octave-change"), name,
                                                       "octave-change", 0))
                elif el.tag in ("direction", "sound"):
                    sound = el if el.tag == "sound" else el.find(".//sound")
                    if tempo is None and sound is not None and sound.get("tempo"):
                        try:
                            t = float(sound.get("tempo", ""))
                        except ValueError:
                            t = 0.0
                        tempo = t if 0 < t < 10_000 else None
                elif el.tag in ("backup", "forward"):
                    shift = _exact(_number(el.find("duration"), name, "duration")) / divisions
                    pos = max(Fraction(0), pos - shift if el.tag == "backup" else pos + shift)
                elif el.tag == "note":
                    if el.find("grace") is not None:
                        continue
                    duration = _exact(_number(el.find("duration"), name, "duration", 0))
                    duration /= divisions
                    if el.find("chord") is not None:
                        start = last_start
                    else:
                        start, last_start = pos, pos
                        pos += duration
                    pitch = None if el.find("rest") is not None else _pitch(el, name, transpose)
                    if pitch is not None and duration > 0 and el.find("cue") is None:
                        ties = {t.get("type", "") for t in el.findall("tie")}
                        part.add(start, start + duration, pitch, 90, ties)
                        n_notes += 1
                        if n_notes > MAX_NOTES:
                            raise _fail(name, f"too many notes (more than {MAX_NOTES})")
                measure_end = max(measure_end, pos)
            measure_start = measure_end
        part.end = measure_start
        parts.append((part, programs.get(pid, DEFAULT_PROGRAM)))

    played = [(p, program) for p, program in parts if p.notes]
    if not played:
        raise _fail(name, "no notes")
    notes: list[Note] = []
    for voice, (part, _) in enumerate(played):
        for start, end, pitch, velocity in part.notes:
            s = math.floor(start * steps_per_beat + Fraction(1, 2))
            e = max(s + 1, math.floor(end * steps_per_beat + Fraction(1, 2)))
            notes.append(Note(pitch, s, e - s, voice, velocity))
    n_steps = max(math.floor(p.end * steps_per_beat + Fraction(1, 2)) for p, _ in played)
    n_steps = max(n_steps, max(n.end for n in notes))
    if n_steps > MAX_STEPS:
        raise _fail(name, f"too long ({n_steps} steps, at most {MAX_STEPS})")
    notes.sort(key=lambda n: (n.start, n.voice, n.pitch))
    steps_per_bar = 4 * steps_per_beat if bar is None else _bar_steps(*bar, steps_per_beat)
    return Score(notes, voices=[p.name for p, _ in played],
                 programs=[program for _, program in played], steps_per_beat=steps_per_beat,
                 steps_per_bar=steps_per_bar, tempo=tempo or DEFAULT_TEMPO, n_steps=n_steps)


def _time_signature(time: ET.Element, name: str) -> tuple[float, float]:
    beats = (time.findtext("beats") or "").strip()
    try:
        numerator = sum(float(b) for b in beats.split("+"))
    except ValueError:
        raise _fail(name, f"bad time signature <beats> {beats[:20]!r}") from None
    return numerator, _number(time.find("beat-type"), name, "beat-type", 4.0)


# --- any file --------------------------------------------------------------------------------


def read_music(path: Path, steps_per_beat: int = 4) -> Score:
    """A MIDI (.mid, .midi) or MusicXML (.xml, .musicxml, .mxl) file as a ``Score``."""
    path = Path(path)
    suffix = path.suffix.lower()
    if suffix in MIDI_SUFFIXES:
        return read_midi(path, steps_per_beat)
    if suffix in XML_SUFFIXES:
        return read_musicxml(path, steps_per_beat)
    raise _fail(path.name, f"unknown kind of music file {suffix or '(no suffix)'!r}: use "
                           f"{', '.join(MIDI_SUFFIXES + XML_SUFFIXES)}")


# --- four voices for training ----------------------------------------------------------------


def _is_monophonic(score: Score, voice: int) -> bool:
    notes = sorted(score.voice_notes(voice), key=lambda n: n.start)
    return all(a.end <= b.start for a, b in zip(notes, notes[1:], strict=False))


def _voice_slots(k: int, n_voices: int) -> list[int]:
    """Which of ``k`` sounding pitches (0 = highest) each voice takes, -1 for a rest."""
    if k == 0:
        return [-1] * n_voices
    if k >= n_voices:
        if n_voices == 1:
            return [0]
        return [math.floor(i * (k - 1) / (n_voices - 1) + 0.5) for i in range(n_voices)]
    slots = [-1] * n_voices
    slots[0] = 0
    if k >= 2:
        slots[-1] = k - 1
        for i in range(1, k - 1):
            slots[i] = i
    return slots


def to_voices(score: Score, n_voices: int = 4) -> np.ndarray:
    """The score as a (steps, n_voices) int16 grid of monophonic voices, highest voice first,
    ``REST`` (-1) where a voice is silent.

    The rule:

    - If the score has exactly ``n_voices`` voices and each plays one note at a time, those are
      the voices, ordered by mean pitch from high to low (a SATB chorale stays S, A, T, B even if
      its parts are listed in another order).
    - Otherwise, at each step all sounding pitches are pooled (a pitch played by two voices
      counts twice, one voice's chord counts each pitch once) and sorted high to low. With at
      least ``n_voices`` pitches, voice 0 takes the highest, the last voice the lowest and the
      inner voices the pitches evenly spaced between them (voice ``i`` takes the pitch of rank
      ``round(i * (k - 1) / (n_voices - 1))`` of the ``k``). With fewer, the outer voices are
      filled first (the highest pitch to voice 0, the lowest to the last), then the inner
      voices from the top, and the voices left over rest.
    """
    if n_voices < 1:
        raise ValueError("n_voices must be at least 1")
    steps, n_parts = score.n_steps, len(score.voices)
    if n_parts == n_voices and all(_is_monophonic(score, v) for v in range(n_parts)):
        grid = score.to_grid()
        means = [np.mean([n.pitch for n in score.voice_notes(v)] or [-np.inf])
                 for v in range(n_parts)]
        order = sorted(range(n_parts), key=lambda v: -means[v])
        return grid[:, order].astype(np.int16)

    if steps == 0:
        return np.full((0, n_voices), REST, dtype=np.int16)
    counts = np.zeros((steps, 128), dtype=np.int16)
    for v in range(n_parts):
        sounding = np.zeros((steps, 128), dtype=bool)
        for n in score.voice_notes(v):
            sounding[n.start:n.end, n.pitch] = True
        counts += sounding
    counts = counts[:, ::-1]  # columns from pitch 127 down: sorted high to low
    k = counts.sum(axis=1)
    width = max(int(k.max(initial=0)), 1)
    # ranked[t, r] = the pitch of rank r (0 = highest) sounding at step t
    ranked = np.full((steps, width), REST, dtype=np.int16)
    rows = np.repeat(np.arange(steps), k)
    pitches = np.repeat(np.tile(np.arange(127, -1, -1, dtype=np.int16), steps), counts.ravel())
    first = np.concatenate([[0], np.cumsum(k)[:-1]])
    ranked[rows, np.arange(len(rows)) - np.repeat(first, k)] = pitches
    table = np.array([_voice_slots(j, n_voices) for j in range(width + 1)])  # (k, voice)
    slots = table[k]  # (steps, n_voices)
    padded = np.concatenate([ranked, np.full((steps, 1), REST, dtype=np.int16)], axis=1)
    return padded[np.arange(steps)[:, None], slots].astype(np.int16)
