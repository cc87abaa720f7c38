"""The drive panel's Evaluate tab: ``drive.evaluate`` on N tracks, and its per-track scores as
a histogram beside the paper's table (World Models 906 +- 21 and the others on 100 random
tracks). An earlier evaluation's CSV (from the gallery) can be opened to see it again."""

from __future__ import annotations

import contextlib
import csv
import io
from pathlib import Path
from typing import Any

import numpy as np
from PySide6.QtCore import QPointF, QRectF, QSize, Qt
from PySide6.QtGui import QColor, QPainter, QPen
from PySide6.QtWidgets import (
    QAbstractItemView,
    QFileDialog,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QPushButton,
    QSizePolicy,
    QSplitter,
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
    QWidget,
)

from studio.ui import theme
from studio.ui.forms import ParamForm
from studio.ui.widgets import form_scroll, show_status

TASK = "drive.evaluate"
BIN = 50  # score points per bar
LOW, HIGH = -100, 1000  # the histogram's span (CarRacing's scores lie within it)


def published() -> tuple[tuple[str, int, int], ...]:
    from studio_drive.evaluate import PUBLISHED

    return PUBLISHED


def read_scores(data: bytes | str) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """A drive.evaluate CSV (seed, score, steps) -> its three columns; anything else is a
    one-line ValueError."""
    text = data.decode("utf-8") if isinstance(data, bytes) else data
    rows = list(csv.DictReader(io.StringIO(text)))
    if not rows or not {"seed", "score", "steps"} <= set(rows[0]):
        raise ValueError("not a drive.evaluate CSV (columns seed, score, steps)")
    try:
        seeds = np.array([int(r["seed"]) for r in rows], np.int64)
        scores = np.array([float(r["score"]) for r in rows])
        steps = np.array([int(r["steps"]) for r in rows], np.int64)
    except (TypeError, ValueError) as exc:
        raise ValueError(f"a row of the CSV does not read: {exc}") from None
    return seeds, scores, steps


class Histogram(QWidget):
    """Per-track scores in bars of ``BIN`` points, the mean marked, and the paper's World
    Models mean (906) beside it for comparison."""

    def __init__(self, parent: QWidget | None = None):
        super().__init__(parent)
        self.scores: np.ndarray | None = None
        self.setMinimumSize(240, 120)
        self.setSizePolicy(QSizePolicy.Expanding, QSizePolicy.Expanding)

    def set_scores(self, scores: np.ndarray | None) -> None:
        self.scores = None if scores is None or len(scores) == 0 else np.asarray(scores, float)
        self.update()

    def counts(self) -> tuple[np.ndarray, np.ndarray]:
        """(bin edges, counts); scores outside [LOW, HIGH] fall in the end bars."""
        edges = np.arange(LOW, HIGH + BIN, BIN, dtype=float)
        clipped = np.clip(self.scores, LOW, HIGH - 1e-9)
        return edges, np.histogram(clipped, edges)[0]

    def sizeHint(self) -> QSize:  # noqa: N802 (Qt's name)
        return QSize(480, 260)

    def paintEvent(self, event) -> None:  # noqa: N802
        p = QPainter(self)
        p.setRenderHint(QPainter.Antialiasing)
        p.fillRect(self.rect(), QColor(theme.SURFACE))
        if self.scores is None:
            p.setPen(QColor(theme.MUTED))
            p.drawText(self.rect().adjusted(12, 12, -12, -12), Qt.AlignCenter | Qt.TextWordWrap,
                       "Each track's score appears here as a histogram when an evaluation "
                       "ends")
            return
        edges, counts = self.counts()
        left, right, top, bottom = 36, 12, 44, 30
        w, h = self.width() - left - right, self.height() - top - bottom
        top_count = max(int(counts.max()), 1)

        def x_of(score: float) -> float:
            return left + w * (score - LOW) / (HIGH - LOW)

        bar_w = w / len(counts)
        for i, c in enumerate(counts):
            if c:
                bh = h * c / top_count
                p.fillRect(QRectF(left + i * bar_w + 1, top + h - bh, bar_w - 2, bh),
                           QColor(theme.ACCENT))
        p.setPen(QColor(theme.BORDER))
        p.drawLine(left, top + h, left + w, top + h)
        p.setPen(QColor(theme.MUTED))
        for s in range(0, HIGH + 1, 200):
            p.drawText(QRectF(x_of(s) - 24, top + h + 4, 48, 16), Qt.AlignCenter, str(s))
        p.drawText(QRectF(0, top - 8, left - 6, 16), Qt.AlignRight | Qt.AlignVCenter,
                   str(top_count))
        p.drawText(QRectF(0, top + h - 8, left - 6, 16), Qt.AlignRight | Qt.AlignVCenter, "0")
        mean, std = float(self.scores.mean()), float(self.scores.std())
        marks = [(mean, theme.TEXT, f"this agent {mean:.0f} ± {std:.0f}")]
        _, paper, paper_std = published()[0]
        marks.append((paper, "#61afef", f"World Models {paper} ± {paper_std}"))
        fm = p.fontMetrics()
        for i, (score, colour, text) in enumerate(marks):  # each label on its own line above
            x = x_of(min(max(score, LOW), HIGH))
            p.setPen(QPen(QColor(colour), 2, Qt.DashLine))
            p.drawLine(QPointF(x, top), QPointF(x, top + h))
            p.setPen(QColor(colour))
            tw = fm.horizontalAdvance(text) + 8
            tx = min(max(x - tw / 2, 0), self.width() - tw)
            p.drawText(QRectF(tx, 2 + i * 18, tw, 18), Qt.AlignCenter, text)


