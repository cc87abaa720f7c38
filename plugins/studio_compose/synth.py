"""A ``Score`` as a WAV file: a small built-in synthesiser, or FluidSynth when it is installed.

The built-in synthesiser works on any machine: one wavetable per General MIDI program family
(choir, strings, organ, piano, guitar, flute, ...; band-limited, so high notes do not alias), an
attack-decay-sustain-release envelope per note, vibrato for the sung and bowed families, a light
room reverb and a short tail. Each note is rendered with whole-array numpy operations, so a
piece renders many times faster than it plays. A note stops a little before the next step and
releases quickly, so a repeated pitch is heard as separate notes.

Levels are set from the whole score: muting voices makes the music quieter, not louder, and
nothing clips.

With ``engine="auto"`` the ``fluidsynth`` program renders through a General MIDI soundfont when
both are present (``$STUDIO_SOUNDFONT`` or a usual place, see ``find_soundfont``);
``$STUDIO_SYNTH`` (``builtin`` or ``fluidsynth``) makes "auto" mean that one instead.
"""

from __future__ import annotations

import io
import logging
import math
import os
import shutil
import subprocess
import tempfile
import wave
from collections.abc import Collection
from dataclasses import dataclass, replace
from functools import lru_cache
from pathlib import Path

import numpy as np

from .midi_io import MusicError, score_to_midi
from .score import DEFAULT_PROGRAM, Note, Score

log = logging.getLogger(__name__)

TAIL = 0.5  # seconds after the last step: releases and the room's echo
MAX_SECONDS = 30 * 60  # the longest piece rendered
ENGINES = ("auto", "builtin", "fluidsynth")
SOUNDFONTS = (
    "/usr/share/sounds/sf2/FluidR3_GM.sf2",
    "/usr/share/sounds/sf2/default-GM.sf2",
    "/usr/share/soundfonts/FluidR3_GM.sf2",
    "/usr/share/soundfonts/default.sf2",
    "/usr/share/sounds/sf2/*.sf2",
    "/usr/share/soundfonts/*.sf2",
    "/usr/local/share/soundfonts/*.sf2",
    "/opt/homebrew/share/soundfonts/*.sf2",
    "~/.local/share/soundfonts/*.sf2",
)
_TABLE = 1 << 14  # samples in one period of a wavetable
_GAP = 0.04  # seconds: a note stops this much (at most 20 % of it) before its end
_PEAK = 0.8  # the loudest sample of the whole score


@dataclass(frozen=True)
class Timbre:
    partials: tuple[float, ...]  # amplitudes of harmonics 1, 2, 3 ...
    attack: float  # seconds from silence to full
    decay: float  # seconds (time constant) from full towards the sustain level
    sustain: float  # level while held (not used when percussive)
    release: float  # seconds from the note's end to silence
    vibrato: float = 0.0  # depth in cents
    vibrato_rate: float = 5.0  # Hz
    percussive: bool = False  # dies away while held, faster for higher notes (piano, guitar)
    dull: tuple[float, ...] = ()  # the partials a percussive tone fades towards
    brightness: float = 0.3  # seconds (time constant) of that fade
    gain: float = 1.0


CHOIR = Timbre((1, 0.45, 0.25, 0.12, 0.08, 0.05, 0.03), attack=0.08, decay=0.3, sustain=0.85,
               release=0.06, vibrato=16, vibrato_rate=5.0)
STRINGS = Timbre((1, 0.5, 0.33, 0.25, 0.18, 0.14, 0.1, 0.08, 0.06, 0.04), attack=0.07,
                 decay=0.25, sustain=0.85, release=0.07, vibrato=10, vibrato_rate=5.5,
                 gain=0.85)
ORGAN = Timbre((1, 0.6, 0.3, 0.2, 0.12, 0, 0, 0.1), attack=0.02, decay=0.1, sustain=0.9,
               release=0.05, gain=0.8)
PIANO = Timbre((1, 0.55, 0.35, 0.22, 0.14, 0.09, 0.06, 0.04), attack=0.004, decay=1.4,
               sustain=0, release=0.08, percussive=True, dull=(1, 0.2, 0.05), brightness=0.35)
