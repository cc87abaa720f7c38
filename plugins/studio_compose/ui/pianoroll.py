"""A piano roll that draws a ``Score``: pitch up, time to the right, one colour per voice.

Only the pitch range the piece uses is shown (with a margin); C rows are labelled, bars and beats
ruled. The playhead moves without repainting the notes: the grid and the notes are drawn once
into a viewport-sized pixmap (rebuilt on a new score, a mute, a zoom, a scroll or a resize) and
each paint copies it and draws the playhead line on top. Ctrl+wheel zooms horizontally around the
mouse, the wheel scrolls, a double-click fits the whole piece, a click asks to play from there.
"""

from __future__ import annotations

from collections.abc import Collection, Sequence

from PySide6.QtCore import QEvent, QPoint, QRect, QRectF, Qt, Signal
from PySide6.QtGui import QColor, QFont, QFontMetrics, QPainter, QPen, QPixmap
from PySide6.QtWidgets import QAbstractScrollArea, QToolTip, QWidget

from studio.ui import theme
from studio.ui.chart import draw_hint
from studio_compose.score import SATB, Note, Score

# soprano, alto, tenor, bass; then more for pieces with more voices
VOICE_COLOURS = ("#e06c75", "#e0a458", "#98c379", "#61afef", "#c678dd", "#56b6c2", "#d19a66")
BACKGROUND = QColor(theme.SURFACE)
BLACK_KEY_ROW = QColor("#222327")
GUTTER_BG = QColor("#2a2c30")
BAR_LINE = QColor("#4a4e55")
BEAT_LINE = QColor("#33363b")
OCTAVE_LINE = QColor("#3a3d43")
PLAYHEAD = QColor("#f2f2f2")
FADE = 0.22  # how much of a muted voice's colour is left
NAMES = ("C", "C#", "D", "D#", "E", "F", "F#", "G", "G#", "A", "A#", "B")
BLACK = {1, 3, 6, 8, 10}
GUTTER = 34  # px: pitch labels
RULER = 18  # px: bar numbers and the legend
MIN_PPS = 3.0  # px per step when fitting a long piece: below that, scroll
MAX_PPS = 80.0


def pitch_name(pitch: int) -> str:
    """MIDI 60 is C4."""
    return f"{NAMES[pitch % 12]}{pitch // 12 - 1}"


def voice_colour(voice: int) -> QColor:
    return QColor(VOICE_COLOURS[voice % len(VOICE_COLOURS)])


def faded(colour: QColor, background: QColor = BACKGROUND, keep: float = FADE) -> QColor:
    """``colour`` blended onto ``background``, opaque (so a faded note reads the same anywhere)."""
    return QColor(round(background.red() + (colour.red() - background.red()) * keep),
                  round(background.green() + (colour.green() - background.green()) * keep),
                  round(background.blue() + (colour.blue() - background.blue()) * keep))


def position_text(score: Score, step: int) -> str:
    """bar.beat.step, each 1-based, as DAWs write it."""
    bar, in_bar = divmod(step, score.steps_per_bar)
    beat, sub = divmod(in_bar, score.steps_per_beat)
    return f"{bar + 1}.{beat + 1}.{sub + 1}"


def length_text(score: Score, steps: int) -> str:
    beats = steps / score.steps_per_beat
    return f"{beats:g} beat" + ("" if beats == 1 else "s")


def describe(score: Score, note: Note) -> str:
    voice = score.voices[note.voice] if note.voice < len(score.voices) else f"voice {note.voice}"
    return (f"{pitch_name(note.pitch)} ({note.pitch}) · {voice} · "
            f"{position_text(score, note.start)} · {length_text(score, note.length)}")


