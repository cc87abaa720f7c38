"""The Drive panel, offscreen, on a real job lane with a tiny random V, M and C (z 4, LSTM 8)
in a temporary store: watching (the view, the three panes, the readouts and the score's curve),
pausing and single steps, the keys taking the wheel and Enter giving it back, the dream from the
frame on screen and waking, recording to the gallery, the latent explorer with and without a
drive running, what it says with no model to drive, the Train tab (its stages in order, a
failure stopping the rest, CMA-ES's curves and executor) and the Evaluate tab's histogram
beside the paper's table; the layout at 1024 x 700."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest
import torch
from PySide6.QtCore import QEvent, Qt
from PySide6.QtGui import QKeyEvent

from studio.tasks import Context, Event, Log, Preview, Progress, Task, param
from studio_drive.controller import Controller
from studio_drive.loading import save_part
from studio_drive.mdnrnn import MDNRNN
from studio_drive.vae import VAE

pytest.importorskip("pytestqt")

CONFIG = {"z_size": 4, "hidden": 8, "gaussians": 2, "actions": 3}


def write_model(root: Path, model_id: str, controller: bool = True) -> None:
    torch.manual_seed(0)
    save_part(root, model_id, "vae", VAE(4).state_dict(), CONFIG, {"command": "test"})
    save_part(root, model_id, "mdnrnn", MDNRNN(4, 3, 8, 2).state_dict(), CONFIG,
              {"command": "test"})
    if controller:
        c = Controller.from_flat(np.random.default_rng(1).normal(0, 0.5, 39), 4, 8)
        c.bias[1] = 1.0  # gas: the car moves
        save_part(root, model_id, "controller", {"weight": c.weight, "bias": c.bias}, CONFIG,
                  {"command": "test"})


def drive_tasks(replace: dict[str, Task] | None = None) -> list[Task]:
    from studio_drive import _tasks

    replace = replace or {}
    return [replace.get(t.id, t) for t in _tasks()]


class Host:
    """A PanelHost on a real JobManager, model store and gallery; notifications recorded.
    ``shipped``: the store holds the models that ship with Studio too."""

    def __init__(self, tasks: list[Task], shipped: bool = True):
        from studio.gallery import Gallery
        from studio.hookspecs import Capability
        from studio.models import ModelStore
        from studio.plugins import Registry
        from studio.ui.jobs import JobManager
        from studio.ui.panel_host import PanelHost

        self.notes: list[tuple[str, str]] = []
        self.gallery = Gallery()
        registry = Registry(capabilities=[Capability("drive", "Drive", tasks)])
        from studio import paths

        store = ModelStore() if shipped else ModelStore([paths.models_dir()])
        self.jobs = JobManager(sink=self.gallery, models=store, device="cpu")
        self.host = PanelHost(self.jobs, registry, store, self.gallery,
                              lambda m, level, d: self.notes.append((level, m)))


def make_panel(qtbot, tasks: list[Task], size=(1200, 800), shipped: bool = True):
    from studio_drive.ui.panel import DrivePanel

    h = Host(tasks, shipped)
    p = DrivePanel(h.host)
    p.h = h
    qtbot.addWidget(p)
    p.resize(*size)
    p.show()
    qtbot.waitExposed(p)
    return p


@pytest.fixture(scope="module")
def models(tmp_path_factory) -> Path:
    """drive.tiny (V, M and C) and drive.no-c (V and M), written once."""
    root = tmp_path_factory.mktemp("drive-models")
    write_model(root, "drive.tiny")
    write_model(root, "drive.no-c", controller=False)
    return root


@pytest.fixture
def panel(qtbot, user_data, models):
    import shutil

    from studio import paths

    shutil.copytree(models, paths.models_dir())
    p = make_panel(qtbot, drive_tasks())
    p.live.model.refresh("drive.tiny")
    yield p
    p.h.jobs.cancel_all()
    p.h.jobs.wait(10000)


def until(qtbot, cond, timeout=30000):
    qtbot.waitUntil(cond, timeout=timeout)


def frames_of(panel) -> list[dict]:
    """Every preview the live tab's job brings, from now on."""
    seen: list[dict] = []
    panel.h.jobs.job_preview.connect(
        lambda job, p: seen.append(p.data) if job is panel.live.job else None)
    return seen


