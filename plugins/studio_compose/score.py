"""A piece of music as the studio holds it: notes on a grid of steps, in voices.

Qt-free and torch-free: the model writes a ``Score``, the MIDI and WAV writers read one, the
piano roll draws one. A step is a sixteenth note by default (``steps_per_beat = 4``).

A note lasts as long as its voice holds the same pitch: in a grid (one pitch per step and voice,
``REST`` for silence) a run of equal pitches is one note, so held notes are tied across bars and
rests are silence, not a pitch (the book's MuseGAN wrote rests as B5 notes).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field, replace

import numpy as np

REST = -1
SATB = ("soprano", "alto", "tenor", "bass")
# General MIDI programs (0-based): choir aahs, a sensible default for a chorale.
DEFAULT_PROGRAM = 52


@dataclass(frozen=True)
class Note:
    pitch: int  # MIDI pitch 0..127
    start: int  # step
    length: int  # steps, >= 1
    voice: int  # index into Score.voices
    velocity: int = 90

    @property
    def end(self) -> int:
        return self.start + self.length


@dataclass
class Score:
    """Notes in voices, on a grid of ``steps_per_beat`` steps per quarter note."""

    notes: list[Note]
    voices: list[str] = field(default_factory=lambda: list(SATB))
    programs: list[int] = field(default_factory=list)  # GM program per voice (0-based)
    steps_per_beat: int = 4
    steps_per_bar: int = 16
    tempo: float = 90.0  # quarter notes per minute
    n_steps: int = 0  # the length, rests at the end included
    remarks: list[str] = field(default_factory=list)  # what reading the file had to mend

    def __post_init__(self) -> None:
        if not self.programs:
            self.programs = [DEFAULT_PROGRAM] * len(self.voices)
        self.n_steps = max(self.n_steps, max((n.end for n in self.notes), default=0))

    @property
    def seconds_per_step(self) -> float:
        return 60.0 / self.tempo / self.steps_per_beat

    @property
    def duration(self) -> float:
        """Seconds from the first step to the end of the last."""
        return self.n_steps * self.seconds_per_step

    @property
    def n_bars(self) -> int:
        return -(-self.n_steps // self.steps_per_bar)

    def voice_notes(self, voice: int) -> list[Note]:
        return [n for n in self.notes if n.voice == voice]

    def with_tempo(self, tempo: float) -> Score:
        return replace(self, tempo=tempo, notes=list(self.notes))

    def to_grid(self) -> np.ndarray:
        """(n_steps, n_voices) int array of pitches, ``REST`` where a voice is silent. Where a
        voice holds two notes at once the higher wins."""
        grid = np.full((self.n_steps, len(self.voices)), REST, dtype=np.int16)
        for n in sorted(self.notes, key=lambda n: n.pitch):
            grid[n.start:n.end, n.voice] = n.pitch
        return grid

    @classmethod
    def from_grid(cls, grid: np.ndarray, voices: Sequence[str] = SATB, *,
                  break_every: int = 0, **kw) -> Score:
        """Notes from a (steps, voices) grid: each run of one pitch in one voice is a note.
        ``break_every`` > 0 re-strikes a held pitch at every multiple of that many steps (off:
        a held pitch is one note however long)."""
        grid = np.asarray(grid)
        if grid.ndim != 2 or grid.shape[1] != len(voices):
            raise ValueError(f"a grid of (steps, {len(voices)}) pitches is needed, "
                             f"not {tuple(grid.shape)}")
        notes = []
        for v in range(grid.shape[1]):
            col = grid[:, v]
            start = 0
            for t in range(1, len(col) + 1):
                ends = (t == len(col) or col[t] != col[start]
                        or (break_every and t % break_every == 0))
                if ends:
                    if col[start] != REST:
                        notes.append(Note(int(col[start]), start, t - start, v))
                    start = t
        notes.sort(key=lambda n: (n.start, n.voice))
        return cls(notes, list(voices), n_steps=len(grid), **kw)
