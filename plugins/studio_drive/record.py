"""Recording what the drive panel shows to a video: MP4 through OpenCV's ``VideoWriter``, GIF
through Pillow.

``compose`` lays out one video frame from the panes (the environment's view, the 64x64 frame the
agent gets, V's reconstruction of it, M's predicted next frame; or the dream), each captioned;
``Recorder`` writes the frames as they come.

MP4 is H.264 (``avc1``) where OpenCV's FFmpeg has an encoder for it, which browsers play; the
OpenCV wheels on PyPI have none (H.264 is patent-encumbered), and there it is MPEG-4 Part 2
(``mp4v``), which VLC, mpv, QuickTime and most desktop players show but browsers do not. GIF
plays everywhere; it keeps at most ``GIF_FPS`` frames a second (GIF's clock counts hundredths of
a second) with a palette of 256 colours per frame, and holds its frames in memory until it is
written (a 1000-step drive at 380x240 is about 70 MB), so it stops taking frames after
``GIF_SECONDS`` seconds of video.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import numpy as np

FORMATS = ("mp4", "gif")
PANES = ("all", "view", "input", "reconstruction", "prediction")
CAPTIONS = {"view": "the track", "input": "what it sees (64x64)",
            "reconstruction": "what V keeps of it", "prediction": "what M expects next",
            "dream": "the dream"}
VIEW_SIZE = (540, 432)  # the environment's view in a recording: the stock canvas's 5:4
GIF_FPS = 25
GIF_SECONDS = 40
GIF_HEIGHT = 240  # GIFs are drawn smaller: their frames are kept in memory until written


def _cv2() -> Any:
    import cv2  # here, not at the top: `studio tasks` lists this module's task without it

    return cv2


def even(n: float) -> int:
    """``n`` rounded to a whole even number, at least 2 (video encoders want even sides)."""
    return max(2, int(round(n / 2)) * 2)


def _band(width: int, height: int, text: str) -> np.ndarray:
    """A black band with ``text`` in white: a pane's caption, below it."""
    cv2 = _cv2()
    band = np.zeros((height, width, 3), np.uint8)
    scale = height / 32
    (tw, th), base = cv2.getTextSize(text, cv2.FONT_HERSHEY_SIMPLEX, scale, 1)
    if tw > width - 6:
        scale *= (width - 6) / tw
    cv2.putText(band, text, (3, height - max(base, 2) - 1), cv2.FONT_HERSHEY_SIMPLEX, scale,
                (235, 235, 235), 1, cv2.LINE_AA)
    return band


def _pane(frame: np.ndarray, side: int, band: int, caption: str, smooth: bool = False
          ) -> np.ndarray:
    """A 64x64 frame blown up to ``side`` pixels (kept sharp: what the agent sees, pixel for
    pixel; ``smooth`` for the dream) over its caption."""
    cv2 = _cv2()
    square = cv2.resize(frame, (side, side),
                        interpolation=cv2.INTER_LINEAR if smooth else cv2.INTER_NEAREST)
    return np.concatenate([square, _band(side, band, caption)], 0)