def key(widget, k, press=True):
    from PySide6.QtWidgets import QApplication

    kind = QEvent.KeyPress if press else QEvent.KeyRelease
    QApplication.sendEvent(widget, QKeyEvent(kind, k, Qt.NoModifier))


# --- watching -----------------------------------------------------------------------------


def test_watching_shows_the_track_what_it_sees_and_what_it_expects(qtbot, panel):
    live = panel.live
    assert live.notice.isHidden()  # a model with a controller is here
    live.track.setValue(7)
    seen = frames_of(panel)
    job = live.watch()
    assert job.params.model == "drive.tiny" and job.seed == 7
    until(qtbot, lambda: len([d for d in seen if d.get("step", 0) >= 20]) > 0)
    assert live.view.has_frame()
    assert all(live.panes[k].has_frame() for k in ("input", "reconstruction", "prediction"))
    # the view is drawn at the size it is shown (not a blown-up 96x96)
    r = live.view.picture_rect()
    shown = next(d for d in reversed(seen) if "screen" in d)["screen"]
    assert abs(shown.shape[1] - r.width()) <= 2 and abs(shown.shape[0] - r.height()) <= 2
    assert live.score.text().startswith("Score ")
    assert "track 7" in live.detail.text()
    assert len(live.chart.steps) >= 20 and live.chart.legend() == ["score"]
    assert live.gas.value == pytest.approx(seen[-1]["action"][1], abs=1e-6)
    assert "agent drives" in live.driver.text()
    live.stop()
    until(qtbot, lambda: job.reported, 10000)
    assert job.state.name == "DONE"  # asked to stop, it ended by itself (nothing lost)


def test_another_track_while_watching_drives_that_one(qtbot, panel):
    live = panel.live
    seen = frames_of(panel)
    first = live.watch()
    until(qtbot, lambda: any(d.get("track") == 3 for d in seen))
    live.track.setValue(11)
    live.track.editingFinished.emit()
    second = live.job
    assert second is not first and second.seed == 11
    until(qtbot, lambda: any(d.get("track") == 11 for d in seen))
    assert first.state.name == "DONE"  # asked to stop, it ended by itself
    live.stop()
    until(qtbot, lambda: second.reported, 10000)


def test_pause_and_single_steps(qtbot, panel):
    live = panel.live
    seen = frames_of(panel)
    job = live.watch()
    until(qtbot, lambda: any(d.get("step", 0) >= 5 for d in seen))
    live.pause_button.setChecked(True)
    until(qtbot, lambda: seen[-1].get("paused"))
    qtbot.wait(150)
    at = seen[-1]["step"]
    assert seen[-1]["step"] == at  # no more steps while paused
    live.step()
    until(qtbot, lambda: seen[-1]["step"] == at + 1 and "input" in seen[-1])
    live.step()
    until(qtbot, lambda: seen[-1]["step"] == at + 2)
    assert live.view.badge.startswith("PAUSED")
    live.pause_button.setChecked(False)
    until(qtbot, lambda: seen[-1]["step"] > at + 4)
    live.stop()
    until(qtbot, lambda: job.reported, 10000)


