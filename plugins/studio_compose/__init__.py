"""Compose: MuseGAN four-voice music you can steer, hear, see as a piano roll and export.
Hook implementations only; the parts live in their own modules."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from studio.hookspecs import Capability, hookimpl
from studio.tasks import Task
from studio_compose.tasks import (
    GenerateParams,
    MetricsParams,
    RenderParams,
    compose_generate,
    compose_metrics,
    compose_render,
)
from studio_compose.train import TRAIN

GENERATE = Task("compose.generate", "Compose", GenerateParams, compose_generate,
                "Four-voice music from MuseGAN, as MIDI and WAV; re-roll any one input.")
RENDER = Task("compose.render", "Play a score", RenderParams, compose_render,
              "Renders a MIDI or MusicXML file to WAV, with voices muted or soloed.")
METRICS = Task("compose.metrics", "Measure the music", MetricsParams, compose_metrics,
               "The MuseGAN paper's metrics for real music and for a model, side by side.")

ICON = Path(__file__).with_name("icon.svg")  # drawn in the studio's one style


def _panel(host):
    from studio_compose.ui.panel import ComposePanel

    return ComposePanel(host)


@hookimpl
def studio_capabilities() -> list[Capability]:
    return [Capability("compose", "Compose", [GENERATE, RENDER, TRAIN, METRICS], panel=_panel,
                       accepts=(".mid", ".midi", ".xml", ".musicxml", ".mxl"),
                       description="Four-voice music with MuseGAN.",
                       icon=ICON)]


def _convert(state: dict[str, Any], card: Any) -> dict[str, Any]:
    from studio_compose.loading import convert_checkpoint  # torch: only when importing

    return convert_checkpoint(state, card)


_convert.reads_any = True  # type: ignore[attr-defined]  # takes any compose checkpoint


@hookimpl
def studio_models() -> list[Any]:
    """The shipped model's id with the converter every imported compose checkpoint goes
    through (``studio models import FILE --id ID --capability compose``): the weights are
    checked against the MuseGAN their card.json (beside them) or ``--config`` describes. The
    shipped card itself shadows this one in every listing."""
    from studio.models import ModelCard

    card = ModelCard(id="compose.chorales", capability="compose", title="A compose model",
                     architecture="musegan", licence="unknown", training_data="unknown")
    card.convert = _convert
    return [card]
