"""Plays a WAV file and reports where it is, without ever blocking the GUI thread (the compose
panel and the gallery use it).

Backends, the first that works wins:

1. Qt Multimedia (``QMediaPlayer`` + ``QAudioOutput``), when PySide6-Addons is installed and an
   audio output exists;
2. a system player run through ``QProcess``: ``paplay``, ``aplay -q``, ``afplay`` or ``ffplay``.
   Playing from a position hands the player a copy of the WAV cut at that point (``ffplay`` seeks
   itself); stopping kills the process;
3. silence: the clock still runs (``QElapsedTimer``), so a playhead moves as if it played, and
   ``notice`` says once why there is no sound.

``STUDIO_AUDIO`` (``auto``, ``qt``, ``process``, ``silent``) or the ``backend`` argument forces one.
A backend that fails while playing (a player that exits with an error, Qt reporting an error)
hands over to the next from the same position.
"""

from __future__ import annotations

import os
import shutil
import tempfile
import wave
import weakref
from pathlib import Path

from PySide6.QtCore import QElapsedTimer, QObject, QProcess, QTimer, QUrl, Signal

from studio.thumbnails import wav_seconds as wav_duration  # seconds of a PCM WAV, 0 if unreadable

TICK_MS = 33  # ~30 position reports a second
PROGRAMS: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("paplay", ()),
    ("aplay", ("-q",)),
    ("afplay", ()),
    ("ffplay", ("-nodisp", "-autoexit", "-loglevel", "quiet")),
)


def cut_wav(src: Path, dst: Path, start: float) -> bool:
    """Write ``src`` from ``start`` seconds on to ``dst``; False if ``src`` is no PCM WAV."""
    try:
        with wave.open(str(src), "rb") as r:
            rate = r.getframerate()
            r.setpos(min(r.getnframes(), max(0, int(start * rate))))
            frames = r.readframes(r.getnframes())
            with wave.open(str(dst), "wb") as w:
                w.setnchannels(r.getnchannels())
                w.setsampwidth(r.getsampwidth())
                w.setframerate(rate)
                w.writeframes(frames)
        return True
    except (OSError, EOFError, wave.Error):
        return False


def _qt_multimedia():
    """(QMediaPlayer, QAudioOutput) classes when Qt Multimedia and an output exist, else None."""
    try:
        from PySide6.QtMultimedia import QAudioOutput, QMediaDevices, QMediaPlayer
    except ImportError:
        return None
    try:
        if not QMediaDevices.audioOutputs():
            return None
    except Exception:
        return None
    return QMediaPlayer, QAudioOutput


