"""Music for MuseGAN: pieces as grids, cut into phrases, transposed, and encoded as tensors.

A piece is a (steps, 4) int array of MIDI pitches for soprano, alto, tenor and bass, ``REST``
(-1) where a voice is silent: the layout of the Bach chorales JSON (``Jsb16thSeparated.json``,
sixteenth-note steps). A folder of the user's MIDI or MusicXML files is read into the same
layout (``midi_io.to_voices`` says how polyphonic parts become four voices).

A phrase of ``n_bars`` bars becomes a tensor (tracks, bars, steps, pitches) in {-1, 1}: +1 at the
sounding pitch, all -1 where a voice rests. Decoding takes, per step and voice, the likeliest
pitch if its value is above 0, else a rest: silence stays silence.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from studio.errors import UserError
from studio_compose.score import REST

if TYPE_CHECKING:
    from collections.abc import Sequence

    import torch

    from studio_compose.musegan import MuseGANConfig

MUSIC_SUFFIXES = (".mid", ".midi", ".xml", ".musicxml", ".mxl")
TRANSPOSE = range(-6, 6)  # semitones: every key once


@dataclass
class Corpus:
    train: list[np.ndarray]
    valid: list[np.ndarray]
    description: str
    test: list[np.ndarray] = field(default_factory=list)  # held out from model choices too
    skipped: list[str] = field(default_factory=list)  # "file: why", one per file left out

    def skipped_note(self, limit: int = 50) -> str:
        """The files left out and why, for a log or a card ("" when none)."""
        if not self.skipped:
            return ""
        more = len(self.skipped) - limit
        listed = "; ".join(self.skipped[:limit]) + (f"; and {more} more" if more > 0 else "")
        return f"skipped {len(self.skipped)}: {listed}"


def read_corpus(path: Path, steps_per_bar: int | None = None) -> Corpus:
    """The chorales JSON (its train, valid and test splits), or a folder of MIDI / MusicXML
    files (every tenth file kept for validation; no test split).

    A file is read at four steps per beat. Phrases are cut every ``steps_per_bar`` steps (the
    model's bar) from a piece's start, so a piece is kept when its bars and the model's line
    up (one is a whole number of the other) and skipped with that reason when they do not: 3/4
    and 6/8 are 12 steps, 5/4 is 20 and 7/8 is 14, none of which fits a 16-step bar; train
    with ``--steps-per-bar 24`` (two bars of 3/4 a model bar) to learn waltzes."""
    path = Path(path).expanduser()
    if path.is_dir():
        return _read_folder(path, steps_per_bar)
    if not path.is_file():
        raise UserError(f"no such file or folder: {path}")
    if path.suffix.lower() != ".json":
        raise UserError(f"{path.name}: give the chorales .json or a folder of MIDI/MusicXML")
    try:
        doc = json.loads(path.read_text(encoding="utf-8"))
    except RecursionError:
        raise UserError(f"{path.name}: refused, its JSON is nested too deeply to be a chorales "
                        "file (a piece is a list of [S, A, T, B] steps)") from None
    except UnicodeDecodeError as exc:
        raise UserError(f"{path.name}: not UTF-8 text (byte 0x{exc.object[exc.start]:02x} at "
                        f"offset {exc.start:,})") from None
    except ValueError as exc:
        raise UserError(f"{path.name}: not valid JSON ({exc})") from None
    except OSError as exc:
        raise UserError(f"{path.name}: cannot read it ({exc.strerror or exc})") from None
    try:
        train = [_grid(p) for p in doc["train"]]
        valid = [_grid(p) for p in doc.get("valid", [])]
        test = [_grid(p) for p in doc.get("test", [])]
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise UserError(f"{path.name}: not a chorales JSON with 'train' and 'valid' lists "
                        f"of [S, A, T, B] steps ({type(exc).__name__})") from None
    return Corpus(train, valid, f"{path.name}: {len(train)} training and {len(valid)} "
                                f"validation pieces", test)


def _grid(piece: list) -> np.ndarray:
    grid = np.asarray(piece, dtype=np.int16)
    if grid.ndim != 2 or grid.shape[1] != 4:
        raise ValueError("not four voices")
    if ((grid < REST) | (grid > 127)).any():
        raise ValueError("pitch out of range")
    return grid


def _read_folder(folder: Path, steps_per_bar: int | None) -> Corpus:
    from studio_compose.midi_io import read_music, time_signature, to_voices

    files = sorted(f for f in folder.rglob("*") if f.suffix.lower() in MUSIC_SUFFIXES)
    pieces, skipped = [], []
    for f in files:
        try:
            score = read_music(f)
        except UserError as exc:  # its message starts with the file's name
            skipped.append(str(exc))
            continue
        bar = score.steps_per_bar
        if steps_per_bar and bar % steps_per_bar and steps_per_bar % bar:
            meter = "/".join(map(str, time_signature(bar, score.steps_per_beat)))
            fits = math.lcm(bar, 8)  # the model's bars are a multiple of 8 steps
            skipped.append(f"{f.name}: in {meter}, its {bar}-step bars do not fit the model's "
                           f"{steps_per_bar}-step bars (train with --steps-per-bar {fits} for "
                           "this meter)")
            continue
        pieces.append(to_voices(score, 4))
    if not pieces:
        reason = f" ({skipped[0]})" if skipped else ""
        raise UserError(f"no readable MIDI or MusicXML file in {folder}{reason}")
    valid = pieces[::10] if len(pieces) >= 10 else []
    train = [p for i, p in enumerate(pieces) if i % 10 or len(pieces) < 10]
    note = f"; {len(skipped)} skipped" if skipped else ""
    return Corpus(train, valid, f"{folder.name}: {len(pieces)} pieces{note}", skipped=skipped)


def phrases(pieces: list[np.ndarray], length: int, hop: int) -> np.ndarray:
    """Every window of ``length`` steps starting at multiples of ``hop`` (bar-aligned from each
    piece's start), as an (N, length, 4) array. Windows that are all rest are dropped."""
    out = [p[s:s + length] for p in pieces for s in range(0, len(p) - length + 1, hop)]
    out = [w for w in out if (w != REST).any()]
    if not out:
        raise UserError(f"no piece is {length} steps long; use fewer bars or longer pieces")
    return np.stack(out)


def shifts_in_range(piece: np.ndarray, shifts: Sequence[int], lowest: int, n_pitches: int
                    ) -> list[int]:
    """The ``shifts`` (in their order) that keep every note of ``piece`` within the
    ``n_pitches`` rows from ``lowest``; none for a piece without notes."""
    notes = piece[piece != REST]
    if notes.size == 0:
        return []
    return [s for s in shifts if notes.min() + s >= lowest and notes.max() + s < lowest + n_pitches]


def in_one_key(pieces: list[np.ndarray], lowest: int = 0, n_pitches: int = 128
               ) -> list[np.ndarray]:
    """Each piece moved to C major or A minor, as its key is estimated (``keys.estimate_key``):
    the nearer way, or an octave further where only that keeps its notes within the
    ``n_pitches`` rows from ``lowest``. A piece without a key stays as it is."""
    from studio_compose.keys import estimate_key, shift_to

    out = []
    for piece in pieces:
        key = estimate_key(piece)
        shift = 0
        if key is not None:
            near = shift_to(key, 9 if key.minor else 0)
            fits = shifts_in_range(piece, (near, near - 12, near + 12), lowest, n_pitches)
            shift = fits[0] if fits else near
        out.append(np.where(piece != REST, piece + shift, piece).astype(piece.dtype))
    return out


def transpose(batch: np.ndarray, rng: np.random.Generator, lowest: int, n_pitches: int
              ) -> np.ndarray:
    """Each phrase moved by a random interval from ``TRANSPOSE`` that keeps it in range."""
    out = batch.copy()
    for i, phrase in enumerate(batch):
        ok = shifts_in_range(phrase, TRANSPOSE, lowest, n_pitches)
        if ok:
            out[i][phrase != REST] += ok[rng.integers(len(ok))]
    return out


def encode(batch: np.ndarray, cfg: MuseGANConfig) -> torch.Tensor:
    """(N, bars * steps, tracks) pitches -> (N, tracks, bars, steps, pitches) in {-1, 1};
    pitches outside the range are dropped (they rest)."""
    import torch

    n = len(batch)
    idx = torch.as_tensor(batch.astype(np.int64)) - cfg.lowest_pitch
    sounding = (batch != REST) & (idx.numpy() >= 0) & (idx.numpy() < cfg.n_pitches)
    x = torch.full((n, cfg.n_bars * cfg.n_steps, cfg.n_tracks, cfg.n_pitches), -1.0)
    mask = torch.as_tensor(sounding)
    x[mask, idx[mask]] = 1.0
    return x.view(n, cfg.n_bars, cfg.n_steps, cfg.n_tracks, cfg.n_pitches).permute(0, 3, 1, 2, 4
                                                                                   ).contiguous()


def decode(x: torch.Tensor, cfg: MuseGANConfig) -> np.ndarray:
    """(N, tracks, bars, steps, pitches) -> (N, bars * steps, tracks) pitches: the highest
    pitch, or ``REST``. A tanh roll rests where no pitch is above 0; a softmax roll (``2 p - 1``)
    where silence, ``1 - sum p``, is likelier than the likeliest pitch."""
    peak, arg = x.float().max(dim=-1)  # (N, tracks, bars, steps)
    if cfg.output == "softmax":
        silence = 1 - ((x.float() + 1) / 2).sum(dim=-1)
        rest = silence >= (peak + 1) / 2
    else:
        rest = peak <= 0
    pitch = (arg + cfg.lowest_pitch).masked_fill(rest, REST)
    n, tracks = pitch.shape[:2]
    return pitch.reshape(n, tracks, -1).transpose(1, 2).cpu().numpy().astype(np.int16)
