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


def gpt_config(config: dict[str, Any]) -> GPTConfig:
    """The GPTConfig in a card's ``config`` (other keys are ignored)."""
    fields = GPTConfig.__dataclass_fields__
    return GPTConfig(**{k: v for k, v in config.items() if k in fields})


def load_weights(model: GPT, weights: dict[str, torch.Tensor]) -> None:
    """Checks ``weights`` against ``model`` (WeightsError) and loads them (any float dtype; the
    tied head is ``transformer.wte``'s)."""
    check_state_dict(model, weights)
    model.load_state_dict({k: v for k, v in weights.items() if k != TIED}, strict=False)


def read_tokenizer(card: Any) -> TextTokenizer:
    """The ``tokenizer.json`` in a write model's folder, checked against its vocabulary size."""
    if card.folder is None:
        raise ValueError(f"model {card.id} has no folder")
    tokenizer = TextTokenizer.load(Path(card.folder) / "tokenizer.json")
    vocab_size = gpt_config(card.config).vocab_size
    if tokenizer.vocab_size > vocab_size:
        raise WeightsError(f"tokenizer has {tokenizer.vocab_size} tokens, the model "
                           f"only {vocab_size}")
    return tokenizer


PRECISIONS = ("auto", "half", "float32")
CACHED_BYTES = 32 * 2**20  # float32 weights up to this size stay in a CPU cache as it generates


def cpu_precision(model: GPT) -> str:
    """What ``auto`` means on the CPU. A one-token step reads every weight: for weights that
    do not fit in the CPU's cache, float16 halves the bytes from memory (GPT-2 124M, one thread:
    1.8x faster); weights that fit are read fastest by the float32 product (the 4.2M-parameter
    starter model: float32 as fast or up to 15% faster)."""
    return "half" if 4 * sum(p.numel() for p in model.parameters()) > CACHED_BYTES else "float32"


def build(config: dict[str, Any], weights: dict[str, torch.Tensor], device: str = "cpu",
          precision: str = "auto") -> GPT:
    """A GPT ready to generate on ``device``. ``half``: on the CPU the weight matrices in float16
    (activations float32), elsewhere the whole model in float16; ``float32``: all float32 (on the
    CPU with the matrices laid out column-major, the faster float32 layout for one token);
    ``auto``: half on a GPU, on the CPU see ``cpu_precision``."""
    if precision not in PRECISIONS:
        raise ValueError(f"unknown precision {precision!r} (choose from {', '.join(PRECISIONS)})")
    model = GPT(gpt_config(config))
    load_weights(model, weights)
    model = model.to(device=device).eval()
    if precision == "auto":
        precision = cpu_precision(model) if device == "cpu" else "half"
    if precision == "float32":
        return model.column_major() if device == "cpu" else model
    return model.half_matrices() if device == "cpu" else model.half()


def load(ctx: Any, model_id: str, precision: str = "auto") -> tuple[GPT, TextTokenizer, Any]:
    """The model and tokenizer of ``model_id`` on the context's device, kept in memory for the
    next run with the same weights."""
    card, weights = ctx.load_model(model_id)
    key = (card.id, card.weights_sha256, ctx.device, precision)
    with _lock:
        if key not in _cache:
            tokenizer = read_tokenizer(card)
            try:
                model = build(card.config, weights, ctx.device, precision)
            except WeightsError as exc:
                raise WeightsError(f"model {card.id!r} ({weights_file(card)}) does not fit its "
                                   f"config: {exc}") from None
            _cache.clear()  # one model in memory at a time
            _cache[key] = (model, tokenizer)
        model, tokenizer = _cache[key]
    return model, tokenizer, card


def weights_file(card: Any) -> str:
    """Where a model's weights lie, for messages."""
    name = next((f.name for f in card.files if f.name.endswith(".safetensors")), "?")
    return str(Path(card.folder) / name) if card.folder is not None else name


def fp16_state_dict(model: GPT) -> dict[str, torch.Tensor]:
    """What is saved: fp16 copies, without the tied head."""
    return {k: v.detach().to("cpu", torch.float16).contiguous()
            for k, v in model.state_dict().items() if k != TIED}


def convert_checkpoint(state: dict[str, torch.Tensor], card: Any) -> dict[str, torch.Tensor]:
    """A write checkpoint (our GPT's keys; a tied ``lm_head.weight`` goes) checked against the
    GPT its shapes describe: ``card.config`` gets ``vocab_size``, ``block_size``, ``n_layer``,
    ``n_embd`` and ``bias`` from the weights; ``n_head``, which no shape holds, must already be
    in it (from the model's card.json beside the checkpoint, or ``--config n_head=N``).
    UserError names what does not fit."""
    import re

    from studio.errors import UserError

    wte, wpe = state.get("transformer.wte.weight"), state.get("transformer.wpe.weight")
    if wte is None or wpe is None or wte.dim() != 2 or wpe.dim() != 2:
        raise UserError("not a write (GPT) checkpoint: no transformer.wte.weight and "
                        "transformer.wpe.weight matrices")
    layers = {int(m.group(1)) for k in state if (m := re.match(r"transformer\.h\.(\d+)\.", k))}
    inferred = {"vocab_size": int(wte.shape[0]), "block_size": int(wpe.shape[0]),
                "n_layer": max(layers) + 1 if layers else 0, "n_embd": int(wte.shape[1]),
                "bias": "transformer.ln_f.bias" in state}
    given = {k: v for k, v in card.config.items() if k in inferred and v != inferred[k]}
    if given:
        k = next(iter(given))
        raise UserError(f"its config says {k}={given[k]} but the weights hold {k}={inferred[k]}")
    n_head = card.config.get("n_head")
    if not isinstance(n_head, int) or n_head < 1:
        raise UserError("the number of attention heads is not in the weights: put the model's "
                        "card.json beside the checkpoint, or give --config n_head=N")
    if inferred["n_embd"] % n_head:
        raise UserError(f"n_head={n_head} does not divide n_embd={inferred['n_embd']}")
    card.config = {**card.config, **inferred}
    state = {k: v for k, v in state.items() if k != TIED}
    try:
        check_state_dict(GPT(gpt_config(card.config)), state)
    except WeightsError as exc:
        raise UserError(str(exc)) from None
    return state

