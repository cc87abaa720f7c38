"""A Standard MIDI File read event by event, with a reason in words for every way it can be
broken.

pretty_midi refuses any file whose last tick is above ten million (a 10,080-ticks-per-beat
quartet movement over about 990 beats), and mido says ``EOFError`` with no words for a file cut
short. This reader keeps what the score needs (notes, programs, track names, the first tempo
and time signature) as plain tuples and says where and how a file is broken: the header, a
track that claims more bytes than the file holds, an event cut short, a data byte where an
event should start. Running status carries over a sysex or meta event, as players accept.
Chunks that are not ``MTrk`` are skipped, as the standard asks.
"""

from __future__ import annotations

from dataclasses import dataclass, field

HEADER_BYTES = 14
# Data bytes after each channel status (note off, note on, aftertouch, control, program,
# channel pressure, pitch bend).
_DATA_BYTES = {0x8: 2, 0x9: 2, 0xA: 2, 0xB: 2, 0xC: 1, 0xD: 1, 0xE: 2}


class SmfError(ValueError):
    """A MIDI file that cannot be read; the message says what is wrong, in words."""


@dataclass
class Track:
    """The events of one ``MTrk`` chunk that a score uses, at absolute ticks."""

    name: str = ""
    # (tick, status, data1, data2) of channel messages (status holds the channel)
    events: list[tuple[int, int, int, int]] = field(default_factory=list)
    tempos: list[tuple[int, int]] = field(default_factory=list)  # (tick, microseconds/beat)
    meters: list[tuple[int, int, int]] = field(default_factory=list)  # (tick, num, den)
    end: int = 0  # the tick of the last event


@dataclass
class MidiFile:
    format: int
    division: int  # ticks per quarter note
    tracks: list[Track]


def _count(n: int, word: str) -> str:
    return f"{n:,} {word}{'' if n == 1 else 's'}"


def read_header(data: bytes) -> tuple[int, int, int, int]:
    """(format, number of tracks, ticks per beat, where the first chunk starts)."""
    if not data:
        raise SmfError("empty file")
    if data[:4] != b"MThd":
        raise SmfError("not a MIDI file (no MThd header)")
    if len(data) < HEADER_BYTES:
        raise SmfError(f"the file ends inside its header ({_count(len(data), 'byte')}; a MIDI "
                       f"header is {HEADER_BYTES})")
    length = int.from_bytes(data[4:8], "big")
    if length < 6:
        raise SmfError(f"corrupt header (it says it is {length} bytes long, at least 6)")
    fmt = int.from_bytes(data[8:10], "big")
    n_tracks = int.from_bytes(data[10:12], "big")
    division = int.from_bytes(data[12:14], "big")
    if fmt > 2:
        raise SmfError(f"unknown MIDI file format {fmt} (0, 1 and 2 exist)")
    if n_tracks == 0:
        raise SmfError("the header says the file holds no tracks")
    if division & 0x8000:
        raise SmfError("SMPTE time code MIDI files are not supported (no ticks per beat)")
    if division == 0:
        raise SmfError("corrupt header (0 ticks per beat)")
    return fmt, n_tracks, division, 8 + length


