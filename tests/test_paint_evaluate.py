"""paint.evaluate and paint.train-judge with tiny random networks on pictures made here: the
figures are computed and in range, the JSON reads back, bad input gets one line, Stop stops."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image
from safetensors.torch import save_file

from studio import device as devices
from studio.execution import Execution, TaskFailed
from studio.models import ModelCard, ModelFile, ModelStore, card_path, sha256_file
from studio.tasks import Cancelled, Context, Log, Output, Preview, Progress
from studio_paint.classifier import JudgeConfig, MonetJudge
from studio_paint.cyclegan import Generator, init_weights
from studio_paint.evaluate import (
    EVALUATE,
    at_scale,
    load_judge,
    monet_probability,
    write_judge_folder,
)
from studio_paint.train_judge import TRAIN_JUDGE

CPU = devices.pick("cpu")
SCALE = 36  # the tiny judge's scale: every test picture is brought to it
TRAIN_SIZE = 32  # the tiny paint models' crops, cut from pictures of short side 36 (x 286/256)


def run(task, values: dict, store: ModelStore, cancel_after: int | None = None) -> list:
    events: list = []
    progress = []

    def on_event(e, saved):
        events.append(e)
        if isinstance(e, Progress):
            progress.append(e)

    cancelled = (lambda: False) if cancel_after is None else (
        lambda: len(progress) >= cancel_after)
    Execution(task, task.make_params(values), CPU, seed=0, models=store).run(on_event,
                                                                            cancelled)
    return events


def outputs(events: list) -> tuple[str, dict]:
    out = [e for e in events if isinstance(e, Output)]
    text = next(o.data for o in out if o.kind == "text")
    raw = next(o for o in out if o.kind == "file")
    assert raw.file_suffix == ".json"
    return text, json.loads(raw.data.decode("utf-8"))


def write_cyclegan(folder: Path, directions: tuple[str, ...], domains: dict[str, str],
                   train_size: int = TRAIN_SIZE) -> None:
    """A random paint model in PAINT_FORMAT.md's layout (ngf 4, one block)."""
    tensors = {}
    for i, direction in enumerate(directions):
        gen = Generator(4, 1)
        init_weights(gen, torch.Generator().manual_seed(i), std=0.2)
        tensors |= {f"{direction}.{k}": v.half() for k, v in gen.state_dict().items()}
    folder.mkdir(parents=True)
    f = folder / "model.safetensors"
    save_file(tensors, str(f))
    ModelCard(id=folder.name, capability="paint", title=folder.name,
              architecture="cyclegan-resnet",
              config={"ngf": 4, "n_blocks": 1, "domains": domains,
                      "default_direction": directions[0], "train_size": train_size},
              files=[ModelFile(f.name, sha256_file(f), f.stat().st_size)], licence="test",
              training_data="none", command="", quality={}).save(card_path(folder))


def write_pictures(folder: Path, count: int, smooth: bool, seed: int) -> None:
    """``count`` pictures of assorted sizes: smooth colour fields or noise."""
    rng = np.random.default_rng(seed)
    folder.mkdir(parents=True)
    for i in range(count):
        h, w = 36 + 5 * i, 40 + 3 * i
        if smooth:
            small = rng.integers(0, 256, (3, 4, 3), dtype=np.uint8)
            img = Image.fromarray(small).resize((w, h), Image.Resampling.BICUBIC)
        else:
            img = Image.fromarray(rng.integers(0, 256, (h, w, 3), dtype=np.uint8))
        img.save(folder / f"{i:03d}.{'png' if i % 2 else 'jpg'}")


