"""How music behaves, measured the same way on real and generated pieces.

The metrics of the MuseGAN paper (Dong et al. 2018) plus two for four-part writing. Input: a
list of pieces, each a (steps, tracks) grid of MIDI pitches with ``REST`` (-1) for silence (NaN
is read as a rest too), cut into bars of ``steps_per_bar`` steps (a last, shorter bar counts as a
bar). A *note* is a run of one pitch in one track, as in ``Score.from_grid``: a held note is one
note, across bar lines too.

Per track ``i`` (keys ``"<metric>.<name>"``; track pairs ``"<metric>.<name>-<name>"``):

- ``empty_bars`` (EB): % of all bars, over all pieces, in which the track plays no note.
- ``pitch_classes`` (UPC): the number of distinct pitch classes (pitch mod 12) the track plays in
  a bar, averaged over its non-empty bars.
- ``qualified_notes`` (QN): % of the track's notes that last at least ``QUALIFIED`` (3) steps.
- ``tonal_distance`` (TD, Harte, Sandler & Gasser 2006), per pair of tracks: for each bar in
  which both play, each track's chroma ``c`` (steps sounded per pitch class, 12 values) is
  mapped to its 6-D tonal centroid ``zeta_d = sum_l phi_d(l) c_l / sum_l c_l`` with
  ``phi(l) = (r1 sin(l 7pi/6), r1 cos(l 7pi/6), r2 sin(l 3pi/2), r2 cos(l 3pi/2),
  r3 sin(l 2pi/3), r3 cos(l 2pi/3))``, r1 = r2 = 1, r3 = 0.5 (circle of fifths, minor thirds,
  major thirds); TD is the Euclidean distance between the two centroids, averaged over those
  bars. Lower means the tracks agree harmonically; two tracks playing the same notes have 0.
- ``pitch_range``: highest minus lowest pitch of the track in a piece (semitones), averaged over
  the pieces in which it plays.
- ``stepwise_motion``: % of the track's moves from one note straight to the next (no rest
  between) that go by step, at most ``STEP`` (2) semitones. Bach's voices move by step most of
  the time (about 85 % in the soprano, 67 % in the bass); a line that leaps a lot does not sound
  like a chorale voice even when each of its notes fits the chord.
- ``voice_crossing``, per pair of neighbouring tracks (i, i + 1): % of the steps at which both
  sound where track i (the higher voice) is below track i + 1.

The plain key (``"empty_bars"`` ...) is the mean over tracks (over pairs for ``tonal_distance``
and ``voice_crossing``) of the values that exist: a track that never plays has no UPC. A value
that cannot be computed at all is NaN.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from itertools import combinations

import numpy as np

from .score import REST, SATB

QUALIFIED = 3  # steps: a note at least this long is "qualified"
STEP = 2  # semitones: a move this small or smaller is a step, not a leap
METRICS = ("empty_bars", "pitch_classes", "qualified_notes", "tonal_distance", "pitch_range",
           "stepwise_motion", "voice_crossing")
_R = (1.0, 1.0, 0.5)
_ANGLES = (7 * math.pi / 6, 3 * math.pi / 2, 2 * math.pi / 3)


def _tonal_matrix() -> np.ndarray:
    """(12, 6): row l is phi(l), the tonal-centroid direction of pitch class l."""
    pc = np.arange(12)
    cols = []
    for r, angle in zip(_R, _ANGLES, strict=True):
        cols += [r * np.sin(pc * angle), r * np.cos(pc * angle)]
    return np.stack(cols, axis=1)


TONAL = _tonal_matrix()


def _as_grid(grid: np.ndarray) -> np.ndarray:
    g = np.asarray(grid, dtype=np.float64)
    if g.ndim != 2:
        raise ValueError(f"a piece must be a (steps, tracks) grid, not {g.shape}")
    return np.where(np.isnan(g) | (g < 0), REST, np.round(g)).astype(np.int64)


def _bars(grid: np.ndarray, steps_per_bar: int) -> list[np.ndarray]:
    return [grid[s:s + steps_per_bar] for s in range(0, len(grid), steps_per_bar)]


def _runs(column: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The runs of one value (a note, or a rest) in one track: their values and lengths."""
    if len(column) == 0:
        return np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.int64)
    starts = np.concatenate([[0], np.flatnonzero(np.diff(column)) + 1])
    return column[starts], np.diff(np.concatenate([starts, [len(column)]]))


def _note_lengths(column: np.ndarray) -> np.ndarray:
    """Lengths of the notes (runs of one pitch, rests excluded) in one track."""
    values, lengths = _runs(column)
    return lengths[values != REST]


def _moves(column: np.ndarray) -> np.ndarray:
    """The intervals (semitones) from each note to the next where no rest comes between."""
    values = _runs(column)[0]
    both = (values[:-1] != REST) & (values[1:] != REST)
    return np.diff(values)[both]


def _chroma(column: np.ndarray) -> np.ndarray:
    sounding = column[column != REST]
    return np.bincount(sounding % 12, minlength=12).astype(np.float64)


