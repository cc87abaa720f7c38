"""Quality you can read: ``paint.evaluate`` measures a paint CycleGAN model with the Monet
judge (``paint.train-judge`` trains it: ``train_judge.py``).

The judge (``classifier.py``) tells Monet paintings from photos. ``paint.evaluate`` translates the
test photos (testB) to Monet and reports the share the judge calls Monet, beside the share of the
same photos untouched and of the real Monet paintings (testA); and the cycle error: each test
picture translated there and back, against itself (mean absolute difference in pixel levels
0-255).

One scale for everything: every picture is first brought to the judge's pixel scale (its
shorter side at the side the judge learned at), translated there and judged there, so that
translated, untouched and painted pictures reach the judge alike (test photos halved and
brought back up are called Monet 20 % of the time by the shipped judge, untouched ones 3 %).
The shipped judge works at monet2photo's own 256 px, one yardstick for models of any training
scale; paint.train cuts its crops from pictures of short side crop x 286/256 (143 px for
paint.monet's 128 px crops), and a model trained at another scale than the judge's is measured
at the judge's with a note saying so. Without a judge (a model with no Monet side) the cycle
runs at the model's own scale.

Folders: ``--data`` holds ``testA`` and ``testB`` as monet2photo does (testA Monet paintings,
testB photos); for a model without a Monet side, testA holds its domain A and testB its domain B.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from studio import paths
from studio.errors import UserError
from studio.tasks import Context, Event, Log, Output, Preview, Progress, Task, param
from studio.training import fp16_tensors, save_tensors
from studio_paint.kinds import CYCLEGAN

if TYPE_CHECKING:
    import numpy as np
    import torch

    from studio.models import ModelCard
    from studio_paint.classifier import JudgeConfig, MonetJudge

DEFAULT_DATA = paths.ASSETS.parent.parent / "shared" / "data" / "images" / "monet2photo"
JUDGE_CAPABILITY = "paint-judge"  # its own list, so translation pickers do not offer it
JUDGE_ARCHITECTURE = "monet-judge-cnn"
CYCLE_UNIT = "mean absolute difference in pixel levels 0-255, uint8 pictures at each step"
GRAIN_UNIT = ("mean over the 8 frequencies of periods 2 and 4 px of the brightness's power "
              "at each, divided by the median power around it (grain.grid_grain): 1 is no "
              "peak")


# ---------------------------------------------------------------------------------------------
# Pictures.


def data_folder(data: Path | None) -> Path:
    """``--data``, or the monet2photo folder beside the checkout when it is not given."""
    folder = Path(data) if data is not None else DEFAULT_DATA
    if not folder.is_dir():
        if data is None:
            raise UserError(f"no --data given, and the monet2photo folder is not at {folder}")
        raise UserError(f"--data {folder}: not a folder")
    return folder


def image_files(folder: Path, what: str) -> list[Path]:
    """The pictures in ``folder`` (by suffix, sorted by name); a missing or empty folder is
    refused with a line naming ``what`` it should hold."""
    from studio.imageio import IMAGE_SUFFIXES

    if not folder.is_dir():
        raise UserError(f"{folder} is missing: it should hold {what}")
    files = sorted(p for p in folder.iterdir()
                   if p.suffix.lower() in IMAGE_SUFFIXES and not p.name.startswith("."))
    if not files:
        raise UserError(f"{folder} holds no pictures: it should hold {what}")
    return files


def at_scale(image: np.ndarray, scale: int) -> np.ndarray:
    """``image`` with its shorter side at ``scale`` px (untouched when it is already), then
    trimmed at the centre to multiples of 4 (what the generator takes)."""
    from studio_paint.translate import resize

    h, w = image.shape[:2]
    if min(h, w) != scale:
        f = scale / min(h, w)
        h, w = max(scale, round(h * f)), max(scale, round(w * f))
        image = resize(image, h, w)
    top, left = (h % 4) // 2, (w % 4) // 2
    return image[top:top + h - h % 4, left:left + w - w % 4]


def _input(image: np.ndarray, device: str) -> torch.Tensor:
    """uint8 (H, W, 3) -> float (1, 3, H, W) in [-1, 1] on ``device``, channels-last."""
    import torch

    from studio_paint.translate import to_tensor

    return to_tensor(image).to(device, memory_format=torch.channels_last)


# ---------------------------------------------------------------------------------------------
# The judge: building, saving, loading, judging.


def write_judge_folder(folder: Path, judge: MonetJudge, cfg: JudgeConfig, scale: int, crop: int,
                       **card_fields: Any) -> ModelCard:
    """``model.safetensors`` (fp16) and ``card.json`` of a judge, in ``folder`` (named by id)."""
    from studio.models import ModelCard, ModelFile, card_path, sha256_file

    folder.mkdir(parents=True, exist_ok=True)
    f = folder / "model.safetensors"
    save_tensors(fp16_tensors(judge.state_dict()), f, metadata={"format": "pt"})
    card = ModelCard(id=folder.name, capability=JUDGE_CAPABILITY,
                     architecture=JUDGE_ARCHITECTURE,
                     config={**cfg.to_dict(), "scale": scale, "crop": crop,
                             "positive": "Monet", "negative": "photo"},
                     files=[ModelFile(f.name, sha256_file(f), f.stat().st_size)], folder=folder,
                     **{"title": folder.name, "licence": "unknown", "training_data": "unknown",
                        "command": "", "quality": {}, **card_fields})
    card.save(card_path(folder))
    return card


def load_judge(ctx: Context, judge_id: str) -> tuple[ModelCard, MonetJudge]:
    import torch

    from studio.models import shape_problems
    from studio_paint.classifier import JudgeConfig, MonetJudge

    card, weights = ctx.load_model(judge_id)
    if card.architecture != JUDGE_ARCHITECTURE:
        raise UserError(f"--judge {judge_id}: a {card.architecture or '?'} model, not a Monet "
                        f"judge ({JUDGE_ARCHITECTURE}, trained by paint.train-judge)")
    judge = MonetJudge(JudgeConfig.from_dict(card.config))
    problems = shape_problems(weights, {k: tuple(v.shape) for k, v in
                                        judge.state_dict().items()})
    if problems:
        raise UserError(f"--judge {judge_id}: the weights do not fit the network: {problems}")
    judge.load_state_dict({k: v.float() if v.is_floating_point() else v
                           for k, v in weights.items()})
    return card, judge.to(ctx.device, memory_format=torch.channels_last).eval()


def monet_probability(judge: MonetJudge, image: np.ndarray, bf16: bool,
                      device: str = "cpu") -> float:
    """The judge's probability that ``image`` (uint8, at the judge's scale) is a Monet."""
    import torch

    with torch.no_grad(), torch.autocast(torch.device(device).type, torch.bfloat16,
                                         enabled=bf16):
        return float(torch.sigmoid(judge(_input(image, device))).item())


# ---------------------------------------------------------------------------------------------
# CycleGAN models.


def translate(gen: Any, image: np.ndarray, bf16: bool, device: str = "cpu") -> np.ndarray:
    """The whole picture through ``gen`` (sides multiples of 4), as uint8."""
    import torch

    from studio_paint.translate import to_uint8

    with torch.no_grad(), torch.autocast(torch.device(device).type, torch.bfloat16,
                                         enabled=bf16):
        return to_uint8(gen(_input(image, device)).cpu())


def _model_scale(card: ModelCard) -> int | None:
    """The short side of the pictures a paint model was trained on (None when unknown)."""
    from studio_paint.translate import load_size

    try:
        return load_size(int(card.config["train_size"]))
    except (KeyError, TypeError, ValueError):
        return None


def monet_side(domains: Any) -> str | None:
    """"a" or "b": the side of a model's ``domains`` named Monet (None when neither is)."""
    if not isinstance(domains, dict):
        return None
    sides = [s for s in ("a", "b") if "monet" in str(domains.get(s, "")).lower()]
    return sides[0] if len(sides) == 1 else None


