"""The seeds behind a version of a piece: the task seed and the ones drawn for the inputs that
were re-rolled, as ``compose.generate`` parameters, as text and as a ``studio run`` line."""

from __future__ import annotations

import random
import shlex
from dataclasses import dataclass, field, replace
from typing import Any

from studio_compose.score import SATB

GENERATE = "compose.generate"
SEED_MAX = 2**31 - 1


def new_seed() -> int:
    return random.randrange(1, SEED_MAX)


def _slots(seeds: list[int]) -> str:
    """Four per-voice seeds as the task takes them: ",,7," (an empty slot: from the task seed)."""
    if all(s < 0 for s in seeds):
        return ""
    return ",".join("" if s < 0 else str(s) for s in seeds)


@dataclass
class Seeds:
    """What makes a version: the task seed and the inputs drawn from other seeds (-1: from the
    task seed). Re-rolling one input changes only its entry."""

    seed: int
    chords: int = -1
    style: int = -1
    melody: list[int] = field(default_factory=lambda: [-1] * 4)
    groove: list[int] = field(default_factory=lambda: [-1] * 4)
    to_seed: int = -1
    written: str = ""  # the key the first version was written in, before any move ("D minor")

    def copy(self) -> Seeds:
        return replace(self, melody=list(self.melody), groove=list(self.groove))

    def params(self) -> dict[str, Any]:
        return {"chords": self.chords, "style": self.style, "melody": _slots(self.melody),
                "groove": _slots(self.groove), "to_seed": self.to_seed}

    def text(self) -> str:
        parts = [f"seed {self.seed}"]
        parts += [f"{k} {v}" for k, v in (("chords", self.chords), ("style", self.style)) if v >= 0]
        for what, seeds in (("melody", self.melody), ("groove", self.groove)):
            parts += [f"{SATB[v]} {what} {s}" for v, s in enumerate(seeds) if s >= 0]
        if self.to_seed >= 0:
            parts.append(f"morph to {self.to_seed}")
        return " · ".join(parts)

    def command(self, values: dict[str, Any]) -> str:
        """The ``studio run`` line that makes this version again."""
        flags = [f"--seed {self.seed}"]
        for name, value in {**values, **self.params()}.items():
            if value in (-1, "") or isinstance(value, bool):
                continue
            text = (shlex.quote(value) if isinstance(value, str)
                    else str(value) if isinstance(value, int) else f"{value:g}")
            flags.append(f"--{name.replace('_', '-')} {text}")
        return f"studio run {GENERATE} " + " ".join(flags)