class Player(QObject):
    """``play(path, start)``, ``stop()``; ``position(seconds)`` about 30 times a second while
    playing, ``finished`` at the end (not after ``stop``), ``notice(text)`` once when it falls
    back to silence."""

    position = Signal(float)
    finished = Signal()
    notice = Signal(str)

    def __init__(self, parent: QObject | None = None, backend: str | None = None):
        super().__init__(parent)
        self.mode = (backend or os.environ.get("STUDIO_AUDIO") or "auto").lower()
        self.path: Path | None = None
        self.duration = 0.0
        self.backend = "none"  # what plays now: "qt", a program's name, or "silent"
        self.problems: list[str] = []  # why backends were passed over
        self._playing = False
        self._offset = 0.0  # seconds into the file where the clock started
        self._clock = QElapsedTimer()
        self._timer = QTimer(self)
        self._timer.setInterval(TICK_MS)
        self._timer.timeout.connect(self._tick)
        self._noticed = False
        self._qt = _qt_multimedia() if self.mode in ("auto", "qt") else None
        if self.mode in ("auto", "qt") and self._qt is None:
            self.problems.append("Qt Multimedia is not installed (PySide6-Addons) "
                                 "or has no audio output")
        self._media = None
        self._audio = None
        self._programs = [(shutil.which(name), name, args) for name, args in PROGRAMS
                          if self.mode in ("auto", "process")]
        self._programs = [(exe, name, args) for exe, name, args in self._programs if exe]
        if self.mode in ("auto", "process") and not self._programs:
            self.problems.append("none of paplay, aplay, afplay, ffplay is on the PATH")
        self._proc: QProcess | None = None
        self._dying: list[QProcess] = []
        self._tmp = tempfile.mkdtemp(prefix="studio-player-")  # cut copies of the WAV
        self._cleanup = weakref.finalize(self, shutil.rmtree, self._tmp, True)

    # -- the public side ---------------------------------------------------------------------
    @property
    def playing(self) -> bool:
        return self._playing

    def seconds(self) -> float:
        """Where playback is now (or where it stopped)."""
        if not self._playing:
            return self._offset
        if self.backend == "qt" and self._media is not None:
            return self._media.position() / 1000.0
        return min(self.duration, self._offset + self._clock.elapsed() / 1000.0)

    def play(self, path: Path | str, start: float = 0.0) -> None:
        """Play ``path`` from ``start`` seconds (stopping whatever plays)."""
        self.stop()
        self.path = Path(path)
        self.duration = wav_duration(self.path)
        start = max(0.0, min(start, self.duration)) if self.duration else 0.0
        self._playing = True
        self._start_from(start, self._first_backend())
        if self._playing:
            self._timer.start()
            self.position.emit(start)

    def stop(self) -> None:
        """Stop at once: the process is killed, the clock stops where it is."""
        if not self._playing:
            return
        self._offset = self.seconds()
        self._playing = False
        self._timer.stop()
        self._halt_backend()

    def close(self) -> None:
        """Stop, and end the killed processes now (the player is going away with them)."""
        self.stop()
        for proc in list(self._dying):
            proc.finished.disconnect()
            proc.kill()
            proc.waitForFinished(1000)
        self._dying.clear()
        self._cleanup()

    # -- backends ----------------------------------------------------------------------------
    def _first_backend(self) -> str:
        if self._qt is not None:
            return "qt"
        if self._programs:
            return self._programs[0][1]
        return "silent"

    def _next_backend(self, failed: str) -> str:
        names = (["qt"] if self._qt is not None else []) + [n for _, n, _ in self._programs]
        later = names[names.index(failed) + 1:] if failed in names else names
        return later[0] if later else "silent"

    def _start_from(self, start: float, backend: str) -> None:
        self.backend = backend
        self._offset = start
        self._clock.start()
        if backend == "qt":
            self._start_qt(start)
        elif backend != "silent":
            self._start_process(backend, start)
        else:
            self._say_silent()

    def _fail(self, backend: str, why: str) -> None:
        """``backend`` cannot play: drop it and go on with the next from the same position."""
        if not self._playing or self.backend != backend:
            return
        at = self.seconds()
        self.problems.append(f"{backend}: {why}")
        self._halt_backend()
        if backend == "qt":
            self._qt = None
        else:
            self._programs = [p for p in self._programs if p[1] != backend]
        self._start_from(at, self._next_backend(backend))

    def _say_silent(self) -> None:
        if not self._noticed:
            self._noticed = True
            why = "; ".join(self.problems) or "audio is switched off (STUDIO_AUDIO=silent)"
            self.notice.emit(f"no audio output found: {why}. The playhead runs without sound.")

    def _halt_backend(self) -> None:
        if self._media is not None:
            self._media.stop()
        proc, self._proc = self._proc, None
        if proc is not None:
            # slots read the process from sender(): a lambda holding the process would keep
            # its Python wrapper alive past the C++ object (a crash when Qt deletes it)
            proc.finished.disconnect()
            proc.errorOccurred.disconnect()
            if proc.state() != QProcess.NotRunning:
                self._dying.append(proc)
                proc.finished.connect(self._reap)
                proc.kill()
            else:
                proc.deleteLater()

    def _reap(self, *_args) -> None:
        proc = self.sender()
        if proc in self._dying:
            self._dying.remove(proc)
        if proc is not None:
            proc.deleteLater()

    def _start_qt(self, start: float) -> None:
        if self._media is None:
            media_cls, audio_cls = self._qt
            self._media = media_cls(self)
            self._audio = audio_cls(self)
            self._media.setAudioOutput(self._audio)
            self._media.mediaStatusChanged.connect(self._qt_status)
            self._media.errorOccurred.connect(
                lambda _e, msg="": self._fail("qt", msg or self._media.errorString()))
        self._pending_seek = int(start * 1000)
        self._media.setSource(QUrl.fromLocalFile(str(self.path)))
        self._media.setPosition(self._pending_seek)
        self._media.play()

    def _qt_status(self, status) -> None:
        media_cls = self._qt[0] if self._qt else None
        if media_cls is None or not self._playing or self.backend != "qt":
            return
        if status in (media_cls.MediaStatus.LoadedMedia, media_cls.MediaStatus.BufferedMedia) \
                and self._pending_seek:
            self._media.setPosition(self._pending_seek)
            self._pending_seek = 0
        elif status == media_cls.MediaStatus.EndOfMedia:
            self._finish()
        elif status == media_cls.MediaStatus.InvalidMedia:
            self._fail("qt", "cannot decode the file")

    def _start_process(self, name: str, start: float) -> None:
        exe, _, args = next(p for p in self._programs if p[1] == name)
        path = self.path
        args = list(args)
        if start > 0 and name == "ffplay":
            args += ["-ss", f"{start:.3f}"]
        elif start > 0:
            cut = Path(self._tmp) / f"from-{int(start * 1000)}.wav"
            if cut_wav(self.path, cut, start):
                path = cut
            else:  # not a PCM WAV: from the start
                self._offset = 0.0
        proc = QProcess(self)
        proc.setProcessChannelMode(QProcess.MergedChannels)
        proc.setObjectName(name)
        proc.finished.connect(self._process_ended)
        proc.errorOccurred.connect(self._process_error)
        self._proc = proc
        proc.start(exe, [*args, str(path)])

    def _process_error(self, error) -> None:
        proc = self.sender()
        if proc is self._proc and error == QProcess.FailedToStart:
            self._fail(proc.objectName(), "did not start")

    def _process_ended(self, code: int, _status=None) -> None:
        proc = self.sender()
        if proc is None or proc is not self._proc:
            return
        name = proc.objectName()
        try:
            early = self.duration - self.seconds() > 0.5
            if code != 0 or early:
                text = bytes(proc.readAll()).decode(errors="replace").strip().splitlines()
                self._fail(name, f"exited with status {code}"
                           + (f" ({text[-1]})" if text else ""))
            else:
                self._finish()
        except RuntimeError:  # the player is being deleted with its process
            pass

    def _tick(self) -> None:
        if not self._playing:
            return
        now = self.seconds()
        self.position.emit(now)
        if self.backend in ("silent",) and now >= self.duration:
            self._finish()
        elif self.backend not in ("qt", "silent") and now >= self.duration + 1.5:
            self._finish()  # a player that never exits

    def _finish(self) -> None:
        if not self._playing:
            return
        self._playing = False
        self._timer.stop()
        self._halt_backend()
        self._offset = 0.0
        self.position.emit(self.duration)
        self.finished.emit()
