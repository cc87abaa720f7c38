"""Write: a GPT that continues your text, streaming token by token with its next-word odds, and
learns from your own text. Hook implementations only; the parts live in their own modules."""

from __future__ import annotations

from pathlib import Path

from studio.hookspecs import Capability, hookimpl
from studio.tasks import Task
from studio_write.import_gpt2 import IMPORT_GPT2
from studio_write.tasks import GenerateParams, write_generate
from studio_write.train import TRAIN

GENERATE = Task("write.generate", "Continue a text", GenerateParams, write_generate,
                "Streams a continuation of the prompt, token by token.")

ICON = Path(__file__).with_name("icon.svg")  # drawn in the studio's one style


def _panel(host):
    from studio_write.panel import WritePanel

    return WritePanel(host)


@hookimpl
def studio_capabilities() -> list[Capability]:
    return [Capability("write", "Write", [GENERATE, TRAIN, IMPORT_GPT2], panel=_panel,
                       accepts=(".txt", ".md", ".csv"), description="A GPT that writes with you.",
                       icon=ICON)]
