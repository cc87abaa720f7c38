"""Pieces the Translate and Style tabs share: a settings column that scrolls up and down but
never sideways, a task's form with the fields a tab draws itself taken out, the Run / Stop /
progress / status block, and a slider for a share (strength)."""

from __future__ import annotations

import atexit
import shutil
import tempfile
from functools import cache
from pathlib import Path
from typing import Any

from PySide6.QtCore import QEvent, QObject, Qt, Signal
from PySide6.QtWidgets import (
    QApplication,
    QComboBox,
    QFormLayout,
    QHBoxLayout,
    QLabel,
    QProgressBar,
    QPushButton,
    QScrollArea,
    QSizePolicy,
    QSlider,
    QSplitter,
    QVBoxLayout,
    QWidget,
)

from studio.tasks import Task
from studio.ui import theme
from studio.ui.forms import ParamForm
from studio.ui.widgets import show_status

ARROW = ('<svg xmlns="http://www.w3.org/2000/svg" width="10" height="6" viewBox="0 0 10 6">'
         '<path d="{d}" fill="{colour}"/></svg>')
UP, DOWN = "M0 6 L5 0 L10 6 Z", "M0 0 L5 6 L10 0 Z"


@cache
def _arrow_folder() -> Path:
    """A folder of this process's own with the spin boxes' arrows (Qt style sheets take
    pictures only from files or resources); removed when the process ends."""
    folder = Path(tempfile.mkdtemp(prefix="studio-paint-ui-"))
    atexit.register(shutil.rmtree, folder, True)
    for name, d in (("up", UP), ("down", DOWN)):
        for state, colour in (("", theme.TEXT), ("-off", "#6b6f75")):
            (folder / f"{name}{state}.svg").write_text(ARROW.format(d=d, colour=colour))
    return folder


def panel_stylesheet() -> str:
    """What the panel adds to the theme: a primary button that cannot be pressed looks it, and
    spin boxes get visible up and down arrows (while the theme does not draw its own)."""
    qss = (f"QPushButton#primary:disabled {{ background: {theme.RAISED}; color: #6b6f75; "
           f"border: 1px solid {theme.BORDER}; }}\n")
    app = QApplication.instance()
    if app is not None and "up-arrow" in app.styleSheet():
        return qss
    try:
        f = _arrow_folder().as_posix()
    except OSError:  # no temporary folder: the theme's look stays
        return qss
    return qss + f"""
QAbstractSpinBox {{ padding-right: 20px; }}
QAbstractSpinBox::up-button, QAbstractSpinBox::down-button {{
    subcontrol-origin: border; width: 18px; background: {theme.RAISED};
    border-left: 1px solid {theme.BORDER}; }}
QAbstractSpinBox::up-button {{ subcontrol-position: top right; border-top-right-radius: 4px; }}
QAbstractSpinBox::down-button {{ subcontrol-position: bottom right;
    border-bottom-right-radius: 4px; border-top: 1px solid {theme.BORDER}; }}
QAbstractSpinBox::up-button:hover, QAbstractSpinBox::down-button:hover {{
    background: {theme.BORDER}; }}
QAbstractSpinBox::up-arrow {{ image: url({f}/up.svg); width: 9px; height: 6px; }}
QAbstractSpinBox::down-arrow {{ image: url({f}/down.svg); width: 9px; height: 6px; }}
QAbstractSpinBox::up-arrow:disabled, QAbstractSpinBox::up-arrow:off {{
    image: url({f}/up-off.svg); }}
QAbstractSpinBox::down-arrow:disabled, QAbstractSpinBox::down-arrow:off {{
    image: url({f}/down-off.svg); }}
"""


class _Refit(QObject):
    """Keeps a scroll area as wide as its content needs whenever the content's layout
    changes (a style chosen, a longer message, rows wrapped)."""

    def __init__(self, scroll: QScrollArea):
        super().__init__(scroll)
        self.scroll = scroll
        scroll.widget().installEventFilter(self)
        fit_column(scroll)

    def eventFilter(self, watched, event) -> bool:  # noqa: N802 (Qt's name)
        if event.type() == QEvent.LayoutRequest and watched is self.scroll.widget():
            fit_column(self.scroll)
        return False


def keep_fitted(scroll: QScrollArea) -> None:
    """``scroll`` scrolls vertically only and is always as wide as its content needs."""
    scroll.setHorizontalScrollBarPolicy(Qt.ScrollBarAlwaysOff)
    _Refit(scroll)