PLUCK = Timbre((1, 0.5, 0.33, 0.25, 0.2, 0.12, 0.08, 0.05), attack=0.003, decay=0.9, sustain=0,
               release=0.06, percussive=True, dull=(1, 0.15), brightness=0.15)
BRASS = Timbre((1, 0.8, 0.6, 0.45, 0.3, 0.2, 0.12, 0.08), attack=0.04, decay=0.15, sustain=0.8,
               release=0.06, vibrato=6, gain=0.8)
REED = Timbre((1, 0.1, 0.5, 0.08, 0.3, 0.05, 0.15, 0.03, 0.07), attack=0.03, decay=0.2,
              sustain=0.85, release=0.05, vibrato=8, gain=0.85)
FLUTE = Timbre((1, 0.2, 0.08, 0.03), attack=0.05, decay=0.2, sustain=0.9, release=0.06,
               vibrato=14, vibrato_rate=5.0)
SOFT = Timbre((1, 0.35, 0.15, 0.05), attack=0.03, decay=0.2, sustain=0.85, release=0.05)

# General MIDI program families (program // 8) -> timbre; the rest sound SOFT.
_FAMILIES = {0: PIANO, 1: PIANO, 2: ORGAN, 3: PLUCK, 4: PLUCK, 5: STRINGS, 7: BRASS, 8: REED,
             9: FLUTE}


