"""The Paint panel, offscreen: the before/after view (divider, zoom, pan), opening and dropping
photos and folders, translating with a tiny random CycleGAN in a temporary store, exporting PNG,
JPEG and WebP, the Style tab's evolving picture, the Train tab's curves and sample grid, and the
layout at 1024 x 700.

The paint tasks the panel drives are used where the plugin registers them; a task it does not
have yet is replaced by a small stand-in with the same parameters and events."""

from __future__ import annotations

import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parent.parent
try:
    import studio_paint  # noqa: F401
except ImportError:  # the plugins folder is not installed (yet): import it from the checkout
    sys.path.insert(0, str(ROOT / "plugins"))

from PIL import Image  # noqa: E402
from PySide6.QtCore import QPoint, QPointF, Qt  # noqa: E402
from PySide6.QtGui import QImage  # noqa: E402

from studio.tasks import Context, Event, Output, Preview, Progress, Task, param  # noqa: E402
from studio.ui.jobs import JobState  # noqa: E402

RED, BLUE = (220, 30, 30), (30, 60, 220)


# -- pictures --------------------------------------------------------------------------------------
def solid(w: int, h: int, rgb: tuple[int, int, int]) -> np.ndarray:
    return np.broadcast_to(np.array(rgb, np.uint8), (h, w, 3)).copy()


def photo(w: int = 48, h: int = 36, seed: int = 0) -> np.ndarray:
    """A smooth random picture (a gradient and a few blobs), not a flat colour."""
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[0:h, 0:w] / max(h, w)
    img = np.stack([x, y, 1 - x], -1) * 180 + rng.normal(0, 8, (h, w, 3)) + 30
    return np.clip(img, 0, 255).astype(np.uint8)


def save_picture(path: Path, array: np.ndarray) -> Path:
    Image.fromarray(array).save(path)
    return path


def pixel(image: QImage, x: int, y: int) -> tuple[int, int, int]:
    c = image.pixelColor(x, y)
    return c.red(), c.green(), c.blue()


def close(a: tuple[int, int, int], b: tuple[int, int, int], tol: int = 12) -> bool:
    return all(abs(i - j) <= tol for i, j in zip(a, b, strict=True))


# -- stand-ins for the paint tasks not registered yet ----------------------------------------------
@dataclass
class FakeTranslateParams:
    image: Path = param(help="a photo or a folder of photos")
    model: str = param("paint.monet", model="paint")
    direction: str = param("a2b", choices=("a2b", "b2a"))
    scale: float = param(1.0, min=0.1, max=4.0)
    strength: float = param(1.0, min=0.0, max=1.0)
    tiling: str = param("auto", choices=("auto", "whole", "tiles"))


def fake_translate(p: FakeTranslateParams, ctx: Context) -> Iterator[Event]:
    from studio_paint.ui.files import pictures_in, read_picture

    ctx.load_model(p.model)  # an unknown model fails as the real task does
    files = pictures_in(p.image) if p.image.is_dir() else [p.image]
    for i, f in enumerate(files):
        img = read_picture(f).astype(np.float32)
        painted = 255 - img  # "painted": the negative, blended by strength
        yield Preview(np.clip(img * 0.5 + painted * 0.5, 0, 255).astype(np.uint8))
        out = img * (1 - p.strength) + painted * p.strength
        yield Progress((i + 1) / len(files), f"{f.name}")
        yield Output(np.clip(out + 0.5, 0, 255).astype(np.uint8), name=f.stem)


@dataclass
class FakeStyleParams:
    content: Path = param(help="the photo")
    style: str = param("", help="paintings, separated by commas")
    style_weights: str = param("", help="a weight per painting")
    size: int = param(512, min=64, max=2048)
    steps: int = param(150, min=1, max=5000)
    scales: int = param(2, min=1, max=5)
    preview_every: int = param(5, min=1, max=1000, advanced=True)


