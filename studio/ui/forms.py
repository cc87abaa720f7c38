"""A form built from a task's parameter schema: one widget per field, values in and out as a
plain dict, errors shown against the field they concern."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from PySide6.QtCore import QPointF, Qt, Signal
from PySide6.QtGui import QAction, QColor, QIcon, QPainter, QPen, QPixmap, QValidator
from PySide6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QDoubleSpinBox,
    QFileDialog,
    QFormLayout,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QPlainTextEdit,
    QPushButton,
    QSizePolicy,
    QSpinBox,
    QWidget,
)

from studio.tasks import ParamError, ParamSpec, Task
from studio.ui.widgets import ModelPicker

INT_LIMIT = 2**31 - 1


class FloatField(QDoubleSpinBox):
    """A number box that keeps small values (a learning rate of 5e-5) and shows them in
    Python's short form: up to twelve significant digits, scientific notation for the very
    small and large."""

    def __init__(self, parent=None):
        super().__init__(parent)
        self.setDecimals(12)

    def textFromValue(self, value: float) -> str:  # noqa: N802 (Qt's name)
        return f"{value:.12g}"

    def valueFromText(self, text: str) -> float:  # noqa: N802
        try:
            return float(text)
        except ValueError:
            return self.value()

    def validate(self, text: str, pos: int) -> tuple:
        try:
            ok = self.minimum() <= float(text) <= self.maximum()
        except ValueError:
            ok = False
        return (QValidator.Acceptable if ok else QValidator.Intermediate), text, pos


class PathField(QWidget):
    changed = Signal()

    def __init__(self, spec: ParamSpec, parent=None):
        super().__init__(parent)
        self.spec = spec
        self.edit = QLineEdit()
        self.edit.setPlaceholderText("drop a file here or browse…" if not spec.save else "save as…")
        self.edit.textChanged.connect(self.changed)
        browse = QPushButton("Browse…")
        browse.clicked.connect(self.browse)
        lay = QHBoxLayout(self)
        lay.setContentsMargins(0, 0, 0, 0)
        lay.addWidget(self.edit, 1)
        lay.addWidget(browse)

    def browse(self) -> None:
        start = self.edit.text() or str(Path.home())
        if self.spec.save:
            path, _ = QFileDialog.getSaveFileName(self, self.spec.title, start, self.spec.filter)
        else:
            path, _ = QFileDialog.getOpenFileName(self, self.spec.title, start, self.spec.filter)
        if path:
            self.edit.setText(path)

    def value(self) -> str:
        return self.edit.text().strip()

    def set_value(self, value: Any) -> None:
        self.edit.setText("" if value is None else str(value))


def _download_icon(size: int = 32) -> QIcon:
    """An arrow into a tray, in the accent colour: the model field's download action."""
    from studio.ui import theme

    pixmap = QPixmap(size, size)
    pixmap.fill(Qt.transparent)
    painter = QPainter(pixmap)
    painter.setRenderHint(QPainter.Antialiasing)
    pen = QPen(QColor(theme.ACCENT), size / 10, Qt.SolidLine, Qt.RoundCap, Qt.RoundJoin)
    painter.setPen(pen)
    u = size / 8
    painter.drawLine(QPointF(4 * u, u), QPointF(4 * u, 5 * u))
    painter.drawPolyline([QPointF(2 * u, 3.2 * u), QPointF(4 * u, 5.2 * u),
                          QPointF(6 * u, 3.2 * u)])
    painter.drawPolyline([QPointF(u, 5.5 * u), QPointF(u, 7 * u), QPointF(7 * u, 7 * u),
                          QPointF(7 * u, 5.5 * u)])
    painter.end()
    return QIcon(pixmap)


