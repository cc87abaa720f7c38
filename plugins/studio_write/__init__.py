"""Write: a GPT that continues your text, streaming token by token with its next-word odds, and
learns from your own text. Hook implementations only; the parts live in their own modules."""

from __future__ import annotations

from pathlib import Path
from typing import Any

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


def _convert(state: dict[str, Any], card: Any) -> dict[str, Any]:
    from studio_write.loading import convert_checkpoint  # torch: only when importing

    return convert_checkpoint(state, card)


_convert.reads_any = True  # type: ignore[attr-defined]  # takes any write checkpoint


@hookimpl
def studio_models() -> list[Any]:
    """The shipped model's id with the converter every imported write checkpoint goes through
    (``studio models import FILE --id ID --capability write``): the GPT's settings are read
    from the weights and checked, and the tokenizer.json beside the checkpoint comes along.
    The shipped card itself shadows this one in every listing."""
    from studio.models import ModelCard, ModelFile

    card = ModelCard(id="write.classics", capability="write", title="A write model",
                     architecture="gpt", files=[ModelFile("tokenizer.json", "", 0)],
                     licence="unknown", training_data="unknown")
    card.convert = _convert
    return [card]
