"""Neural style transfer: the VGG19 layout and its weights' import, the losses, the optimisation
(coarse to fine, blends, colour), paint.style / paint.fast-style / paint.train-style as a user
runs them, and the bad inputs they refuse. Small pictures made here; random weights only."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from studio import device as devices
from studio.errors import UserError
from studio.execution import Execution, TaskFailed
from studio.imageio import read_image
from studio.models import ModelStore
from studio.tasks import Context, Log, Output, ParamError, Preview
from studio.training import read_checkpoint
from studio_paint import style as st
from studio_paint.fast_style import (
    FastStyleConfig,
    TransformerNet,
    expected_shapes,
    infer_config,
    parameter_count,
)
from studio_paint.style_tasks import (
    FAST,
    GET_VGG19,
    STYLE,
    VGG19_ID,
    feature_network,
    import_vgg19,
    plan_scales,
    receptive_field,
    style_list,
)
from studio_paint.train_style import TRAIN_STYLE

CPU = devices.pick("cpu")


def run(task, values: dict, store: ModelStore | None = None, seed: int = 0) -> list:
    events: list = []
    Execution(task, task.make_params(values), CPU, seed=seed, models=store).run(
        lambda e, s: events.append(e), lambda: False)
    return events


def picture(path: Path, w: int, h: int, seed: int = 0) -> Path:
    """A smooth random picture (gradients and blobs), saved as PNG."""
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[0:h, 0:w] / max(h, w)
    channels = [np.sin(6 * x * rng.uniform(0.5, 2) + rng.uniform(0, 6)) *
                np.cos(5 * y * rng.uniform(0.5, 2)) for _ in range(3)]
    img = ((np.stack(channels, 2) + 1) * 127.5).astype(np.uint8)
    Image.fromarray(img).save(path)
    return path


@pytest.fixture
def store(tmp_path) -> ModelStore:
    return ModelStore([tmp_path / "models"])


@pytest.fixture
def pics(tmp_path) -> dict[str, Path]:
    return {"photo": picture(tmp_path / "photo.png", 72, 56, 1),
            "style": picture(tmp_path / "style.png", 64, 64, 2),
            "style2": picture(tmp_path / "style2.png", 48, 80, 3)}


# ---------------------------------------------------------------------------------------------
# The network.


def test_vgg19_layout_is_torchvisions():
    net = st.VGG19Features()
    sd = net.state_dict()
    convs = sorted(int(k.split(".")[1]) for k in sd if k.endswith(".weight"))
    assert convs == [0, 2, 5, 7, 10, 12, 14, 16, 19, 21, 23, 25, 28, 30, 32, 34]
    assert set(sd) == {f"features.{i}.{p}" for i in convs for p in ("weight", "bias")}
    assert sum(v.numel() for v in sd.values()) == 20_024_384  # 20.0M, as published
    assert sd["features.10.weight"].shape == (256, 128, 3, 3)
    assert [i for i, m in enumerate(net.features) if isinstance(m, torch.nn.MaxPool2d)] == [
        4, 9, 18, 27, 36]
    assert st.expected_shapes()["features.34.weight"] == (512, 512, 3, 3)


def test_layer_names():
    assert st.layer_index("conv4_2") == 21
    assert st.layer_index("relu4_2") == 22
    assert st.layer_index("pool3") == 18
    assert st.depth_for(st.DEFAULT_STYLE_LAYERS) == 30
    assert receptive_field(30) == 156  # relu5_1 sees 156 px
    with pytest.raises(ValueError, match="unknown VGG19 layer 'relu9_1'"):
        st.parse_layers("relu1_1, relu9_1", "style")
    with pytest.raises(ValueError, match="name at least one layer"):
        st.parse_layers(" , ", "content")


def test_random_weights_come_from_the_seed():
    a = st.random_weights(st.VGG19Features(depth=6), 0).state_dict()
    b = st.random_weights(st.VGG19Features(depth=6), 0).state_dict()
    c = st.random_weights(st.VGG19Features(depth=6), 1).state_dict()
    assert all(torch.equal(a[k], b[k]) for k in a)
    assert not torch.equal(a["features.0.weight"], c["features.0.weight"])
    std = a["features.2.weight"].std().item()  # He: sqrt(2 / (64 * 9)) = 0.059
    assert 0.05 < std < 0.068


def test_losses_pieces():
    f = torch.randn(2, 8, 5, 6).contiguous(memory_format=torch.channels_last)
    r = st.rows(f)
    assert r.shape == (2, 30, 8) and r.data_ptr() == f.data_ptr()  # a view, no copy
    soft = st.softmax_transform(r, 3.0)
    assert torch.allclose(soft.mean((1, 2)), torch.ones(2), atol=1e-5)
    g = st.gram(r)
    assert g.shape == (2, 8, 8) and torch.allclose(g, g.transpose(1, 2))
    flat = f.flatten(2)
    assert torch.allclose(g, flat @ flat.transpose(1, 2) / 30, atol=1e-5)
    assert st.total_variation(torch.ones(1, 3, 4, 4)).item() == 0


def test_colour_tools():
    g = torch.Generator().manual_seed(0)
    photo = 0.3 + 0.4 * torch.rand(1, 3, 20, 24, generator=g)  # in gamut either way
    painting = (0.3 + 0.4 * torch.rand(1, 3, 20, 24, generator=g)) * torch.tensor(
        [1.0, 0.6, 0.5]).view(1, 3, 1, 1)
    back = st.from_yuv(st.to_yuv(photo))
    assert torch.allclose(back, photo, atol=1e-5)
    mixed = st.with_colour_of(painting, photo)  # painting's brightness, photo's chroma
    assert torch.allclose(st.to_yuv(mixed)[:, 1:], st.to_yuv(photo)[:, 1:], atol=0.02)
    matched = st.match_colours(painting, photo)
    assert torch.allclose(matched.mean((2, 3)), photo.mean((2, 3)), atol=0.03)


def test_scales_plan():
    assert plan_scales(512, 2, 150) == ([256, 512], [100, 50])
    assert plan_scales(512, 3, 70) == ([128, 256, 512], [40, 20, 10])
    assert plan_scales(100, 3, 10) == ([100], [10])  # 50 px would be under 64
    assert plan_scales(512, 3, 2) == ([256, 512], [1, 1])  # at least one step a scale
    assert sum(plan_scales(700, 2, 151)[1]) == 151


# ---------------------------------------------------------------------------------------------
# The optimisation.


def stylist(photo, styles, weights, **kw) -> st.Stylist:
    settings = st.Settings(**{"sizes": [48], "steps": [4], "preview_every": 2, **kw})
    net = st.random_weights(st.VGG19Features(depth=st.depth_for(settings.style_layers)))
    return st.Stylist(net, photo, styles, weights, settings, torch.Generator().manual_seed(0))


def test_stylist_paints_towards_the_style():
    g = torch.Generator().manual_seed(0)
    photo, style = torch.rand(1, 3, 40, 56, generator=g), torch.rand(1, 3, 50, 50, generator=g)
    s = stylist(photo, [style], [1.0], sizes=[32, 48], steps=[6, 3], bf16=False)
    steps = list(s.run())
    assert [x.done for x in steps] == list(range(1, 10)) and steps[-1].total == 9
    assert [x.scale for x in steps] == [0] * 6 + [1] * 3
    assert steps[0].style == pytest.approx(1.0, abs=1e-3)  # the photo is "as far as itself"
    assert min(x.loss for x in steps[:6]) < 0.8 * steps[0].loss
    shown = [x for x in steps if x.image is not None]
    assert [x.done for x in shown] == [2, 4, 6, 8, 9]
    assert shown[-1].image.shape == (1, 3, 34, 48)  # the last scale: long side 48
    out = s.output(full_size=(40, 56))
    assert out.shape == (1, 3, 40, 56) and out.min() >= 0 and out.max() <= 1
    assert (out - photo).abs().mean() > 0.01


def test_stylist_options_run(pics):
    photo = st.to_tensor(read_image(pics["photo"]))
    styles = [st.to_tensor(read_image(pics[k])) for k in ("style", "style2")]
    for kw in ({"optimizer": "adam", "init": "noise", "tv_weight": 1.0, "softmax": False},
               {"colour": "luminance", "bf16": True, "temperature": 1.0},
               {"colour": "match", "style_scale": 0.5}):
        s = stylist(photo, styles, [3.0, 1.0], **kw)
        steps = list(s.run())
        assert all(np.isfinite(x.loss) for x in steps)
        out = s.output(full_size=(56, 72))
        assert out.shape == (1, 3, 56, 72)
        if kw.get("colour") == "luminance":
            assert torch.allclose(st.to_yuv(out)[:, 1:], st.to_yuv(photo)[:, 1:], atol=0.03)


def test_blend_weights_must_make_sense():
    x = torch.rand(1, 3, 32, 32)
    with pytest.raises(ValueError, match="one weight per style"):
        stylist(x, [x, x], [1.0])
    with pytest.raises(ValueError, match="must be positive"):
        stylist(x, [x], [0.0])


def test_identical_photo_and_painting_stay_put():
    x = torch.rand(1, 3, 40, 40, generator=torch.Generator().manual_seed(3))
    s = stylist(x, [x], [1.0], bf16=False, sizes=[40])
    steps = list(s.run())
    assert steps[0].style < 1e-3
    assert (s.output() - x).abs().max() < 0.02


# ---------------------------------------------------------------------------------------------
# paint.style


def test_paint_style_writes_one_picture_at_the_photos_size(pics, store):
    events = run(STYLE, {"content": pics["photo"], "style": f"{pics['style']},{pics['style2']}",
                         "style_weights": "2,1", "size": 64, "steps": 6, "preview_every": 2},
                 store)
    outputs = [e for e in events if isinstance(e, Output)]
    assert len(outputs) == 1
    assert outputs[0].data.shape == (56, 72, 3) and outputs[0].data.dtype == np.uint8
    assert outputs[0].name == "photo-style+style2-random-softmax"
    logs = [e.message for e in events if isinstance(e, Log)]
    assert any("random weights (seed 0), average pooling and the softmax transform" in m
               for m in logs)
    curve = [e.data for e in events if isinstance(e, Preview) and isinstance(e.data, dict)]
    assert [c["step"] for c in curve] == [1, 2, 3, 4, 5, 6]
    assert all(np.isfinite(c["loss"]) for c in curve)
    images = [e.data for e in events if isinstance(e, Preview) and isinstance(e.data, np.ndarray)]
    assert images and all(i.shape == (56, 72, 3) for i in images)  # what Stop keeps
    # the same seed gives the same picture
    again = [e for e in run(STYLE, {"content": pics["photo"], "style": f"{pics['style']},"
                                                                      f"{pics['style2']}",
                                    "style_weights": "2,1", "size": 64, "steps": 6,
                                    "preview_every": 2}, store) if isinstance(e, Output)]
    assert np.array_equal(again[0].data, outputs[0].data)


def test_paint_style_plain_random_network_and_folder(tmp_path, pics, store):
    folder = tmp_path / "photos"
    folder.mkdir()
    picture(folder / "a.png", 40, 40, 5)
    picture(folder / "b.png", 30, 50, 6)
    (folder / "notes.txt").write_text("not a picture")
    events = run(STYLE, {"content": folder, "style": str(pics["style"]), "network": "random",
                         "size": 64, "steps": 2, "scales": 1, "colour": "luminance"}, store)
    outputs = [e for e in events if isinstance(e, Output)]
    assert [o.name for o in outputs] == ["a-style-random", "b-style-random"]
    assert [o.data.shape for o in outputs] == [(40, 40, 3), (50, 30, 3)]


@pytest.mark.parametrize("values, message", [
    ({"style": "{one}"}, "painting one.png is 1x1 px: too small to carry a style"),
    ({"content": "{one}"}, "photo one.png is 1x1 px: too small to paint"),
    ({"style": "{style},{style2}", "style_weights": "1"},
     "--style-weights: 1 weights for 2 paintings; give one each"),
    ({"style_weights": "0"}, "weights must be 0 or more, and not all 0"),
    ({"style_weights": "a"}, "is not a list of numbers"),
    ({"style": "{missing}"}, "--style: no such file"),
    ({"style": "{text}"}, "not.png"),
    ({"content": "{narrow}", "size": 64}, "too narrow to paint"),
    ({"style_weight": 0.0, "content_weight": 0.0}, "nothing to aim at"),
    ({"network": "vgg19"}, "the ImageNet VGG19 is not installed"),
    ({"style_layers": "relu1_1,conv9_9"}, "unknown VGG19 layer 'conv9_9'"),
])
def test_paint_style_refuses_bad_input_in_one_line(tmp_path, pics, store, values, message):
    files = {**{k: str(v) for k, v in pics.items()},
             "one": str(tmp_path / "one.png"), "missing": str(tmp_path / "missing.png"),
             "text": str(tmp_path / "not.png"), "narrow": str(tmp_path / "narrow.png")}
    Image.new("RGB", (1, 1), (200, 10, 10)).save(files["one"])
    Path(files["text"]).write_text("hello")
    picture(Path(files["narrow"]), 400, 16)
    base = {"content": files["photo"], "style": files["style"], "size": 64, "steps": 1}
    base.update({k: v.format(**files) if isinstance(v, str) else v for k, v in values.items()})
    with pytest.raises(TaskFailed) as err:
        run(STYLE, base, store)
    assert err.value.bad_input
    assert message in str(err.value) and "\n" not in str(err.value)


def test_steps_zero_is_refused_before_running(pics):
    with pytest.raises(ParamError, match="--steps: 0 is below the minimum 1"):
        STYLE.make_params({"content": pics["photo"], "style": str(pics["style"]), "steps": 0})


def test_small_painting_warns_and_identical_pictures_are_named(pics, store):
    events = run(STYLE, {"content": pics["photo"], "style": str(pics["photo"]), "size": 64,
                         "steps": 2}, store)
    warnings = [e.message for e in events if isinstance(e, Log) and e.level == "warning"]
    assert any("smaller than what the deepest layer sees (156 px)" in w for w in warnings)
    assert any("is also the painting" in w for w in warnings)
    out = next(e for e in events if isinstance(e, Output)).data
    photo = read_image(pics["photo"])
    assert np.abs(out.astype(int) - photo).mean() < 6  # nothing to transfer: the photo stays


def test_style_list():
    with pytest.raises(UserError, match="name at least one painting"):
        style_list(" , ", "")


# ---------------------------------------------------------------------------------------------
# The ImageNet weights.


def fake_vgg19_pth(path: Path) -> Path:
    """A torchvision-shaped VGG19 checkpoint: ``features`` in full, a token classifier."""
    g = torch.Generator().manual_seed(7)
    state = {k: torch.randn(shape, generator=g) * 0.05
             for k, shape in st.expected_shapes().items()}
    state["classifier.6.weight"] = torch.zeros(10, 4)
    torch.save(state, path)
    return path


def test_vgg19_import_keeps_features_and_loads(tmp_path, store):
    src = fake_vgg19_pth(tmp_path / "vgg19.pth")
    ctx = Context(models=store)
    assert feature_network(ctx, "auto", 6).name == "random-softmax"
    card = import_vgg19(src, ctx)
    assert card.id == VGG19_ID and card.architecture == "vgg19-features"
    loaded = store.load(VGG19_ID)[1]
    assert "classifier.6.weight" not in loaded and loaded["features.0.weight"].dtype == \
        torch.float16
    net = feature_network(ctx, "auto", 6)
    assert net.name == "vgg19" and not net.softmax
    want = torch.load(src, weights_only=True)["features.5.weight"].half().float()
    assert torch.equal(net.net.features[5].weight, want)
    assert ctx.models_used and ctx.models_used[0]["id"] == VGG19_ID  # in the recipe


def test_get_vgg19_refuses_a_file_that_is_not_the_published_one(tmp_path, store):
    src = fake_vgg19_pth(tmp_path / "vgg19-dcbb9e9d.pth")
    with pytest.raises(TaskFailed, match="its sha256 begins .*, not dcbb9e9d: not the "
                                         "published vgg19-dcbb9e9d.pth"):
        run(GET_VGG19, {"file": src}, store)


# ---------------------------------------------------------------------------------------------
# The fast network, its training and paint.fast-style.


def test_transformer_net_is_the_published_shape():
    net = TransformerNet()
    assert parameter_count(net) == 1_679_235
    keys = net.state_dict()
    assert "conv1.conv.weight" in keys and "res5.in2.bias" in keys and "deconv3.conv.bias" in keys
    assert infer_config({k: tuple(v.shape) for k, v in keys.items()}) == FastStyleConfig(32, 5)
    small = TransformerNet(FastStyleConfig(width=4, n_blocks=1))
    y = small(torch.rand(1, 3, 37, 50))
    assert y.shape == (1, 3, 37, 50) and y.min() >= 0 and y.max() <= 1
    assert expected_shapes(FastStyleConfig(4, 1))["conv3.conv.weight"] == (16, 8, 3, 3)


@pytest.fixture
def photo_folder(tmp_path) -> Path:
    folder = tmp_path / "train_photos"
    folder.mkdir()
    for i in range(5):
        picture(folder / f"p{i}.png", 40 + 8 * i, 40, 10 + i)
    return folder


def train_values(pics, photo_folder, **kw) -> dict:
    return {"style": pics["style"], "photos": str(photo_folder), "model_id": "paint.fast_test",
            "width": 4, "blocks": 1, "crop": 32, "style_size": 64, "batch_size": 2,
            "steps": 2, "eval_interval": 2, "style_layers": "relu1_1,relu2_1",
            "content_layers": "relu2_1", **kw}


def test_train_style_writes_a_model_that_resumes_and_paints(tmp_path, pics, photo_folder,
                                                           store):
    events = run(TRAIN_STYLE, train_values(pics, photo_folder), store, seed=3)
    folder = store.user_dir / "paint.fast_test"
    card = json.loads((folder / "card.json").read_text())
    assert card["architecture"] == "johnson-transformer"
    assert card["config"]["width"] == 4 and card["config"]["style_image"] == "style.jpg"
    assert card["quality"]["steps"] == 2 and "style_loss" in card["quality"]
    assert "studio run paint.train-style" in card["command"]
    assert {f["name"] for f in card["files"]} == {"model.safetensors", "style.jpg"}
    _, weights = store.load("paint.fast_test")
    assert all(v.dtype == torch.float16 for v in weights.values())
    assert any(isinstance(e, Preview) and isinstance(e.data, np.ndarray) for e in events)
    assert read_checkpoint(folder / "train_state")["step"] == 2

    more = run(TRAIN_STYLE, train_values(pics, photo_folder, steps=4, resume=True), store,
               seed=3)
    assert any("resuming paint.fast_test at step 2" in e.message for e in more
               if isinstance(e, Log))
    assert json.loads((folder / "card.json").read_text())["quality"]["steps"] == 4

    out = [e for e in run(FAST, {"content": pics["photo"], "model": "paint.fast_test",
                                 "strength": 0.5}, store) if isinstance(e, Output)]
    assert len(out) == 1 and out[0].data.shape == (56, 72, 3)
    assert out[0].name == "photo-fast_test"


def test_fast_style_refuses_other_models(tmp_path, pics, store):
    from studio.models import ModelCard, ModelFile, card_path, sha256_file
    from studio.training import save_tensors

    folder = store.user_dir / "paint.other"
    folder.mkdir(parents=True)
    save_tensors({"x": torch.zeros(2)}, folder / "model.safetensors")
    f = folder / "model.safetensors"
    ModelCard(id="paint.other", capability="paint", architecture="cyclegan-resnet",
              files=[ModelFile(f.name, sha256_file(f), f.stat().st_size)],
              folder=folder).save(card_path(folder))
    with pytest.raises(TaskFailed, match="a cyclegan-resnet model, not a fast style model"):
        run(FAST, {"content": pics["photo"], "model": "paint.other"}, store)
    with pytest.raises(TaskFailed, match="unknown model 'paint.nothing'"):
        run(FAST, {"content": pics["photo"], "model": "paint.nothing"}, store)


def test_train_style_bad_input(tmp_path, pics, photo_folder, store):
    with pytest.raises(TaskFailed, match="is not a folder"):
        run(TRAIN_STYLE, train_values(pics, tmp_path / "nowhere"), store)
    with pytest.raises(TaskFailed, match="--model-id 'a b'"):
        run(TRAIN_STYLE, train_values(pics, photo_folder, model_id="a b"), store)


def test_get_vgg19_downloads_checks_the_prefix_and_keeps_only_the_features(
        tmp_path, store, monkeypatch):
    """The download path end to end against a local server holding a stand-in file: trusted
    on first use (no checksum is published), its sha256 prefix checked, converted."""
    import functools
    import threading
    from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer

    from studio.models import sha256_file
    from studio_paint import style_tasks

    served = tmp_path / "served"
    served.mkdir()
    src = fake_vgg19_pth(served / "vgg19-dcbb9e9d.pth")
    handler = functools.partial(SimpleHTTPRequestHandler, directory=str(served))
    handler.log_message = lambda *a: None
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    monkeypatch.setenv("STUDIO_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.setattr(style_tasks, "VGG19_URL",
                        f"http://127.0.0.1:{httpd.server_address[1]}/vgg19-dcbb9e9d.pth")
    monkeypatch.setattr(style_tasks, "VGG19_SIZE", src.stat().st_size)
    try:
        with pytest.raises(TaskFailed, match="not dcbb9e9d: not the published file; removed"):
            run(GET_VGG19, {}, store)
        assert feature_network(Context(models=store), "auto", 3).name == "random-softmax"
        monkeypatch.setattr(style_tasks, "VGG19_PREFIX", sha256_file(src)[:8])
        events = run(GET_VGG19, {}, store)
    finally:
        httpd.shutdown()
    logs = [e.message for e in events if isinstance(e, Log)]
    assert any("trust on first use" in m or "recorded at its first download" in m
               for m in logs)
    card = store.get(VGG19_ID)
    assert [f.name for f in card.files] == [f"{VGG19_ID}-{card.weights_sha256[:8]}.safetensors"]
    assert card.sources[0]["sha256"] == sha256_file(src)
    assert feature_network(Context(models=store), "auto", 3).name == "vgg19"


def test_convert_vgg19_names_what_does_not_fit():
    from studio_paint.style_tasks import convert_vgg19

    state = {k: torch.zeros(shape) for k, shape in st.expected_shapes().items()}
    assert set(convert_vgg19({**state, "classifier.0.weight": torch.zeros(2)})) == set(state)
    del state["features.34.weight"]
    state["features.0.weight"] = torch.zeros(64, 3, 5, 5)
    with pytest.raises(UserError, match="not torchvision's VGG19: missing 1 key: "
                                        "features.34.weight; 1 shape mismatch: "
                                        "features.0.weight expected"):
        convert_vgg19(state)


def test_the_temperature_folded_into_the_weights_divides_only_the_taps():
    import copy

    net = st.random_weights(st.VGG19Features(st.depth_for(st.DEFAULT_STYLE_LAYERS), "avg"))
    taps = [st.layer_index(n) for n in (*st.DEFAULT_STYLE_LAYERS, "relu4_2")]
    x = torch.rand(1, 3, 40, 48, generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        before = net(x, taps)
        after = st.divide_taps(copy.deepcopy(net), taps, 3.0)(x, taps)
    for a, b in zip(before, after, strict=True):
        torch.testing.assert_close(b, a / 3, rtol=1e-5, atol=1e-6)