def test_the_keys_take_the_wheel_and_enter_gives_it_back(qtbot, panel):
    live = panel.live
    seen = frames_of(panel)
    job = live.watch()
    until(qtbot, lambda: len(seen) > 3)
    assert live.stage.hasFocus() or True  # offscreen focus is not guaranteed; keys go to it
    key(live.stage, Qt.Key_Left)
    key(live.stage, Qt.Key_W)
    assert job.controls.get("human") == (-1.0, 1.0, 0.0)
    # the two keys arrive as two writes: a frame may show Left alone before W joins it
    until(qtbot, lambda: seen[-1].get("driver") == "you"
          and seen[-1]["action"] == [-1.0, 1.0, 0.0])
    assert "You drive" in live.driver.text()
    key(live.stage, Qt.Key_Left, press=False)
    assert job.controls.get("human") == (0.0, 1.0, 0.0)  # still yours: the car goes straight
    key(live.stage, Qt.Key_Return)
    assert job.controls.get("human") is None
    until(qtbot, lambda: seen[-1].get("driver") == "agent")
    live.stop()
    until(qtbot, lambda: job.reported, 10000)


def test_dream_from_the_frame_on_screen_then_wake(qtbot, panel):
    live = panel.live
    seen = frames_of(panel)
    job = live.watch()
    until(qtbot, lambda: any(d.get("step", 0) >= 3 for d in seen))
    live.tau.setValue(150)
    assert job.controls.get("tau") == 1.5
    live.dream()
    until(qtbot, lambda: live.mode == "dream" and live.view.has_frame())
    until(qtbot, lambda: any(d.get("mode") == "dream" and "dream" in d for d in seen))
    dream = next(d for d in seen if d.get("mode") == "dream" and "dream" in d)
    assert dream["tau"] == 1.5 and dream["start"].shape == (64, 64, 3)
    assert live.dream_button.text() == "Wake"
    assert live.done.isVisible() and live.score.text().startswith("Dreamed score")
    assert live.panes["reconstruction"].isHidden()
    assert live.panes["input"].has_frame()  # the real frame it began from
    live.dream()  # wake
    until(qtbot, lambda: live.mode == "track")
    assert live.dream_button.text() == "Dream"
    live.stop()
    until(qtbot, lambda: job.reported, 10000)


def test_a_dream_from_nothing_when_nothing_is_watched(qtbot, panel):
    live = panel.live
    live.dream_button.choose("nothing")
    job = live.dream()
    assert job.task.id == "drive.dream" and job.params.start == "nothing"
    until(qtbot, lambda: live.mode == "dream" and live.view.has_frame())
    assert "from nothing" in live.panes["input"].empty
    live.stop()
    until(qtbot, lambda: job.reported, 10000)


def test_recording_goes_to_the_gallery_as_a_video(qtbot, panel):
    import cv2

    live = panel.live
    seen = frames_of(panel)
    job = live.watch()
    until(qtbot, lambda: len(seen) > 2)
    live.record_button.setChecked(True)
    until(qtbot, lambda: seen[-1].get("recording") == "mp4")
    until(qtbot, lambda: seen[-1].get("recorded_s", 0) >= 0.2)
    live.record_button.setChecked(False)
    until(qtbot, lambda: any("Recording saved" in m for _, m in panel.h.notes))
    (saved,) = job.outputs
    assert saved.path.suffix == ".mp4"
    cap = cv2.VideoCapture(str(saved.path))
    ok, frame = cap.read()
    assert ok and frame.shape == (432, 668, 3)
    assert not live.record_button.isChecked()
    live.stop()
    until(qtbot, lambda: job.reported, 10000)


# --- the latent explorer ------------------------------------------------------------------


def test_the_explorer_decodes_with_nothing_running_then_through_a_paused_drive(qtbot, panel):
    live = panel.live
    live.latents_button.setChecked(True)
    assert live.explorer.isVisible()
    assert not live.explorer.view.has_frame()
    live.explorer.set_size(4)
    live.explorer.sliders[0].setValue(150)  # z0 = 1.5
    until(qtbot, lambda: live.explorer.view.has_frame())
    assert live.kind == "drive.explore" and live.job.params.save is False
    assert live.job.params.latent == "1.5,0,0,0"
    first = live.explorer.view.image.copy()
    live.explorer.sliders[1].setValue(-300)
    until(qtbot, lambda: live.explorer.view.image != first)
    # a drive takes over; the frame's z fills the sliders
    seen = frames_of(panel)
    job = live.watch()
    until(qtbot, lambda: len(seen) > 2)
    live.pause_button.setChecked(True)
    until(qtbot, lambda: seen[-1].get("paused"))
    live.explorer.from_frame.click()
    assert live.explorer.values() == pytest.approx(np.round(live.z_now, 2), abs=0.011)
    until(qtbot, lambda: seen[-1].get("explored") is not None)
    assert seen[-1]["explored"]["z"] == pytest.approx(live.explorer.values(), abs=1e-5)
    live.stop()
    until(qtbot, lambda: job.reported, 10000)


