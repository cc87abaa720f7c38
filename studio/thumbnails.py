"""What an output file holds, for the gallery: its media kind, a few words about it ("8 bars",
"512x384", "0:21 of audio") and a small picture of it (an image scaled down, a video's first
frame, a piano roll of a MIDI file, the waveform of a sound) as a uint8 RGB array.

No Qt here (the index is built by the command line too); heavy libraries are imported inside the
functions. A file that cannot be read gets no summary and no thumbnail, never an exception.
"""

from __future__ import annotations

import contextlib
import logging
import wave
from pathlib import Path

import numpy as np

log = logging.getLogger(__name__)

VIDEO_SUFFIXES = (".mp4", ".gif", ".webm", ".avi", ".mov", ".mkv")
MUSIC_SUFFIXES = (".mid", ".midi")
AUDIO_SUFFIXES = (".wav",)
TEXT_READ_LIMIT = 1 << 20  # words are counted in the first MiB

Colour = tuple[int, int, int]


def media_kind(path: Path, kind: str) -> str:
    """"image", "video", "music" (MIDI), "audio", "text" or "file", from the output's kind
    ("text", "image", "file") and its suffix."""
    if kind in ("image", "text"):
        return kind
    suffix = Path(path).suffix.lower()
    if suffix in VIDEO_SUFFIXES:
        return "video"
    if suffix in MUSIC_SUFFIXES:
        return "music"
    if suffix in AUDIO_SUFFIXES:
        return "audio"
    return "file"


def describe(path: Path, kind: str) -> str:
    """A few words about what ``path`` holds, or "" when there is nothing to say."""
    try:
        media = media_kind(path, kind)
        if media == "text":
            with open(path, encoding="utf-8", errors="replace") as f:
                words = len(f.read(TEXT_READ_LIMIT).split())
            return f"{words} word{'s' if words != 1 else ''}"
        if media == "image":
            from PIL import Image

            with Image.open(path) as im:
                return f"{im.width}x{im.height}"
        if media == "music":
            bars = midi_bars(path)
            return f"{bars:g} bar{'s' if bars != 1 else ''}" if bars else ""
        if media == "audio":
            seconds = wav_seconds(path)
            return f"{clock(seconds)} of audio" if seconds else ""
        if media == "video":
            frames, fps, w, h = video_facts(path)
            length = f"{clock(frames / fps)} of video" if frames and fps else "video"
            return f"{length}, {w}x{h}" if w else length
    except Exception as exc:  # any reader's error: the file just gets no summary
        log.debug("cannot describe %s: %s", path, exc)
    return ""


def clock(seconds: float) -> str:
    """0:21, 12:05."""
    s = int(round(seconds))
    return f"{s // 60}:{s % 60:02d}"


def wav_seconds(path: Path) -> float:
    try:
        with wave.open(str(path), "rb") as w:
            return w.getnframes() / float(w.getframerate() or 1)
    except (OSError, EOFError, wave.Error):
        return 0.0


def midi_bars(path: Path) -> float:
    """How many bars a MIDI file lasts (by its first time signature and its tempo)."""
    import pretty_midi

    pm = pretty_midi.PrettyMIDI(str(path))
    end = pm.get_end_time()
    if end <= 0:
        return 0.0
    sig = pm.time_signature_changes[0] if pm.time_signature_changes else None
    numerator, denominator = (sig.numerator, sig.denominator) if sig else (4, 4)
    quarter_notes = pm.time_to_tick(end) / pm.resolution
    bars = quarter_notes / (numerator * 4 / denominator)
    return round(bars, 1) if abs(bars - round(bars)) > 0.05 else float(round(bars))


def video_facts(path: Path) -> tuple[int, float, int, int]:
    """(frames, frames per second, width, height) of a video (zeros where unknown)."""
    import cv2

    cap = cv2.VideoCapture(str(path))
    try:
        return (int(cap.get(cv2.CAP_PROP_FRAME_COUNT) or 0), float(cap.get(cv2.CAP_PROP_FPS) or 0),
                int(cap.get(cv2.CAP_PROP_FRAME_WIDTH) or 0),
                int(cap.get(cv2.CAP_PROP_FRAME_HEIGHT) or 0))
    finally:
        cap.release()


# ---------------------------------------------------------------------------------------------
# Thumbnails.