class ModelField(ModelPicker):
    """A ``model`` parameter's list: the store's models that the parameter takes (its capability,
    and its architectures when it names some). A model whose files are not installed says so,
    and the arrow inside the field downloads it as a job of the window's queue."""

    def __init__(self, models: object, spec: ParamSpec, parent=None):
        super().__init__(models, spec.model, str(spec.default or ""), parent,
                         blank="none" if not spec.default else "")
        self.spec = spec
        self.download = QAction(_download_icon(), "Download", self)
        self.download.triggered.connect(self._download)
        self.lineEdit().addAction(self.download, QLineEdit.TrailingPosition)
        self._waiting: object = None  # the job queue a download was submitted to
        self.currentIndexChanged.connect(self._sync)
        self.editTextChanged.connect(self._sync)
        self.refresh()

    def cards(self) -> list:
        spec = getattr(self, "spec", None)  # None while the base class builds the list
        return [c for c in super().cards() if spec is None or spec.takes_model(c)]

    def refresh(self, select: str | None = None) -> None:
        super().refresh(select)
        if getattr(self, "spec", None) is None:
            return
        self.blockSignals(True)
        for i in range(self.count()):
            card = self.card(self.itemData(i))
            if card is not None and not self.models.is_installed(card):
                self.setItemText(i, f"{self.itemText(i)} (not installed)")
                self.setItemData(i, f"{card.id} is not installed: the arrow in the field "
                                    "downloads it", Qt.ToolTipRole)
        self.blockSignals(False)
        self._sync()

    def card(self, model_id: object) -> Any:
        return next((c for c in self.cards() if c.id == model_id), None) if model_id else None

    def missing(self) -> Any:
        """The chosen card when its files are not installed, else None."""
        card = self.card(self.model_id())
        return card if card is not None and not self.models.is_installed(card) else None

    def _sync(self) -> None:
        card = self.missing()
        downloadable = card is not None and bool(card.files) and all(f.url for f in card.files)
        self.download.setVisible(downloadable)
        if downloadable:
            size = sum(f.size for f in card.files)
            self.download.setToolTip(f"Download {card.id}" + (f" ({size / 1e6:.1f} MB)"
                                                              if size else ""))

    def _download(self) -> None:
        card, jobs = self.missing(), getattr(self.window(), "jobs", None)
        if card is None or jobs is None:
            return
        from studio.downloads import DOWNLOAD_TASK

        jobs.submit(DOWNLOAD_TASK, DOWNLOAD_TASK.make_params({"model_id": card.id}))
        if self._waiting is not jobs:
            self._waiting = jobs
            jobs.job_finished.connect(lambda job: self.refresh())


