"""``compose.generate``, ``compose.render`` and ``compose.metrics``.

Every input of the generator has its own seed, so any one of them can be re-rolled while the
others hold: ``--chords 7`` changes the harmony of every voice, ``--melody ,,7,`` only the tenor's
line. An input without a seed of its own takes one derived from the task's ``--seed``.

Pieces longer than the model's phrase are phrases in a row. Each input that changes from phrase
to phrase (chords, melodies) walks: the next phrase's vector is ``cos(a) * previous + sin(a) *
fresh noise`` with ``a = variation * pi / 2``, so neighbouring phrases are related (0: the same
phrase again, 1: unrelated) and every vector stays a standard normal draw; style and grooves
hold for the whole piece. ``--to-seed`` morphs every input from the seed's to that seed's along
the piece (spherical interpolation, phrase by phrase).
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from studio.errors import UserError
from studio.tasks import Context, Event, Log, Output, Preview, Progress, param
from studio_compose.keys import TONICS

if TYPE_CHECKING:
    import numpy as np
    import torch

    from studio_compose.keys import Key
    from studio_compose.musegan import Inputs, MuseGANConfig

DEFAULT_MODEL = "compose.chorales"
INPUT_NAMES = ("chords", "style", "melody", "groove")


@dataclass
class GenerateParams:
    model: str = param(DEFAULT_MODEL, help="model id (see `studio models list`)")
    bars: int = param(8, min=1, max=256, help="length of the piece in bars")
    tempo: float = param(90.0, min=20.0, max=300.0, help="quarter notes per minute")
    key: str = param("auto", choices=("auto", *TONICS),
                     help="move the piece to this tonic (its mode, major or minor, stays the "
                          "model's); auto: the key the model wrote in (a model trained in one "
                          "key writes in a key drawn from the chords seed)")
    transpose: int = param(0, min=-11, max=11,
                           help="then move every note this many semitones (a re-roll that "
                                "keeps the key of the version it came from)")
    instruments: str = param("", help="one per voice, S,A,T,B: General MIDI numbers or names "
                                      "(choir, strings, organ, piano, flute...); empty: choir")
    chords: int = param(-1, min=-1, max=2**31 - 1, help="seed of the chords (-1: from --seed)")
    style: int = param(-1, min=-1, max=2**31 - 1, help="seed of the style (-1: from --seed)")
    melody: str = param("", help="seeds of the four melodies S,A,T,B (empty slot: from --seed; "
                                 "',,7,' re-rolls the tenor's)")
    groove: str = param("", help="seeds of the four grooves S,A,T,B, as --melody")
    variation: float = param(0.5, min=0.0, max=1.0,
                             help="how much each phrase departs from the one before")
    to_seed: int = param(-1, min=-1, max=2**31 - 1,
                         help="morph into this seed's music along the piece (-1: off)")
    wav: bool = param(True, help="also render a WAV with the built-in synthesiser "
                                 "(FluidSynth when installed with a soundfont)")


def _slots(spec: str, n: int, what: str) -> list[int | None]:
    parts = [s.strip() for s in spec.split(",")] if spec.strip() else []
    if len(parts) > n:
        raise ValueError(f"--{what}: {len(parts)} seeds for {n} voices")
    try:
        return [int(s) if s else None for s in parts] + [None] * (n - len(parts))
    except ValueError:
        raise ValueError(f"--{what} {spec!r}: seeds are whole numbers, e.g. ',,7,'") from None


def derived_seed(seed: int, name: str, track: int = 0) -> int:
    """The seed an input takes from the task's seed (stable across versions)."""
    import zlib

    return zlib.crc32(f"{seed}:{name}:{track}".encode()) & 0x7FFFFFFF


def input_seeds(p: GenerateParams, seed: int, n_tracks: int) -> dict[str, list[int]]:
    """Each input's seed (one per track for melody and groove)."""
    own = {"chords": [None if p.chords < 0 else p.chords],
           "style": [None if p.style < 0 else p.style],
           "melody": _slots(p.melody, n_tracks, "melody"),
           "groove": _slots(p.groove, n_tracks, "groove")}
    return {name: [derived_seed(seed, name, k) if s is None else s for k, s in enumerate(v)]
            for name, v in own.items()}


def _walk(seed: int, n: int, z: int, variation: float) -> torch.Tensor:
    """(n, z): standard normal vectors, each ``variation`` away from the one before."""
    import torch

    g = torch.Generator().manual_seed(seed)
    noise = torch.randn(n, z, generator=g)
    a = variation * math.pi / 2
    out = [noise[0]]
    for e in noise[1:]:
        out.append(math.cos(a) * out[-1] + math.sin(a) * e)
    return torch.stack(out)