@pytest.fixture(scope="module")
def store(tmp_path_factory) -> ModelStore:
    root = tmp_path_factory.mktemp("models")
    write_cyclegan(root / "both", ("a2b", "b2a"), {"a": "Monet", "b": "photo"})
    write_cyclegan(root / "style", ("a2b",), {"a": "photo", "b": "Monet"})
    write_cyclegan(root / "zebra", ("a2b", "b2a"), {"a": "horse", "b": "zebra"})
    write_cyclegan(root / "horse", ("a2b",), {"a": "horse", "b": "zebra"})
    write_cyclegan(root / "coarse", ("a2b", "b2a"), {"a": "Monet", "b": "photo"}, train_size=64)
    torch.manual_seed(0)
    judge = MonetJudge(JudgeConfig(width=2))
    with torch.no_grad():  # larger weights than the default init: verdicts that differ
        for w in judge.parameters():
            w.mul_(1.5)
        judge.score.weight.mul_(20)
    write_judge_folder(root / "judge", judge, JudgeConfig(width=2), scale=SCALE, crop=16,
                       licence="test")
    return ModelStore([root])


@pytest.fixture(scope="module")
def data(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("monet2photo")
    write_pictures(root / "testA", 3, smooth=True, seed=1)
    write_pictures(root / "testB", 3, smooth=False, seed=2)
    return root


def test_figures_of_a_two_way_model(store, data):
    events = run(EVALUATE, {"model": "both", "judge": "judge", "data": data}, store)
    text, figures = outputs(events)
    assert figures["model"] == "both" and figures["judge"] == "judge"
    assert figures["pictures"] == {"testA": 3, "testB": 3}
    assert figures["translated_with"] == "b2a"  # photo -> Monet: domain b is the photo
    for key in ("translated_photos", "untouched_photos", "real_monets"):
        assert 0 <= figures["monet_share"][key] <= 1
        assert 0 < figures["mean_monet_probability"][key] < 1
    assert 0 < figures["cycle_error_testA"] <= 255 and 0 < figures["cycle_error_testB"] <= 255
    assert figures["cycle_paths"]["testA"] == "Monet -> photo -> Monet"
    assert set(figures["grid_grain"]) == {"photo translated", "photo untouched",
                                          "Monet translated", "Monet untouched"}
    assert all(v > 0 for v in figures["grid_grain"].values())
    assert figures["notes"] == []
    # the untouched share is the judge's own verdict on each photo at its scale
    judge = MonetJudge(JudgeConfig(width=2))
    _, weights = store.load("judge")
    judge.load_state_dict({k: v.float() for k, v in weights.items()})
    judge.eval()
    probs = [monet_probability(judge, at_scale(np.asarray(Image.open(f).convert("RGB")), SCALE),
                               False)
             for f in sorted((data / "testB").iterdir())]
    assert max(probs) - min(probs) > 0.02  # a test that could tell pictures apart
    assert figures["mean_monet_probability"]["untouched_photos"] == pytest.approx(
        np.mean(probs), abs=0.004)  # bf16 against fp32
    assert "Called Monet by judge" in text and "Cycle error" in text
    # the cycle error is each photo's mean absolute difference from its round trip
    _, exact = outputs(run(EVALUATE, {"model": "both", "judge": "judge", "data": data,
                                      "precision": "fp32"}, store))
    _, weights = store.load("both")
    gens = {}
    for d in ("a2b", "b2a"):
        gens[d] = Generator(4, 1).eval()
        gens[d].load_state_dict({k[4:]: v.float() for k, v in weights.items()
                                 if k.startswith(d)})
    errors = []
    for f in sorted((data / "testB").iterdir()):
        photo = at_scale(np.asarray(Image.open(f).convert("RGB")), SCALE)
        x = torch.tensor(photo).permute(2, 0, 1)[None].float() / 127.5 - 1
        with torch.no_grad():
            monet = ((gens["b2a"](x) + 1) * 127.5).round() / 127.5 - 1  # saved as uint8
            back = ((gens["a2b"](monet) + 1) * 127.5).round()
        errors.append((back[0].permute(1, 2, 0) - torch.tensor(photo).float()).abs().mean())
    assert exact["cycle_error_testB"] == pytest.approx(float(np.mean(errors)), abs=0.01)
    assert exact["precision"] == "fp32"
    # progress per picture, previews of what was translated
    fractions = [e.fraction for e in events if isinstance(e, Progress)]
    assert fractions == pytest.approx([i / 6 for i in range(1, 7)])
    previews = [e.data for e in events if isinstance(e, Preview)]
    assert previews and all(p.dtype == np.uint8 and p.shape[0] == SCALE for p in previews)


def test_one_direction_skips_the_cycle_with_a_note(store, data):
    text, figures = outputs(run(EVALUATE, {"model": "style", "judge": "judge", "data": data},
                                store))
    assert figures["translated_with"] == "a2b"  # photo -> Monet: domain b is Monet
    assert 0 <= figures["monet_share"]["translated_photos"] <= 1
    assert "cycle_error_testA" not in figures
    assert figures["notes"] == ["style has one direction (a2b) only: the cycle error is skipped"]
    assert "note: style has one direction" in text


def test_a_model_of_another_scale_is_measured_at_the_judges_with_a_note(store, data):
    _, figures = outputs(run(EVALUATE, {"model": "coarse", "judge": "judge", "data": data},
                             store))
    assert figures["scale_px"] == SCALE and figures["cycle_error_testA"] > 0
    assert figures["notes"] == [f"coarse was trained at 72 px (short side) and is measured here "
                                f"at {SCALE} px, judge's scale; a judge trained at 72 px "
                                "(paint.train-judge --scale 72) would measure it at its own"]


def test_a_model_without_monet_gets_the_cycle_only(store, data):
    text, figures = outputs(run(EVALUATE, {"model": "zebra", "judge": "judge", "data": data},
                                store))
    assert "monet_share" not in figures and figures["cycle_error_testB"] > 0
    assert figures["scale_px"] == 36  # the model's own: 32 px crops x 286/256
    assert "neither of them Monet" in figures["notes"][0]
    assert figures["cycle_paths"]["testB"] == "zebra -> horse -> zebra"
    with pytest.raises(TaskFailed, match="nothing to measure") as info:
        run(EVALUATE, {"model": "horse", "judge": "judge", "data": data}, store)
    assert info.value.bad_input


def test_bad_input_gets_one_line(store, data, tmp_path):
    def refused(values: dict, match: str) -> None:
        with pytest.raises(TaskFailed, match=match) as info:
            run(EVALUATE, {"model": "both", "judge": "judge", **values}, store)
        assert info.value.bad_input and "\n" not in str(info.value)

    only_a = tmp_path / "only_a"
    write_pictures(only_a / "testA", 1, smooth=True, seed=3)
    refused({"data": only_a}, r"testB is missing: it should hold photo pictures")
    empty = tmp_path / "empty"
    (empty / "testA").mkdir(parents=True)
    write_pictures(empty / "testB", 1, smooth=False, seed=4)
    (empty / "testA" / "notes.txt").write_text("not a picture")
    refused({"data": empty}, r"testA holds no pictures: it should hold Monet pictures")
    refused({"data": data / "testA" / "000.jpg"}, "not a folder")
    refused({"data": data, "judge": "both"}, "not a Monet judge")
    refused({"data": data, "model": "judge"}, "not a CycleGAN paint model")


def test_an_unreadable_picture_is_skipped_and_reported(store, data, tmp_path):
    mixed = tmp_path / "mixed"
    for name in ("testA", "testB"):
        (mixed / name).mkdir(parents=True)
        for f in (data / name).iterdir():
            (mixed / name / f.name).write_bytes(f.read_bytes())
    (mixed / "testB" / "broken.jpg").write_bytes(b"\xff\xd8\xff not really a JPEG")
    events = run(EVALUATE, {"model": "both", "judge": "judge", "data": mixed}, store)
    _, figures = outputs(events)
    assert figures["pictures"]["testB"] == 3
    assert figures["skipped"][0].startswith("testB: broken.jpg: ")
    assert any(isinstance(e, Log) and "broken.jpg" in e.message for e in events)


def test_stop_ends_it_between_pictures(store, data):
    with pytest.raises(Cancelled):
        run(EVALUATE, {"model": "both", "judge": "judge", "data": data}, store, cancel_after=2)


def test_train_judge_writes_a_judge_and_resumes(tmp_path, user_data):
    data = tmp_path / "pictures"
    for name, smooth, count in (("trainA", True, 10), ("trainB", False, 10),
                                ("testA", True, 2), ("testB", False, 2)):
        write_pictures(data / name, count, smooth, seed=len(name) + count)
    store = ModelStore([tmp_path / "models"])
    values = {"data": data, "model_id": "tiny_judge", "steps": 4, "batch_size": 4, "width": 2,
              "scale": SCALE, "crop": 16, "eval_interval": 2}
    events = run(TRAIN_JUDGE, values, store)
    card = store.get("tiny_judge")
    assert card.capability == "paint-judge" and card.architecture == "monet-judge-cnn"
    assert card.config["scale"] == SCALE and card.config["crop"] == 16
    q = card.quality
    assert q["steps"] == 4 and q["chosen_step"] in (2, 4) and q["held_out_pictures"] == 2
    assert 0 <= q["test_accuracy"] <= 1 and q["test_pictures"] == 4
    assert "--model-id tiny_judge" in card.command and "--steps 4" in card.command
    assert [e.data["held_out_accuracy"] for e in events if isinstance(e, Preview)]
    # the judge it wrote judges
    _, figures = outputs(run(EVALUATE, {"model": "both", "judge": "tiny_judge", "data": data},
                             _with(store, tmp_path)))
    assert figures["judge"] == "tiny_judge"
    events = run(TRAIN_JUDGE, {**values, "steps": 6, "resume": True}, store)
    assert any(isinstance(e, Log) and "resuming tiny_judge at step 4" in e.message
               for e in events)
    assert store.get("tiny_judge").quality["steps"] == 6


def _with(store: ModelStore, tmp_path: Path) -> ModelStore:
    """``store`` plus a random two-way paint model."""
    root = tmp_path / "more"
    if not (root / "both").is_dir():
        write_cyclegan(root / "both", ("a2b", "b2a"), {"a": "Monet", "b": "photo"})
    return ModelStore([root, *store.roots])


def test_train_judge_refuses_bad_input(tmp_path, user_data):
    store = ModelStore([tmp_path / "models"])
    with pytest.raises(TaskFailed, match="trainA is missing: it should hold Monet") as info:
        run(TRAIN_JUDGE, {"data": tmp_path, "steps": 1}, store)
    assert info.value.bad_input
    with pytest.raises(TaskFailed, match="--crop 64 is larger than --scale 32"):
        run(TRAIN_JUDGE, {"data": tmp_path, "scale": 32, "crop": 64}, store)


def test_the_shipped_judge(user_data):
    store = ModelStore()
    card = store.get("paint.monet_judge")
    assert (card.capability, card.architecture) == ("paint-judge", "monet-judge-cnn")
    assert card.size < 1_000_000 and store.verify("paint.monet_judge") == []
    assert card.config["scale"] == 256 and card.quality["test_accuracy"] > 0.8
    _, judge = load_judge(Context(models=store), "paint.monet_judge")
    picture = np.random.default_rng(0).integers(0, 256, (256, 320, 3), dtype=np.uint8)
    assert 0 <= monet_probability(judge, picture, False) <= 1


def test_grid_grain_finds_a_checkerboard():
    from studio_paint.grain import grid_grain

    rng = np.random.default_rng(0)
    small = rng.integers(0, 256, (6, 6, 3), dtype=np.uint8)
    smooth = np.asarray(Image.fromarray(small).resize((300, 260), Image.Resampling.BICUBIC))
    noisy = np.clip(smooth + rng.normal(0, 4, smooth.shape), 0, 255).astype(np.uint8)
    yy, xx = np.mgrid[:260, :300]
    checker = np.where((yy + xx) % 2 == 0, 6, -6)[..., None]
    checkered = np.clip(noisy.astype(int) + checker, 0, 255).astype(np.uint8)
    assert grid_grain(noisy) < 3  # no peak at the grid's periods
    assert grid_grain(checkered) > 30
    with pytest.raises(ValueError, match="a 12x40 picture is too small to measure its grain"):
        grid_grain(noisy[:40, :12])

