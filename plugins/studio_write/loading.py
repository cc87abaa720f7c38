"""From the model store to a ready GPT and its tokenizer, and back (saving a trained model).

A write model is a folder with ``model.safetensors`` (fp16, GPT-2 key names, no ``lm_head``:
it is tied to ``transformer.wte``), ``tokenizer.json`` and ``card.json`` whose ``config`` holds
the GPTConfig fields.
"""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Any

import torch

from studio_write.gpt import GPT, GPTConfig
from studio_write.tokenizer import TextTokenizer

TIED = "lm_head.weight"
_cache: dict[tuple, tuple[GPT, TextTokenizer]] = {}
_lock = threading.Lock()


class WeightsError(ValueError):
    """The weights do not fit the architecture; the message lists the keys."""


def check_state_dict(model: GPT, weights: dict[str, torch.Tensor]) -> None:
    """Raise WeightsError naming missing keys, unexpected keys and shape mismatches."""
    from studio.models import shape_problems

    want = {k: tuple(v.shape) for k, v in model.state_dict().items() if k != TIED}
    problems = shape_problems({k: v for k, v in weights.items() if k != TIED}, want)
    if problems:
        raise WeightsError(problems)


def build(config: dict[str, Any], weights: dict[str, torch.Tensor], device: str = "cpu") -> GPT:
    fields = GPTConfig.__dataclass_fields__
    model = GPT(GPTConfig(**{k: v for k, v in config.items() if k in fields}))
    check_state_dict(model, weights)
    dtype = torch.float32 if device == "cpu" else torch.float16
    model.load_state_dict({k: v for k, v in weights.items() if k != TIED}, strict=False)
    model = model.to(device=device, dtype=dtype).eval()
    return model.column_major() if device == "cpu" else model


def load(ctx: Any, model_id: str) -> tuple[GPT, TextTokenizer, Any]:
    """The model and tokenizer of ``model_id`` on the context's device, kept in memory for the
    next run with the same weights."""
    card, weights = ctx.load_model(model_id)
    key = (card.id, card.weights_sha256, ctx.device)
    with _lock:
        if key not in _cache:
            if card.folder is None:
                raise ValueError(f"model {card.id} has no folder")
            tokenizer = TextTokenizer.load(Path(card.folder) / "tokenizer.json")
            model = build(card.config, weights, ctx.device)
            if tokenizer.vocab_size > model.config.vocab_size:
                raise WeightsError(f"tokenizer has {tokenizer.vocab_size} tokens, the model "
                                   f"only {model.config.vocab_size}")
            _cache.clear()  # one model in memory at a time
            _cache[key] = (model, tokenizer)
        model, tokenizer = _cache[key]
    return model, tokenizer, card


def fp16_state_dict(model: GPT) -> dict[str, torch.Tensor]:
    """What is saved: fp16 copies, without the tied head."""
    return {k: v.detach().to("cpu", torch.float16).contiguous()
            for k, v in model.state_dict().items() if k != TIED}