def fake_style(p: FakeStyleParams, ctx: Context) -> Iterator[Event]:
    from studio_paint.ui.files import read_picture

    img = read_picture(p.content).astype(np.float32)
    target = np.mean([read_picture(Path(s)).reshape(-1, 3).mean(0) for s in p.style.split(",")],
                     axis=0)
    for step in range(1, p.steps + 1):
        img = img * 0.8 + target * 0.2
        yield Preview({"step": step, "loss": 100.0 / step,
                       "image": np.clip(img, 0, 255).astype(np.uint8)}, label=f"step {step}")
        yield Progress(step / p.steps)
        time.sleep(0.03)
    yield Output(np.clip(img, 0, 255).astype(np.uint8), name=p.content.stem)


FAKES = {
    "paint.translate": Task("paint.translate", "Translate", FakeTranslateParams, fake_translate),
    "paint.style": Task("paint.style", "Style", FakeStyleParams, fake_style),
}


def paint_registry():
    """A registry with the paint capability: its own tasks, and stand-ins for those it lacks."""
    import studio_paint
    from studio.hookspecs import Capability
    from studio.plugins import Registry

    real = {t.id: t for cap in studio_paint.studio_capabilities() for t in cap.tasks}
    tasks = list(real.values()) + [fake for tid, fake in FAKES.items() if tid not in real]
    for t in tasks:
        t.capability, t.plugin = "paint", t.plugin or "studio_paint"
    return Registry(capabilities=[Capability("paint", "Paint", tasks)])


# -- fixtures --------------------------------------------------------------------------------------
@pytest.fixture(scope="session")
def tiny_model(tmp_path_factory) -> Path:
    """A CycleGAN with random weights (ngf 4, one block, both directions), in a model folder."""
    import torch

    from studio_paint.cyclegan import Generator, init_weights
    from studio_paint.train import write_model_folder

    folder = tmp_path_factory.mktemp("models") / "paint.tiny"
    nets = []
    for seed in (1, 2):
        g = Generator(4, 1)
        init_weights(g, torch.Generator().manual_seed(seed))
        nets.append(g)
    write_model_folder(folder, *nets, {"ngf": 4, "n_blocks": 1,
                                       "domains": {"a": "Monet", "b": "photo"},
                                       "default_direction": "b2a", "train_size": 32},
                       title="Tiny painter", licence="CC0-1.0", training_data="none",
                       command="tests", quality={})
    return folder


class Host:
    """A PanelHost on a real JobManager, model store and gallery; notifications recorded."""

    def __init__(self, registry, gallery, models):
        from studio.ui.jobs import JobManager
        from studio.ui.panel_host import PanelHost

        self.notes: list[tuple[str, str]] = []
        self.jobs = JobManager(sink=gallery, models=models, device="cpu")
        self.host = PanelHost(self.jobs, registry, models, gallery,
                              lambda m, level, d: self.notes.append((level, m)))


@pytest.fixture
def panel(qtbot, user_data, tiny_model):
    import shutil

    from studio import paths
    from studio.gallery import Gallery
    from studio.models import ModelStore
    from studio_paint.ui.panel import PaintPanel

    shutil.copytree(tiny_model, paths.models_dir() / "paint.tiny")
    h = Host(paint_registry(), Gallery(), ModelStore())
    p = PaintPanel(h.host)
    p.notes = h.notes
    qtbot.addWidget(p)
    p.resize(1100, 700)
    p.show()
    yield p
    h.jobs.cancel_all()
    h.jobs.wait(10000)


def finish(qtbot, job, timeout=60000):
    qtbot.waitUntil(lambda: job.reported, timeout=timeout)
    return job


# -- the before/after view -------------------------------------------------------------------------
@pytest.fixture
def view(qtbot):
    from studio_paint.ui.compare import CompareView

    v = CompareView()
    qtbot.addWidget(v)
    v.resize(400, 200)
    v.show()
    qtbot.waitExposed(v)
    v.set_before(solid(200, 100, RED))
    v.set_after(solid(200, 100, BLUE))
    return v


