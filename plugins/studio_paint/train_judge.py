"""``paint.train-judge``: the Monet judge ``paint.evaluate`` measures with (``classifier.py``),
trained on ``trainA`` (Monet) and ``trainB`` (photos) of a monet2photo-like folder, holding back
every tenth picture of each to choose the step, with its accuracy on testA and testB."""

from __future__ import annotations

import re
import time
from collections.abc import Iterator
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from studio.errors import UserError
from studio.tasks import Context, Event, Log, Preview, Progress, Task, param
from studio.training import (
    command_line,
    fp16_tensors,
    optimizer_tensors,
    read_checkpoint,
    restore_optimizer,
    restore_rng,
    rng_state,
    save_checkpoint,
    user_models_dir,
)
from studio_paint.evaluate import (
    DEFAULT_DATA,
    at_scale,
    data_folder,
    image_files,
    monet_probability,
    write_judge_folder,
)

if TYPE_CHECKING:
    import numpy as np

    from studio_paint.classifier import MonetJudge


STATE_DIR = "train_state"
HELD_OUT_EVERY = 10  # every tenth training picture (by sorted name) chooses the step
ID_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$")
# ../shared/data/SOURCES.md on the default data, for the card of a judge trained on it
MONET2PHOTO_LICENCE = (
    "Trained on a 1,200-picture subset of the CycleGAN monet2photo data (Zhu, Park, Isola, "
    "Efros, ICCV 2017). trainA/testA, Monet's paintings from WikiArt, are public domain; "
    "trainB/testB, photos the CycleGAN authors collected from Flickr, carry their "
    "photographers' rights (the source repository states no licence): fine for training and "
    "experiments, review before commercial use. The weights hold no pictures.")


@dataclass
class TrainJudgeParams:
    data: Path | None = param(None, help="a folder with trainA (Monet paintings) and trainB "
                                         "(photos), and testA / testB for the test accuracy "
                                         "(default: ../shared/data/images/monet2photo)")
    model_id: str = param("paint.my_judge", help="name of the trained judge")
    steps: int = param(3000, min=1, max=1_000_000, help="training steps in all")
    batch_size: int = param(32, min=2, max=1024, advanced=True,
                            help="crops per step, half Monet and half photo")
    width: int = param(16, min=2, max=128, advanced=True, help="channels of the first conv")
    scale: int = param(256, min=16, max=2048, advanced=True,
                       help="the pixel scale pictures are judged at: their shorter side is "
                            "brought to it (monet2photo's pictures are 256 x 256; paint.train "
                            "cuts its crops from pictures of short side crop x 286/256, 143 px "
                            "for 128 px crops)")
    crop: int = param(128, min=16, max=2048, advanced=True,
                      help="side of the random square crops it trains on (at most --scale)")
    lr: float = param(2e-3, min=0.0, max=1.0, advanced=True,
                      help="AdamW learning rate, falling linearly to 0 at the last step")
    precision: str = param("auto", choices=("auto", "fp32", "bf16"), advanced=True,
                           help="bf16 autocast runs the products in bfloat16 (auto: where the "
                                "device computes them natively)")
    eval_interval: int = param(250, min=1, max=1_000_000, advanced=True,
                               help="steps between measurements on the held-out pictures "
                                    "(and checkpoints)")
    resume: bool = param(False, help="continue from this judge's checkpoint")


def _load_pictures(files: list[Path], scale: int) -> tuple[list[np.ndarray], list[str]]:
    """The readable pictures at ``scale``, and a line for each unreadable one."""
    from studio.imageio import read_image

    pictures, skipped = [], []
    for path in files:
        try:
            pictures.append(at_scale(read_image(path), scale))
        except (OSError, ValueError, UserError) as exc:
            skipped.append(str(exc).splitlines()[0])
    return pictures, skipped


def _crop_batch(pictures: list[np.ndarray], count: int, crop: int, rng: np.random.Generator
                ) -> np.ndarray:
    """``count`` random ``crop`` squares, each from a random picture, half of them mirrored."""
    import numpy as np

    out = np.empty((count, crop, crop, 3), np.uint8)
    for i, k in enumerate(rng.integers(len(pictures), size=count)):
        pic = pictures[k]
        top = rng.integers(pic.shape[0] - crop + 1)
        left = rng.integers(pic.shape[1] - crop + 1)
        patch = pic[top:top + crop, left:left + crop]
        out[i] = patch[:, ::-1] if rng.random() < 0.5 else patch
    return out