def piece_inputs(seeds: dict[str, list[int]], cfg: MuseGANConfig, n_phrases: int,
                 variation: float) -> Inputs:
    """The generator's inputs for ``n_phrases`` phrases in a row."""
    import torch

    from studio_compose.musegan import Inputs

    def held(s: int) -> torch.Tensor:
        return _walk(s, 1, cfg.z_dim, 0.0).expand(n_phrases, -1)

    def walking(s: int) -> torch.Tensor:
        return _walk(s, n_phrases, cfg.z_dim, variation)

    return Inputs(walking(seeds["chords"][0]), held(seeds["style"][0]),
                  torch.stack([walking(s) for s in seeds["melody"]], 1),
                  torch.stack([held(s) for s in seeds["groove"]], 1))


def slerp(a: torch.Tensor, b: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
    """Spherical interpolation along the last axis; ``t`` broadcasts over the first."""
    import torch

    t = t.view(-1, *([1] * (a.dim() - 1)))
    cos = ((a * b).sum(-1, keepdim=True) / (a.norm(dim=-1, keepdim=True)
                                             * b.norm(dim=-1, keepdim=True))).clamp(-1, 1)
    omega = torch.acos(cos)
    so = torch.sin(omega)
    near = so.abs() < 1e-6
    lerp = (1 - t) * a + t * b
    out = (torch.sin((1 - t) * omega) * a + torch.sin(t * omega) * b) / so.where(~near, 1.0)
    return torch.where(near, lerp, out)


def in_key(grid: np.ndarray, written: Key | None, tonic: str, transpose: int = 0
           ) -> tuple[np.ndarray, int]:
    """The piece, written in ``written``, moved to ``tonic`` ("auto": left where it is), then
    by ``transpose`` semitones; and the shift in all."""
    import numpy as np

    from studio_compose.keys import shift_to, tonic_number

    shift = transpose
    if written is not None and tonic != "auto":
        shift += shift_to(written, tonic_number(tonic))
    if shift == 0:
        return grid, 0
    moved = np.where(grid >= 0, np.clip(grid.astype(np.int64) + shift, 0, 127), grid)
    return moved.astype(grid.dtype), shift


def one_key_shift(chords_seed: int) -> int:
    """How far a piece of a one-key model (trained with ``--keys c``) moves from C major or A
    minor: -6..+5 semitones, drawn from the chords seed, so that pieces come in every key and a
    melody or groove re-roll keeps its version's key."""
    return chords_seed % 12 - 6


def compose_generate(p: GenerateParams, ctx: Context) -> Iterator[Event]:
    import numpy as np
    import torch

    from studio_compose import loading
    from studio_compose.data import decode
    from studio_compose.instruments import parse_instruments
    from studio_compose.keys import estimate_key
    from studio_compose.midi_io import score_to_midi
    from studio_compose.musegan import Inputs
    from studio_compose.score import SATB, Score
    from studio_compose.synth import render_wav

    gen, critic, card = loading.load(ctx, p.model)
    cfg = gen.cfg
    voices = list(SATB) if cfg.n_tracks == 4 else [f"voice {i + 1}" for i in
                                                   range(cfg.n_tracks)]
    programs = parse_instruments(p.instruments, cfg.n_tracks)
    n_phrases = -(-p.bars // cfg.n_bars)
    seeds = input_seeds(p, ctx.seed, cfg.n_tracks)
    inputs = piece_inputs(seeds, cfg, n_phrases, p.variation)
    if p.to_seed >= 0:
        target = piece_inputs(input_seeds(GenerateParams(), p.to_seed, cfg.n_tracks), cfg,
                              n_phrases, p.variation)
        t = torch.linspace(0, 1, n_phrases) if n_phrases > 1 else torch.zeros(1)
        inputs = Inputs(*(slerp(a, b, t) for a, b in zip(inputs, target, strict=True)))
    yield Progress(0.1, "composing")
    x = gen(*(v.to(ctx.device) for v in inputs))
    critic_score = critic(x).mean().item()
    phrases = decode(x, cfg)  # (phrases, bars * steps, tracks)
    grid = np.concatenate(list(phrases))[: p.bars * cfg.n_steps]
    if card.config.get("keys") == "c":  # the model writes in C major or A minor only
        grid, _ = in_key(grid, None, "auto", one_key_shift(seeds["chords"][0]))
    written = estimate_key(grid)
    grid, shift = in_key(grid, written, p.key, p.transpose)
    key = written.moved(shift) if written is not None else None
    score = Score.from_grid(grid, voices, programs=programs, steps_per_bar=cfg.n_steps,
                            steps_per_beat=max(1, cfg.n_steps // 4), tempo=p.tempo)
    yield Preview({"score": score, "seeds": seeds, "key": str(key or ""),
                   "written": str(written or ""), "shift": shift}, label=f"{p.bars} bars")
    per_voice = ", ".join(f"{v} {len(score.voice_notes(i))}" for i, v in enumerate(voices))
    yield Log(f"{p.bars} bars in {key or 'no key'}, {score.duration:.1f} s at {p.tempo:g} bpm; "
              f"notes: {per_voice}; critic {critic_score:.2f}")
    yield Log("seeds: " + "; ".join(f"{k} {','.join(map(str, v))}" for k, v in seeds.items()))
    title = f"{p.bars} bars, {key}" if key is not None else f"{p.bars} bars"
    yield Output(score_to_midi(score), name="music", suffix=".mid", title=title)
    if p.wav:
        yield Progress(0.6, "rendering audio")
        yield Output(render_wav(score), name="music", suffix=".wav", title=title)


# ---------------------------------------------------------------------------------------------


def _voice_list(spec: str, n: int, what: str) -> set[int]:
    out = set()
    for part in filter(None, (s.strip() for s in spec.split(","))):
        if not part.isdigit() or not 0 <= int(part) < n:
            raise ValueError(f"--{what} {spec!r}: voice numbers 0..{n - 1}, comma separated")
        out.add(int(part))
    return out


@dataclass
class RenderParams:
    file: Path = param(help="a MIDI or MusicXML file", filter="Music (*.mid *.midi *.xml "
                                                             "*.musicxml *.mxl)")
    mute: str = param("", help="voices to silence, e.g. '1,2' (0 = the first)")
    solo: str = param("", help="only these voices sound, e.g. '0'")
    tempo: float = param(0.0, min=0.0, max=300.0, help="quarter notes per minute (0: the file's)")
    keep: bool = param(True, help="save the WAV (off: hand it to the panel to play, unsaved)")


def compose_render(p: RenderParams, ctx: Context) -> Iterator[Event]:
    from studio_compose.midi_io import read_music
    from studio_compose.synth import render_wav

    score = read_music(p.file)
    if p.tempo:
        score = score.with_tempo(p.tempo)
    n = len(score.voices)
    sounding = _voice_list(p.solo, n, "solo") or set(range(n))
    sounding -= _voice_list(p.mute, n, "mute")
    yield Preview({"score": score}, label=p.file.name)
    yield Log(f"{p.file.name}: {n} voice{'' if n == 1 else 's'}, {len(score.notes)} notes, "
              f"{score.duration:.1f} s")
    for remark in score.remarks:
        yield Log(f"{p.file.name}: {remark}", "warning")
    wav = render_wav(score, voices=sorted(sounding))
    if p.keep:
        yield Output(wav, name=p.file.stem, suffix=".wav")
    else:  # a mix to listen to (mutes, solos), not a result: the gallery is not the place
        yield Preview({"wav": wav, "voices": sorted(sounding)}, label=p.file.name)


# ---------------------------------------------------------------------------------------------


@dataclass
class MetricsParams:
    data: Path = param(help="real music to compare with: the chorales JSON or a folder of "
                            "MIDI / MusicXML")
    model: str = param(DEFAULT_MODEL, help="model id")
    phrases: int = param(1000, min=1, max=100_000, help="generated phrases to measure")
    split: str = param("valid", choices=("valid", "test", "train", "all"),
                       help="the real music to measure: the chorales JSON's validation, test or "
                            "training split, or all of them (a folder has train and valid)")


def compose_metrics(p: MetricsParams, ctx: Context) -> Iterator[Event]:
    """The metrics of real music and the model's, side by side (a markdown table)."""
    import torch

    from studio_compose import loading, metrics
    from studio_compose.data import decode, phrases, read_corpus
    from studio_compose.musegan import Inputs

    gen, _, card = loading.load(ctx, p.model)
    cfg = gen.cfg
    corpus = read_corpus(p.data, cfg.n_steps)
    for line in corpus.skipped:
        yield Log(f"skipped {line}", "warning")
    length = cfg.n_bars * cfg.n_steps
    if p.split == "test" and not corpus.test:
        raise UserError(f"{Path(p.data).name} has no test split; use --split valid")
    pieces = {"valid": corpus.valid or corpus.train, "test": corpus.test, "train": corpus.train,
              "all": corpus.train + corpus.valid + corpus.test}[p.split]
    real = phrases(pieces, length, length)
    yield Progress(0.2, f"measuring {len(real)} real phrases")
    real_m = metrics.evaluate(list(real), cfg.n_steps)
    grids = []
    g = ctx.torch_generator()
    for start in range(0, p.phrases, 256):
        n = min(256, p.phrases - start)
        x = gen(*Inputs.sample(cfg, n, g if g.device.type == "cpu" else None, ctx.device))
        grids.extend(decode(x, cfg))
        yield Progress(0.2 + 0.8 * (start + n) / p.phrases, "generating")
    model_m = metrics.evaluate(grids, cfg.n_steps)
    table = metrics.format_table({f"real ({len(real)} phrases)": real_m,
                                  f"{card.id} ({len(grids)} phrases)": model_m})
    yield Output(table, name="metrics")
    del torch