def test_the_view_shows_the_photo_left_of_the_divider_and_the_result_right(qtbot, view):
    assert view.fitted and view.zoom == pytest.approx(2.0)  # 200x100 fills 400x200
    img = view.grab().toImage()
    assert close(pixel(img, 100, 150), RED) and close(pixel(img, 300, 150), BLUE)
    # drag the divider from the middle to three quarters: more of the photo shows
    y = 150
    qtbot.mousePress(view, Qt.LeftButton, pos=QPoint(200, y))
    qtbot.mouseMove(view, QPoint(300, y))
    qtbot.mouseRelease(view, Qt.LeftButton, pos=QPoint(300, y))
    assert view.split == pytest.approx(0.75, abs=0.01)
    img = view.grab().toImage()
    assert close(pixel(img, 280, y), RED) and close(pixel(img, 330, y), BLUE)
    view.setFocus()
    qtbot.keyClick(view, Qt.Key_Left)  # the arrows move it too
    assert view.split == pytest.approx(0.70, abs=0.01)


def test_zoom_about_the_cursor_pan_fit_and_actual_size(qtbot, view):
    from PySide6.QtGui import QWheelEvent

    # mark one picture pixel to follow: (150, 50) of the "before" becomes green
    before = solid(200, 100, RED)
    before[48:53, 148:153] = (0, 200, 0)
    view.set_before(before)
    view.set_split(1.0)  # all "before"
    at = QPointF(300, 100)  # the view point over picture pixel (150, 50) when fitted
    wheel = QWheelEvent(at, view.mapToGlobal(at), QPoint(0, 0), QPoint(0, 240), Qt.NoButton,
                        Qt.NoModifier, Qt.NoScrollPhase, False)
    view.wheelEvent(wheel)  # two notches in
    assert not view.fitted and view.zoom == pytest.approx(2.0 * 1.25 ** 2)
    assert close(pixel(view.grab().toImage(), 300, 100), (0, 200, 0), 40)  # still under it
    origin = QPointF(view.origin)  # a copy: += on a QPointF works in place
    qtbot.mousePress(view, Qt.LeftButton, pos=QPoint(100, 100))  # far from the divider: pan
    qtbot.mouseMove(view, QPoint(140, 110))
    qtbot.mouseRelease(view, Qt.LeftButton, pos=QPoint(140, 110))
    assert view.origin.x() == pytest.approx(origin.x() + 40)
    assert view.origin.y() == pytest.approx(origin.y() + 10)
    view.setFocus()
    qtbot.keyClick(view, Qt.Key_1)
    assert view.zoom == 1.0
    qtbot.keyClick(view, Qt.Key_Plus)
    assert view.zoom == pytest.approx(1.25)
    qtbot.keyClick(view, Qt.Key_Minus)
    qtbot.keyClick(view, Qt.Key_Minus)
    assert view.zoom == pytest.approx(0.8)
    qtbot.keyClick(view, Qt.Key_0)
    assert view.fitted and view.zoom == pytest.approx(2.0)
    # below 100 % a smooth copy is made once the zoom settles, and drawn from then on
    view.set_before(solid(800, 400, RED))
    view.set_after(solid(800, 400, BLUE))
    assert view.zoom == pytest.approx(0.5)
    qtbot.waitUntil(lambda: "before" in view._smooth and "after" in view._smooth, timeout=2000)
    assert view._smooth["before"][1].width() == 400


def test_a_preview_of_another_size_is_drawn_over_the_photo(qtbot, view):
    view.set_after(solid(50, 25, BLUE))  # computed at a quarter of the size
    assert view.image_size().width() == 200  # the photo sets the size
    img = view.grab().toImage()
    assert close(pixel(img, 390, 190), BLUE) and close(pixel(img, 10, 190), RED)


def test_a_strided_array_shows_as_it_reads(qtbot):
    from studio_paint.ui.compare import pixmap_from_array

    a = np.zeros((10, 20, 3), np.uint8)
    a[:, ::2] = RED
    a[:, 1::2] = BLUE
    pix = pixmap_from_array(a[:, ::2])  # a view with a stride of two pixels: every red column
    assert (pix.width(), pix.height()) == (10, 10)
    img = pix.toImage()
    assert all(pixel(img, x, 3) == RED for x in range(10))
    grey = pixmap_from_array(np.full((4, 5), 77, np.uint8)).toImage()
    assert pixel(grey, 2, 2) == (77, 77, 77)
    with pytest.raises(ValueError):
        pixmap_from_array(np.zeros((4, 4, 3), np.float32))


