"""The window's layout and finish: capability icons, job timings, and every panel and tab of the
real window at 1024x700 without a cut button, a sideways scrollbar, a widget outside its parent or
a widget covered by its neighbour."""

from __future__ import annotations

from itertools import combinations

import pytest
from PySide6.QtGui import QIcon
from PySide6.QtWidgets import (
    QAbstractButton,
    QAbstractScrollArea,
    QScrollArea,
    QTabWidget,
    QWidget,
)

from studio.ui.job_view import span, timing
from studio.ui.jobs import Job, JobState


def test_durations_read_as_a_person_says_them():
    assert [span(s) for s in (8.4, 65, 3725)] == ["8 s", "1 min 05 s", "1 h 02 min"]


def test_a_running_job_shows_its_time_and_the_time_it_has_left(qtbot):
    job = Job(task=None, params=None)
    job.state, job.started, job.progress = JobState.RUNNING, 100.0, 0.25
    assert timing(job, now=110.0) == "10 s · about 30 s left"
    job.progress = 0.01  # too early to guess
    assert timing(job, now=110.0) == "10 s"
    job.state, job.ended = JobState.DONE, 190.0
    assert timing(job, now=500.0) == "1 min 30 s"
    job.state = JobState.QUEUED
    assert timing(job, now=500.0) == ""


def _name(widget: QWidget) -> str:
    text = widget.text() if hasattr(widget, "text") and callable(widget.text) else ""
    name = widget.objectName()
    return type(widget).__name__ + (f" {text!r}" if text else "") + (f" #{name}" if name else "")


def layout_problems(root: QWidget, slack: int = 2) -> list[str]:
    """The visible widgets under ``root`` that stick out of their parent or overlap a visible
    sibling by more than ``slack`` pixels (what a squeezed splitter or layout does: the user sees
    half a button). What a scroll area's viewport holds may be larger than it where the area has
    a scroll bar that way: it scrolls."""
    problems = []
    for parent in [root, *root.findChildren(QWidget)]:
        if not parent.isVisible():
            continue
        area = parent.parent()
        if isinstance(area, QAbstractScrollArea) and parent is area.viewport():
            for kid in parent.children():  # it scrolls, but only where it has a scroll bar
                if not isinstance(kid, QWidget) or not kid.isVisible():
                    continue
                if (kid.width() > parent.width() + slack
                        and not area.horizontalScrollBar().isVisible()):
                    problems.append(f"{_name(kid)} is {kid.width()} px wide in "
                                    f"{_name(area)}'s {parent.width()} px with no scroll bar "
                                    f"sideways: its right edge is cut")
                if (kid.height() > parent.height() + slack
                        and not area.verticalScrollBar().isVisible()):
                    problems.append(f"{_name(kid)} is {kid.height()} px tall in "
                                    f"{_name(area)}'s {parent.height()} px with no scroll bar "
                                    f"up and down: its bottom is cut")
            continue
        kids = [c for c in parent.children()
                if isinstance(c, QWidget) and c.isVisible() and not c.isWindow()]
        room = parent.rect().adjusted(-slack, -slack, slack, slack)
        for kid in kids:
            if not room.contains(kid.geometry()):
                g = kid.geometry()
                problems.append(f"{_name(kid)} at x {g.x()}..{g.right()}, y {g.y()}..{g.bottom()} "
                                f"sticks out of {_name(parent)} ({parent.width()}x"
                                f"{parent.height()})")
        for a, b in combinations(kids, 2):
            both = a.geometry() & b.geometry()
            if both.width() > slack and both.height() > slack:
                problems.append(f"{_name(a)} and {_name(b)} overlap by {both.width()}x"
                                f"{both.height()} px in {_name(parent)}")
    return problems


def test_the_layout_check_sees_a_squeezed_splitter_and_a_form_cut_in_its_scroll_area(qtbot):
    from PySide6.QtCore import Qt
    from PySide6.QtWidgets import QPushButton, QSplitter

    def shown(widget: QWidget, width: int) -> QWidget:
        """``widget`` squeezed to ``width`` px inside a window, as a layout would do it."""
        holder = QWidget()
        qtbot.addWidget(holder)
        holder.resize(width, 100)
        widget.setParent(holder)
        widget.setGeometry(0, 0, width, 100)
        holder.show()
        qtbot.waitExposed(holder)
        return holder

    split = QSplitter(Qt.Horizontal)  # what compose did at 1024x700: the panes overlapped
    for text in ("Settings", "Play"):
        pane = QPushButton(text)
        pane.setMinimumWidth(300)
        split.addWidget(pane)
    assert any("overlap" in p for p in layout_problems(shown(split, 400)))

    area = QScrollArea()  # a form wider than its column, with no scroll bar sideways
    area.setWidgetResizable(True)
    area.setHorizontalScrollBarPolicy(Qt.ScrollBarAlwaysOff)
    form = QWidget()
    form.setMinimumWidth(300)
    area.setWidget(form)
    holder = shown(area, 200)
    assert any("its right edge is cut" in p for p in layout_problems(holder))
    area.setGeometry(0, 0, 320, 100)
    holder.resize(320, 100)
    qtbot.waitUntil(lambda: layout_problems(holder) == [])


@pytest.fixture
def window(qtbot, user_data):
    from studio.gallery import Gallery
    from studio.models import ModelStore
    from studio.plugins import load_plugins
    from studio.ui.main_window import MainWindow

    registry = load_plugins(disable=set())
    w = MainWindow(registry, Gallery(), ModelStore.from_registry(registry), device="cpu")
    qtbot.addWidget(w)
    yield w
    w.jobs.cancel_all()
    w.jobs.wait(5000)


def test_each_capability_has_its_own_svg_icon(window):
    caps = {c.id: c for c in window.registry.capabilities}
    assert {"write", "compose", "paint", "drive"} <= set(caps)
    for cap_id in ("write", "compose", "paint", "drive"):
        icon = caps[cap_id].icon
        assert str(icon).endswith(".svg") and not QIcon(str(icon)).isNull(), cap_id
    assert window.switcher.width() <= 80  # a rail, not a column of wide rows


def test_every_panel_and_tab_fits_1024x700(qtbot, window):
    window.resize(1024, 700)
    window.show()
    qtbot.waitExposed(window)
    problems = []
    for row, cap in enumerate(window.registry.capabilities):
        window.switcher.setCurrentRow(row)
        page = window.current_panel()
        tabs = page.findChild(QTabWidget)
        for i in range(tabs.count() if tabs else 1):
            if tabs:
                tabs.setCurrentIndex(i)
            qtbot.wait(30)
            where = f"{cap.id}/{tabs.tabText(i) if tabs else ''}"
            for button in page.findChildren(QAbstractButton):
                text = button.text().replace("&", "")
                need = button.fontMetrics().horizontalAdvance(text) + 8  # the label, a margin
                if button.isVisibleTo(window) and text and button.width() < need:
                    problems.append(f"{where}: {text!r} cut ({button.width()} < {need} px)")
            for area in page.findChildren(QScrollArea):
                if area.isVisibleTo(window) and area.horizontalScrollBar().isVisible():
                    problems.append(f"{where}: a sideways scrollbar")
            problems += [f"{where}: {p}" for p in layout_problems(page)]
    assert not problems, "\n".join(problems)