class ParamForm(QWidget):
    """Widgets for a task's parameters. ``values()`` returns what the user set, as a dict
    ready for ``task.make_params``; ``params()`` converts and checks it.

    Advanced parameters (``param(advanced=True)``) come last, in rows that the "More settings"
    toggle shows and hides (hidden at first). Their widgets are in ``widgets`` like the others
    and their values in ``values()`` whether shown or not."""

    changed = Signal()

    def __init__(self, task: Task, parent=None, models: object | None = None):
        super().__init__(parent)
        self.task = task
        self.models = models  # the model store that ``model`` fields list (None: typed ids)
        self.specs = task.schema()
        self.error = QLabel()
        self.error.setObjectName("error")
        self.error.setWordWrap(True)
        self.error.hide()
        self.form_layout = layout = QFormLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.setHorizontalSpacing(16)
        layout.setVerticalSpacing(8)
        layout.setFieldGrowthPolicy(QFormLayout.AllNonFixedFieldsGrow)
        self.widgets: dict[str, QWidget] = {spec.name: self._make(spec) for spec in self.specs}
        basic = [s for s in self.specs if not s.advanced]
        advanced = [s for s in self.specs if s.advanced]
        for spec in basic:
            self._add_row(spec)
        self.more: QPushButton | None = None  # the toggle; None when nothing is advanced
        self.advanced_rows: list[int] = []
        if advanced:
            self.more = QPushButton()
            self.more.setObjectName("disclosure")
            self.more.setFlat(True)
            self.more.setCheckable(True)
            self.more.setCursor(Qt.PointingHandCursor)
            self.more.setSizePolicy(QSizePolicy.Fixed, QSizePolicy.Fixed)
            self.more.setToolTip("Settings that most runs leave as they are")
            self.more.toggled.connect(self.set_expanded)
            layout.addRow(self.more)
            for spec in advanced:
                self.advanced_rows.append(layout.rowCount())
                self._add_row(spec)
        layout.addRow(self.error)
        self.set_expanded(False)
        self.defaults: dict[str, Any] | None = None
        self.set_values({})
        self.defaults = self.values()  # as the widgets hold them: a setting differs from these

    def refresh_models(self) -> None:
        """List the store's models again in the model fields (keeping each choice)."""
        for w in self.widgets.values():
            if isinstance(w, ModelPicker):
                w.refresh()

    def set_field_visible(self, name: str, on: bool) -> None:
        """Show or hide one parameter's row (its value still counts)."""
        self.form_layout.setRowVisible(self.widgets[name], on)

    def _add_row(self, spec: ParamSpec) -> None:
        w = self.widgets[spec.name]
        w.setToolTip(spec.help)
        label = QLabel(spec.title)
        label.setToolTip(spec.help)
        self.form_layout.addRow(label, w)

    @property
    def expanded(self) -> bool:
        return self.more is not None and self.more.isChecked()

    def set_expanded(self, on: bool) -> None:
        """Show or hide the advanced parameters' rows."""
        if self.more is None:
            return
        if self.more.isChecked() != on:
            self.more.setChecked(on)  # comes back here through ``toggled``
            return
        self.more.setText(("▾ " if on else "▸ ") + "More settings")
        for row in self.advanced_rows:
            self.form_layout.setRowVisible(row, on)

    def _make(self, spec: ParamSpec) -> QWidget:
        if spec.type is Path:
            w = PathField(spec)
            w.changed.connect(self.changed)
        elif spec.model and self.models is not None:
            w = ModelField(self.models, spec)
            w.currentIndexChanged.connect(self.changed)
            w.editTextChanged.connect(self.changed)
        elif spec.choices:
            w = QComboBox()
            for c in spec.choices:
                w.addItem(str(c), c)
            w.currentIndexChanged.connect(self.changed)
        elif spec.type is bool:
            w = QCheckBox()
            w.toggled.connect(self.changed)
        elif spec.type is int and not spec.optional:
            w = QSpinBox()
            w.setRange(int(spec.min if spec.min is not None else -INT_LIMIT),
                       int(spec.max if spec.max is not None else INT_LIMIT))
            w.valueChanged.connect(self.changed)
        elif spec.type is float and not spec.optional:
            w = FloatField()
            w.setRange(spec.min if spec.min is not None else -1e12,
                       spec.max if spec.max is not None else 1e12)
            span = (spec.max - spec.min) if spec.min is not None and spec.max is not None else 10
            w.setSingleStep(max(0.0001, round(span / 100, 4)))
            w.valueChanged.connect(self.changed)
        elif spec.type is str and spec.multiline:
            w = QPlainTextEdit()
            w.setMinimumHeight(80)
            w.textChanged.connect(self.changed)
        else:  # str, or an optional number typed as text ("" = none)
            w = QLineEdit()
            if spec.optional:
                w.setPlaceholderText("none")
            w.textChanged.connect(self.changed)
        return w

    def values(self) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for spec in self.specs:
            w = self.widgets[spec.name]
            if isinstance(w, PathField):
                v: Any = w.value() or None
            elif isinstance(w, ModelPicker):
                v = w.model_id() or (None if spec.optional else "")
            elif isinstance(w, QComboBox):
                v = w.currentData()
            elif isinstance(w, QCheckBox):
                v = w.isChecked()
            elif isinstance(w, QSpinBox | QDoubleSpinBox):
                v = w.value()
            elif isinstance(w, QPlainTextEdit):
                v = w.toPlainText()
            else:
                text = w.text()
                v = text if spec.type is str and not spec.optional else (text.strip() or None)
            if v is not None:
                out[spec.name] = v
            elif spec.optional:
                out[spec.name] = None
        return out

    def set_values(self, values: dict[str, Any]) -> None:
        """Fill the widgets; fields not in ``values`` get their defaults. Values that no longer
        fit the schema (a saved setting from an older version) are ignored."""
        for spec in self.specs:
            v = values.get(spec.name, spec.default)
            w = self.widgets[spec.name]
            try:
                if isinstance(w, PathField):
                    w.set_value(v)
                elif isinstance(w, ModelPicker):  # listed when built and when shown
                    i = w.findData(str(v or ""))
                    if i >= 0:
                        w.setCurrentIndex(i)
                    else:
                        w.setEditText(str(v or ""))
                elif isinstance(w, QComboBox):
                    i = w.findData(v)
                    w.setCurrentIndex(max(0, i))
                elif isinstance(w, QCheckBox):
                    w.setChecked(bool(v))
                elif isinstance(w, QSpinBox):
                    w.setValue(int(v if v is not None else 0))
                elif isinstance(w, QDoubleSpinBox):
                    w.setValue(float(v if v is not None else 0))
                elif isinstance(w, QPlainTextEdit):
                    w.setPlainText("" if v is None else str(v))
                else:
                    w.setText("" if v is None else str(v))
            except (TypeError, ValueError):
                continue
        now = self.values()
        if self.defaults is not None and any(
                s.advanced and now.get(s.name) != self.defaults.get(s.name) for s in self.specs):
            self.set_expanded(True)  # a restored setting that is not the default shows itself

    def set_path(self, path: Path) -> bool:
        """Put a dropped file into the first file field that reads files; False if none."""
        for spec in self.specs:
            w = self.widgets[spec.name]
            if isinstance(w, PathField) and not spec.save:
                w.set_value(path)
                return True
        return False

    def params(self, **changes: Any) -> Any:
        """The checked parameters (the form's values with ``changes`` over them); shows the
        error and returns None when one is wrong."""
        try:
            p = self.task.make_params({**self.values(), **changes})
            if self.models is not None:
                self.task.check_models(p, self.models)  # a model this task cannot take
        except ParamError as exc:
            self.show_error(str(exc))
            return None
        self.show_error("")
        return p

    def show_error(self, message: str) -> None:
        self.error.setText(message)
        self.error.setVisible(bool(message))
        bad = message.split()[0].rstrip(":") if message.startswith("--") else ""
        if any(s.advanced and s.flag == bad for s in self.specs):
            self.set_expanded(True)  # so that the field in question can be seen
        for spec in self.specs:
            w = self.widgets[spec.name]
            edit = w.edit if isinstance(w, PathField) else w
            edit.setProperty("invalid", bool(bad) and bad == spec.flag)
            edit.style().unpolish(edit)
            edit.style().polish(edit)


def focus_first(form: ParamForm) -> None:
    """Focus the first field that is not tucked away under "More settings"."""
    shown = [form.widgets[s.name] for s in form.specs if not s.advanced or form.expanded]
    if shown:
        shown[0].setFocus(Qt.OtherFocusReason)