def test_a_long_run_says_how_long_it_has_taken_and_about_how_long_is_left():
    from types import SimpleNamespace

    from studio_paint.ui.common import running_text

    job = SimpleNamespace(message="step 30/150", state=JobState.RUNNING, started=100.0,
                          progress=0.2)
    assert running_text(job, now=101.0) == "step 30/150"  # too soon to say
    assert running_text(job, now=130.0) == "step 30/150 · 0:30 so far, about 2:00 left"
    job.progress = 0.05  # too little done to judge
    assert running_text(job, now=4000.0) == "step 30/150 · 1:05:00 so far"


# -- translating -----------------------------------------------------------------------------------
def test_dropping_a_photo_loads_it_and_a_folder_makes_a_batch(qtbot, panel, tmp_path):
    tab = panel.translate_tab
    f = save_picture(tmp_path / "harbour.png", photo(48, 36))
    assert panel.handle_drop([f])
    assert tab.photo.shape == (36, 48, 3) and tab.source == f
    assert tab.view.image_size().width() == 48 and tab.view.after is None
    assert "harbour.png" in tab.source_label.text() and "48 × 36" in tab.source_label.text()
    assert tab.run_box.run_button.isEnabled() and not tab.export_button.isEnabled()

    folder = tmp_path / "trip"
    folder.mkdir()
    for i in range(3):
        save_picture(folder / f"p{i}.jpg", photo(40, 32, i))
    (folder / "notes.txt").write_text("not a picture")
    assert panel.handle_drop([folder])
    assert tab.batch == sorted(folder.glob("*.jpg")) and "3 pictures" in tab.source_label.text()
    assert tab.photo.shape == (32, 40, 3)  # the first one, shown before it runs

    bad = tmp_path / "broken.png"
    bad.write_bytes(b"\x89PNG\r\n\x1a\n not really")
    assert not panel.handle_drop([bad])  # refused with a notification; the batch stays
    assert panel.notes and panel.notes[-1][0] == "error" and "broken.png" in panel.notes[-1][1]
    assert tab.batch and tab.source == folder


def test_the_model_list_shows_the_tiny_model_with_its_directions(qtbot, panel):
    tab = panel.translate_tab
    assert tab.models.select("paint.tiny")
    item = tab.models.currentItem()
    assert "Tiny painter" in item.text() and "photo → Monet" in item.text()
    assert not item.icon().isNull()
    texts = [tab.direction.itemText(i) for i in range(tab.direction.count())]
    assert texts == ["photo → Monet", "Monet → photo"]  # both generators, the default first
    assert tab.direction.currentData() == "b2a"

    # a sample picture in the model's folder is its thumbnail
    from studio import paths

    save_picture(paths.models_dir() / "paint.tiny" / "sample.jpg", solid(120, 80, BLUE))
    tab.refresh_models()
    icon = tab.models.currentItem().icon().pixmap(56, 56).toImage()
    assert tab.models.model_id() == "paint.tiny"
    assert close(pixel(icon, 28, 28), BLUE)


def test_a_model_not_downloaded_yet_is_offered_for_download(qtbot, panel, tiny_model, tmp_path):
    import json

    from studio import paths

    tab = panel.translate_tab
    if tab.download_button is None or not hasattr(tab, "download"):
        pytest.skip("no download in this panel")
    card = json.loads((tiny_model / "card.json").read_text())
    card["id"], card["title"] = "paint.remote", "Remote painter"
    for f in card["files"]:  # a catalogue entry: its file elsewhere (here a file:// address)
        f["url"] = (tiny_model / f["name"]).as_uri()
    folder = paths.models_dir() / "paint.remote"
    folder.mkdir()
    (folder / "card.json").write_text(json.dumps(card))
    tab.refresh_models()
    assert tab.models.select("paint.remote")
    assert "to download" in tab.models.currentItem().text()
    assert tab.download_button.isVisibleTo(tab)
    tab.open_photo(save_picture(tmp_path / "p.png", photo()))
    assert tab.run() is None and "Download it first" in tab.run_box.status.text()
    job = finish(qtbot, tab.download())
    assert job.state is JobState.DONE, job.error
    assert job.task.id == "models.download" and job.params.model_id == "paint.remote"
    assert tab.models.model_id() == "paint.remote" and tab.installed()
    assert "to download" not in tab.models.currentItem().text()
    assert not tab.download_button.isVisibleTo(tab)
    assert finish(qtbot, tab.run()).state is JobState.DONE