def thumbnail(path: Path, media: str, size: int, colours: tuple[Colour, ...] = ((224, 164, 88),),
              background: Colour = (38, 40, 44)) -> np.ndarray | None:
    """A picture of the file at most ``size`` pixels on its longer side (uint8 RGB), or None
    for a kind that has none here (text is drawn by the window, with its fonts) or a file that
    cannot be read. ``colours`` paint a MIDI file's voices and a waveform."""
    try:
        if media == "image":
            return _image(path, size)
        if media == "video":
            return _first_frame(path, size)
        if media == "music":
            return piano_roll(path, size, size * 3 // 4, colours, background)
        if media == "audio":
            return waveform(path, size, size * 3 // 4, colours[0], background)
    except Exception as exc:  # a damaged file gets the plain tile
        log.debug("no thumbnail of %s: %s", path, exc)
    return None


def _fit(width: int, height: int, size: int) -> tuple[int, int]:
    scale = min(1.0, size / max(width, height, 1))
    return max(1, round(width * scale)), max(1, round(height * scale))


def _image(path: Path, size: int) -> np.ndarray:
    from PIL import Image

    with Image.open(path) as im:
        im.draft("RGB", (size, size))  # JPEG: decode at a fraction of the size
        im = im.convert("RGB")
        im.thumbnail((size, size), Image.Resampling.LANCZOS)
        return np.asarray(im, dtype=np.uint8).copy()


def _first_frame(path: Path, size: int) -> np.ndarray | None:
    import cv2

    cap = cv2.VideoCapture(str(path))
    try:
        ok, frame = cap.read()
    finally:
        cap.release()
    if not ok or frame is None:
        if Path(path).suffix.lower() == ".gif":
            return _image(path, size)  # Pillow reads a GIF's first frame
        return None
    rgb = cv2.cvtColor(frame, cv2.COLOR_BGR2RGB)
    w, h = _fit(rgb.shape[1], rgb.shape[0], size)
    return cv2.resize(rgb, (w, h), interpolation=cv2.INTER_AREA)


def piano_roll(path: Path, width: int, height: int, colours: tuple[Colour, ...],
               background: Colour) -> np.ndarray | None:
    """The notes of a MIDI file as bars on a (height, width) picture: time across, pitch up,
    one colour per instrument; the pitch range is the piece's own."""
    import pretty_midi

    pm = pretty_midi.PrettyMIDI(str(path))
    notes = [(i, n) for i, inst in enumerate(pm.instruments) if not inst.is_drum
             for n in inst.notes]
    end = pm.get_end_time()
    if not notes or end <= 0:
        return None
    low = min(n.pitch for _, n in notes) - 1
    high = max(n.pitch for _, n in notes) + 1
    pad = max(2, height // 16)
    row = (height - 2 * pad) / (high - low + 1)
    out = np.empty((height, width, 3), np.uint8)
    out[:] = background
    thick = max(1, int(row) - (1 if row >= 3 else 0))
    for i, n in notes:
        x0 = int(n.start / end * (width - 1))
        x1 = max(x0 + 1, int(n.end / end * (width - 1)))
        y = pad + int((high - n.pitch) * row)
        out[y:y + thick, x0:x1] = colours[i % len(colours)]
    return out


def waveform(path: Path, width: int, height: int, colour: Colour, background: Colour
             ) -> np.ndarray | None:
    """A PCM WAV file's loudness over time, as a mirrored envelope."""
    with wave.open(str(path), "rb") as w:
        channels, sample_width, n = w.getnchannels(), w.getsampwidth(), w.getnframes()
        raw = w.readframes(n)
    dtype = {1: np.uint8, 2: np.int16, 4: np.int32}.get(sample_width)
    if dtype is None or n == 0:
        return None
    samples = np.frombuffer(raw, dtype).astype(np.float32)
    if dtype is np.uint8:
        samples -= 128
    samples = np.abs(samples.reshape(-1, channels)).max(axis=1)
    cols = np.array_split(samples, width)
    peak = np.array([c.max() if c.size else 0.0 for c in cols])
    peak = peak / (peak.max() or 1.0)
    out = np.empty((height, width, 3), np.uint8)
    out[:] = background
    mid = height // 2
    for x, p in enumerate(peak):
        half = max(1, int(p * (height // 2 - 2)))
        out[mid - half:mid + half, x] = colour
    return out


def cached_thumbnail(path: Path, media: str, size: int, cache: Path,
                     colours: tuple[Colour, ...] = ((224, 164, 88),),
                     background: Colour = (38, 40, 44)) -> np.ndarray | None:
    """``thumbnail``, kept as a PNG at ``cache`` (made again when the file is newer)."""
    from studio.imageio import read_image, write_image

    with contextlib.suppress(Exception):
        if cache.stat().st_mtime >= Path(path).stat().st_mtime:
            return read_image(cache)
    picture = thumbnail(path, media, size, colours, background)
    if picture is not None:
        from studio.atomic import write_atomic

        with contextlib.suppress(OSError):
            cache.parent.mkdir(parents=True, exist_ok=True)
            write_atomic(cache, write_image(picture))
    return picture
