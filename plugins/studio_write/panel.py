"""The Write panel: an editor where the continuation streams in (in its own colour), the sampling
knobs, a live chart of the next-token odds (and, on clicking a generated token, the odds it was
drawn from), and a Train tab with a loss curve and samples.

The buttons mean what a writer expects: Generate writes from the prompt (pressed again, it
replaces what it wrote with a new take), Continue goes on from the end of the whole text,
Regenerate replaces the last continuation only. Save and Export write the text to a file."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from PySide6.QtCore import QRectF, Qt
from PySide6.QtGui import (
    QColor,
    QFont,
    QKeySequence,
    QPainter,
    QShortcut,
    QTextCharFormat,
    QTextCursor,
    QTextFormat,
)
from PySide6.QtWidgets import (
    QComboBox,
    QDoubleSpinBox,
    QFileDialog,
    QFormLayout,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QPlainTextEdit,
    QPushButton,
    QSpinBox,
    QTabWidget,
    QTextEdit,
    QVBoxLayout,
    QWidget,
)

from studio.ui import theme
from studio.ui.chart import draw_hint
from studio.ui.train_tab import TrainTab
from studio.ui.widgets import FlowLayout, ModelPicker, show_status, side_by_side
from studio_write.train import BASE_FLAGS

ODDS = QTextFormat.UserProperty + 1  # a generated character's index into the odds
BY_MODEL = QTextFormat.UserProperty + 2  # True on every character the model wrote
GENERATED = QColor(theme.ACCENT)
# what Export writes: (file dialog filter, suffix)
EXPORTS = (("Text (*.txt)", ".txt"), ("Markdown (*.md)", ".md"),
           ("Web page, the model's words in their colour (*.html)", ".html"))


def typed_format() -> QTextCharFormat:
    """The user's own text: the editor's colour, not the model's (an empty format would take the
    format of the character before, a generated one)."""
    fmt = QTextCharFormat()
    fmt.setForeground(QColor(theme.TEXT))
    fmt.setProperty(BY_MODEL, False)
    return fmt


def shown_token(text: str) -> str:
    """A token as it reads in the chart: whitespace made visible."""
    return text.replace("\n", "⏎").replace("\t", "⇥").replace(" ", "·") or "∅"


class ProseEdit(QTextEdit):
    """The text editor: in a wide window the text keeps a readable line length (about 90
    characters), centred, rather than running across the whole screen."""

    LINE = 90  # characters

    def resizeEvent(self, event) -> None:  # noqa: N802 (Qt's name)
        room = self.width() - self.fontMetrics().averageCharWidth() * self.LINE
        side = max(0, room // 2)
        self.setViewportMargins(side, 0, side, 0)
        super().resizeEvent(event)


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
            draw_hint(p, self.rect(), "Generate to see what the model considers")
            return
        # a narrow chart gives its token column a third of the width, the tokens elided to fit
        label_w, row_h, top = min(110, self.width() // 3), 22, 28
        bar_w = max(10, self.width() - label_w - 70)
        mono = QFont("monospace")
        mono.setStyleHint(QFont.Monospace)
        p.setFont(mono)
        for i, (tok, prob) in enumerate(self.odds.get("top", [])):
            y = top + i * row_h
            chosen = tok == self.odds.get("token")
            p.setPen(QColor(theme.TEXT if chosen else theme.MUTED))
            p.drawText(QRectF(8, y, label_w - 12, row_h), Qt.AlignRight | Qt.AlignVCenter,
                       p.fontMetrics().elidedText(shown_token(tok)[:14], Qt.ElideRight,
                                                  label_w - 12))
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
        self.odds: list[dict] = []  # every generated token's odds (its text points here)
        self.run_tokens = 0  # tokens of the run on screen
        self.insert_at: QTextCursor | None = None  # where the running job's text goes
        self.written = ""  # what the model wrote at the end of the text since Generate
        # the last run: where its text starts, the text, whether it wrote at the end
        self.last_run: tuple[int, str, bool] | None = None
        self.path: Path | None = None  # the file Save writes

        self.tabs = tabs = QTabWidget()
        tabs.addTab(self._write_tab(), "Write")
        self.train_tab: WriteTrainTab | None = None
        if "write.train" in host.registry.tasks:
            self.train_tab = WriteTrainTab(host)
            self.train_tab.model_trained.connect(self.model.refresh)
            tabs.addTab(self.train_tab, "Train")
        lay = theme.pad(QVBoxLayout(self))
        lay.addWidget(tabs)
        host.jobs.job_stream.connect(self._on_stream)
        host.jobs.job_changed.connect(self._on_changed)

    # -- building ------------------------------------------------------------------------
    def _write_tab(self) -> QWidget:
        self.editor = ProseEdit()
        self.editor.setAcceptRichText(False)
        self.editor.setPlaceholderText("Type the start of a scene, a fable or a wine review…")
        font = QFont("serif")
        font.setPointSize(12)
        self.editor.setFont(font)
        self.editor.cursorPositionChanged.connect(self._cursor_moved)
        self.editor.textChanged.connect(self._text_changed)

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
        # a compact form beside the text: short labels (the long names in their tooltips), the
        # model on a line of its own, every field no wider than its numbers need
        knobs = theme.pad(QFormLayout(), 0)
        knobs.setFieldGrowthPolicy(QFormLayout.AllNonFixedFieldsGrow)
        knobs.addRow(self.model)
        for label, field, tip in (
                ("Length", self.max_tokens, "The most tokens to write"),
                ("Temperature", self.temperature, "Lower: safer words; higher: bolder ones"),
                ("Top-k", self.top_k, "Draw from the k likeliest tokens only"),
                ("Top-p", self.top_p, "Draw from the likeliest tokens that make up this "
                                      "share of the odds"),
                ("Repetition", self.repetition, "Repetition penalty: above 1, words already "
                                                "written are less likely again"),
                ("Stop at", self.stop, ""),
                ("Seed", self.seed, "")):
            name = QLabel(label)
            name.setToolTip(tip or field.toolTip())
            field.setToolTip(tip or field.toolTip())
            field.setMinimumWidth(field.fontMetrics().horizontalAdvance("2147483647")
                                  + 3 * theme.SPACE_L)
            knobs.addRow(name, field)

        self.generate_button = QPushButton("Generate")
        self.generate_button.setObjectName("primary")
        self.generate_button.setToolTip("Write from the prompt; pressed again, a new take replaces "
                                        "what it wrote (Ctrl+Enter)")
        self.generate_button.clicked.connect(self.run_default)
        self.continue_button = QPushButton("Continue")
        self.continue_button.setToolTip("Go on from the end of the whole text (Ctrl+Shift+Enter "
                                        "in the text: from the cursor)")
        self.continue_button.clicked.connect(self.continue_text)
        QShortcut(QKeySequence("Ctrl+Shift+Return"), self.editor,
                  lambda: self.generate(from_cursor=True), context=Qt.WidgetShortcut)
        self.regenerate_button = QPushButton("Regenerate")
        self.regenerate_button.setToolTip("Replace the last continuation with a new one")
        self.regenerate_button.clicked.connect(self.regenerate)
        self.save_button = QPushButton("Save")
        self.save_button.setToolTip("Save the text (Ctrl+S)")
        self.save_button.clicked.connect(lambda: self.save())
        QShortcut(QKeySequence.Save, self, lambda: self.save(),
                  context=Qt.WidgetWithChildrenShortcut)
        self.export_button = QPushButton("Export…")
        self.export_button.setToolTip("Write the text to a new file: text, Markdown, or a web "
                                      "page with the model's words in their colour")
        self.export_button.clicked.connect(lambda: self.export())
        self.stop_button = QPushButton("Stop")
        self.stop_button.setEnabled(False)
        self.stop_button.clicked.connect(self.stop_job)
        self.chart = OddsChart()
        self.status = QLabel("Ready")
        self.status.setObjectName("muted")

        self.status.setWordWrap(True)

        # the text takes the width; what acts on it sits under it (folding onto a second line
        # in a narrow window), the knobs and the odds in a narrow column beside it
        page = QWidget()
        pv = theme.pad(QVBoxLayout(page), (theme.SPACE, theme.SPACE, 0, theme.SPACE))
        pv.addWidget(self.editor, 1)
        actions = FlowLayout()
        for button in (self.generate_button, self.continue_button, self.regenerate_button,
                       self.stop_button, self.save_button, self.export_button):
            actions.addWidget(button)
        pv.addLayout(actions)
        pv.addWidget(self.status)
        side = QWidget()
        sv = theme.pad(QVBoxLayout(side), (0, theme.SPACE, theme.SPACE, theme.SPACE))
        sv.addLayout(knobs)
        sv.addWidget(self.chart, 1)
        split = side_by_side(page, side, (900, side.minimumSizeHint().width()),
                             stretch=(3, 1))
        split.setChildrenCollapsible(False)
        return split

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
        return self.generate()

    def _remove(self, start: int, end: int) -> None:
        cursor = QTextCursor(self.editor.document())
        cursor.setPosition(start)
        cursor.setPosition(end, QTextCursor.KeepAnchor)
        cursor.removeSelectedText()

    def generate(self, from_cursor: bool = False):
        """Write from the prompt: the text up to the cursor with ``from_cursor``, else the whole
        text less what the model wrote at its end since the last Generate (a new take replaces
        that; text the user typed after it is kept and joins the prompt)."""
        text = self.editor.toPlainText()
        if from_cursor:
            cursor = self.editor.textCursor()
            cursor.clearSelection()
        else:
            if self.written and text.endswith(self.written):
                self._remove(len(text) - len(self.written), len(text))  # the last take
            cursor = QTextCursor(self.editor.document())
            cursor.movePosition(QTextCursor.End)
        self.written = ""
        return self._submit(cursor, at_end=not from_cursor)

    def continue_text(self):
        """Go on from the end of the whole text, whatever wrote it."""
        if not self.editor.toPlainText().endswith(self.written):
            self.written = ""  # the user wrote after the model: their text is the prompt now
        cursor = QTextCursor(self.editor.document())
        cursor.movePosition(QTextCursor.End)
        return self._submit(cursor, at_end=True)

    def regenerate(self):
        """Replace the last continuation, where it still stands as the model wrote it, with a
        new one from the same place."""
        if self.last_run is None:
            return self.generate()
        start, inserted, at_end = self.last_run
        text = self.editor.toPlainText()
        if text[start:start + len(inserted)] != inserted:
            if not (at_end and inserted and text.endswith(inserted)):
                show_status(self.status, "The last continuation was edited: Generate or "
                            "Continue instead", error=True)
                return None
            start = len(text) - len(inserted)  # the prompt before it was edited
        self._remove(start, start + len(inserted))
        if at_end and self.written.endswith(inserted):
            self.written = self.written[: len(self.written) - len(inserted)]
        cursor = QTextCursor(self.editor.document())
        cursor.setPosition(start)
        return self._submit(cursor, at_end=at_end and start == len(self.editor.toPlainText()))

    def _submit(self, cursor: QTextCursor, at_end: bool):
        prompt = self.editor.toPlainText()[: cursor.position()]
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
        self.last_run = (len(prompt), "", at_end)
        self.run_tokens = 0
        seed = self.seed.value() if self.seed.value() >= 0 else None
        self.job = self.host.submit(task, params, seed=seed)
        show_status(self.status, "Queued")
        self._sync()
        return self.job

    def save(self, path: Path | None = None) -> Path | None:
        """Write the text to ``path``, or to the file it was last saved to or opened from
        (asking for one the first time); the file written, or None."""
        path = path or self.path
        if path is None:
            name, _ = QFileDialog.getSaveFileName(self, "Save the text", str(Path.home()),
                                                  "Text (*.txt);;Markdown (*.md)")
            if not name:
                return None
            path = Path(name)
        return self._write(path, self.editor.toPlainText(), remember=True)

    def export(self, path: Path | None = None) -> Path | None:
        """Write the text to a new file: .txt and .md as plain text, .html with the model's
        words in their colour."""
        if path is None:
            filters = ";;".join(f for f, _ in EXPORTS)
            name, chosen = QFileDialog.getSaveFileName(self, "Export the text", str(Path.home()),
                                                       filters)
            if not name:
                return None
            path = Path(name)
            suffix = dict(EXPORTS).get(chosen, ".txt")
            if not path.suffix:
                path = path.with_suffix(suffix)
        if path.suffix.lower() in (".html", ".htm"):
            return self._write(path, self.editor.document().toHtml(), remember=False)
        return self._write(path, self.editor.toPlainText(), remember=False)

    def _write(self, path: Path, text: str, remember: bool) -> Path | None:
        try:
            path.write_text(text, encoding="utf-8")
        except OSError as exc:
            show_status(self.status, f"Cannot write {path.name}: {exc.strerror or exc}",
                        error=True)
            return None
        if remember:
            self.path = path
        show_status(self.status, f"Saved {path}")
        return path

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
        self.path = path if len(text) <= 200_000 else None  # Save writes back what it opened
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
            fmt.setProperty(BY_MODEL, True)
            if chunk.data is not None:
                self.odds.append(chunk.data)
                self.run_tokens += 1
                fmt.setProperty(ODDS, len(self.odds) - 1)
                self.chart.show_odds(chunk.data, "Next-token odds (live)")
            if chunk.text:
                self.insert_at.insertText(chunk.text, fmt)
                start, inserted, at_end = self.last_run
                self.last_run = (start, inserted + chunk.text, at_end)
                if at_end:
                    self.written += chunk.text
        self.editor.setTextCursor(self.insert_at)
        self.editor.setCurrentCharFormat(typed_format())  # what the user types is theirs
        self.editor.ensureCursorVisible()

    def _on_changed(self, job) -> None:
        if job is not self.job:
            return
        if job.state.finished:
            self.editor.setCurrentCharFormat(typed_format())  # what the user types is theirs
            words = {"DONE": f"Done: {self.run_tokens} tokens",
                     "CANCELLED": f"Stopped after {self.run_tokens} tokens",
                     "FAILED": f"Failed: {job.error}"}
            show_status(self.status, words.get(job.state.name, job.state.value),
                        job.state.name == "FAILED")
        else:
            show_status(self.status, job.message or job.state.value)
        self._sync()

    def _text_changed(self) -> None:
        """Cleared text starts afresh: no odds, no prompt, no run to regenerate."""
        if self.editor.document().isEmpty() and (self.job is None or self.job.state.finished):
            self.odds.clear()
            self.run_tokens = 0
            self.written, self.last_run = "", None
            self._sync()
            self.chart.show_odds(None, "Next-token odds")
            if not self.status.text().startswith("Failed"):
                show_status(self.status, "Ready")

    def _cursor_moved(self) -> None:
        """Clicking a generated token shows the distribution it was drawn from."""
        if self.job is not None and not self.job.state.finished:
            return
        index = self.editor.textCursor().charFormat().property(ODDS)
        if self.editor.currentCharFormat().property(BY_MODEL):
            self.editor.setCurrentCharFormat(typed_format())  # typing here is the user's
        if isinstance(index, int) and 0 <= index < len(self.odds):
            odds = self.odds[index]
            self.chart.show_odds(odds, f"Odds when “{shown_token(odds['token'])}” was drawn")

    def _sync(self) -> None:
        busy = self.job is not None and not self.job.state.finished
        self.generate_button.setEnabled(not busy)
        self.continue_button.setEnabled(not busy)
        self.regenerate_button.setEnabled(not busy and self.last_run is not None)
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
        self._browse_for_files()

    def _browse_for_files(self) -> None:
        """The training files field (several files, separated by |) with a Browse button that
        picks one or more."""
        edit = self.form.widgets.get("files")
        layout = self.form.form_layout
        row, _ = layout.getWidgetPosition(edit) if edit is not None else (-1, None)
        if not isinstance(edit, QLineEdit) or row < 0:
            return
        edit.setPlaceholderText("drop text files here or browse…")
        self.files_button = QPushButton("Browse…")
        self.files_button.setToolTip("Choose one or more .txt or .md files, or a wine-review "
                                     ".csv")
        self.files_button.clicked.connect(lambda: self.browse_files())
        layout.removeWidget(edit)
        box = QWidget()
        row_lay = theme.pad(QHBoxLayout(box), 0, theme.SPACE_S)
        row_lay.addWidget(edit, 1)
        row_lay.addWidget(self.files_button)
        layout.setWidget(row, QFormLayout.FieldRole, box)

    def browse_files(self, paths: list[str] | None = None) -> None:
        """Put ``paths`` (else the files chosen in a dialog) in the training files field."""
        if paths is None:
            paths, _ = QFileDialog.getOpenFileNames(
                self, "Training text", "", "Text (*.txt *.md *.csv);;All files (*)")
        if paths:
            self.form.set_values({**self.form.values(), "files": "|".join(paths)})

    def show_sample(self, data: dict[str, Any]) -> None:
        if data.get("sample"):
            self.sample_text.setPlainText(str(data["sample"]))

    def clear_sample(self) -> None:
        self.sample_text.clear()
