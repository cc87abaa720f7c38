"""The instruments a voice can be played by: General MIDI programs (0-based) by name."""

from __future__ import annotations

INSTRUMENTS: dict[str, int] = {
    "choir": 52, "voice": 53, "strings": 48, "organ": 19, "piano": 0, "harpsichord": 6,
    "flute": 73, "oboe": 68, "clarinet": 71, "bassoon": 70, "violin": 40, "viola": 41,
    "cello": 42, "contrabass": 43, "trumpet": 56, "horn": 60, "trombone": 57, "tuba": 58,
    "guitar": 24, "vibraphone": 11,
}


def parse_instruments(spec: str, n_voices: int, default: int = INSTRUMENTS["choir"]
                      ) -> list[int]:
    """``"choir, strings, 19, "`` -> one program per voice; an empty slot keeps ``default``, one
    name alone plays every voice."""
    slots = [s.strip().lower() for s in spec.split(",")] if spec.strip() else []
    if len(slots) == 1:
        slots *= n_voices
    if len(slots) > n_voices:
        raise ValueError(f"{len(slots)} instruments for {n_voices} voices")
    programs = []
    for slot in slots + [""] * (n_voices - len(slots)):
        if not slot:
            programs.append(default)
        elif slot.isdigit() and int(slot) < 128:
            programs.append(int(slot))
        elif slot in INSTRUMENTS:
            programs.append(INSTRUMENTS[slot])
        else:
            raise ValueError(f"unknown instrument {slot!r}: use a General MIDI program 0-127 "
                             f"or one of {', '.join(INSTRUMENTS)}")
    return programs