def _centroid(chroma: np.ndarray) -> np.ndarray:
    return chroma @ TONAL / chroma.sum()


def _ratio(num: float, den: float, scale: float = 1.0) -> float:
    return scale * num / den if den else math.nan


def _mean(values: Sequence[float]) -> float:
    real = [v for v in values if not math.isnan(v)]
    return float(np.mean(real)) if real else math.nan


def evaluate(grids: Sequence[np.ndarray], steps_per_bar: int = 16,
             names: Sequence[str] | None = None) -> dict[str, float]:
    """The metrics of the module docstring over ``grids`` (pieces of equally many tracks).
    ``names``: the tracks' names in the keys (default soprano, alto, tenor, bass for four
    tracks, else 0, 1, 2 ...)."""
    pieces = [_as_grid(g) for g in grids]
    if not pieces:
        raise ValueError("no pieces to measure")
    n = pieces[0].shape[1]
    if any(p.shape[1] != n for p in pieces):
        raise ValueError("every piece needs the same number of tracks")
    if steps_per_bar < 1:
        raise ValueError("steps_per_bar must be at least 1")
    if names is None:
        names = SATB if n == len(SATB) else [str(i) for i in range(n)]
    if len(names) != n:
        raise ValueError(f"{len(names)} names for {n} tracks")

    bars = [bar for p in pieces for bar in _bars(p, steps_per_bar)]
    plays = np.array([[np.any(bar[:, i] != REST) for i in range(n)] for bar in bars])
    plays = plays.reshape(len(bars), n)
    out: dict[str, float] = {}

    per_track: dict[str, list[float]] = {m: [] for m in METRICS}
    for i, name in enumerate(names):
        values = {
            "empty_bars": _ratio(float((~plays[:, i]).sum()), len(bars), 100),
            "pitch_classes": _mean([float(len(np.unique(bar[bar[:, i] != REST, i] % 12)))
                                    for bar, on in zip(bars, plays[:, i], strict=True) if on]),
        }
        lengths = np.concatenate([_note_lengths(p[:, i]) for p in pieces])
        values["qualified_notes"] = _ratio(float((lengths >= QUALIFIED).sum()), len(lengths), 100)
        ranges = [float(p[p[:, i] != REST, i].max() - p[p[:, i] != REST, i].min())
                  for p in pieces if np.any(p[:, i] != REST)]
        values["pitch_range"] = _mean(ranges)
        moves = np.concatenate([_moves(p[:, i]) for p in pieces])
        values["stepwise_motion"] = _ratio(float((np.abs(moves) <= STEP).sum()), len(moves), 100)
        for metric, value in values.items():
            out[f"{metric}.{name}"] = value
            per_track[metric].append(value)

    for i, j in combinations(range(n), 2):
        distances = [float(np.linalg.norm(_centroid(_chroma(bar[:, i]))
                                          - _centroid(_chroma(bar[:, j]))))
                     for bar, on in zip(bars, plays, strict=True) if on[i] and on[j]]
        value = _mean(distances)
        out[f"tonal_distance.{names[i]}-{names[j]}"] = value
        per_track["tonal_distance"].append(value)

    for i in range(n - 1):
        both = crossed = 0
        for p in pieces:
            upper, lower = p[:, i], p[:, i + 1]
            sounding = (upper != REST) & (lower != REST)
            both += int(sounding.sum())
            crossed += int((sounding & (upper < lower)).sum())
        value = _ratio(crossed, both, 100)
        out[f"voice_crossing.{names[i]}-{names[i + 1]}"] = value
        per_track["voice_crossing"].append(value)

    ordered: dict[str, float] = {}
    for metric in METRICS:  # each metric's mean, then its tracks (or pairs)
        ordered[metric] = _mean(per_track[metric])
        ordered |= {k: v for k, v in out.items() if k.startswith(metric + ".")}
    return ordered


def _cell(value: float) -> str:
    return "–" if math.isnan(value) else f"{value:.2f}"


def format_table(rows: dict[str, dict[str, float]]) -> str:
    """A markdown table of ``{source: metrics}`` (e.g. ``{"real chorales": evaluate(real),
    "model": evaluate(fake)}``): one row per metric, one column per source, each column after
    the first with its difference relative to the first, in %."""
    sources = list(rows)
    if not sources:
        return ""
    metrics = list(dict.fromkeys(m for source in sources for m in rows[source]))
    lines = ["| metric | " + " | ".join(sources) + " |",
             "|---|" + "---:|" * len(sources)]
    for metric in metrics:
        ref = rows[sources[0]].get(metric, math.nan)
        cells = [_cell(ref)]
        for source in sources[1:]:
            value = rows[source].get(metric, math.nan)
            cell = _cell(value)
            if not (math.isnan(value) or math.isnan(ref)):
                if ref:
                    cell += f" ({100 * (value - ref) / abs(ref):+.0f} %)"
                elif value == ref:
                    cell += " (+0 %)"
            cells.append(cell)
        lines.append(f"| {metric} | " + " | ".join(cells) + " |")
    return "\n".join(lines)