class EvaluateTab(QWidget):
    """``default_model``: the model to evaluate when the form names none yet (the one the Drive
    tab watches)."""

    def __init__(self, host, default_model=lambda: "", parent: QWidget | None = None):
        super().__init__(parent)
        self.host = host
        self.default_model = default_model
        self.job = None
        self.form = ParamForm(host.task(TASK), models=host.models)
        self.run_button = QPushButton("Evaluate")
        self.run_button.setObjectName("primary")
        self.run_button.clicked.connect(self.run)
        self.stop_button = QPushButton("Stop")
        self.stop_button.clicked.connect(self.stop)
        self.open_button = QPushButton("Open a CSV…")
        self.open_button.setToolTip("Show an earlier evaluation's per-track CSV")
        self.open_button.clicked.connect(self.open_csv)
        self.status = QLabel("")
        self.status.setObjectName("muted")
        self.status.setWordWrap(True)
        self.histogram = Histogram()
        self.table = QTableWidget(0, 2)
        self.table.setHorizontalHeaderLabels(["CarRacing, 100 random tracks", "score"])
        self.table.verticalHeader().hide()
        self.table.setEditTriggers(QAbstractItemView.NoEditTriggers)
        self.table.setSelectionMode(QAbstractItemView.NoSelection)
        self.table.horizontalHeader().setSectionResizeMode(0, QHeaderView.Stretch)
        self.table.horizontalHeader().setSectionResizeMode(1, QHeaderView.ResizeToContents)
        self.table.setTextElideMode(Qt.ElideRight)
        self.table.setWordWrap(False)
        self.table.setVerticalScrollBarPolicy(Qt.ScrollBarAlwaysOff)
        self.summary = QLabel("")
        self.summary.setObjectName("muted")
        self.summary.setWordWrap(True)
        self.summary.setTextInteractionFlags(Qt.TextSelectableByMouse)
        self._fill_table(None)

        scroll = form_scroll(self.form)  # as wide as the form: never cut at its right edge
        left = QWidget()
        lv = theme.pad(QVBoxLayout(left), (0, 0, theme.SPACE, 0))
        lv.addWidget(scroll, 1)
        row = theme.pad(QHBoxLayout(), 0)
        row.addWidget(self.run_button, 1)
        row.addWidget(self.stop_button)
        lv.addLayout(row)
        lv.addWidget(self.open_button)
        lv.addWidget(self.status)
        right = QWidget()
        rv = theme.pad(QVBoxLayout(right), (theme.SPACE, 0, 0, 0))
        rv.addWidget(self.histogram, 1)
        rv.addWidget(self.table)
        rv.addWidget(self.summary)
        self.split = QSplitter(Qt.Horizontal)
        self.split.addWidget(left)
        self.split.addWidget(right)
        self.split.setStretchFactor(0, 0)
        self.split.setStretchFactor(1, 1)
        self.split.setChildrenCollapsible(False)
        lay = theme.pad(QVBoxLayout(self))
        lay.addWidget(self.split)
        host.jobs.job_changed.connect(self._on_changed)
        host.jobs.job_output.connect(self._on_output)
        self._sync()

    def resizeEvent(self, event) -> None:  # noqa: N802 (Qt's name)
        """The form beside the results (a column of at most 380 px), or above them when the
        tab is too narrow for both."""
        super().resizeEvent(event)
        narrow = self.width() < 600
        want = Qt.Vertical if narrow else Qt.Horizontal
        if self.split.orientation() != want:
            self.split.setOrientation(want)
        if narrow:  # the form as tall as it needs (up to half), the results the rest
            left = min(self.split.widget(0).sizeHint().height(), self.height() // 2)
            self.split.setSizes([left, max(self.height() - left, 1)])
        else:
            left = min(380, max(250, int(self.width() * 0.42)))
            self.split.setSizes([left, self.width() - left])

    def showEvent(self, event) -> None:  # noqa: N802
        super().showEvent(event)
        self.form.refresh_models()
        picker = self.form.widgets.get("model")
        if picker is not None and hasattr(picker, "model_id") and not picker.model_id():
            picker.refresh(self.default_model() or None)
        if self.histogram.scores is None:
            self._fill_table(None)  # the chosen model's card evaluation, if it has one

    def run(self):
        params = self.form.params()
        if params is None:
            return None
        self.job = self.host.submit(self.form.task, params)
        show_status(self.status, "Queued")
        self._sync()
        return self.job

    def stop(self) -> None:
        if self.job is not None:
            self.host.jobs.cancel(self.job)

    def open_csv(self) -> None:
        path, _ = QFileDialog.getOpenFileName(self, "An evaluation's CSV", "",
                                              "CSV (*.csv)")
        if path:
            self.show_csv(Path(path))

    def show_csv(self, path: Path) -> bool:
        try:
            _, scores, steps = read_scores(Path(path).read_bytes())
        except (OSError, ValueError) as exc:
            show_status(self.status, f"{Path(path).name}: {exc}", True)
            return False
        self.show_scores(scores, f"{Path(path).name}: {len(scores)} tracks")
        return True

    def show_scores(self, scores: np.ndarray, what: str) -> None:
        self.histogram.set_scores(scores)
        self._fill_table(scores)
        self.summary.setText(f"{what}: mean {scores.mean():.1f} ± {scores.std():.1f}, median "
                             f"{np.median(scores):.1f}, lowest {scores.min():.1f}, highest "
                             f"{scores.max():.1f}; {np.mean(scores >= 900):.0%} of the tracks "
                             "at 900 or more")

    def _card_evaluation(self) -> tuple[str, str] | None:
        """The chosen model's own evaluation, as its card records it (the starter's has one)."""
        model = self.form.values().get("model") or ""
        try:
            q = self.host.models.get(model).quality.get("evaluation") or {}
            return (f"{model}, as its card says ({int(q['tracks'])} tracks)",
                    f"{float(q['mean']):.0f} ± {float(q['std']):.0f}")
        except Exception:  # no such model, or a card without an evaluation
            return None

    def _fill_table(self, scores: np.ndarray | None) -> None:
        rows: list[tuple[str, str, bool]] = []
        if scores is not None:
            rows.append((f"this agent ({len(scores)} tracks)",
                         f"{scores.mean():.0f} ± {scores.std():.0f}", True))
        card = self._card_evaluation()
        if card is not None:
            rows.append((*card, False))
        rows += [(name, f"{mean} ± {std}", False) for name, mean, std in published()]
        self.table.setRowCount(len(rows))
        for i, (name, score, mine) in enumerate(rows):
            for j, text in enumerate((name, score)):
                item = QTableWidgetItem(text)
                item.setToolTip(text)
                if mine:
                    item.setForeground(QColor(theme.ACCENT))
                self.table.setItem(i, j, item)
        self.table.resizeRowsToContents()
        self.table.setFixedHeight(self.table.horizontalHeader().sizeHint().height()
                                  + self.table.verticalHeader().length() + 4)

    def _on_output(self, job, saved) -> None:
        if job is not self.job:
            return
        path = getattr(saved, "path", None)
        data = path.read_bytes() if path is not None else getattr(saved, "data", None)
        name = path.name if path is not None else ""
        if (path is not None and path.suffix == ".csv") or (
                path is None and getattr(saved, "suffix", "") == ".csv"):
            try:
                _, scores, _ = read_scores(data)
            except ValueError as exc:
                show_status(self.status, str(exc), True)
                return
            self.show_scores(scores, name or "this evaluation")

    def _on_changed(self, job) -> None:
        if job is not self.job:
            return
        if job.state.finished:
            words = {"DONE": "Done", "CANCELLED": "Stopped", "FAILED": f"Failed: {job.error}"}
            show_status(self.status, words.get(job.state.name, job.state.value),
                        job.state.name == "FAILED")
        else:
            show_status(self.status, job.message or job.state.value)
        self._sync()

    def _sync(self) -> None:
        busy = self.job is not None and not self.job.state.finished
        self.run_button.setEnabled(not busy)
        self.stop_button.setEnabled(busy)

    def current_values(self) -> dict[str, Any]:
        return self.form.values()

    def restore_values(self, v: dict[str, Any]) -> None:
        with contextlib.suppress(TypeError, ValueError):
            self.form.set_values(v)