def _other(side: str) -> str:
    return "b" if side == "a" else "a"


# ---------------------------------------------------------------------------------------------
# paint.evaluate


@dataclass
class EvaluateParams:
    model: str = param("paint.monet", model="paint", architecture=CYCLEGAN,
                       help="the paint CycleGAN model to measure")
    data: Path | None = param(None, help="a folder with testA (Monet paintings) and testB "
                                         "(photos), as monet2photo has them; for a model "
                                         "without a Monet side, its domains A and B (default: "
                                         "../shared/data/images/monet2photo)")
    judge: str = param("paint.monet_judge", model=JUDGE_CAPABILITY,
                       help="the Monet-vs-photo classifier (paint.train-judge trains one)")
    limit: int = param(0, min=0, max=1_000_000,
                       help="at most this many pictures from each folder (0: all)")
    precision: str = param("auto", choices=("auto", "fp32", "bf16"), advanced=True,
                           help="bf16 autocast runs the networks in bfloat16 (auto: where the "
                                "device computes it natively)")


@dataclass
class _Tally:
    """Sums over the pictures of one folder."""

    count: int = 0
    called_monet: int = 0  # untouched, by the judge
    probability: float = 0.0
    translated_monet: int = 0  # translated to Monet, by the judge
    translated_probability: float = 0.0
    cycle_error: float = 0.0
    cycled: int = 0
    grain: float = 0.0  # untouched (grain.grid_grain)
    translated_grain: float = 0.0  # translated to the other side
    translated: int = 0


