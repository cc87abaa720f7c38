"""Drive: a World Models agent (VAE + MDN-RNN + linear controller) that drives CarRacing, beside
what it sees and what it dreams; collect, train and evaluate it. Hook implementations only; the
parts live in their own modules."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from studio.hookspecs import Capability, hookimpl
from studio.tasks import Task

ICON = Path(__file__).with_name("icon.svg")  # drawn in the studio's one style


def _tasks() -> list[Task]:
    tasks: list[Task] = []
    # each task's module adds its import and entry here
    from studio_drive.collect import COLLECT
    from studio_drive.train_rnn import TRAIN_RNN
    from studio_drive.train_vae import TRAIN_VAE

    tasks += [COLLECT, TRAIN_VAE, TRAIN_RNN]
    from studio_drive.train_controller import TRAIN_CONTROLLER

    tasks.append(TRAIN_CONTROLLER)
    from studio_drive.evaluate import EVALUATE

    tasks.append(EVALUATE)
    from studio_drive.explore import EXPLORE
    from studio_drive.watch import DREAM, WATCH

    tasks[:0] = [WATCH, DREAM, EXPLORE]  # the panel's live views first
    return tasks


def _panel(host: Any) -> Any:
    from studio_drive.ui.panel import panel  # Qt only when the window asks

    return panel(host)


@hookimpl
def studio_capabilities() -> list[Capability]:
    return [Capability("drive", "Drive", _tasks(),
                       description="A World Models agent that drives CarRacing, and dreams.",
                       panel=_panel, accepts=(".csv",),
                       icon=ICON)]


@hookimpl
def studio_models() -> list[Any]:
    return []