def test_translate_submits_the_settings_and_shows_the_result(qtbot, panel, tmp_path):
    tab = panel.translate_tab
    src = save_picture(tmp_path / "street.png", photo(52, 40))
    tab.open_photo(src)
    tab.models.select("paint.tiny")
    tab.strength.set_value(0.5)
    seen = []
    tab.host.jobs.job_preview.connect(lambda job, pv: seen.append(tab.view.after is not None))
    job = panel.run_default()  # Ctrl+Enter on the Translate tab
    assert job.task.id == "paint.translate"
    assert job.params.image == src and job.params.model == "paint.tiny"
    assert job.params.strength == pytest.approx(0.5) and job.params.direction == "b2a"
    assert not tab.run_box.run_button.isEnabled() and tab.run_box.stop_button.isEnabled()
    finish(qtbot, job)
    assert job.state is JobState.DONE, job.error
    assert all(seen)  # each preview was on screen
    result = tab.current_result()
    assert result.image.shape == (40, 52, 3)  # the photo's own size
    assert result.saved is not None and result.saved.is_file()  # in the gallery
    assert tab.view.after is not None and tab.view.after.width() == 52
    assert tab.export_button.isEnabled() and tab.run_box.run_button.isEnabled()
    assert "gallery" in tab.run_box.status.text()


def test_export_writes_png_jpeg_and_webp_that_read_back(qtbot, panel, tmp_path):
    tab = panel.translate_tab
    tab.open_photo(save_picture(tmp_path / "field.png", photo(64, 48)))
    tab.models.select("paint.tiny")
    tab.strength.set_value(0.3)  # a random model paints noise: mostly the photo, to compare
    finish(qtbot, tab.run())
    result = tab.current_result().image
    png = tab.export(tmp_path / "out" / "field-painted.png")
    assert np.array_equal(np.asarray(Image.open(png).convert("RGB")), result)  # lossless
    for name, fmt in (("a.jpg", "JPEG"), ("b.jpeg", "JPEG"), ("c.webp", "WEBP")):
        path = tab.export(tmp_path / "out" / name)
        with Image.open(path) as im:
            assert im.format == fmt and im.size == (64, 48)
            diff = np.abs(np.asarray(im.convert("RGB"), np.int16) - result.astype(np.int16))
        # the picture, lossy: closer to it than the picture is to itself one pixel over
        shifted = np.abs(result[:, 1:].astype(np.int16) - result[:, :-1].astype(np.int16))
        assert diff.mean() < shifted.mean()
    assert tab.export(tmp_path / "out" / "plain").suffix == ".png"  # no suffix: PNG
    assert not (tmp_path / "out" / "plain").exists()
    assert tab.export(tmp_path / "out" / "x.tga").name == "x.tga.png"  # a PNG, said so
    blocked = tmp_path / "field.png" / "x.jpg"  # its folder is a file
    assert tab.export(blocked) is None  # refused with a notification, nothing raised
    assert panel.notes[-1][0] == "error" and "x.jpg" in panel.notes[-1][1]