def compose(panes: dict[str, np.ndarray], which: str = "all", height: int = VIEW_SIZE[1],
            note: str = "") -> np.ndarray:
    """One video frame, uint8 (H, W, 3), both sides even.

    ``panes``: "view" (the track at any size, shown ``height`` tall), and 64x64 frames
    "input", "reconstruction", "prediction"; or "dream" (a 64x64 frame) for the dream.
    ``which``: "all" (the view, then a column of the three small panes, each a third as tall
    with its caption), or one pane's name. ``note`` is written along the top (the step, the
    score).
    """
    cv2 = _cv2()
    if which not in PANES:
        raise ValueError(f"unknown pane {which!r}: one of {', '.join(PANES)}")
    height = even(height)
    band = max(12, height // 27)
    if "dream" in panes:  # the dream has one picture: M's imagination, decoded by V
        frame = _pane(panes["dream"], height - band, band, CAPTIONS["dream"], smooth=True)
    elif which == "view":
        frame = _fit(panes["view"], height)
    elif which != "all":
        frame = _pane(panes[which], height - band, band, CAPTIONS[which])
    else:
        view = _fit(panes["view"], height)
        slot = height // 3
        column = np.zeros((height, slot - band, 3), np.uint8)
        for i, name in enumerate(("input", "reconstruction", "prediction")):
            column[i * slot:(i + 1) * slot] = _pane(panes[name], slot - band, band,
                                                    CAPTIONS[name])
        frame = np.concatenate([view, column], 1)
    if frame.shape[1] % 2:
        frame = np.concatenate([frame, np.zeros((height, 1, 3), np.uint8)], 1)
    frame = np.ascontiguousarray(frame)
    if note:
        scale = max(0.35, height / 700)
        cv2.putText(frame, note, (6, int(18 * scale / 0.55)), cv2.FONT_HERSHEY_SIMPLEX, scale,
                    (255, 255, 255), 1, cv2.LINE_AA)
    return frame


def _fit(view: np.ndarray, height: int) -> np.ndarray:
    cv2 = _cv2()
    h, w = view.shape[:2]
    if h == height:
        return view.copy()
    return cv2.resize(view, (even(w * height / h), height), interpolation=cv2.INTER_AREA)


def mp4_codec(size: tuple[int, int] = (64, 64), folder: Path | None = None) -> str:
    """The first of avc1 (H.264) and mp4v (MPEG-4 Part 2) that OpenCV can write here."""
    global _codec
    if _codec:
        return _codec
    import os
    import tempfile

    cv2 = _cv2()
    # a failed probe is not an error: OpenCV's and FFmpeg's logs (FFmpeg's is read when its
    # backend first starts) are kept quiet while it runs
    quiet, ffmpeg = cv2.utils.logging.getLogLevel(), os.environ.get("OPENCV_FFMPEG_LOGLEVEL")
    cv2.utils.logging.setLogLevel(cv2.utils.logging.LOG_LEVEL_SILENT)
    os.environ["OPENCV_FFMPEG_LOGLEVEL"] = "-8"
    try:
        with tempfile.TemporaryDirectory(dir=folder) as tmp:
            for fourcc in ("avc1", "mp4v"):
                w = cv2.VideoWriter(str(Path(tmp) / "probe.mp4"),
                                    cv2.VideoWriter_fourcc(*fourcc), 25, size)
                ok = w.isOpened()
                w.release()
                if ok:
                    _codec = fourcc
                    return fourcc
    finally:
        cv2.utils.logging.setLogLevel(quiet)
        if ffmpeg is None:
            os.environ.pop("OPENCV_FFMPEG_LOGLEVEL", None)
        else:
            os.environ["OPENCV_FFMPEG_LOGLEVEL"] = ffmpeg
    raise RuntimeError("OpenCV cannot write MP4 here (no avc1 or mp4v encoder); record a GIF")


_codec = ""  # the MP4 codec found by the first probe


class Recorder:
    """Writes frames (uint8 (H, W, 3) RGB, all of the first one's size: later ones are
    resized to it) to ``path`` as MP4 or GIF, at ``fps`` frames of the drive a second (a GIF
    keeps every k-th frame so that it plays at no more than ``GIF_FPS``, in real time)."""

    def __init__(self, path: Path, fmt: str, fps: float = 50.0):
        if fmt not in FORMATS:
            raise ValueError(f"unknown video format {fmt!r}: one of {', '.join(FORMATS)}")
        self.path, self.fmt, self.fps = Path(path), fmt, float(fps)
        self.every = max(1, math.ceil(self.fps / GIF_FPS)) if fmt == "gif" else 1
        self.size: tuple[int, int] | None = None  # (width, height)
        self.frames = 0  # frames written (or kept, for a GIF)
        self.offered = 0  # frames given to add
        self.full = False  # a GIF that reached GIF_SECONDS
        self.codec = ""
        self._writer: Any = None  # cv2.VideoWriter
        self._gif: list = []

    @property
    def seconds(self) -> float:
        return self.frames * self.every / self.fps

    def add(self, frame: np.ndarray) -> None:
        cv2 = _cv2()
        frame = np.asarray(frame)
        if frame.dtype != np.uint8 or frame.ndim != 3 or frame.shape[2] != 3:
            raise ValueError(f"a video frame is uint8 (H, W, 3), not {frame.dtype} "
                             f"{frame.shape}")
        self.offered += 1
        if (self.offered - 1) % self.every:
            return
        if self.size is None:
            self._open(frame)
        w, h = self.size
        if frame.shape[:2] != (h, w):
            frame = cv2.resize(frame, (w, h), interpolation=cv2.INTER_AREA)
        if self.fmt == "mp4":
            self._writer.write(cv2.cvtColor(frame, cv2.COLOR_RGB2BGR))
        elif self.seconds < GIF_SECONDS:
            from PIL import Image

            self._gif.append(Image.fromarray(frame).quantize(256, Image.Quantize.FASTOCTREE))
        else:
            self.full = True
            return
        self.frames += 1

    def _open(self, frame: np.ndarray) -> None:
        cv2 = _cv2()
        h, w = frame.shape[:2]
        if self.fmt == "gif" and h > GIF_HEIGHT:
            w, h = w * GIF_HEIGHT / h, GIF_HEIGHT
        self.size = (even(w), even(h))
        if self.fmt == "mp4":
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self.codec = mp4_codec(self.size, self.path.parent)
            self._writer = cv2.VideoWriter(str(self.path), cv2.VideoWriter_fourcc(*self.codec),
                                           self.fps, self.size)
            if not self._writer.isOpened():
                raise RuntimeError(f"OpenCV could not open {self.path} for writing")
        else:
            self.codec = "gif"

    def close(self) -> Path | None:
        """Finishes the file; its path, or None when no frame was recorded."""
        if self._writer is not None:
            self._writer.release()
            self._writer = None
            return self.path if self.frames else None
        if self._gif:
            frames, self._gif = self._gif, []
            frames[0].save(self.path, save_all=True, append_images=frames[1:], loop=0,
                           duration=round(1000 * self.every / self.fps), optimize=False)
            return self.path
        return None

    def describe(self) -> str:
        what = {"avc1": "MP4 (H.264)", "mp4v": "MP4 (MPEG-4 Part 2)", "gif": "GIF"}
        w, h = self.size or (0, 0)
        return (f"{what.get(self.codec, self.fmt)}, {w}x{h}, {self.frames} frames at "
                f"{self.fps / self.every:g} frames/s ({self.seconds:.1f} s)"
                + (f"; the GIF stops at {GIF_SECONDS} s" if self.full else ""))
