"""The key a piece is in, and the shift that moves it to another tonic.

The key is the Krumhansl-Kessler profile (24 of them: 12 tonics, major and minor) that
correlates best with the piece's pitch classes, each weighted by how many steps it sounds
(Krumhansl, *Cognitive Foundations of Musical Pitch*, 1990). MuseGAN's chorales were trained
in every key, so a generated piece lands in any of them; moving it to a tonic a musician asks for
keeps its mode (a minor piece stays minor).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import numpy as np

TONICS = ("C", "C#", "D", "Eb", "E", "F", "F#", "G", "Ab", "A", "Bb", "B")
MAJOR = (6.35, 2.23, 3.48, 2.33, 4.38, 4.09, 2.52, 5.19, 2.39, 3.66, 2.29, 2.88)
MINOR = (6.33, 2.68, 3.52, 5.38, 2.60, 3.53, 2.54, 4.75, 3.98, 2.69, 3.34, 3.17)


@dataclass(frozen=True)
class Key:
    tonic: int  # pitch class, 0 = C
    minor: bool

    def __str__(self) -> str:
        return f"{TONICS[self.tonic]} {'minor' if self.minor else 'major'}"

    def moved(self, semitones: int) -> Key:
        return Key((self.tonic + semitones) % 12, self.minor)

    @classmethod
    def parse(cls, text: str) -> Key:
        """'D minor' -> Key(2, True); the inverse of ``str``."""
        words = text.split()
        if len(words) != 2 or words[1] not in ("major", "minor"):
            raise ValueError(f"a key is a tonic and 'major' or 'minor', not {text!r}")
        return cls(tonic_number(words[0]), words[1] == "minor")


def tonic_number(name: str) -> int:
    """'D' -> 2; the names of ``TONICS`` (case and a trailing 'major'/'minor' aside)."""
    word = name.strip().split()[0] if name.strip() else ""
    for i, tonic in enumerate(TONICS):
        if word.lower() == tonic.lower():
            return i
    raise ValueError(f"unknown key {name!r}: one of {', '.join(TONICS)}")


def estimate_key(pitches: np.ndarray) -> Key | None:
    """The likeliest key of a grid of MIDI pitches (rests negative); None without notes or
    when every pitch class sounds alike."""
    import numpy as np

    sounding = np.asarray(pitches).ravel()
    sounding = sounding[sounding >= 0].astype(np.int64)
    if sounding.size == 0:
        return None
    chroma = np.bincount(sounding % 12, minlength=12).astype(np.float64)
    if np.all(chroma == chroma[0]):  # every pitch class alike: no key stands out
        return None
    best, key = -np.inf, Key(0, False)
    for minor, profile in ((False, MAJOR), (True, MINOR)):
        for tonic in range(12):
            r = np.corrcoef(chroma, np.roll(np.array(profile), tonic))[0, 1]
            if r > best:
                best, key = r, Key(tonic, minor)
    return key


def shift_to(key: Key, tonic: int) -> int:
    """Semitones (-6..+5, the nearer way) that move ``key``'s tonic to ``tonic``."""
    return (tonic - key.tonic + 6) % 12 - 6