class Column(QScrollArea):
    """A settings column: it scrolls vertically only, as wide as its content needs."""

    def __init__(self, content: QWidget, parent: QWidget | None = None):
        super().__init__(parent)
        self.setWidgetResizable(True)
        self.setFrameShape(QScrollArea.NoFrame)
        self.setWidget(content)
        keep_fitted(self)


def settings_column(content: QWidget, pinned: list[QWidget]) -> QWidget:
    """``content`` scrolling up and down (never sideways) over the ``pinned`` widgets, which
    always show (Run and Stop, the status, Export)."""
    box = QWidget()
    lay = theme.pad(QVBoxLayout(box), 0)
    lay.addWidget(Column(content), 1)
    for w in pinned:
        lay.addWidget(w)
    return box


def fit_column(scroll: QScrollArea) -> None:
    """A scrolling column's least width: its content's, and room for the vertical scroll bar
    (again once styled: a style sheet changes what the buttons need)."""
    content = scroll.widget()
    if content is not None:
        need = (content.minimumSizeHint().width()
                + scroll.verticalScrollBar().sizeHint().width() + theme.SPACE_S)
        if need != scroll.minimumWidth():
            scroll.setMinimumWidth(need)
            parent = scroll.parentWidget()
            while parent is not None:  # a splitter does not pass a hidden child's change on
                if isinstance(parent, QSplitter):
                    parent.updateGeometry()
                parent = parent.parentWidget()


class ColumnPlacer(QObject):
    """Keeps a splitter's first pane (the settings) at about ``share`` of its width, between
    the pane's minimum and ``most`` px, as the window is resized, until the user drags the
    handle (from then on their choice stands)."""

    def __init__(self, split: QSplitter, column: QWidget, share: float = 0.24,
                 most: int = 360):
        super().__init__(split)
        self.split, self.column, self.share, self.most = split, column, share, most
        self.auto = True
        split.splitterMoved.connect(self._moved)
        split.installEventFilter(self)

    def _moved(self, *_: Any) -> None:
        self.auto = False

    def eventFilter(self, watched, event) -> bool:  # noqa: N802 (Qt's name)
        if event.type() == QEvent.Resize and self.auto and watched is self.split:
            place_column(self.split, self.column, self.split.width(), self.share, self.most)
        return False


def place_column(split: QSplitter, column: QWidget, width: int, share: float = 0.24,
                 most: int = 360) -> None:
    """Give a splitter's first pane (the settings) about ``share`` of ``width``, at least its
    minimum and at most ``most`` px, and the rest to the second (the picture)."""
    for scroll in [column, *column.findChildren(QScrollArea)]:
        if isinstance(scroll, QScrollArea) and scroll.findChild(_Refit) is not None:
            fit_column(scroll)
    least = max(column.minimumWidth(), column.minimumSizeHint().width())
    want = max(least, min(most, int(width * share)))
    split.setSizes([want, max(1, width - want)])


WIDE = 900  # px of a tab: narrower, forms put their labels above their fields


def fit_form_rows(form: ParamForm | None, width: int) -> None:
    """Labels beside their fields in a wide tab, above them in a narrow one (so the form's
    column takes less of the picture's room)."""
    if form is None:
        return
    policy = QFormLayout.DontWrapRows if width >= WIDE else QFormLayout.WrapAllRows
    if form.form_layout.rowWrapPolicy() != policy:
        form.form_layout.setRowWrapPolicy(policy)
        form.form_layout.activate()


def heading(text: str) -> QLabel:
    label = QLabel(text)
    label.setObjectName("muted")
    return label


def task_form(task: Task | None, models: Any, own: tuple[str, ...]) -> ParamForm | None:
    """The task's form with the fields in ``own`` hidden (the tab shows them its own way)."""
    if task is None:
        return None
    form = ParamForm(task, models=models)
    for name in own:
        if name in form.widgets:
            form.set_field_visible(name, False)
    fit_form_rows(form, 0)  # narrow until shown wide
    relax_combos(form)
    return form


def relax_combos(widget: QWidget, chars: int = 14) -> None:
    """Drop-downs as wide as ``chars`` characters at least, not as their longest entry (a
    model list's long titles would otherwise set the whole column's width); the open list
    still shows each entry whole."""
    for combo in widget.findChildren(QComboBox):
        combo.setSizeAdjustPolicy(QComboBox.AdjustToMinimumContentsLengthWithIcon)
        combo.setMinimumContentsLength(chars)
        combo.view().setMinimumWidth(combo.view().sizeHintForColumn(0) + 24)