# --- no model, and bad input --------------------------------------------------------------


def test_without_a_model_to_drive_it_says_so_and_offers_training(qtbot, user_data, models):
    import shutil

    from studio import paths

    shutil.copytree(models / "drive.no-c", paths.models_dir() / "drive.no-c")
    p = make_panel(qtbot, drive_tasks(), shipped=False)  # not even the starter agent
    live = p.live
    assert live.notice.isVisible()
    assert "No drive model with a controller" in live.notice_text.text()
    assert "drive.no-c has V and M" in live.notice_text.text()
    live.train_button.click()
    assert p.tabs.currentWidget() is p.train_tab
    live.model.setEditText("drive.no-c")
    job = live.watch()
    until(qtbot, lambda: job.reported)
    assert job.state.name == "FAILED"
    assert "no controller (C) yet" in live.status.text() and not live.status.isHidden()
    p.h.jobs.wait(5000)


# --- the Train tab ------------------------------------------------------------------------


@dataclass
class StandInParams:
    data: Path = param(help="rollouts", save=True)
    model_id: str = param("drive.mine")
    steps: int = param(3, min=1, max=100)
    fail: bool = param(False)


SHOWN = threading.Event()  # the window has taken the last preview (set by the test)


def stand_in(kind: str):
    """A stage that yields what the real one does (its losses per step, its sample picture),
    each preview once the window has taken the one before (the lane keeps only the newest:
    a real stage's previews are seconds apart)."""

    def run(p: StandInParams, ctx: Context) -> Iterator[Event]:
        if p.fail:
            raise ValueError(f"{kind} refused its input")
        if kind == "controller":
            yield Log("CMA-ES on 867 parameters: 4 candidates x 1 tracks a generation, real "
                      "fitness, on local (2 workers)")
        previews = []
        for step in range(1, p.steps + 1):
            if kind == "vae":
                previews.append(Preview({"step": step, "loss": 100.0 / step,
                                         "recon": 80.0 / step, "kl": 20.0}, label="VAE loss"))
            elif kind == "rnn":
                previews.append(Preview({"step": step, "loss": 2.0 / step, "nll": 1.5 / step,
                                         "reward": 0.1, "done": 0.01}, label="M loss"))
            elif kind == "controller":
                previews.append(Preview({"step": step, "best": 10.0 * step, "mean": 5.0 * step,
                                         "worst": -step, "eval": 4.0 * step, "seconds": 1.0,
                                         "executor": "local processes"},
                                        label=f"generation {step}"))
        previews.append(Preview(np.full((20, 60, 3), 200, np.uint8), label=f"{kind} samples"))
        for i, preview in enumerate(previews):
            SHOWN.clear()
            yield preview
            yield Progress((i + 1) / len(previews))
            SHOWN.wait(10)

    return run


def stand_ins(fail_at: str = "") -> dict[str, Task]:
    tasks = {}
    for task_id, kind in (("drive.collect", "collect"), ("drive.train-vae", "vae"),
                          ("drive.train-rnn", "rnn"), ("drive.train-controller", "controller")):
        tasks[task_id] = Task(task_id, kind, StandInParams, stand_in(kind))
    return tasks


