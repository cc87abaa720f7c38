"""The Write panel: an editor where the continuation streams in (in its own colour), the sampling
knobs, a live chart of the next-token odds (and, on clicking a generated token, the odds it was
drawn from), and a Train tab with a loss curve and samples."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from PySide6.QtCore import QRectF, Qt
from PySide6.QtGui import QColor, QFont, QPainter, QTextCharFormat, QTextCursor, QTextFormat
from PySide6.QtWidgets import (
    QComboBox,
    QDoubleSpinBox,
    QFormLayout,
    QHBoxLayout,
    QLabel,
    QPlainTextEdit,
    QPushButton,
    QSpinBox,
    QTabWidget,
    QTextEdit,
    QVBoxLayout,
    QWidget,
)

from studio.ui import theme
from studio.ui.train_tab import TrainTab
from studio.ui.widgets import ModelPicker, side_by_side
from studio_write.train import BASE_FLAGS

ODDS = QTextFormat.UserProperty + 1
GENERATED = QColor(theme.ACCENT)


def shown_token(text: str) -> str:
    """A token as it reads in the chart: whitespace made visible."""
    return text.replace("\n", "⏎").replace("\t", "⇥").replace(" ", "·") or "∅"


class OddsChart(QWidget):
    """Horizontal bars: the top next tokens and their probabilities, the chosen one marked."""

    def __init__(self, parent=None):
        super().__init__(parent)
        self.odds: dict[str, Any] | None = None
        self.title = "Next-token odds"
        self.setMinimumHeight(10 * 22 + 32)

    def show_odds(self, odds: dict[str, Any] | None, title: str) -> None:
        self.odds, self.title = odds, title
        self.update()

    def paintEvent(self, event) -> None:
        p = QPainter(self)
        p.setRenderHint(QPainter.Antialiasing)
        p.fillRect(self.rect(), QColor(theme.SURFACE))
        p.setPen(QColor(theme.MUTED))
        p.drawText(QRectF(8, 4, self.width() - 16, 20), Qt.AlignLeft | Qt.AlignVCenter, self.title)
        if not self.odds:
            p.drawText(self.rect(), Qt.AlignCenter, "Generate to see what the model considers")
            return
        label_w, row_h, top = 110, 22, 28
        bar_w = max(10, self.width() - label_w - 70)
        mono = QFont("monospace")
        mono.setStyleHint(QFont.Monospace)
        p.setFont(mono)
        for i, (tok, prob) in enumerate(self.odds.get("top", [])):
            y = top + i * row_h
            chosen = tok == self.odds.get("token")
            p.setPen(QColor(theme.TEXT if chosen else theme.MUTED))
            p.drawText(QRectF(8, y, label_w - 12, row_h), Qt.AlignRight | Qt.AlignVCenter,
                       shown_token(tok)[:14])
            p.setPen(Qt.NoPen)
            p.setBrush(QColor(theme.RAISED))
            p.drawRoundedRect(QRectF(label_w, y + 4, bar_w, row_h - 8), 3, 3)
            p.setBrush(GENERATED if chosen else QColor("#61afef"))
            p.drawRoundedRect(QRectF(label_w, y + 4, max(2.0, bar_w * prob), row_h - 8), 3, 3)
            p.setPen(QColor(theme.TEXT))
            p.drawText(QRectF(label_w + bar_w + 6, y, 60, row_h), Qt.AlignLeft | Qt.AlignVCenter,
                       f"{100 * prob:.1f}%")


class WritePanel(QWidget):
    def __init__(self, host, parent=None):
        super().__init__(parent)
        self.host = host
        self.job = None
        self.odds: list[dict] = []
        self.insert_at: QTextCursor | None = None

        self.tabs = tabs = QTabWidget()
        tabs.addTab(self._write_tab(), "Write")
        self.train_tab: WriteTrainTab | None = None
        if "write.train" in host.registry.tasks:
            self.train_tab = WriteTrainTab(host)
            self.train_tab.model_trained.connect(self.model.refresh)
            tabs.addTab(self.train_tab, "Train")
        lay = QVBoxLayout(self)
        lay.setContentsMargins(8, 8, 8, 8)
        lay.addWidget(tabs)
        host.jobs.job_stream.connect(self._on_stream)
        host.jobs.job_changed.connect(self._on_changed)

    # -- building ------------------------------------------------------------------------
    def _write_tab(self) -> QWidget:
        self.editor = QTextEdit()
        self.editor.setAcceptRichText(False)
        self.editor.setPlaceholderText("Type the start of a scene, a fable or a wine review…")
        font = QFont("serif")
        font.setPointSize(12)
        self.editor.setFont(font)
        self.editor.cursorPositionChanged.connect(self._cursor_moved)

        self.model = ModelPicker(self.host.models, "write", "write.classics")
        self.max_tokens = QSpinBox()
        self.max_tokens.setRange(1, 8192)
        self.max_tokens.setValue(200)
        self.temperature = self._spin(0.0, 5.0, 0.8, 0.05)
        self.top_k = QSpinBox()
        self.top_k.setRange(0, 1_000_000)
        self.top_k.setSpecialValueText("off")
        self.top_p = self._spin(0.0, 1.0, 0.95, 0.01)
        self.repetition = self._spin(0.5, 5.0, 1.0, 0.05)
        self.stop = QComboBox()
        self.stop.setEditable(True)
        self.stop.addItems(["", "\\n\\n", "."])
        self.stop.setToolTip("Stop at any of these strings (separate several with |)")
        self.seed = QSpinBox()
        self.seed.setRange(-1, 2**31 - 1)
        self.seed.setValue(-1)
        self.seed.setSpecialValueText("random")
        self.seed.setToolTip("The same seed and settings give the same text")
        knobs = QFormLayout()
        knobs.addRow("Model", self.model)
        knobs.addRow("Max tokens", self.max_tokens)
        knobs.addRow("Temperature", self.temperature)
        knobs.addRow("Top-k", self.top_k)
        knobs.addRow("Top-p", self.top_p)
        knobs.addRow("Repetition penalty", self.repetition)
        knobs.addRow("Stop at", self.stop)
        knobs.addRow("Seed", self.seed)

        self.generate_button = QPushButton("Generate")
        self.generate_button.setObjectName("primary")
        self.generate_button.setToolTip("Continue from the end of the text (Ctrl+Enter)")
        self.generate_button.clicked.connect(self.run_default)
        self.continue_button = QPushButton("Continue from cursor")
        self.continue_button.clicked.connect(lambda: self.generate(from_cursor=True))
        self.stop_button = QPushButton("Stop")
        self.stop_button.setEnabled(False)
        self.stop_button.clicked.connect(self.stop_job)
        self.chart = OddsChart()
        self.status = QLabel("Ready")
        self.status.setObjectName("muted")

        side = QWidget()
        sv = QVBoxLayout(side)
        sv.setContentsMargins(8, 0, 0, 0)
        sv.addLayout(knobs)
        sv.addWidget(self.generate_button)
        row = QHBoxLayout()
        row.addWidget(self.continue_button, 1)
        row.addWidget(self.stop_button)
        sv.addLayout(row)
        sv.addWidget(self.chart)
        sv.addStretch(1)
        sv.addWidget(self.status)
        return side_by_side(self.editor, side, (640, 380), stretch=(3, 2))

    @staticmethod
    def _spin(lo: float, hi: float, value: float, step: float) -> QDoubleSpinBox:
        s = QDoubleSpinBox()
        s.setRange(lo, hi)
        s.setDecimals(2)
        s.setSingleStep(step)
        s.setValue(value)
        return s

    def showEvent(self, event) -> None:  # noqa: N802 (Qt's name)
        super().showEvent(event)
        self.model.refresh()  # models installed or trained meanwhile

    # -- actions -------------------------------------------------------------------------
    def _model_id(self) -> str:
        return self.model.model_id()

    def run_default(self):
        return self.generate(from_cursor=False)

    def generate(self, from_cursor: bool = False):
        cursor = self.editor.textCursor()
        if not from_cursor:
            cursor.movePosition(QTextCursor.End)
        cursor.clearSelection()
        text = self.editor.toPlainText()
        prompt = text[: cursor.position()]
        values = {
            "prompt": prompt, "model": self._model_id(),
            "max_tokens": self.max_tokens.value(), "temperature": self.temperature.value(),
            "top_k": self.top_k.value(), "top_p": self.top_p.value(),
            "repetition_penalty": self.repetition.value(), "stop": self.stop.currentText(),
        }
        task = self.host.task("write.generate")
        try:
            params = task.make_params(values)
        except ValueError as exc:
            self.status.setText(str(exc))
            return None
        self.insert_at = QTextCursor(cursor)
        seed = self.seed.value() if self.seed.value() >= 0 else None
        self.job = self.host.submit(task, params, seed=seed)
        self.status.setText("Queued")
        self._sync()
        return self.job

    def stop_job(self) -> None:
        if self.job is not None:
            self.host.jobs.cancel(self.job)

    def handle_drop(self, paths: list[Path]) -> bool:
        """Dropped text files: on the Train tab they become the training files; else the
        first one's text goes into the editor."""
        if self.train_tab is not None and self.tabs.currentWidget() is self.train_tab:
            form = self.train_tab.form
            form.set_values({**form.values(), "files": "|".join(str(p) for p in paths)})
            return True
        path = paths[0]
        try:
            text = path.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as exc:
            self.host.notify(f"Cannot read {path.name}: {exc}", "error")
            return True
        self.editor.setPlainText(text[-200_000:])
        self.editor.moveCursor(QTextCursor.End)
        return True

    def current_values(self) -> dict[str, Any]:
        return {"model": self._model_id(),
                "max_tokens": self.max_tokens.value(), "temperature": self.temperature.value(),
                "top_k": self.top_k.value(), "top_p": self.top_p.value(),
                "repetition_penalty": self.repetition.value(), "stop": self.stop.currentText(),
                "train": self.train_tab.form.values() if self.train_tab else {}}

    def restore_values(self, v: dict[str, Any]) -> None:
        self.model.select(v.get("model"))
        self.max_tokens.setValue(int(v.get("max_tokens", 200)))
        self.temperature.setValue(float(v.get("temperature", 0.8)))
        self.top_k.setValue(int(v.get("top_k", 0)))
        self.top_p.setValue(float(v.get("top_p", 0.95)))
        self.repetition.setValue(float(v.get("repetition_penalty", 1.0)))
        self.stop.setCurrentText(str(v.get("stop", "")))
        if self.train_tab is not None and isinstance(v.get("train"), dict):
            self.train_tab.form.set_values(v["train"])

    # -- job events ----------------------------------------------------------------------
    def _on_stream(self, job, chunks: list) -> None:
        if job is not self.job or self.insert_at is None:
            return
        for chunk in chunks:
            if chunk.echo:
                continue
            fmt = QTextCharFormat()
            fmt.setForeground(GENERATED)
            if chunk.data is not None:
                self.odds.append(chunk.data)
                fmt.setProperty(ODDS, len(self.odds) - 1)
                self.chart.show_odds(chunk.data, "Next-token odds (live)")
            if chunk.text:
                self.insert_at.insertText(chunk.text, fmt)
        self.editor.setTextCursor(self.insert_at)
        self.editor.ensureCursorVisible()

    def _on_changed(self, job) -> None:
        if job is not self.job:
            return
        if job.state.finished:
            words = {"DONE": f"Done: {len(self.odds)} tokens", "CANCELLED": "Stopped",
                     "FAILED": f"Failed: {job.error}"}
            self.status.setText(words.get(job.state.name, job.state.value))
        else:
            self.status.setText(job.message or job.state.value)
        self._sync()

    def _cursor_moved(self) -> None:
        """Clicking a generated token shows the distribution it was drawn from."""
        if self.job is not None and not self.job.state.finished:
            return
        index = self.editor.textCursor().charFormat().property(ODDS)
        if isinstance(index, int) and 0 <= index < len(self.odds):
            odds = self.odds[index]
            self.chart.show_odds(odds, f"Odds when “{shown_token(odds['token'])}” was drawn")

    def _sync(self) -> None:
        busy = self.job is not None and not self.job.state.finished
        self.generate_button.setEnabled(not busy)
        self.continue_button.setEnabled(not busy)
        self.stop_button.setEnabled(busy)


class WriteTrainTab(TrainTab):
    """Trains a GPT (``write.train``): training and validation losses, the latest sample."""

    base_fields = BASE_FLAGS
    base_config = {k: k for k in ("vocab_size", "n_layer", "n_head", "n_embd", "block_size")}

    def __init__(self, host, parent=None):
        self.sample_text = QPlainTextEdit()
        self.sample_text.setReadOnly(True)
        self.sample_text.setPlaceholderText("A sample from the model appears at each evaluation.")
        super().__init__(host, "write.train", {"train": ("train_loss", "#61afef"),
                                               "validation": ("val_loss", theme.ACCENT)},
                         self.sample_text, "The loss curve appears as it trains", (400, 600),
                         parent=parent)

    def show_sample(self, data: dict[str, Any]) -> None:
        if data.get("sample"):
            self.sample_text.setPlainText(str(data["sample"]))

    def clear_sample(self) -> None:
        self.sample_text.clear()