def test_a_folder_translates_as_one_job_and_the_arrows_step_through_it(qtbot, panel, tmp_path):
    tab = panel.translate_tab
    folder = tmp_path / "batch"
    folder.mkdir()
    sizes = [(40, 32), (36, 44), (48, 28)]
    for i, (w, h) in enumerate(sizes):
        save_picture(folder / f"img{i}.png", photo(w, h, i))
    tab.open_folder(folder)
    tab.models.select("paint.tiny")
    job = finish(qtbot, tab.run())
    assert job.state is JobState.DONE, job.error and job.params.image == folder
    assert len(tab.results) == 3 and [r.source.name for r in tab.results] == [
        "img0.png", "img1.png", "img2.png"]
    assert tab.shown == 2 and tab.photo.shape == (28, 48, 3)  # the last one, beside its photo
    assert tab.next_button.isVisible() and not tab.next_button.isEnabled()
    tab.prev_button.click()
    assert tab.shown == 1 and tab.photo.shape == (44, 36, 3)
    assert tab.view.after.width() == 36 and "2 of 3" in tab.batch_label.text()
    assert sum(r.image is not None for r in tab.results) == 1  # only the one on screen in memory


def test_an_unknown_model_is_a_message_not_a_crash(qtbot, panel, tmp_path):
    tab = panel.translate_tab
    tab.open_photo(save_picture(tmp_path / "p.png", photo()))
    tab.models.clearSelection()
    tab.models.setCurrentItem(None)
    values = tab.values()
    values["model"] = "paint.nope"
    job = tab.host.submit(tab.task, tab.task.make_params(values))
    tab.job = job
    finish(qtbot, job)
    assert job.state is JobState.FAILED
    assert tab.run_box.status.text().startswith("Failed") and "paint.nope" in job.error


# -- style -----------------------------------------------------------------------------------------
def test_the_style_tab_paints_step_by_step_and_stop_keeps_the_picture(qtbot, panel, tmp_path):
    tab = panel.style_tab
    panel.tabs.setCurrentWidget(tab)
    content = save_picture(tmp_path / "bridge.png", photo(80, 64))
    waves = save_picture(tmp_path / "waves.png", solid(32, 32, BLUE))
    lilies = save_picture(tmp_path / "lilies.png", solid(32, 32, (40, 160, 60)))
    assert panel.handle_drop([content, waves])  # the photo, then a painting for the strip
    assert tab.photo_path == content and [s.path for s in tab.strip.chosen()] == [waves]
    assert tab.add_painting(lilies)
    assert [s.path for s in tab.strip.chosen()] == [waves, lilies]
    tab.weights.spins[str(lilies)].setValue(2.5)
    quick = {"size": 64, "steps": 40, "scales": 1, "preview_every": 1}
    tab.form.set_values({**tab.form.values(), **quick})
    job = panel.run_default()
    names = {s.name for s in job.task.schema()}
    if "style_weights" in names:
        assert job.params.style_weights == "1,2.5"
    assert str(waves) in str(job.params.style)
    qtbot.waitUntil(lambda: len(tab.chart.steps) >= 2 and tab.view.after is not None
                    or job.state.finished, timeout=60000)
    assert job.state is not JobState.FAILED, job.error
    assert tab.view.after is not None and tab.result is not None
    tab.stop()
    finish(qtbot, job)
    if job.state is JobState.CANCELLED:
        assert "kept" in tab.run_box.status.text()
    kept = tab.result.copy()
    out = tab.export(tmp_path / "styled.webp")
    with Image.open(out) as im:
        assert im.format == "WEBP" and im.size == (80, 64)  # the photo's size
    assert np.array_equal(tab.result, kept)

    # the paintings and the choice are remembered
    values = panel.current_values()
    tab.strip.remove(lilies)
    assert tab.strip.find(lilies) is None
    tab.restore_values(values["style"])
    assert [s.path for s in tab.strip.chosen()] == [waves, lilies]
    assert tab.weights.weight(lilies) == pytest.approx(2.5)


def test_the_style_tab_names_its_network_with_the_download_a_click_away(qtbot, panel):
    tab = panel.style_tab
    panel.tabs.setCurrentWidget(tab)
    if "network" not in tab.form.widgets:
        pytest.skip("paint.style without a network choice")
    assert "random-weight VGG19 with the softmax transform" in tab.network_label.text()
    assert tab.vgg_button.isVisibleTo(tab) == ("paint.get-vgg19" in tab.host.registry.tasks)
    combo = tab.form.widgets["network"]
    combo.setCurrentIndex(combo.findData("vgg19"))
    assert "ImageNet VGG19, not installed yet" in tab.network_label.text()


