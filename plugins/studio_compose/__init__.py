"""Compose: MuseGAN four-voice music you can steer, hear, see as a piano roll and export.
Hook implementations only; the parts live in their own modules."""

from __future__ import annotations

from pathlib import Path

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
