"""paint.train with a tiny CycleGAN on pictures made here: it writes a two-way model that
translates, resumes where it stopped, fine-tunes from another model (refitting transposed
convolutions as resize-convolutions), and refuses bad folders in one line. Also the
resize-convolution itself: exactly nearest-neighbour 2x then a 3x3 convolution, and free of the
checkerboard a transposed convolution paints."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from PIL import Image

from studio import device as devices
from studio.execution import Execution, TaskFailed
from studio.models import ModelStore
from studio.tasks import Log, Preview
from studio_paint.cyclegan import Generator, ResizeConv, resize_from_transpose
from studio_paint.loading import load_generators
from studio_paint.train import TRAIN
from studio_paint.translate import Translation, to_tensor

CPU = devices.pick("cpu")
TINY = {"image_size": 32, "ngf": 8, "n_blocks": 1, "ndf": 8, "eval_interval": 2,
        "name_a": "sketch", "name_b": "photo"}


def write_pictures(folder: Path, count: int, seed: int) -> None:
    rng = np.random.default_rng(seed)
    folder.mkdir(parents=True)
    for i in range(count):
        small = rng.integers(0, 256, (3, 4, 3), dtype=np.uint8)
        img = Image.fromarray(small).resize((40 + 3 * i, 36 + 5 * i), Image.Resampling.BICUBIC)
        img.save(folder / f"{i:03d}.png")


@pytest.fixture
def folders(tmp_path) -> tuple[Path, Path]:
    write_pictures(tmp_path / "a", 4, seed=1)
    write_pictures(tmp_path / "b", 4, seed=2)
    return tmp_path / "a", tmp_path / "b"


def train(store: ModelStore, folders: tuple[Path, Path], **values) -> list:
    events: list = []
    params = TRAIN.make_params({"data_a": folders[0], "data_b": folders[1], **TINY, **values})
    Execution(TRAIN, params, CPU, seed=0, models=store).run(lambda e, saved: events.append(e),
                                                            lambda: False)
    return events


def test_resize_conv_is_nearest_upsampling_then_a_3x3_convolution():
    torch.manual_seed(0)
    conv = ResizeConv(6, 5)
    x = torch.randn(2, 6, 7, 9)
    two_steps = F.conv2d(F.interpolate(x, scale_factor=2, mode="nearest"), conv.weight,
                         conv.bias, padding=1)
    with torch.no_grad():
        torch.testing.assert_close(conv(x), two_steps, rtol=0, atol=1e-5)
        last = x.contiguous(memory_format=torch.channels_last)
        torch.testing.assert_close(conv(last), two_steps, rtol=0, atol=1e-5)


def test_a_flat_picture_comes_out_flat_through_resize_convs_but_checkered_through_transposed():
    """The checkerboard: a constant map through a stride-2 transposed 3x3 gives the even and
    odd pixels different values; through a resize-convolution, every pixel the same."""
    torch.manual_seed(0)
    flat = torch.ones(1, 4, 8, 8)
    transposed = torch.nn.ConvTranspose2d(4, 3, 3, stride=2, padding=1, output_padding=1)
    resized = ResizeConv(4, 3)
    with torch.no_grad():
        inner = (slice(None), slice(None), slice(2, -2), slice(2, -2))  # away from the edges
        assert transposed(flat)[inner].std(dim=(2, 3)).min() > 1e-3
        assert resized(flat)[inner].std(dim=(2, 3)).max() < 1e-6


def test_the_refit_is_close_to_the_transposed_convolution_it_replaces():
    torch.manual_seed(0)
    transposed = torch.nn.ConvTranspose2d(8, 5, 3, stride=2, padding=1, output_padding=1)
    resized = ResizeConv(8, 5)
    with torch.no_grad():
        resized.weight.copy_(resize_from_transpose(transposed.weight))
        resized.bias.copy_(transposed.bias)
        x = torch.randn(1, 8, 12, 12)
        a, b = transposed(x).flatten(), resized(x).flatten()
    assert torch.corrcoef(torch.stack([a, b]))[0, 1] > 0.6  # measured 0.78; random: 0


def test_training_writes_a_two_way_model_that_translates_and_resumes(user_data, folders):
    store = ModelStore([user_data / "models"])
    events = train(store, folders, model_id="mine", steps=2)  # resize-convolutions by default
    card = store.get("mine")
    assert card.config["upsample"] == "resize"
    assert card.config["domains"] == {"a": "sketch", "b": "photo"}
    assert "resize upsampling" in card.description
    grid = next(e.data["sample"] for e in events if isinstance(e, Preview))
    assert grid.dtype == np.uint8 and grid.ndim == 3
    ctx = type("Ctx", (), {"load_model": store.load, "device": "cpu"})()
    _, gens = load_generators(ctx, "mine")
    assert isinstance(gens["a2b"].model[11], ResizeConv)
    picture = to_tensor(np.full((52, 60, 3), 128, np.uint8))
    with torch.inference_mode():
        assert Translation(gens["a2b"]).whole(picture).shape == (1, 3, 52, 60)
    events = train(store, folders, model_id="mine", steps=4, resume=True)
    assert any(isinstance(e, Log) and "resuming mine at step 2" in e.message for e in events)
    assert store.get("mine").quality["steps"] == 4


def test_fine_tuning_a_transposed_model_as_resize_convolutions(user_data, folders):
    store = ModelStore([user_data / "models"])
    train(store, folders, model_id="first", steps=1, upsample="transpose")
    assert store.get("first").config["upsample"] == "transpose"
    events = train(store, folders, model_id="second", steps=1, start_from="first",
                   upsample="resize")
    assert any(isinstance(e, Log) and "refitted as resize-convolutions" in e.message
               for e in events)
    assert store.get("second").config["upsample"] == "resize"
    with pytest.raises(TaskFailed, match="has resize-convolutions, which have no transposed"):
        train(store, folders, model_id="third", steps=1, start_from="second",
              upsample="transpose")


def test_bad_folders_get_one_line(user_data, folders, tmp_path):
    store = ModelStore([user_data / "models"])
    (tmp_path / "empty").mkdir()
    with pytest.raises(TaskFailed, match="empty holds no pictures that can be read"):
        train(store, (folders[0], tmp_path / "empty"), steps=1)
    with pytest.raises(TaskFailed, match="000.png is not a folder"):
        train(store, (folders[0] / "000.png", folders[1]), steps=1)
    with pytest.raises(TaskFailed, match="--image-size 34: use a multiple of 4"):
        train(store, folders, steps=1, image_size=34)


def test_a_generator_refuses_an_unknown_upsampling():
    with pytest.raises(ValueError, match="upsample 'bilinear': use one of transpose, resize"):
        Generator(4, 1, "bilinear")