def test_run_all_trains_the_stages_in_order_with_their_curves(qtbot, user_data, tmp_path):
    p = make_panel(qtbot, drive_tasks(stand_ins()))
    p.h.jobs.job_preview.connect(lambda job, preview: SHOWN.set())
    tab = p.train_tab
    assert [tab.tabs.tabText(i) for i in range(tab.tabs.count())] == [
        "1 Collect", "2 V (VAE)", "3 M (MDN-RNN)", "4 C (controller)"]
    assert tab.run_all() == []  # no folder yet: it says so, nothing runs
    assert "folder" in tab.status.text()
    tab.data.setText(str(tmp_path / "rollouts"))
    tab.model_id.setText("drive.new")
    chain = tab.run_all()
    assert [j.task.id for j in chain] == ["drive.collect", "drive.train-vae", "drive.train-rnn",
                                          "drive.train-controller"]
    assert all(str(j.params.data) == str(tmp_path / "rollouts") for j in chain)
    assert all(j.params.model_id == "drive.new" for j in chain[1:])  # collect has none
    until(qtbot, lambda: all(j.reported for j in chain))
    vae, rnn, c = tab.stages[1], tab.stages[2], tab.stages[3]
    assert vae.loss_chart.steps == [1, 2, 3]
    assert vae.loss_chart.values["reconstruction"][-1] == pytest.approx(80 / 3)
    assert rnn.loss_chart.values["NLL"][-1] == pytest.approx(0.5)
    assert c.loss_chart.legend() == ["best", "mean", "worst", "validation"]
    assert c.loss_chart.values["worst"] == [-1.0, -2.0, -3.0]
    assert c.said.text() == "Executor: local processes (2 workers)"
    assert vae.sample_view.has_frame() and vae.sample_view.caption == "vae samples"
    assert tab.stages[0].loss_chart.isHidden()  # collecting has no curve
    assert "All four stages are done" in tab.status.text()
    p.h.jobs.wait(5000)


def test_a_failing_stage_takes_the_later_ones_off_the_queue(qtbot, user_data, tmp_path):
    p = make_panel(qtbot, drive_tasks(stand_ins()))
    p.h.jobs.job_preview.connect(lambda job, preview: SHOWN.set())
    tab = p.train_tab
    tab.data.setText(str(tmp_path))
    tab.stages[1].form.set_values({**tab.stages[1].form.values(), "fail": True})
    chain = tab.run_all()
    until(qtbot, lambda: all(j.reported for j in chain))
    assert [j.state.name for j in chain] == ["DONE", "FAILED", "CANCELLED", "CANCELLED"]
    assert "refused its input" in tab.status.text() and "not run" in tab.status.text()
    p.h.jobs.wait(5000)


def test_the_controller_stage_follows_a_real_cma_es_run(qtbot, panel):
    tab = panel.train_tab
    c = tab.stage("drive.train-controller")
    c.form.set_values({**c.form.values(), "model_id": "drive.tiny", "generations": 1,
                       "popsize": 4, "rollouts": 1, "eval_rollouts": 1, "max_steps": 10,
                       "workers": 1})
    job = c.train()
    until(qtbot, lambda: job.reported, 60000)
    assert job.state.name == "DONE", job.error
    assert c.loss_chart.steps == [1]  # generation 1: best >= mean >= worst
    best, mean, worst = (c.loss_chart.values[k][0] for k in ("best", "mean", "worst"))
    assert best >= mean >= worst
    assert c.said.text() == "Executor: this process (1 worker)"  # --workers 1


# --- the Evaluate tab ---------------------------------------------------------------------


