"""The window, offscreen, with the test plugin: what a user sees and does."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest
from PySide6.QtCore import Qt

from studio.hookspecs import Capability
from studio.tasks import Preview, Task, param
from studio.ui.jobs import JobState

pytest.importorskip("pytestqt")


@pytest.fixture
def registry(testkit):
    """Only the test plugin: the built-in capabilities have tests of their own."""
    from studio.plugins import load_plugins

    return load_plugins(disable={"studio_write", "studio_compose", "studio_paint", "studio_drive"})


@pytest.fixture
def window(qtbot, registry, user_data):
    from studio.gallery import Gallery
    from studio.models import ModelStore
    from studio.ui.main_window import MainWindow

    w = MainWindow(registry, Gallery(), ModelStore.from_registry(registry), device="cpu")
    qtbot.addWidget(w)
    w.show()
    yield w
    w.jobs.cancel_all()
    w.jobs.wait(5000)


def page(window, cap_id="testkit"):
    return window.panels[cap_id]


def choose(window, task_id):
    p = page(window)
    p.picker.setCurrentIndex(p.picker.findData(task_id))
    return p


def wait_done(qtbot, job, timeout=20000):
    """Until the window has heard that ``job`` ended (not only the worker)."""
    qtbot.waitUntil(lambda: job.reported, timeout=timeout)
    return job


def test_window_shows_capabilities_and_device(qtbot, window):
    assert window.switcher.count() == 1
    assert window.switcher.item(0).text() == "Test kit"
    assert window.device_label.text().startswith("CPU")
    # torch is asked on a thread of its own ("CPU: …" until it answers)
    qtbot.waitUntil(lambda: "…" not in window.device_label.text(), timeout=30000)
    from studio import device as devices

    cores = devices.cpu_count()  # the window keeps a core for itself where there are two
    assert window.device_label.text() == (f"CPU ({cores - 1} of {cores} cores for tasks)"
                                          if cores > 1 else "CPU (1 core for tasks)")


def test_ctrl_enter_runs_the_form_and_saves_to_the_gallery(qtbot, window):
    p = choose(window, "testkit.echo")
    p.form.widgets["text"].setPlainText("four little words")
    p.form.widgets["times"].setValue(2)
    qtbot.keyClick(window, Qt.Key_Return, Qt.ControlModifier)
    job = wait_done(qtbot, p.job)
    assert job.state is JobState.DONE
    qtbot.waitUntil(lambda: "four little words four" in p.text.toPlainText())
    entries = window.gallery.entries()
    assert [e.task for e in entries] == ["testkit.echo"]
    assert entries[0].path.read_text() == "four little words four little words"
    qtbot.waitUntil(lambda: window.gallery_view.list.count() == 1)
    assert p.status.text().startswith("Done")


def test_a_bad_value_is_shown_against_its_field_and_nothing_runs(qtbot, window):
    p = choose(window, "testkit.measure")
    p.form.widgets["path"].set_value("/no/such/file.txt")
    assert p.run_default() is None
    assert "no such file" in p.form.error.text()
    assert window.jobs.jobs == []


def test_escape_interrupts_the_running_job_and_its_finally_runs(qtbot, window):
    import studio_testkit

    studio_testkit.spin.cleaned_up = False
    p = choose(window, "testkit.spin")
    p.form.widgets["seconds"].setValue(60)
    job = p.run_default()
    qtbot.waitUntil(lambda: job.state is JobState.RUNNING and job.progress > 0, timeout=20000)
    qtbot.keyClick(window, Qt.Key_Escape)
    wait_done(qtbot, job, timeout=5000)
    assert job.state is JobState.CANCELLED
    assert job.ended - job.interrupted_at < 1.0
    assert studio_testkit.spin.cleaned_up
    assert window.gallery.entries() == []


def test_a_queued_job_can_be_cancelled_before_it_starts(qtbot, window):
    task = window.registry.task("testkit.spin")
    first = window.jobs.submit(task, task.make_params({"seconds": 30}))
    second = window.jobs.submit(task, task.make_params({"seconds": 30}))
    assert second.state is JobState.QUEUED
    window.jobs.cancel(second)
    assert second.state is JobState.CANCELLED and second.started == 0.0
    window.jobs.cancel(first)
    wait_done(qtbot, first)
    assert first.state is JobState.CANCELLED
    assert len(window.job_view.rows) == 2


def test_jobs_run_one_at_a_time(qtbot, window):
    task = window.registry.task("testkit.echo")
    jobs = [window.jobs.submit(task, task.make_params({"times": 3})) for _ in range(3)]
    for job in jobs:
        wait_done(qtbot, job)
    spans = sorted((j.started, j.ended) for j in jobs)
    assert all(a[1] <= b[0] for a, b in zip(spans, spans[1:], strict=False))


def test_a_failing_task_becomes_a_notification_with_details(qtbot, window):
    p = choose(window, "testkit.fail")
    job = wait_done(qtbot, p.run_default())
    assert job.state is JobState.FAILED
    assert job.error == "the test task failed on purpose"
    shown = [m for lvl, m in window.notifications.history if lvl == "error"]
    assert any("failed on purpose" in m for m in shown)
    assert "Traceback" in job.details
    assert window.isVisible()


def test_previews_are_coalesced_and_the_newest_is_shown(qtbot, window):
    p = choose(window, "testkit.noise")
    p.form.widgets["steps"].setValue(300)
    seen = []
    window.jobs.job_preview.connect(lambda job, prev: seen.append(prev))
    job = wait_done(qtbot, p.run_default())
    assert job.state is JobState.DONE
    assert 1 <= len(seen) <= 300
    qtbot.waitUntil(lambda: p.image.has_image())


def test_last_parameters_and_capability_persist(qtbot, registry, user_data):
    from studio.gallery import Gallery
    from studio.models import ModelStore
    from studio.ui.main_window import MainWindow

    def make():
        w = MainWindow(registry, Gallery(), ModelStore.from_registry(registry), device="cpu")
        qtbot.addWidget(w)
        return w

    w = make()
    p = choose(w, "testkit.echo")
    p.form.widgets["times"].setValue(7)
    p.form.widgets["mode"].setCurrentIndex(1)
    w.close()
    w2 = make()
    p2 = page(w2)
    assert p2.current_task_id == "testkit.echo"
    assert p2.form.values()["times"] == 7
    assert p2.form.values()["mode"] == "upper"


def test_dropping_a_file_fills_the_file_field(qtbot, window, tmp_path):
    f = tmp_path / "notes.txt"
    f.write_text("hello")
    p = choose(window, "testkit.measure")
    assert window.drop_files([f])
    assert p.form.values()["path"] == str(f)
    job = wait_done(qtbot, p.run_default())
    assert window.gallery.entries()[0].path.read_text() == "notes.txt: 5 bytes"
    assert job.state is JobState.DONE


def test_dropping_an_unaccepted_file_says_so(window, tmp_path):
    f = tmp_path / "picture.xyz"
    f.write_bytes(b"x")
    assert not window.drop_files([f])
    assert "does not open .xyz files" in window.notifications.history[-1][1]


def test_a_dropped_folder_reaches_the_panel(window, tmp_path):
    (tmp_path / "pictures").mkdir()
    choose(window, "testkit.measure")
    assert window.drop_files([tmp_path / "pictures"])  # the testkit form takes it as its path


def test_again_reproduces_the_same_bytes(qtbot, window):
    task = window.registry.task("testkit.noise")
    first = wait_done(qtbot, window.jobs.submit(task, task.make_params({"width": 20})))
    entry = window.gallery.entries()[0]
    again = wait_done(qtbot, window.again(entry))
    assert again.seed == first.seed
    a, b = first.outputs[0].path, again.outputs[0].path
    assert a != b
    assert hashlib.sha256(a.read_bytes()).digest() == hashlib.sha256(b.read_bytes()).digest()


def test_a_broken_panel_falls_back_to_the_form(qtbot, registry, user_data):
    from studio.gallery import Gallery
    from studio.models import ModelStore
    from studio.ui.main_window import MainWindow
    from studio.ui.task_page import TaskPage

    def broken(host):
        raise RuntimeError("panel exploded")

    cap = registry.capabilities[0]
    registry.capabilities.append(Capability("broken", "Broken", [], panel=broken))
    try:
        w = MainWindow(registry, Gallery(), ModelStore.from_registry(registry), device="cpu")
        qtbot.addWidget(w)
        assert isinstance(w.panels["broken"], TaskPage)
        assert any("panel exploded" in m for _, m in w.notifications.history)
        assert isinstance(w.panels[cap.id], TaskPage)
    finally:
        registry.capabilities.pop()


def test_plugin_failures_are_notified_and_listed(qtbot, registry, user_data):
    from studio.gallery import Gallery
    from studio.models import ModelStore
    from studio.plugins import PluginFailure
    from studio.ui.dialogs import PluginsDialog
    from studio.ui.main_window import MainWindow

    registry.failures.append(PluginFailure("studio_broken", "import", "ImportError: nope", "tb"))
    w = MainWindow(registry, Gallery(), ModelStore.from_registry(registry), device="cpu")
    qtbot.addWidget(w)
    assert any("studio_broken" in m for _, m in w.notifications.history)
    dialog = PluginsDialog(registry, w)
    assert dialog.failures.rowCount() == 1
    assert dialog.failures.item(0, 2).text() == "ImportError: nope"


def test_the_plugins_dialog_says_where_a_local_plugin_comes_from(qtbot, registry):
    from PySide6.QtWidgets import QTableWidget

    from studio.plugins import PluginInfo
    from studio.ui.dialogs import PluginsDialog

    registry.plugins.append(PluginInfo("hello_local", path="/data/plugins/hello_local.py"))
    try:
        dialog = PluginsDialog(registry)
        qtbot.addWidget(dialog)
        table = dialog.findChildren(QTableWidget)[0]
        rows = {table.item(r, 0).text(): table.item(r, 2).text() for r in range(table.rowCount())}
        assert rows["hello_local"] == "/data/plugins/hello_local.py"
    finally:
        registry.plugins.pop()


def test_model_manager_lists_cards(qtbot, window):
    from studio.ui.dialogs import ModelManager

    m = ModelManager(window.models, window.jobs, window.notify, window)
    row = [c.id for c in m.cards].index("testkit.tiny")
    assert m.table.item(row, 0).text() == "Tiny test model"  # its name, the id in the tooltip
    assert m.table.item(row, 4).text() == "CC0-1.0"


def test_empty_window_without_plugins(qtbot, user_data):
    from studio.gallery import Gallery
    from studio.models import ModelStore
    from studio.plugins import Registry
    from studio.ui.main_window import MainWindow

    reg = Registry()
    w = MainWindow(reg, Gallery(), ModelStore.from_registry(reg), device="cpu")
    qtbot.addWidget(w)
    assert w.switcher.count() == 0
    assert not w.drop_files([Path(__file__)])


def test_out_of_memory_offers_the_cpu(qtbot, window):
    from dataclasses import dataclass

    from PySide6.QtWidgets import QPushButton

    from studio.tasks import Task

    @dataclass
    class NoParams:
        pass

    def oom(p, ctx):
        yield from ()
        raise RuntimeError("CUDA out of memory. Tried to allocate 20.00 GiB")

    task = Task("test.oom", "Big model", NoParams, oom)
    job = wait_done(qtbot, window.jobs.submit(task, NoParams()))
    assert job.state is JobState.FAILED and job.out_of_memory
    level, message = window.notifications.history[-1]
    assert level == "error" and "ran out of memory" in message and "CPU" in message
    buttons = [b.text() for b in window.notifications.findChildren(QPushButton)]
    assert "Run on the CPU" in buttons
    retry = next(b for b in window.notifications.findChildren(QPushButton)
                 if b.text() == "Run on the CPU")
    retry.click()
    again = window.jobs.jobs[-1]
    assert again is not job and again.device == "cpu"
    wait_done(qtbot, again)


def test_advanced_params_wait_under_more_settings(qtbot):
    from dataclasses import dataclass

    from PySide6.QtWidgets import QPushButton

    from studio.tasks import Task, param
    from studio.ui.forms import ParamForm

    @dataclass
    class Knobs:
        text: str = param("hi")
        lr: float = param(0.5, min=0.0, max=1.0, advanced=True)
        steps: int = param(3, min=1, max=10)

    @dataclass
    class Plain:
        text: str = param("hi")

    def run(p, ctx):
        yield from ()

    form = ParamForm(Task("demo.knobs", "Knobs", Knobs, run))
    qtbot.addWidget(form)
    form.show()
    lr = form.widgets["lr"]
    assert form.widgets["text"].isVisibleTo(form) and form.widgets["steps"].isVisibleTo(form)
    assert not lr.isVisibleTo(form)  # collapsed at first
    assert form.values() == {"text": "hi", "lr": 0.5, "steps": 3}  # but still a value

    form.set_values({"lr": 0.25})  # a restored setting that is not the default shows itself
    assert form.values()["lr"] == 0.25 and form.params().lr == 0.25 and lr.isVisibleTo(form)
    qtbot.mouseClick(form.more, Qt.LeftButton)
    assert not lr.isVisibleTo(form)
    qtbot.mouseClick(form.more, Qt.LeftButton)
    assert lr.isVisibleTo(form)
    qtbot.mouseClick(form.more, Qt.LeftButton)

    form.set_values({"lr": 5e-5})  # small rates are kept, not rounded to the box's decimals
    assert form.values()["lr"] == 5e-5 and lr.text() == "5e-05"
    form.set_values({"lr": 0.9999995})  # and close values are not rounded away
    assert lr.text() == "0.9999995" and form.values()["lr"] == 0.9999995
    lr.lineEdit().setText("3e-4")
    lr.interpretText()
    assert form.values()["lr"] == pytest.approx(3e-4)
    qtbot.mouseClick(form.more, Qt.LeftButton)

    form.show_error("--lr: 2 is above the maximum 1")  # an error opens the section it is in
    assert lr.isVisibleTo(form) and lr.property("invalid") is True

    plain = ParamForm(Task("demo.plain", "Plain", Plain, run))
    qtbot.addWidget(plain)
    assert plain.more is None and not plain.findChildren(QPushButton, "disclosure")


def test_a_model_field_lists_the_stores_models_of_its_capability(qtbot):
    from dataclasses import dataclass
    from types import SimpleNamespace

    from studio.tasks import Task, param
    from studio.ui.forms import ParamForm
    from studio.ui.widgets import ModelPicker

    @dataclass
    class Tune:
        base: str | None = param(None, model="compose")
        other: str = param("tiny", model="compose")

    def card(i, capability="compose"):
        return SimpleNamespace(id=i, title=i.title(), capability=capability)

    class Store:
        listed = [card("chorales"), card("gpt", "write")]

        def cards(self):
            return self.listed

        def is_installed(self, card):
            return True

    def run(p, ctx):
        yield from ()

    store = Store()
    form = ParamForm(Task("demo.tune", "Tune", Tune, run), models=store)
    qtbot.addWidget(form)
    base = form.widgets["base"]
    assert isinstance(base, ModelPicker)
    # an empty default offers "none" first; only the capability's models are listed
    assert [base.itemText(i) for i in range(base.count())] == ["none", "Chorales"]
    assert form.values() == {"base": None, "other": "tiny"}  # "tiny" is not in the store: as typed
    form.set_values({"base": "chorales"})
    assert form.values()["base"] == "chorales" and base.currentText() == "Chorales"
    assert form.params() is None  # "tiny" is no model of the store: refused, naming the field
    assert form.error.text().startswith("--other")
    form.set_values({"base": "chorales", "other": "chorales"})
    assert form.params().base == "chorales"
    store.listed = [*store.listed, card("mine")]
    form.refresh_models()  # a model trained meanwhile joins the list; the choice stays
    assert base.count() == 3 and form.values()["base"] == "chorales"
    form.set_values({"other": "chorales"})  # base back to its default
    assert form.values()["base"] is None and form.params().base is None
    base.setEditText("somewhere.else")  # an id typed by hand is taken as it is
    assert form.values()["base"] == "somewhere.else"

    plain = ParamForm(Task("demo.tune2", "Tune", Tune, run))  # no store: a text box
    qtbot.addWidget(plain)
    assert not isinstance(plain.widgets["base"], ModelPicker)


def test_a_panel_talks_to_its_running_job_through_its_controls(qtbot, window):
    """What the panel sets on ``job.controls`` is what the task reads as ``ctx.controls``."""
    from collections.abc import Iterator
    from dataclasses import dataclass

    from studio.tasks import Context, Event, Output, Progress, Task

    @dataclass
    class NoParams:
        pass

    def listen(p: NoParams, ctx: Context) -> Iterator[Event]:
        while not ctx.is_cancelled():
            for command, value in ctx.controls.take():
                if command == "say":
                    yield Output(f"{value} x{ctx.controls.get('times', 1)}", name="heard")
                    return
            ctx.controls.wait(0.05)
            yield Progress(None)

    task = Task("testkit.listen", "Listen", NoParams, listen)
    job = window.host.submit(task, NoParams())
    qtbot.waitUntil(lambda: job.state is JobState.RUNNING, timeout=5000)
    job.controls.set(times=3)
    job.controls.send("say", "hello")
    wait_done(qtbot, job)
    assert job.state is JobState.DONE
    assert job.outputs[0].path.read_text() == "hello x3"


@dataclass
class _ChartThenPicture:
    steps: int = param(3, min=1, max=10)


def _chart_then_picture(p: _ChartThenPicture, ctx):
    for step in range(1, p.steps + 1):
        yield Preview({"step": step, "loss": 1.0 / step})
        yield Preview(np.full((4, 4, 3), step, np.uint8))


def test_a_chart_point_sent_just_before_a_picture_still_arrives(qtbot, window):
    import time

    task = Task("testkit.chart", "Chart then picture", _ChartThenPicture, _chart_then_picture)
    seen = []
    window.jobs.job_preview.connect(lambda job, prev: seen.append(prev.data))
    job = window.jobs.submit(task, task.make_params({"steps": 3}))
    while not job.state.finished:  # the GUI thread takes no event until the task has ended
        time.sleep(0.01)
    qtbot.waitUntil(lambda: job.reported)
    charts = [d for d in seen if isinstance(d, dict)]
    pictures = [d for d in seen if not isinstance(d, dict)]
    assert charts[-1]["step"] == 3 and pictures[-1][0, 0, 0] == 3


def test_again_says_when_an_input_file_changed_since_the_original(qtbot, window, tmp_path):
    from types import SimpleNamespace

    notes = tmp_path / "notes.txt"
    notes.write_text("changed since")
    recipe = {"task": "testkit.echo", "params": {"text": "hi"}, "seed": 1,
              "inputs": {"notes": {"path": str(notes), "sha256": "0" * 64}}}
    job = wait_done(qtbot, window.again(SimpleNamespace(recipe=recipe)))
    assert job.state is JobState.DONE  # it runs all the same
    warnings = [m for lvl, m in window.notifications.history if lvl == "warning"]
    assert any(f"--notes: the input {notes} has changed" in m for m in warnings)