def _share(n: int, of: int) -> float | None:
    return round(n / of, 4) if of else None


def _mean(total: float, of: int, digits: int = 4) -> float | None:
    return round(total / of, digits) if of else None


def paint_evaluate(p: EvaluateParams, ctx: Context) -> Iterator[Event]:
    import numpy as np

    from studio.device import use_bf16
    from studio.imageio import read_image
    from studio_paint.grain import grid_grain
    from studio_paint.loading import load_generators

    folder = data_folder(p.data)
    card, gens = load_generators(ctx, p.model)
    domains = card.config.get("domains", {}) if isinstance(card.config, dict) else {}
    names = {s: str(domains.get(s, s.upper())) if isinstance(domains, dict) else s.upper()
             for s in ("a", "b")}
    monet = monet_side(domains)
    # which side of the model each folder holds
    sides = {"testA": monet or "a", "testB": _other(monet) if monet else "b"}
    notes: list[str] = []
    judge = judge_card = None
    to_monet = f"{_other(monet)}2{monet}" if monet else ""
    if monet is None:
        notes.append(f"{p.model} translates {names['a']} and {names['b']}, neither of them "
                     "Monet: the Monet judge's figures are skipped")
    else:
        judge_card, judge = load_judge(ctx, p.judge)
        if gens.get(to_monet) is None:
            notes.append(f"{p.model} has no {names[_other(monet)]} -> {names[monet]} generator "
                         f"({to_monet}): only untouched pictures are judged")
    cycle = all(gens.get(d) is not None for d in ("a2b", "b2a"))
    if not cycle:
        only = next(d for d in ("a2b", "b2a") if gens.get(d) is not None)
        notes.append(f"{p.model} has one direction ({only}) only: the cycle error is skipped")
    if judge is None and not cycle:
        raise UserError(f"nothing to measure: {p.model} has no Monet side for the judge and "
                        "one direction only, so no cycle either")
    own = _model_scale(card)
    scale = int(judge_card.config["scale"]) if judge_card is not None else own or 256
    if own and abs(own - scale) > 0.1 * scale:
        notes.append(f"{p.model} was trained at {own} px (short side) and is measured here at "
                     f"{scale} px, {p.judge}'s scale; a judge trained at {own} px "
                     f"(paint.train-judge --scale {own}) would measure it at its own")
    bf16 = use_bf16(p.precision, ctx.device)

    what = {"testA": f"{names[sides['testA']]} pictures (the model's domain "
                     f"{sides['testA'].upper()})",
            "testB": f"{names[sides['testB']]} pictures (the model's domain "
                     f"{sides['testB'].upper()})"}
    files = {name: image_files(folder / name, what[name]) for name in ("testA", "testB")}
    if p.limit:
        files = {name: found[:p.limit] for name, found in files.items()}
    for note in notes:
        yield Log(note, "warning")
    yield Log(f"{p.model} on {folder}: {len(files['testA'])} testA and {len(files['testB'])} "
              f"testB pictures at {scale} px" + (f", judged by {p.judge}" if judge else "")
              + (" (bfloat16)" if bf16 else ""))

    tallies = {name: _Tally() for name in files}
    skipped: list[str] = []
    total, done = sum(len(f) for f in files.values()), 0
    for name, found in files.items():
        side = sides[name]
        there, back = f"{side}2{_other(side)}", f"{_other(side)}2{side}"
        tally = tallies[name]
        for path in found:
            if ctx.is_cancelled():
                return
            done += 1
            try:
                image = at_scale(read_image(path), scale)
            except (OSError, ValueError, UserError) as exc:  # one line naming the file
                skipped.append(f"{name}: {str(exc).splitlines()[0]}")
                yield Log(f"skipped {skipped[-1]}", "warning")
                continue
            tally.count += 1
            tally.grain += grid_grain(image)
            shown = None
            if judge is not None:
                prob = monet_probability(judge, image, bf16, ctx.device)
                tally.probability += prob
                tally.called_monet += prob > 0.5
            translated = (translate(gens[there], image, bf16, ctx.device)
                          if gens.get(there) is not None and (cycle or there == to_monet)
                          else None)
            if translated is not None:
                tally.translated_grain += grid_grain(translated)
                tally.translated += 1
            if translated is not None and judge is not None and there == to_monet:
                prob = monet_probability(judge, translated, bf16, ctx.device)
                tally.translated_probability += prob
                tally.translated_monet += prob > 0.5
                shown = translated
            if cycle and translated is not None:
                restored = translate(gens[back], translated, bf16, ctx.device)
                tally.cycle_error += float(np.abs(restored.astype(np.float32)
                                                  - image.astype(np.float32)).mean())
                tally.cycled += 1
                shown = np.concatenate([image, translated, restored], 1)
            if shown is not None:
                yield Preview(shown, label=f"{name}/{path.name}")
            yield Progress(done / total, f"{name} {path.name} ({done}/{total})")
    for name, tally in tallies.items():
        if tally.count == 0:
            raise UserError(f"none of the pictures in {folder / name} could be read")

    judged = to_monet if judge is not None and gens.get(to_monet) is not None else ""
    figures = _figures(card, judge_card, folder, scale, bf16, names, sides, judged, cycle,
                       tallies, notes, skipped)
    yield Output(_summary(figures, names, sides), name="evaluation")
    yield Output((json.dumps(figures, indent=2, ensure_ascii=False) + "\n").encode("utf-8"),
                 name="quality", suffix=".json")