def judge_accuracy(judge: MonetJudge, monets: list[np.ndarray], photos: list[np.ndarray],
                   bf16: bool, device: str = "cpu") -> dict[str, float]:
    """The judge on whole pictures: the share of Monets it calls Monet, of photos it calls
    photo, their mean, and the mean log loss."""
    import math

    judge.eval()
    called, loss = {}, 0.0
    for name, pictures, positive in (("monets", monets, True), ("photos", photos, False)):
        right = 0
        for pic in pictures:
            p = min(max(monet_probability(judge, pic, bf16, device), 1e-7), 1 - 1e-7)
            right += (p > 0.5) == positive
            loss -= math.log(p if positive else 1 - p)
        called[name] = right / max(1, len(pictures))
    n = max(1, len(monets) + len(photos))
    return {"accuracy": (called["monets"] + called["photos"]) / 2,
            "monets_called_monet": called["monets"], "photos_called_photo": called["photos"],
            "log_loss": loss / n}


def train_judge(p: TrainJudgeParams, ctx: Context) -> Iterator[Event]:
    import copy

    import numpy as np
    import torch
    import torch.nn.functional as F

    from studio.device import use_bf16
    from studio_paint.classifier import JudgeConfig, MonetJudge, parameter_count

    if not ID_RE.match(p.model_id):
        raise ValueError(f"--model-id {p.model_id!r}: use letters, digits, '.', '_' or '-'")
    if p.crop > p.scale:
        raise ValueError(f"--crop {p.crop} is larger than --scale {p.scale}")
    folder = data_folder(p.data)
    device = ctx.device
    out_dir = user_models_dir(ctx) / p.model_id
    state_dir = out_dir / STATE_DIR
    saved = read_checkpoint(state_dir) if p.resume else None
    if p.resume and saved is None:
        yield Log(f"no checkpoint for {p.model_id}; starting afresh", "warning")
    if saved is not None:
        cfg = JudgeConfig.from_dict(saved["config"])
        scale, crop = int(saved["scale"]), int(saved["crop"])
        if (cfg.width, scale, crop) != (p.width, p.scale, p.crop):
            yield Log(f"resuming {p.model_id}: it keeps width {cfg.width}, scale {scale}, "
                      f"crop {crop}, as it began", "warning")
    else:
        cfg, scale, crop = JudgeConfig(width=p.width), p.scale, p.crop

    yield Progress(None, "reading the pictures")
    train_files = {"trainA": image_files(folder / "trainA", "Monet paintings"),
                   "trainB": image_files(folder / "trainB", "photos")}
    sets: dict[str, list[np.ndarray]] = {}
    for name, files in train_files.items():
        held = [f for i, f in enumerate(files) if i % HELD_OUT_EVERY == HELD_OUT_EVERY - 1]
        kept = [f for f in files if f not in set(held)]
        sets[name], skipped = _load_pictures(kept, scale)
        sets[name + "_held"], skipped_held = _load_pictures(held, scale)
        for line in skipped + skipped_held:
            yield Log(f"skipped {name}: {line}", "warning")
        if not sets[name] or not sets[name + "_held"]:
            raise UserError(f"{folder / name}: too few readable pictures to train on and hold "
                            f"some back (one in {HELD_OUT_EVERY})")
    tests: dict[str, list[np.ndarray]] = {}
    for name in ("testA", "testB"):
        if (folder / name).is_dir():
            tests[name], _ = _load_pictures(image_files(folder / name, "test pictures"), scale)
    if len(tests) < 2 or not all(tests.values()):
        tests = {}
        yield Log(f"{folder} lacks readable testA and testB: no test accuracy", "warning")
    yield Log(f"{len(sets['trainA'])} Monets and {len(sets['trainB'])} photos to train on, "
              f"{len(sets['trainA_held'])} and {len(sets['trainB_held'])} held back, "
              f"{crop} px crops at {scale} px")

    judge = MonetJudge(cfg).to(device, memory_format=torch.channels_last)
    opt = torch.optim.AdamW(judge.parameters(), lr=p.lr, weight_decay=1e-4)
    g = torch.Generator().manual_seed(ctx.seed)  # its state rides in the checkpoint
    rng = np.random.default_rng(ctx.seed)
    step, seconds, seed, history = 0, 0.0, ctx.seed, []
    best: dict[str, Any] = {}
    best_weights = None
    if saved is not None:
        judge.load_state_dict(saved["model"])
        restore_optimizer(opt, saved["opt"], saved["groups"])
        restore_rng(g, saved["rng"])
        rng.bit_generator.state = saved["numpy_rng"]
        step, seconds, seed = saved["step"], saved["train_seconds"], saved["seed"]
        history, best = saved.get("history", []), saved.get("best", {})
        best_weights = saved.get("best_model")
        yield Log(f"resuming {p.model_id} at step {step}")
    yield Log(f"judge: {parameter_count(judge):,} parameters on {device}")
    bf16 = use_bf16(p.precision, device)
    autocast = torch.autocast(torch.device(device).type, dtype=torch.bfloat16, enabled=bf16)
    command = command_line(TRAIN_JUDGE, replace(p, width=cfg.width, scale=scale, crop=crop),
                           seed)
    data_name = str(p.data) if p.data is not None else "../shared/data/images/monet2photo"
    default_data = folder.resolve() == DEFAULT_DATA.resolve()
    licence = MONET2PHOTO_LICENCE if default_data else (
        f"the licence of the training pictures applies ({data_name})")

    def register() -> None:
        """The best judge so far into the store, with its test accuracy."""
        chosen = MonetJudge(cfg).to(device, memory_format=torch.channels_last)
        chosen.load_state_dict(fp16_tensors(best_weights))  # measured as it is saved
        quality: dict[str, Any] = {
            "steps": step, "chosen_step": best["step"], "train_minutes": round(seconds / 60, 1),
            "held_out_accuracy": round(best["accuracy"], 4),
            "held_out_pictures": len(sets["trainA_held"]) + len(sets["trainB_held"]),
            "judged_at_px": scale, "trained_on_crops_px": crop}
        if tests:
            t = judge_accuracy(chosen, tests["testA"], tests["testB"], bf16, device)
            quality |= {"test_accuracy": round(t["accuracy"], 4),
                        "testA_called_monet": round(t["monets_called_monet"], 4),
                        "testB_called_photo": round(t["photos_called_photo"], 4),
                        "test_pictures": len(tests["testA"]) + len(tests["testB"])}
        write_judge_folder(
            out_dir, chosen, cfg, scale, crop, title=f"{p.model_id} (Monet or photo?)",
            licence=licence,
            training_data=f"{data_name}: trainA as Monet, trainB as photo; every "
                          f"{HELD_OUT_EVERY}th picture of each held back to choose the step",
            command=command, quality=quality,
            description=f"A {parameter_count(chosen):,}-parameter Monet-vs-photo classifier "
                        f"for paint.evaluate, trained with paint.train-judge on {crop} px crops "
                        f"and judging whole pictures at {scale} px; the step with the best "
                        f"held-out accuracy ({best['step']} of {step}).")

    judge.train()
    half = p.batch_size // 2
    labels = torch.cat([torch.ones(half), torch.zeros(p.batch_size - half)]).to(device)
    losses: list[float] = []
    started = time.perf_counter()
    while step < p.steps:
        for group in opt.param_groups:
            group["lr"] = p.lr * (1 - step / p.steps)
        crops = np.concatenate([_crop_batch(sets["trainA"], half, crop, rng),
                                _crop_batch(sets["trainB"], p.batch_size - half, crop, rng)])
        x = torch.from_numpy(crops).to(device).permute(0, 3, 1, 2).float() / 127.5 - 1
        x = x.contiguous(memory_format=torch.channels_last)
        with autocast:
            loss = F.binary_cross_entropy_with_logits(judge(x), labels)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        losses.append(loss.item())
        step += 1
        yield Progress(step / p.steps, f"step {step}/{p.steps} loss {losses[-1]:.3f}")
        if step % p.eval_interval == 0 or step == p.steps:
            seconds += time.perf_counter() - started
            held = judge_accuracy(judge, sets["trainA_held"], sets["trainB_held"], bf16, device)
            judge.train()
            point = {"step": step, "loss": float(np.mean(losses)),
                     "held_out_accuracy": held["accuracy"], "held_out_loss": held["log_loss"],
                     "minutes": round(seconds / 60, 1)}
            history.append(point)
            losses.clear()
            better = not best or (held["accuracy"], -held["log_loss"]) > (
                best["accuracy"], -best["log_loss"])
            if better:
                best = {"step": step, "accuracy": held["accuracy"],
                        "log_loss": held["log_loss"]}
                best_weights = copy.deepcopy(judge.state_dict())
            og, groups = optimizer_tensors(opt)
            save_checkpoint(state_dir, step,
                            {"model": judge.state_dict(), "opt": og, "best_model": best_weights},
                            {"config": cfg.to_dict(), "scale": scale, "crop": crop, "seed": seed,
                             "train_seconds": seconds, "groups": groups, "rng": rng_state(g),
                             "numpy_rng": rng.bit_generator.state, "history": history,
                             "best": best})
            if better or step == p.steps:
                register()
            yield Log(f"step {step}: loss {point['loss']:.3f}, held-out accuracy "
                      f"{held['accuracy']:.3f} (log loss {held['log_loss']:.3f})"
                      + (" (best so far)" if better else ""))
            yield Preview({k: v for k, v in point.items() if k != "step"}, label=f"step {step}")
            started = time.perf_counter()
    if saved is not None and step == saved["step"] and best_weights is not None:
        register()  # a finished run resumed: its card written afresh
    yield Log(f"{p.model_id} saved to {out_dir}: the judge of step {best.get('step')}, "
              f"held-out accuracy {best.get('accuracy', 0):.3f}")


TRAIN_JUDGE = Task("paint.train-judge", "Train the Monet judge", TrainJudgeParams, train_judge,
                   "Trains the small Monet-vs-photo classifier that paint.evaluate measures "
                   "translations with.", grad=True)