def timbre_for(program: int) -> Timbre:
    """The built-in timbre of a General MIDI program (0-based)."""
    if 48 <= program <= 51:
        return STRINGS  # string ensembles
    if 52 <= program <= 55:
        return CHOIR  # choir aahs, voice oohs, synth voice, orchestra hit
    return _FAMILIES.get(program // 8, SOFT)


# --- the built-in synthesiser ----------------------------------------------------------------


@lru_cache(maxsize=256)
def _wavetable(partials: tuple[float, ...], n_partials: int) -> np.ndarray:
    """One period of the first ``n_partials`` partials, peak 1."""
    phase = np.arange(_TABLE) * (2 * np.pi / _TABLE)
    table = np.zeros(_TABLE)
    for k, amp in enumerate(partials[:n_partials], start=1):
        if amp:
            table += amp * np.sin(k * phase)
    return (table / max(np.abs(table).max(), 1e-9)).astype(np.float32)


def _envelope(t: np.ndarray, gate: float, timbre: Timbre, pitch: int) -> np.ndarray:
    attack = np.minimum(t / timbre.attack, 1.0)
    if timbre.percussive:
        body = np.exp(-t / (timbre.decay * 2.0 ** (-(pitch - 60) / 24)))
    else:
        body = timbre.sustain + (1 - timbre.sustain) * np.exp(-t / timbre.decay)
    env = attack * body
    held = t < gate
    if not held.all():
        level = env[held][-1] if held.any() else 0.0
        fade = np.clip(1 - (t[~held] - gate) / timbre.release, 0.0, 1.0) ** 2
        env[~held] = level * fade
    return env


def _note_wave(note: Note, seconds: float, timbre: Timbre, sample_rate: int) -> np.ndarray:
    """A note sounding ``seconds`` long: its samples, the release included."""
    gate = max(seconds - min(_GAP, 0.2 * seconds), 0.01)
    n = int((gate + timbre.release) * sample_rate) + 1
    t = np.arange(n, dtype=np.float64) / sample_rate
    freq = 440.0 * 2.0 ** ((note.pitch - 69) / 12)
    if timbre.vibrato:
        depth = timbre.vibrato * math.log(2) / 1200 * np.clip((t - 0.15) / 0.3, 0.0, 1.0)
        inst = freq * (1 + depth * np.sin(2 * np.pi * timbre.vibrato_rate * t))
        cycles = np.cumsum(inst) / sample_rate
    else:
        cycles = freq * t
    index = (cycles * _TABLE).astype(np.int64) & (_TABLE - 1)
    top = max(1, int(0.45 * sample_rate / freq))  # partials below the Nyquist frequency
    tone = _wavetable(timbre.partials, top)[index]
    if timbre.dull:
        mix = np.exp(-t / timbre.brightness).astype(np.float32)
        dull = _wavetable(timbre.dull, top)[index]
        tone = dull + mix * (tone - dull)
    velocity = np.clip(note.velocity, 1, 127) / 127
    return (tone * _envelope(t, gate, timbre, note.pitch) * (timbre.gain * velocity))


def _room(n: int, sample_rate: int) -> np.ndarray:
    """A small room's impulse response: decaying noise (softened), unit energy."""
    rng = np.random.default_rng(1)
    t = np.arange(int(0.4 * sample_rate)) / sample_rate
    ir = rng.standard_normal(len(t)) * np.exp(-t / 0.09) * np.minimum(t / 0.01, 1.0)
    ir = np.convolve(ir, np.hanning(9), mode="same")
    return ir / np.sqrt((ir**2).sum())


def _reverb(dry: np.ndarray, sample_rate: int, wet: float = 0.12) -> np.ndarray:
    """``dry`` with the room's echo added, convolved block by block (overlap-add) so that long
    pieces need little memory."""
    ir = _room(len(dry), sample_rate)
    block = 1 << 16
    size = 1 << int(block + len(ir) - 1).bit_length()
    room = np.fft.rfft(ir, size)
    out = dry.astype(np.float64)
    for start in range(0, len(dry), block):
        echo = np.fft.irfft(np.fft.rfft(dry[start:start + block], size) * room, size)
        end = min(start + size, len(out))
        out[start:end] += wet * echo[:end - start]
    return out


def _mixes(score: Score, sample_rate: int, n_samples: int,
           voices: Collection[int] | None) -> tuple[np.ndarray, np.ndarray]:
    """(all voices, the chosen voices): float32 dry sound."""
    full = np.zeros(n_samples, dtype=np.float32)
    chosen = np.zeros(n_samples, dtype=np.float32)
    sps = score.seconds_per_step
    for note in score.notes:
        if not 0 <= note.voice < len(score.voices):
            continue
        program = (score.programs[note.voice] if note.voice < len(score.programs)
                   else DEFAULT_PROGRAM)
        wave_ = _note_wave(note, note.length * sps, timbre_for(program), sample_rate)
        start = int(round(note.start * sps * sample_rate))
        end = min(start + len(wave_), n_samples)
        if end > start:
            full[start:end] += wave_[:end - start]
            if voices is None or note.voice in voices:
                chosen[start:end] += wave_[:end - start]
    return full, chosen


def _wav_bytes(samples: np.ndarray, sample_rate: int, channels: int = 1) -> bytes:
    pcm = np.round(np.clip(samples, -1.0, 1.0) * 32767).astype("<i2")
    buf = io.BytesIO()
    with wave.open(buf, "wb") as w:
        w.setnchannels(channels)
        w.setsampwidth(2)
        w.setframerate(sample_rate)
        w.writeframes(pcm.tobytes())
    return buf.getvalue()


def _n_samples(score: Score, sample_rate: int) -> int:
    if score.duration > MAX_SECONDS:
        raise MusicError(f"too long to play ({score.duration / 60:.0f} minutes, at most "
                         f"{MAX_SECONDS / 60:.0f})")
    return int(math.ceil((score.duration + TAIL) * sample_rate))


def _render_builtin(score: Score, sample_rate: int, voices: Collection[int] | None) -> bytes:
    n = _n_samples(score, sample_rate)
    full, mix = _mixes(score, sample_rate, n, voices)
    peak = float(np.abs(full).max(initial=0.0))
    if peak == 0 or not np.any(mix):
        return _wav_bytes(np.zeros(n), sample_rate)
    out = _reverb(mix, sample_rate) * (_PEAK / peak)
    out *= min(1.0, 0.98 / np.abs(out).max())  # never clip, whatever was muted
    fade = min(n, int(0.05 * sample_rate))
    out[n - fade:] *= np.linspace(1.0, 0.0, fade)
    return _wav_bytes(out, sample_rate)


# --- FluidSynth ------------------------------------------------------------------------------


def find_fluidsynth() -> str | None:
    """The ``fluidsynth`` program on the PATH, or None."""
    return shutil.which("fluidsynth")


def find_soundfont() -> Path | None:
    """A General MIDI soundfont: ``$STUDIO_SOUNDFONT`` when it names a file, else the first of
    ``SOUNDFONTS`` that exists (patterns as in glob), else None."""
    env = os.environ.get("STUDIO_SOUNDFONT", "").strip()
    if env and Path(env).expanduser().is_file():
        return Path(env).expanduser()
    for pattern in SOUNDFONTS:
        path = Path(pattern).expanduser()
        if "*" in pattern:
            found = sorted(path.parent.glob(path.name)) if path.parent.is_dir() else []
            path = next((p for p in found if p.is_file()), None)
        if path is not None and path.is_file():
            return path
    return None


def _render_fluidsynth(score: Score, sample_rate: int, voices: Collection[int] | None,
                       binary: str, soundfont: Path) -> bytes:
    n = _n_samples(score, sample_rate)
    if voices is not None:
        score = replace(score, notes=[x for x in score.notes if x.voice in voices])
    if not score.notes:
        return _wav_bytes(np.zeros(n), sample_rate)
    with tempfile.TemporaryDirectory(prefix="studio-fluidsynth-") as tmp:
        midi, out = Path(tmp) / "score.mid", Path(tmp) / "score.wav"
        midi.write_bytes(score_to_midi(score))
        cmd = [binary, "-ni", "-g", "0.7", "-F", str(out), "-r", str(sample_rate),
               str(soundfont), str(midi)]
        try:
            done = subprocess.run(cmd, capture_output=True, timeout=60 + 2 * score.duration)
        except (OSError, subprocess.TimeoutExpired) as e:
            raise MusicError(f"fluidsynth: {e}") from None
        if done.returncode != 0 or not out.is_file():
            lines = done.stderr.decode(errors="replace").strip().splitlines() or ["no output"]
            raise MusicError(f"fluidsynth failed (exit {done.returncode}): {lines[-1][:200]}")
        try:
            with wave.open(str(out), "rb") as w:
                channels, width = w.getnchannels(), w.getsampwidth()
                frames = w.readframes(w.getnframes())
        except (wave.Error, EOFError, OSError) as e:
            raise MusicError(f"fluidsynth wrote an unreadable WAV ({e})") from None
    if width != 2:
        raise MusicError(f"fluidsynth wrote {8 * width}-bit audio, not 16-bit")
    pcm = np.frombuffer(frames, dtype="<i2").reshape(-1, channels)[:n]
    pcm = np.concatenate([pcm, np.zeros((n - len(pcm), channels), dtype="<i2")])
    return _wav_bytes(pcm.ravel() / 32767, sample_rate, channels)


# --- either ----------------------------------------------------------------------------------


def render_wav(score: Score, sample_rate: int = 22050, voices: Collection[int] | None = None,
               engine: str = "auto") -> bytes:
    """The score as a 16-bit PCM WAV file (bytes), ``TAIL`` seconds longer than the score.

    ``voices``: the voice indices that sound (None: all); the others are muted, and with none
    the file is silent. ``engine``: "builtin" (the synthesiser here), "fluidsynth" (needs the
    program and a soundfont) or "auto" (FluidSynth when both are found, else built-in; the
    built-in one too when FluidSynth fails; ``$STUDIO_SYNTH`` can name the engine it means)."""
    if engine == "auto":
        engine = os.environ.get("STUDIO_SYNTH", "").strip().lower() or "auto"
    if engine not in ENGINES:
        raise MusicError(f"unknown synthesiser {engine!r}: use one of {', '.join(ENGINES)}")
    if not 8000 <= sample_rate <= 192_000:
        raise MusicError(f"sample rate {sample_rate} Hz is outside 8000..192000")
    if score.tempo <= 0:
        raise MusicError(f"cannot play a score at tempo {score.tempo}")
    if engine != "builtin":
        binary, soundfont = find_fluidsynth(), find_soundfont()
        if binary and soundfont:
            try:
                return _render_fluidsynth(score, sample_rate, voices, binary, soundfont)
            except MusicError as e:
                if engine == "fluidsynth":
                    raise
                log.warning("%s; using the built-in synthesiser", e)
        elif engine == "fluidsynth":
            missing = [] if binary else ["the fluidsynth program"]
            if soundfont is None:
                missing.append("a General MIDI soundfont (set STUDIO_SOUNDFONT)")
            raise MusicError(f"FluidSynth needs {' and '.join(missing)}")
    return _render_builtin(score, sample_rate, voices)