class RunBox(QWidget):
    """A primary Run button and Stop on one row, a thin progress bar and a status line under
    them. ``set_busy`` swaps which of the two is enabled."""

    run_clicked = Signal()
    stop_clicked = Signal()

    def __init__(self, run_text: str, run_tip: str = "", parent: QWidget | None = None):
        super().__init__(parent)
        self.run_button = QPushButton(run_text)
        self.run_button.setObjectName("primary")
        self.run_button.setToolTip(run_tip)
        self.run_button.clicked.connect(self.run_clicked)
        self.stop_button = QPushButton("Stop")
        self.stop_button.setToolTip("Stop (Esc)")
        self.stop_button.clicked.connect(self.stop_clicked)
        self.progress = QProgressBar()
        self.progress.setRange(0, 1000)
        self.progress.setValue(0)
        self.progress.setTextVisible(False)
        self.status = QLabel("")
        self.status.setObjectName("muted")
        self.status.setWordWrap(True)
        self.status.setTextInteractionFlags(Qt.TextSelectableByMouse)
        row = theme.pad(QHBoxLayout(), 0)
        row.addWidget(self.run_button, 1)
        row.addWidget(self.stop_button)
        lay = theme.pad(QVBoxLayout(self), 0, theme.SPACE_S)
        lay.addLayout(row)
        lay.addWidget(self.progress)
        lay.addWidget(self.status)
        self.set_busy(False)

    def set_busy(self, busy: bool, can_run: bool = True) -> None:
        self.run_button.setEnabled(can_run and not busy)
        self.stop_button.setEnabled(busy)
        if not busy:
            self.progress.setRange(0, 1000)

    def set_progress(self, fraction: float | None) -> None:
        if fraction is None:
            self.progress.setRange(0, 0)  # busy, no measure
        else:
            self.progress.setRange(0, 1000)
            self.progress.setValue(round(1000 * min(max(fraction, 0.0), 1.0)))

    def say(self, text: str, error: bool = False) -> None:
        show_status(self.status, text, error)
        self.status.setToolTip(text)


def clock(seconds: float) -> str:
    """1:05, or 1:02:05 past an hour."""
    s = max(0, round(seconds))
    if s >= 3600:
        return f"{s // 3600}:{s % 3600 // 60:02d}:{s % 60:02d}"
    return f"{s // 60}:{s % 60:02d}"


def running_text(job: Any, now: float | None = None) -> str:
    """A running job's message with the time it has taken and, once it can be judged (a
    tenth done, ten seconds in), about how long it has left."""
    import time

    text = job.message or job.state.value
    if job.state.name != "RUNNING" or not job.started:
        return text
    elapsed = (time.monotonic() if now is None else now) - job.started
    if elapsed < 2:
        return text
    times = f"{clock(elapsed)} so far"
    p = job.progress
    if p is not None and p >= 0.1 and elapsed >= 10 and p < 1:
        times += f", about {clock(elapsed * (1 - p) / p)} left"
    return f"{text} · {times}"


class ShareSlider(QWidget):
    """A slider from ``lo`` to ``hi`` in hundredths, with its value as a percentage of ``hi``
    beside it (a strength from 0 to 1 reads "80%")."""

    changed = Signal(float)

    def __init__(self, lo: float = 0.0, hi: float = 1.0, value: float = 1.0,
                 parent: QWidget | None = None):
        super().__init__(parent)
        self.lo, self.hi = lo, hi
        self.slider = QSlider(Qt.Horizontal)
        self.slider.setRange(0, 100)
        self.slider.setMinimumWidth(80)
        self.slider.setSizePolicy(QSizePolicy.Expanding, QSizePolicy.Fixed)
        self.label = QLabel()
        self.label.setMinimumWidth(self.label.fontMetrics().horizontalAdvance("100%") + 4)
        self.label.setAlignment(Qt.AlignRight | Qt.AlignVCenter)
        lay = theme.pad(QHBoxLayout(self), 0)
        lay.addWidget(self.slider, 1)
        lay.addWidget(self.label)
        self.slider.valueChanged.connect(self._moved)
        self.set_value(value)
        self._moved()

    def value(self) -> float:
        return self.lo + (self.hi - self.lo) * self.slider.value() / 100

    def set_value(self, value: float) -> None:
        span = (self.hi - self.lo) or 1.0
        self.slider.setValue(round(100 * (float(value) - self.lo) / span))

    def _moved(self, *_: Any) -> None:
        self.label.setText(f"{100 * self.value() / (self.hi or 1):.0f}%")
        self.changed.emit(self.value())