class PianoRoll(QAbstractScrollArea):
    """Draws a Score. ``set_score``, ``set_muted``, ``set_playhead``; ``hovered`` says which note
    is under the mouse (text, empty when none); ``seek_requested`` gives the seconds clicked."""

    hovered = Signal(str)
    seek_requested = Signal(float)

    def __init__(self, parent: QWidget | None = None, *, compact: bool = False,
                 legend: bool = True):
        super().__init__(parent)
        self.score: Score | None = None
        self.muted: frozenset[int] = frozenset()
        self.playhead: float | None = None  # seconds
        self.pps = 12.0  # px per step
        self.fit = True  # pps follows the width until the user zooms
        self.compact = compact  # smaller labels and a lower minimum height
        self.legend = legend  # the voices' names and colours, right of the bar numbers
        self.empty_text = "Generate, or open a MIDI or MusicXML file"
        self._lo, self._hi = 54, 78  # shown pitch range, inclusive
        self._by_voice: list[list[Note]] = []
        self._layer: QPixmap | None = None
        self._hover: Note | None = None
        self._playhead_x: int | None = None
        self._font = QFont()
        self._font.setPixelSize(9 if compact else 10)
        self._metrics = QFontMetrics(self._font)
        self.setHorizontalScrollBarPolicy(Qt.ScrollBarAsNeeded)
        self.setVerticalScrollBarPolicy(Qt.ScrollBarAlwaysOff)
        self.setFrameShape(QAbstractScrollArea.NoFrame)
        self.viewport().setMouseTracking(True)
        self.viewport().setAttribute(Qt.WA_OpaquePaintEvent)
        self.setMinimumHeight(90 if compact else 180)

    # -- the public side ---------------------------------------------------------------------
    def set_score(self, score: Score | None, *, keep_view: bool = False) -> None:
        self.score = score
        self._by_voice = []
        self._hover = None
        if score is not None:
            n = max(len(score.voices), 1 + max((nt.voice for nt in score.notes), default=-1))
            self._by_voice = [[] for _ in range(n)]
            for note in sorted(score.notes, key=lambda nt: nt.start):
                self._by_voice[note.voice].append(note)
            pitches = [nt.pitch for nt in score.notes]
            lo, hi = (min(pitches), max(pitches)) if pitches else (60, 72)
            lo, hi = lo - 2, hi + 2
            if hi - lo < 14:  # at least a bit more than an octave, centred
                pad = (14 - (hi - lo)) // 2
                lo, hi = lo - pad, lo - pad + 14
            self._lo, self._hi = max(0, lo), min(127, hi)
        if not keep_view:
            self.fit = True
            self.horizontalScrollBar().setValue(0)
        self._relayout()

    def set_muted(self, voices: Collection[int]) -> None:
        muted = frozenset(voices)
        if muted != self.muted:
            self.muted = muted
            self._invalidate()

    def set_playhead(self, seconds: float | None, follow: bool = True) -> None:
        """Move the playhead (None hides it); ``follow`` scrolls to keep it in view."""
        self.playhead = seconds
        old = self._playhead_x
        x = self._x_of_seconds(seconds)
        if follow and x is not None and self.horizontalScrollBar().maximum() > 0:
            left, right = GUTTER, self.viewport().width()
            if x < left or x > right - 24:
                bar = self.horizontalScrollBar()
                bar.setValue(int(bar.value() + x - left - (right - left) * 0.1))
                return  # the scroll repaints everything
        for pos in (old, x):
            if pos is not None:
                self.viewport().update(QRect(pos - 2, 0, 5, self.viewport().height()))
        self._playhead_x = x

    def set_zoom(self, pps: float, anchor_x: float | None = None) -> None:
        """Set px per step, keeping the step under ``anchor_x`` (viewport x) where it is."""
        pps = max(self._fit_pps(), min(MAX_PPS, pps))
        bar = self.horizontalScrollBar()
        ax = (anchor_x if anchor_x is not None else GUTTER) - GUTTER
        step = (bar.value() + ax) / self.pps
        self.fit = False
        self.pps = pps
        self._update_scrollbar()
        bar.setValue(int(step * pps - ax))
        self._invalidate()

    def zoom_to_fit(self) -> None:
        self.fit = True
        self._relayout()

    def note_at(self, pos: QPoint) -> Note | None:
        """The note drawn at ``pos`` (viewport coordinates), if any."""
        if self.score is None or pos.x() < GUTTER or pos.y() < RULER:
            return None
        step = (pos.x() - GUTTER + self.horizontalScrollBar().value()) / self.pps
        pitch = self._hi - int((pos.y() - RULER) / self._row_h())
        for voice in range(len(self._by_voice) - 1, -1, -1):  # drawn last, on top
            for note in self._by_voice[voice]:
                if note.start > step:
                    break
                if note.pitch == pitch and step < note.end:
                    return note
        return None

    def visible_steps(self) -> tuple[float, float]:
        start = self.horizontalScrollBar().value() / self.pps
        return start, start + (self.viewport().width() - GUTTER) / self.pps

    # -- geometry ------------------------------------------------------------------------------
    def _n_steps(self) -> int:
        return max(1, self.score.n_steps) if self.score is not None else 1

    def _fit_pps(self) -> float:
        return max(MIN_PPS, (self.viewport().width() - GUTTER) / self._n_steps())

    def _row_h(self) -> float:
        return max(1.0, (self.viewport().height() - RULER) / (self._hi - self._lo + 1))

    def _x_of_seconds(self, seconds: float | None) -> int | None:
        if seconds is None or self.score is None:
            return None
        step = seconds / self.score.seconds_per_step
        return round(GUTTER + step * self.pps - self.horizontalScrollBar().value())

    def _relayout(self) -> None:
        if self.fit:
            self.pps = self._fit_pps()
        self._update_scrollbar()
        self._invalidate()

    def _update_scrollbar(self) -> None:
        visible = self.viewport().width() - GUTTER
        bar = self.horizontalScrollBar()
        bar.setRange(0, max(0, int(self._n_steps() * self.pps - visible + 0.5)))
        bar.setPageStep(max(1, visible))
        bar.setSingleStep(max(1, int(self.pps * 4)))

    def _invalidate(self) -> None:
        self._layer = None
        self.viewport().update()

    # -- Qt events -----------------------------------------------------------------------------
    def resizeEvent(self, event) -> None:
        super().resizeEvent(event)
        self._relayout()

    def scrollContentsBy(self, dx: int, dy: int) -> None:
        self._invalidate()

    def wheelEvent(self, event) -> None:
        delta = event.angleDelta()
        if event.modifiers() & Qt.ControlModifier:
            steps = delta.y() / 120 or delta.x() / 120
            self.set_zoom(self.pps * 1.25 ** steps, event.position().x())
            event.accept()
            return
        bar = self.horizontalScrollBar()
        amount = delta.x() or delta.y()
        if bar.maximum() > 0 and amount:
            bar.setValue(bar.value() - int(amount / 120 * bar.singleStep()))
            event.accept()
        else:
            event.ignore()

    def viewportEvent(self, event) -> bool:
        if event.type() == QEvent.ToolTip:
            note = self.note_at(event.pos())
            if note is not None and self.score is not None:
                QToolTip.showText(event.globalPos(), describe(self.score, note), self.viewport())
            else:
                QToolTip.hideText()
            return True
        if event.type() == QEvent.Leave:
            self._set_hover(None)
        return super().viewportEvent(event)

    def mouseMoveEvent(self, event) -> None:
        self._set_hover(self.note_at(event.position().toPoint()))

    def mousePressEvent(self, event) -> None:
        if event.button() == Qt.LeftButton and self.score is not None:
            x = event.position().x()
            if x >= GUTTER:
                step = (x - GUTTER + self.horizontalScrollBar().value()) / self.pps
                step = max(0.0, min(float(self.score.n_steps), step))
                self.seek_requested.emit(step * self.score.seconds_per_step)

    def mouseDoubleClickEvent(self, event) -> None:
        self.zoom_to_fit()

    def _set_hover(self, note: Note | None) -> None:
        if note == self._hover:
            return
        for n in (self._hover, note):
            if n is not None:
                self.viewport().update(self._note_rect(n).adjusted(-2, -2, 2, 2))
        self._hover = note
        self.hovered.emit(describe(self.score, note) if note and self.score else "")

    # -- painting ------------------------------------------------------------------------------
    def paintEvent(self, event) -> None:
        vp = self.viewport()
        if self._layer is None or self._layer.deviceIndependentSize().toSize() != vp.size():
            self._layer = self._render_layer()
        p = QPainter(vp)
        p.drawPixmap(0, 0, self._layer)
        if self._hover is not None:
            p.setPen(QPen(PLAYHEAD, 1))
            p.setBrush(Qt.NoBrush)
            p.drawRect(self._note_rect(self._hover).adjusted(0, 0, -1, -1))
        x = self._x_of_seconds(self.playhead)
        self._playhead_x = x
        if x is not None and GUTTER <= x < vp.width():
            p.fillRect(QRect(x - 1, 0, 2, vp.height()), PLAYHEAD)
        p.end()

    def _note_rect(self, note: Note) -> QRect:
        row_h = self._row_h()
        scroll = self.horizontalScrollBar().value()
        x0 = int(GUTTER + note.start * self.pps - scroll)
        x1 = int(GUTTER + note.end * self.pps - scroll)
        y0 = int(RULER + (self._hi - note.pitch) * row_h)
        y1 = int(RULER + (self._hi - note.pitch + 1) * row_h)
        gap = 1 if x1 - x0 > 3 else 0  # a re-struck pitch reads as two notes
        return QRect(x0, y0, max(1, x1 - x0 - gap), max(1, y1 - y0 - (1 if y1 - y0 > 3 else 0)))

    def _render_layer(self) -> QPixmap:
        vp = self.viewport()
        w, h = max(1, vp.width()), max(1, vp.height())
        dpr = vp.devicePixelRatioF()
        pix = QPixmap(int(w * dpr), int(h * dpr))
        pix.setDevicePixelRatio(dpr)
        pix.fill(BACKGROUND)
        p = QPainter(pix)
        p.setFont(self._font)
        if self.score is None:
            draw_hint(p, QRect(0, 0, w, h), self.empty_text)
            p.end()
            return pix
        score, row_h, pps = self.score, self._row_h(), self.pps
        scroll = self.horizontalScrollBar().value()

        def y_of(pitch: int) -> float:
            return RULER + (self._hi - pitch) * row_h

        # pitch rows: black keys darker, a line under each C
        p.setPen(Qt.NoPen)
        p.setBrush(BLACK_KEY_ROW)
        rows = [QRectF(GUTTER, y_of(k), w - GUTTER, row_h)
                for k in range(self._lo, self._hi + 1) if k % 12 in BLACK]
        p.drawRects(rows)
        p.setPen(OCTAVE_LINE)
        for k in range(self._lo, self._hi + 1):
            if k % 12 == 0:
                y = int(y_of(k) + row_h)
                p.drawLine(GUTTER, y, w, y)

        # beats and bars, only those in view
        first, last = self.visible_steps()
        spb, bar_steps = score.steps_per_beat, score.steps_per_bar
        beat = max(1, spb)
        for step in range(int(first) // beat * beat, int(last) + beat + 1, beat):
            if step > score.n_steps:
                break
            x = int(GUTTER + step * pps - scroll)
            if x < GUTTER:
                continue
            p.setPen(BAR_LINE if step % bar_steps == 0 else BEAT_LINE)
            if step % bar_steps == 0 or pps * beat >= 6:
                p.drawLine(x, RULER, x, h)

        # the notes, voice by voice (bass first, so the soprano is on top)
        p.setPen(Qt.NoPen)
        for voice in range(len(self._by_voice) - 1, -1, -1):
            colour = voice_colour(voice)
            p.setBrush(faded(colour) if voice in self.muted else colour)
            rects = []
            for note in self._by_voice[voice]:
                if note.start > last:
                    break
                if note.end >= first:
                    rects.append(self._note_rect(note))
            if rects:
                p.drawRects(rects)

        # the gutter with C labels, the ruler with bar numbers and the legend
        p.fillRect(QRect(0, 0, GUTTER, h), GUTTER_BG)
        p.fillRect(QRect(0, 0, w, RULER), GUTTER_BG)
        p.setPen(QColor(theme.MUTED))
        fh = self._metrics.height()
        for k in range(self._lo, self._hi + 1):
            if k % 12 == 0:
                y = y_of(k) + row_h / 2
                p.drawText(QRectF(2, y - fh / 2, GUTTER - 6, fh), Qt.AlignRight | Qt.AlignVCenter,
                           pitch_name(k))
        right = w - self._legend_width() if self.legend else w  # bar numbers stop there
        every = max(1, int(28 // max(1.0, pps * bar_steps)) + 1)  # thin the numbers when crowded
        for bar in range(int(first) // bar_steps, score.n_bars + 1):
            x = GUTTER + bar * bar_steps * pps - scroll
            label = str(bar + 1)
            if x + 3 + self._metrics.horizontalAdvance(label) > right:
                break
            if bar % every == 0 and x >= GUTTER - 1 and bar < score.n_bars:
                p.drawText(QRectF(x + 3, 0, 40, RULER), Qt.AlignLeft | Qt.AlignVCenter, label)
        if self.legend:
            self._draw_legend(p, w)
        p.end()
        return pix

    def _legend_names(self) -> Sequence[str]:
        return self.score.voices if self.score is not None else SATB

    def _legend_width(self) -> int:
        return sum(self._metrics.horizontalAdvance(t) + 22 for t in self._legend_names()) + 4

    def _draw_legend(self, p: QPainter, w: int) -> None:
        names = self._legend_names()
        x = w - 6
        for voice in range(len(names) - 1, -1, -1):
            text = names[voice]
            tw = self._metrics.horizontalAdvance(text)
            x -= tw
            muted = voice in self.muted
            p.setPen(QColor(theme.MUTED) if muted else QColor(theme.TEXT))
            p.drawText(QRectF(x, 0, tw + 2, RULER), Qt.AlignLeft | Qt.AlignVCenter, text)
            x -= 12
            colour = voice_colour(voice)
            p.fillRect(QRect(x, RULER // 2 - 4, 8, 8), faded(colour) if muted else colour)
            x -= 10