def read_smf(data: bytes) -> MidiFile:
    """Every track of a MIDI file (or of the one inside a RIFF ``.rmi`` wrapper), or SmfError
    saying what is wrong."""
    if data[:4] == b"RIFF" and data[8:12] == b"RMID":
        start = data.find(b"MThd", 12)
        if start < 0:
            raise SmfError("a RIFF MIDI (.rmi) file without the MIDI data inside")
        data = data[start:]
    fmt, n_tracks, division, pos = read_header(data)
    tracks: list[Track] = []
    while len(tracks) < n_tracks:
        if len(data) - pos < 8:
            found = "only the header" if not tracks else _count(len(tracks), "track")
            raise SmfError(f"cut short: the header announces {_count(n_tracks, 'track')} but "
                           f"the file holds {found}")
        kind, length = data[pos:pos + 4], int.from_bytes(data[pos + 4:pos + 8], "big")
        start = pos + 8
        if kind == b"MTrk" and length > len(data) - start:
            raise SmfError(f"track {len(tracks) + 1} of {n_tracks} says it is "
                           f"{_count(length, 'byte')} long but only "
                           f"{_count(len(data) - start, 'byte')} follow (the file is cut short "
                           "or the chunk's length is wrong)")
        if kind == b"MTrk":
            tracks.append(_read_track(data[start:start + length], len(tracks) + 1))
        elif not kind.isascii() or not kind.isalpha():
            raise SmfError(f"corrupt chunk after track {len(tracks)} (no MTrk where track "
                           f"{len(tracks) + 1} should start)")
        pos = start + length
    return MidiFile(fmt, division, tracks)


def _varlen(chunk: bytes, i: int, number: int) -> tuple[int, int]:
    value = 0
    for k in range(4):
        if i + k >= len(chunk):
            raise SmfError(f"track {number} ends in the middle of an event (byte {i + k:,})")
        byte = chunk[i + k]
        value = (value << 7) | (byte & 0x7F)
        if not byte & 0x80:
            return value, i + k + 1
    raise SmfError(f"track {number}: a length or delta time longer than 4 bytes "
                   f"(byte {i:,}): corrupt data")


def _read_track(chunk: bytes, number: int) -> Track:
    track = Track()
    tick, i, running = 0, 0, 0
    n = len(chunk)

    def need(k: int) -> None:
        if i + k > n:
            raise SmfError(f"track {number} ends in the middle of an event (byte {i:,} of "
                           f"{n:,})")

    while i < n:
        delta, i = _varlen(chunk, i, number)
        tick += delta
        need(1)
        status = chunk[i]
        if status == 0xFF:  # meta event
            need(2)
            kind = chunk[i + 1]
            length, i = _varlen(chunk, i + 2, number)
            need(length)
            body = chunk[i:i + length]
            i += length
            if kind == 0x2F:  # end of track
                track.end = max(track.end, tick)
                break
            if kind == 0x03 and not track.name:
                track.name = body.decode("latin-1").strip()
            elif kind == 0x51 and length == 3:
                track.tempos.append((tick, int.from_bytes(body, "big")))
            elif kind == 0x58 and length >= 2:
                track.meters.append((tick, body[0], 2 ** min(body[1], 7)))
        elif status in (0xF0, 0xF7):  # sysex, or its continuation / an escape
            length, i = _varlen(chunk, i + 1, number)
            need(length)
            i += length
        elif status & 0x80:
            if status > 0xF0:
                raise SmfError(f"track {number}: system message 0x{status:02X} at byte {i:,} "
                               "(not allowed in a MIDI file): corrupt data")
            running = status
            i += 1
            i = _channel_event(chunk, i, tick, running, track, number)
        else:
            if not running:
                raise SmfError(f"track {number}: a data byte (0x{status:02X}) at byte {i:,} "
                               "where an event should start, with no status before it to "
                               "repeat (running status): corrupt data")
            i = _channel_event(chunk, i, tick, running, track, number)
        track.end = max(track.end, tick)
    return track


def _channel_event(chunk: bytes, i: int, tick: int, status: int, track: Track,
                   number: int) -> int:
    size = _DATA_BYTES[status >> 4]
    if i + size > len(chunk):
        raise SmfError(f"track {number} ends in the middle of an event (byte {i:,} of "
                       f"{len(chunk):,})")
    body = chunk[i:i + size]
    if any(b & 0x80 for b in body):
        raise SmfError(f"track {number}: a status byte inside the data of an event at byte "
                       f"{i:,}: corrupt data")
    if status >> 4 in (0x8, 0x9, 0xC):  # the rest does not change a score
        track.events.append((tick, status, body[0], body[1] if size == 2 else 0))
    return i + size