def _figures(card: ModelCard, judge_card: ModelCard | None, folder: Path,
             scale: int, bf16: bool, names: dict[str, str], sides: dict[str, str],
             to_monet: str, cycle: bool, tallies: dict[str, _Tally],
             notes: list[str], skipped: list[str]) -> dict[str, Any]:
    """What paint.evaluate measured, as JSON ready for a model card's "quality". ``to_monet``:
    the direction the photos were translated to Monet in ("" for none)."""
    a, b = tallies["testA"], tallies["testB"]
    out: dict[str, Any] = {
        "evaluated_with": "paint.evaluate",
        "model": card.id,
        "data": str(folder),
        "pictures": {"testA": a.count, "testB": b.count},
        "scale_px": scale,
        "precision": "bf16" if bf16 else "fp32",
    }
    if judge_card is not None:
        out["judge"] = judge_card.id
        if "test_accuracy" in judge_card.quality:
            out["judge_test_accuracy"] = judge_card.quality["test_accuracy"]
        out["monet_share"] = {
            "translated_photos": _share(b.translated_monet, b.count) if to_monet else None,
            "untouched_photos": _share(b.called_monet, b.count),
            "real_monets": _share(a.called_monet, a.count),
        }
        out["mean_monet_probability"] = {
            "translated_photos": _mean(b.translated_probability, b.count) if to_monet
            else None,
            "untouched_photos": _mean(b.probability, b.count),
            "real_monets": _mean(a.probability, a.count),
        }
        if to_monet:
            out["translated_with"] = to_monet
    if cycle:
        out["cycle_error_testA"] = _mean(a.cycle_error, a.cycled, 2)
        out["cycle_error_testB"] = _mean(b.cycle_error, b.cycled, 2)
        out["cycle_paths"] = {
            "testA": f"{names[sides['testA']]} -> {names[sides['testB']]} -> "
                     f"{names[sides['testA']]}",
            "testB": f"{names[sides['testB']]} -> {names[sides['testA']]} -> "
                     f"{names[sides['testB']]}"}
        out["cycle_error_unit"] = CYCLE_UNIT
    out["grid_grain"] = {
        f"{names[sides['testB']]} translated": _mean(b.translated_grain, b.translated, 1),
        f"{names[sides['testB']]} untouched": _mean(b.grain, b.count, 1),
        f"{names[sides['testA']]} translated": _mean(a.translated_grain, a.translated, 1),
        f"{names[sides['testA']]} untouched": _mean(a.grain, a.count, 1),
    }
    out["grid_grain_unit"] = GRAIN_UNIT
    out["notes"] = notes
    if skipped:
        out["skipped"] = skipped
    return out