def make_fast_model(folder: Path, painting: np.ndarray) -> None:
    import torch

    from studio.models import ModelCard, ModelFile, sha256_file
    from studio.training import save_tensors
    from studio_paint.fast_style import ARCHITECTURE, FastStyleConfig, TransformerNet

    torch.manual_seed(0)
    cfg = FastStyleConfig(width=4, n_blocks=1)
    folder.mkdir(parents=True)
    f = folder / "model.safetensors"
    save_tensors(TransformerNet(cfg).state_dict(), f)
    save_picture(folder / "style.jpg", painting)
    ModelCard(id=folder.name, capability="paint", title="Tiny waves", architecture=ARCHITECTURE,
              config=cfg.to_dict(), files=[ModelFile(f.name, sha256_file(f), f.stat().st_size)],
              licence="CC0-1.0", training_data="none", command="tests",
              quality={}).save(folder / "card.json")


def test_fast_mode_paints_in_a_trained_models_style_from_the_strip(qtbot, panel, tmp_path):
    from studio import paths

    tab = panel.style_tab
    if tab.fast_task is None:
        pytest.skip("no paint.fast-style task")
    make_fast_model(paths.models_dir() / "paint.fast_tiny", solid(40, 40, BLUE))
    panel.tabs.setCurrentWidget(tab)
    panel.refresh_models()
    fast = [st for st in tab.strip.styles() if st.model == "paint.fast_tiny"]
    assert fast and fast[0].path.name == "style.jpg" and fast[0].title == "Tiny waves"
    assert tab.strip.find(fast[0].path).text().startswith("⚡")
    tab.open_photo(save_picture(tmp_path / "harbour.png", photo(72, 56)))
    tab.method.setCurrentIndex(tab.method.findData("paint.fast-style"))
    assert tab.run() is None and "⚡" in tab.run_box.status.text()  # no fast style chosen
    tab.strip.choose([str(fast[0].path)])
    job = finish(qtbot, tab.run())
    assert job.state is JobState.DONE, job.error
    assert job.task.id == "paint.fast-style" and job.params.model == "paint.fast_tiny"
    assert tab.result.shape == (56, 72, 3) and tab.saved is not None
    assert not tab.network_label.isVisibleTo(tab)  # no feature network in one pass


# -- training --------------------------------------------------------------------------------------
def test_the_train_tab_charts_the_four_losses_and_shows_the_sample_grid(qtbot, panel, tmp_path):
    tab = panel.train_tab
    panel.tabs.setCurrentWidget(tab)
    folders = []
    for name in ("sketches", "photos"):
        f = tmp_path / name
        f.mkdir()
        for i in range(3):
            save_picture(f / f"{i}.png", photo(40, 40, i + (10 if name == "photos" else 0)))
        folders.append(f)
    assert panel.handle_drop([folders[0]]) and panel.handle_drop([folders[1]])
    values = tab.form.values()
    assert (values["data_a"], values["data_b"]) == (str(folders[0]), str(folders[1]))
    tab.form.set_values({**values, "model_id": "paint.mine", "image_size": 32, "ngf": 4,
                         "n_blocks": 1, "ndf": 8, "steps": 2, "eval_interval": 1,
                         "pool_size": 2, "precision": "fp32"})
    job = tab.train()
    finish(qtbot, job, timeout=120000)
    assert job.state is JobState.DONE, job.error
    assert tab.loss_chart.steps == [1, 2]
    for name in ("generator", "critic", "cycle", "identity"):
        assert all(v == v and v >= 0 for v in tab.loss_chart.values[name]), name
    assert set(tab.loss_chart.legend()) == {"generator", "critic", "cycle", "identity"}
    grid = tab.sample_view.after
    assert (grid.width(), grid.height()) == (3 * 32, 6 * 32)  # 3 columns, 3 rows per domain
    assert "step 2" in tab.sample_view.labels[1]
    assert panel.translate_tab.models.select("paint.mine")  # offered for translating at once


