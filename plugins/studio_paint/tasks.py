"""``paint.translate``: a photo (or a folder of photos) through a CycleGAN generator, at its
own size. The other paint tasks live beside their parts (train.py, evaluate.py, style.py)."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from studio.errors import UserError
from studio.tasks import Context, Event, Log, Output, Progress, Task, param
from studio_paint.kinds import CYCLEGAN

DEFAULT_MODEL = "paint.monet"
IMAGE_FILTER = "Images (*.png *.jpg *.jpeg *.webp *.bmp *.tif *.tiff *.gif)"


@dataclass
class TranslateParams:
    image: Path = param(help="a photo, or a folder of photos (each is translated in turn)",
                        filter=IMAGE_FILTER)
    model: str = param(DEFAULT_MODEL, model="paint", architecture=CYCLEGAN,
                       help="the CycleGAN model (see `studio models list`)")
    direction: str = param("auto", choices=("auto", "a2b", "b2a"),
                           help="a2b: domain A to B, b2a: B to A (see the model's card); auto: "
                                "the model's own direction (photo to Monet for paint.monet)")
    scale: str = param("2x", help="working resolution: auto (the scale the model was trained "
                                    "at, as its makers advise: short side = training crop x "
                                    "286/256), 2x, 3x... (finer detail, lighter style; 2x keeps "
                                    "a large photo's detail where auto blurs it), full "
                                    "(the photo's own pixels) or a short side in pixels, e.g. "
                                    "720; the result always has the photo's size")
    strength: float = param(1.0, min=0.0, max=1.0,
                            help="how much of the painting over the photo (0: the photo)")
    tile: int = param(512, min=128, max=8192, advanced=True,
                      help="pictures up to this many pixels square go through whole; larger "
                           "ones in tiles that share the whole picture's statistics (the same "
                           "result in less memory; smaller tiles also stop sooner on Stop)")
    precision: str = param("auto", choices=("auto", "bf16", "fp32"), advanced=True,
                           help="bf16: bfloat16 arithmetic (auto: where the device has it)")


def picture_files(path: Path) -> tuple[list[Path], list[str]]:
    """The pictures ``path`` names: itself, or the files of a folder with a picture's suffix
    (sorted by name); and the names of the folder's other entries, skipped. An empty choice
    is refused."""
    from studio.imageio import IMAGE_SUFFIXES

    if not path.is_dir():
        return [path], []
    found, skipped = [], []
    for entry in sorted(path.iterdir(), key=lambda e: e.name.lower()):
        if entry.name.startswith("."):
            continue
        if entry.suffix.lower() in IMAGE_SUFFIXES:
            found.append(entry)  # a folder named like a picture is reported when read
        else:
            skipped.append(entry.name + ("/" if entry.is_dir() else ""))
    if not found:
        kinds = ", ".join(s.lstrip(".") for s in IMAGE_SUFFIXES[:8])
        what = f" (only {_listing(skipped)})" if skipped else ""
        raise UserError(f"{path.name or path} holds no pictures ({kinds}, ...){what}")
    return found, skipped


def paint_translate(p: TranslateParams, ctx: Context) -> Iterator[Event]:
    from studio.device import use_bf16
    from studio.imageio import DEFAULT_MAX_PIXELS, open_image
    from studio_paint.loading import describe, domains, load_generators, pick_direction
    from studio_paint.translate import Translation, translate_image, working_size

    files, skipped = picture_files(p.image)
    batch = p.image.is_dir()
    card, gens = load_generators(ctx, p.model)
    direction = pick_direction(card, gens, p.direction)
    train_size = int(card.config.get("train_size") or 256)
    working_size(256, 256, p.scale, train_size)  # a bad --scale fails before any work
    bf16 = use_bf16(p.precision, ctx.device)
    translation = Translation(gens[direction], ctx.device, bf16, p.tile, ctx.is_cancelled)
    target = domains(card)["b" if direction == "a2b" else "a"]
    yield Log(f"{card.id}: {describe(card, direction)}, in {'bfloat16' if bf16 else 'float32'}"
              f" on {ctx.device}")
    if skipped:
        yield Log(f"skipped {len(skipped)} entries that are not pictures: {_listing(skipped)}")

    failed: list[str] = []
    n = len(files)
    for i, path in enumerate(files):
        label = f"{i + 1}/{n} {path.name}: " if batch else ""
        yield Progress(i / n, f"{label}reading")
        try:
            picture = open_image(path)
            h, w = picture.pixels.shape[:2]
            work = working_size(h, w, p.scale, train_size)
            if work[0] * work[1] > DEFAULT_MAX_PIXELS:
                raise UserError(f"{path.name}: at --scale {p.scale} it would be {work[1]}x"
                                f"{work[0]}, too large to paint; choose a smaller scale")
        except UserError as exc:
            if not batch:
                raise
            failed.append(str(exc))
            yield Log(f"skipped {exc}", "warning")
            continue
        for note in picture.notes:
            yield Log(f"{path.name}: {note}")
        yield Log(f"{path.name}: {w}x{h}, painted at {work[1]}x{work[0]}")
        steps = translate_image(picture.pixels, translation, work, p.strength, label)
        result = yield from _per_image(steps, i, n)
        del picture
        yield Output(result, name=f"{path.stem}-{target}")
        yield Progress((i + 1) / n, f"{label}done")

    if batch:
        yield Progress(1.0, f"{n - len(failed)} of {n} pictures painted")
    if failed:
        if len(failed) == n:
            raise UserError(f"none of the {n} pictures in {p.image.name} could be read "
                            f"({failed[0]})")
        yield Log(f"translated {n - len(failed)} of {n} pictures; {len(failed)} could not be "
                  f"read: {'; '.join(failed)}", "warning")


def _per_image(steps: Iterator[Event], i: int, n: int) -> Iterator[Event]:
    """The events of image ``i`` of ``n``, its progress a share of the whole job's; returns
    what ``steps`` returns."""
    while True:
        try:
            event = next(steps)
        except StopIteration as stop:
            return stop.value
        if isinstance(event, Progress) and event.fraction is not None:
            event = Progress((i + event.fraction) / n, event.message)
        yield event


def _listing(names: list[str], limit: int = 4) -> str:
    shown = ", ".join(names[:limit])
    return shown + (f" and {len(names) - limit} more" if len(names) > limit else "")


TRANSLATE = Task("paint.translate", "Paint a photo", TranslateParams, paint_translate,
                 description="A photo (or a folder of photos) translated by a CycleGAN model, "
                             "e.g. into a Monet, at its own size.")

__all__: list[Any] = ["TRANSLATE", "TranslateParams", "paint_translate", "picture_files"]