def _percent(x: float | None) -> str:
    return "   -  " if x is None else f"{100 * x:5.1f} %"


def _summary(f: dict[str, Any], names: dict[str, str], sides: dict[str, str]) -> str:
    lines = [f"{f['model']} on {f['data']}: {f['pictures']['testA']} testA and "
             f"{f['pictures']['testB']} testB pictures at {f['scale_px']} px ({f['precision']})"]
    if "monet_share" in f:
        share, prob = f["monet_share"], f["mean_monet_probability"]
        lines += ["", f"Called Monet by {f['judge']} (share; mean probability):"]
        rows = [("photos translated to Monet (testB, " + f.get("translated_with", "-") + ")",
                 "translated_photos"),
                ("the same photos untouched (testB)", "untouched_photos"),
                ("real Monet paintings (testA)", "real_monets")]
        for label, key in rows:
            p = "" if prob[key] is None or share[key] is None else f"   {prob[key]:.2f}"
            lines.append(f"  {label:<44} {_percent(share[key])}{p}")
    if "cycle_error_testA" in f:
        lines += ["", "Cycle error (mean absolute difference, pixel levels 0-255):"]
        for name in ("testA", "testB"):
            lines.append(f"  {name}  {f['cycle_paths'][name]:<28} {f[f'cycle_error_{name}']:6.2f}")
    lines += ["", "Grid grain (power at periods of 2 and 4 px over its neighbours'; photos: a "
                  "few):"]
    for label, value in f["grid_grain"].items():
        if value is not None:
            lines.append(f"  {label:<44} {value:7.1f}")
    if f["notes"]:
        lines += [""] + [f"note: {n}" for n in f["notes"]]
    if f.get("skipped"):
        lines += [f"skipped {len(f['skipped'])} unreadable pictures:"] + [
            f"  {s}" for s in f["skipped"]]
    return "\n".join(lines) + "\n"


EVALUATE = Task("paint.evaluate", "Measure a paint model", EvaluateParams, paint_evaluate,
                "The share of translated test photos a Monet judge calls Monet, beside untouched "
                "photos and real Monets, and the cycle error, as text and JSON.")