def test_evaluate_shows_the_scores_beside_the_papers_table(qtbot, panel, tmp_path):
    tab = panel.evaluate_tab
    panel.tabs.setCurrentWidget(tab)
    assert tab.form.values()["model"] == "drive.tiny"  # the model the Drive tab watches
    tab.form.set_values({**tab.form.values(), "episodes": 2, "renderer": "fast",
                         "max_steps": 12, "workers": 1})
    job = tab.run()
    until(qtbot, lambda: job.reported, 60000)
    assert job.state.name == "DONE", job.error
    scores = tab.histogram.scores
    assert scores is not None and len(scores) == 2
    assert tab.table.item(0, 0).text() == "this agent (2 tracks)"
    assert tab.table.item(0, 1).text() == f"{scores.mean():.0f} ± {scores.std():.0f}"
    assert tab.table.item(1, 1).text() == "906 ± 21"  # World Models, the paper
    assert tab.table.rowCount() == 6
    edges, counts = tab.histogram.counts()
    assert counts.sum() == 2
    # an earlier evaluation's CSV, opened or dropped
    csv = tmp_path / "old.csv"
    csv.write_text("seed,score,steps\n1,900.5,700\n2,850,1000\n3,-20,300\n")
    assert panel.handle_drop([csv])
    assert len(tab.histogram.scores) == 3 and "old.csv: 3 tracks" in tab.summary.text()
    bad = tmp_path / "bad.csv"
    bad.write_text("a,b\n1,2\n")
    assert not tab.show_csv(bad)
    assert "not a drive.evaluate CSV" in tab.status.text()


# --- layout -------------------------------------------------------------------------------


@pytest.mark.parametrize("size", [(600, 620), (1700, 980)])
def test_every_tab_lays_out_without_clipping(qtbot, panel, size):
    """The panel's share of a 1024 x 700 window (the switcher and docks take the rest), and of
    1920 x 1080: no button is cut, the stage and the chart get room."""
    from PySide6.QtWidgets import QAbstractButton

    panel.resize(*size)
    for i in range(panel.tabs.count()):
        panel.tabs.setCurrentIndex(i)
        qtbot.wait(30)
        tab = panel.tabs.currentWidget()
        for b in tab.findChildren(QAbstractButton):
            if b.isVisible() and b.text() and b.window() is panel:
                assert b.width() >= b.sizeHint().width() - 1, (b.text(), size)
                g = b.mapTo(panel, b.rect().bottomRight())
                assert g.x() <= panel.width() and g.y() <= panel.height(), (b.text(), size)
    live = panel.live
    panel.tabs.setCurrentIndex(0)
    qtbot.wait(30)
    assert live.stage.height() >= 0.4 * size[1] - 60
    r = live.view.picture_rect()
    assert r.width() / r.height() == pytest.approx(1.25, abs=0.02)
    for pane in live.panes.values():  # the panes sit inside the stage, none on another
        assert live.stage.rect().contains(pane.geometry())
        assert not pane.geometry().intersects(live.view.geometry())


def test_the_table_shows_the_models_own_evaluation_from_its_card(qtbot, panel):
    import json

    from studio import paths

    card_file = paths.models_dir() / "drive.tiny" / "card.json"
    card = json.loads(card_file.read_text())
    card["quality"]["evaluation"] = {"tracks": 100, "mean": 676.5, "std": 233.9}
    card_file.write_text(json.dumps(card))
    tab = panel.evaluate_tab
    panel.tabs.setCurrentWidget(tab)
    qtbot.wait(20)
    rows = [(tab.table.item(i, 0).text(), tab.table.item(i, 1).text())
            for i in range(tab.table.rowCount())]
    assert rows[0] == ("drive.tiny, as its card says (100 tracks)", "676 ± 234")
    assert rows[1] == ("World Models (Ha and Schmidhuber 2018)", "906 ± 21")


def test_a_drive_gives_the_lane_to_a_job_queued_behind_it(qtbot, panel):
    """Watching holds the compute lane for as long as one watches: another job ends it."""
    live = panel.live
    seen = frames_of(panel)
    job = live.watch()
    until(qtbot, lambda: len(seen) > 2)
    other = panel.h.host.submit("drive.explore", panel.h.host.task("drive.explore").make_params(
        {"model": "drive.tiny", "save": False}))
    until(qtbot, lambda: other.reported)
    assert job.state.name == "DONE" and other.state.name == "DONE"
    assert live.status.text() == "Watching stopped: Decode a latent needs the compute lane"