# -- layout and persistence ------------------------------------------------------------------------
def clipped(widget) -> list[str]:
    """Buttons narrower than their text needs, and scroll areas that scroll sideways."""
    from PySide6.QtWidgets import QAbstractButton, QAbstractScrollArea

    problems = []
    for b in widget.findChildren(QAbstractButton):
        padding = 0 if getattr(b, "isFlat", lambda: True)() else 2 * 12  # the theme's
        need = b.fontMetrics().size(Qt.TextShowMnemonic, b.text()).width() + padding
        if b.isVisibleTo(widget) and b.text() and b.width() < need:
            problems.append(f"button {b.text()!r}: {b.width()} px < {need}")
    for s in widget.findChildren(QAbstractScrollArea):
        bar = s.horizontalScrollBar()
        if s.isVisibleTo(widget) and bar.isVisible() and bar.maximum() > 0 \
                and s.horizontalScrollBarPolicy() != Qt.ScrollBarAlwaysOn \
                and type(s).__name__ not in ("StyleStrip", "CompareView"):
            problems.append(f"{type(s).__name__} scrolls sideways by {bar.maximum()} px")
    return problems


def test_at_1024_by_700_nothing_is_clipped_and_nothing_scrolls_sideways(qtbot, user_data, request,
                                                                         tiny_model, tmp_path):
    import shutil

    from PySide6.QtWidgets import QApplication

    from studio import paths
    from studio.gallery import Gallery
    from studio.models import ModelStore
    from studio.plugins import load_plugins
    from studio.ui import theme
    from studio.ui.main_window import MainWindow

    shutil.copytree(tiny_model, paths.models_dir() / "paint.tiny")
    app = QApplication.instance()
    saved = app.styleSheet(), app.palette(), app.style().name()
    theme.apply(app)  # measured as the user sees it: the theme's fonts and paddings
    request.addfinalizer(lambda: (app.setStyleSheet(saved[0]), app.setPalette(saved[1]),
                                  app.setStyle(saved[2])))
    registry = load_plugins(disable=set())
    w = MainWindow(registry, Gallery(), ModelStore.from_registry(registry), device="cpu")
    qtbot.addWidget(w)
    w.resize(1024, 700)
    w.show()
    qtbot.waitExposed(w)
    ids = [c.id for c in registry.capabilities]
    w.switcher.setCurrentRow(ids.index("paint"))
    p = w.panels["paint"]
    assert type(p).__name__ == "PaintPanel"
    p.translate_tab.open_photo(save_picture(tmp_path / "a.png", photo(300, 200)))
    for i in range(p.tabs.count()):
        p.tabs.setCurrentIndex(i)
        qtbot.wait(30)
        tab = p.tabs.currentWidget()
        assert p.width() >= p.minimumSizeHint().width()
        assert not clipped(tab), (p.tabs.tabText(i), clipped(tab))
    view = p.translate_tab.view
    assert view.width() >= 250 and view.height() >= 300  # room left for the picture
    w.jobs.cancel_all()
    w.jobs.wait(5000)


def test_values_survive_a_restart(qtbot, panel, tmp_path):
    src = save_picture(tmp_path / "kept.png", photo())
    tab = panel.translate_tab
    tab.open_photo(src)
    tab.models.select("paint.tiny")
    tab.direction.setCurrentIndex(tab.direction.findData("a2b"))
    tab.strength.set_value(0.3)
    panel.tabs.setCurrentWidget(panel.style_tab)
    values = panel.current_values()

    from studio_paint.ui.panel import PaintPanel

    again = PaintPanel(panel.host)
    qtbot.addWidget(again)
    again.restore_values(values)
    t = again.translate_tab
    assert t.source == src and t.photo is not None
    assert t.models.model_id() == "paint.tiny" and t.direction.currentData() == "a2b"
    assert t.strength.value() == pytest.approx(0.3)
    assert again.tabs.currentWidget() is again.style_tab
    again.restore_values({"translate": {"strength": "nonsense", "source": 3}, "tab": "x"})
