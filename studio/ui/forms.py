"""A form built from a task's parameter schema: one widget per field, values in and out as a
plain dict, errors shown against the field they concern."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from PySide6.QtCore import Qt, Signal
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
    QSpinBox,
    QWidget,
)

from studio.tasks import ParamError, ParamSpec, Task

INT_LIMIT = 2**31 - 1


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


class ParamForm(QWidget):
    """Widgets for a task's parameters. ``values()`` returns what the user set, as a dict
    ready for ``task.make_params``; ``params()`` converts and checks it."""

    changed = Signal()

    def __init__(self, task: Task, parent=None):
        super().__init__(parent)
        self.task = task
        self.specs = task.schema()
        self.widgets: dict[str, QWidget] = {}
        self.error = QLabel()
        self.error.setObjectName("error")
        self.error.setWordWrap(True)
        self.error.hide()
        layout = QFormLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.setHorizontalSpacing(16)
        layout.setVerticalSpacing(8)
        layout.setFieldGrowthPolicy(QFormLayout.AllNonFixedFieldsGrow)
        for spec in self.specs:
            w = self._make(spec)
            w.setToolTip(spec.help)
            self.widgets[spec.name] = w
            label = QLabel(spec.title)
            label.setToolTip(spec.help)
            layout.addRow(label, w)
        layout.addRow(self.error)
        self.set_values({})

    def _make(self, spec: ParamSpec) -> QWidget:
        if spec.type is Path:
            w = PathField(spec)
            w.changed.connect(self.changed)
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
            w = QDoubleSpinBox()
            w.setDecimals(4)
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

    def set_path(self, path: Path) -> bool:
        """Put a dropped file into the first file field that reads files; False if none."""
        for spec in self.specs:
            w = self.widgets[spec.name]
            if isinstance(w, PathField) and not spec.save:
                w.set_value(path)
                return True
        return False

    def params(self) -> Any:
        """The checked parameters; shows the error and returns None when one is wrong."""
        try:
            p = self.task.make_params(self.values())
        except ParamError as exc:
            self.show_error(str(exc))
            return None
        self.show_error("")
        return p

    def show_error(self, message: str) -> None:
        self.error.setText(message)
        self.error.setVisible(bool(message))
        bad = message.split()[0].rstrip(":") if message.startswith("--") else ""
        for spec in self.specs:
            w = self.widgets[spec.name]
            edit = w.edit if isinstance(w, PathField) else w
            edit.setProperty("invalid", bool(bad) and bad == spec.flag)
            edit.style().unpolish(edit)
            edit.style().polish(edit)


def focus_first(form: ParamForm) -> None:
    if form.widgets:
        next(iter(form.widgets.values())).setFocus(Qt.OtherFocusReason)
