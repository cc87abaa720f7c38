"""Paint: turn a photo into a Monet with CycleGAN (or any published CycleGAN generator), repaint
it in the style of any painting, and train CycleGAN on two folders of your own pictures. Hook
implementations only; the parts live in their own modules."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from studio.hookspecs import Capability, hookimpl
from studio.tasks import Task

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".webp", ".bmp", ".tif", ".tiff", ".gif")

ICON = Path(__file__).with_name("icon.svg")  # drawn in the studio's one style


def _tasks() -> list[Task]:
    from studio_paint.evaluate import EVALUATE
    from studio_paint.tasks import TRANSLATE
    from studio_paint.train import TRAIN
    from studio_paint.train_judge import TRAIN_JUDGE

    tasks: list[Task] = [TRANSLATE, TRAIN]
    tasks += [EVALUATE, TRAIN_JUDGE]
    from studio_paint.style_tasks import FAST, GET_VGG19, STYLE
    from studio_paint.train_style import TRAIN_STYLE

    tasks += [STYLE, FAST, TRAIN_STYLE, GET_VGG19]
    # each task's module adds its import and entry here
    return tasks


def _panel(host):
    from studio_paint.ui.panel import PaintPanel

    return PaintPanel(host)


@hookimpl
def studio_capabilities() -> list[Capability]:
    return [Capability("paint", "Paint", _tasks(), accepts=IMAGE_SUFFIXES, panel=_panel,
                       description="Photos painted as Monet would, or in any painting's style.",
                       icon=ICON)]


@hookimpl
def studio_models() -> list[Any]:
    models: list[Any] = []
    from studio_paint.style_tasks import vgg19_card

    models.append(vgg19_card())
    from studio_paint.catalogue import published_cards

    models += published_cards()
    # the published generators' catalogue and other cards are added here
    return models
