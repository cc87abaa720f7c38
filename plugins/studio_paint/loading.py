"""From the model store to ready CycleGAN generators (PAINT_FORMAT.md).

A paint model is a card with capability "paint", architecture "cyclegan-resnet" and config
``{"ngf", "n_blocks", "domains": {"a", "b"}, "default_direction", "train_size"}`` (and
``"upsample": "resize"`` for a decoder of resized convolutions; "transpose", the published one,
when absent), and one
safetensors file holding ``a2b.<generator key>`` and/or ``b2a.<generator key>`` tensors, the
generator keys being exactly ``cyclegan.Generator``'s (the published layout).
"""

from __future__ import annotations

import threading
from collections.abc import Mapping
from typing import Any

import torch

from studio.errors import UserError
from studio_paint.cyclegan import UPSAMPLES, Generator, expected_shapes
from studio_paint.kinds import CYCLEGAN

ARCHITECTURE = CYCLEGAN
DIRECTIONS = ("a2b", "b2a")

_cache: dict[tuple, tuple[Any, dict[str, Generator | None]]] = {}
_lock = threading.Lock()


class WeightsError(UserError):
    """Weights that do not fit the generator; the message lists the keys."""


def check_card(card: Any) -> tuple[int, int]:
    """(ngf, n_blocks) of a paint CycleGAN card, or UserError saying what the card is."""
    if card.capability != "paint" or card.architecture != ARCHITECTURE:
        what = f"a {card.capability or '?'} model" if card.capability != "paint" else \
            f"a paint model of architecture {card.architecture or '?'!r}"
        raise UserError(f"{card.id} is {what}, not a CycleGAN paint model ({ARCHITECTURE})")
    try:
        ngf, n_blocks = int(card.config["ngf"]), int(card.config["n_blocks"])
    except (KeyError, TypeError, ValueError):
        raise UserError(f"{card.id}: its card's config needs whole numbers 'ngf' and "
                        "'n_blocks'") from None
    if ngf < 1 or n_blocks < 0:
        raise UserError(f"{card.id}: ngf {ngf} and n_blocks {n_blocks} make no generator")
    return ngf, n_blocks


def upsample_of(card: Any) -> str:
    """The decoder's kind of upsampling ("transpose", as published, or "resize")."""
    kind = card.config.get("upsample", "transpose")
    if kind not in UPSAMPLES:
        raise UserError(f"{card.id}: its card's upsample {kind!r} is none of "
                        f"{', '.join(UPSAMPLES)}")
    return kind


def split_directions(tensors: Mapping[str, Any], ngf: int, n_blocks: int, source: str,
                     upsample: str = "transpose") -> dict[str, dict[str, Any]]:
    """The generators' state dicts by direction, every key and shape checked; WeightsError
    (naming ``source`` and the keys) for anything that does not fit."""
    from studio.models import shape_problems

    lead = f"{source}: " if source else ""
    stray = sorted(k for k in tensors if not k.startswith(tuple(d + "." for d in DIRECTIONS)))
    if stray:
        shown = ", ".join(stray[:5]) + (f", ... ({len(stray) - 5} more)" if len(stray) > 5 else "")
        raise WeightsError(f"{lead}keys outside a2b.* and b2a.*: {shown}")
    want = expected_shapes(ngf, n_blocks, upsample)
    parts: dict[str, dict[str, Any]] = {}
    for direction in DIRECTIONS:
        prefix = direction + "."
        part = {k[len(prefix):]: v for k, v in tensors.items() if k.startswith(prefix)}
        if not part:
            continue
        problems = shape_problems(part, want)
        if problems:
            raise WeightsError(f"{lead}the {direction} generator does not fit ngf {ngf}, "
                               f"{n_blocks} blocks"
                               + (", resize-convolutions" if upsample == "resize" else "")
                               + f": {problems}")
        parts[direction] = part
    if not parts:
        raise WeightsError(f"{lead}no a2b.* or b2a.* generator weights")
    return parts


def build_generators(card: Any, tensors: Mapping[str, Any], device: str = "cpu"
                     ) -> dict[str, Generator | None]:
    """Both directions' generators (None where the model has none), in eval mode on
    ``device``, channels-last (what the fast convolutions want)."""
    ngf, n_blocks = check_card(card)
    upsample = upsample_of(card)
    parts = split_directions(tensors, ngf, n_blocks, card.id, upsample)
    gens: dict[str, Generator | None] = {}
    for direction in DIRECTIONS:
        if direction not in parts:
            gens[direction] = None
            continue
        gen = Generator(ngf, n_blocks, upsample)
        gen.load_state_dict({k: v.float() for k, v in parts[direction].items()})
        gens[direction] = gen.to(device, memory_format=torch.channels_last).eval()
    return gens


def load_generators(ctx: Any, model_id: str) -> tuple[Any, dict[str, Generator | None]]:
    """The card and the generators ``{"a2b": ..., "b2a": ...}`` of ``model_id`` on the
    context's device (None for a direction the model lacks), kept for the next run with the
    same weights (one model at a time)."""
    card, weights = ctx.load_model(model_id)
    check_card(card)
    key = (card.id, card.weights_sha256, str(ctx.device))
    with _lock:
        if key not in _cache:
            _cache.clear()
            _cache[key] = (card, build_generators(card, weights, ctx.device))
        _, gens = _cache[key]
    return card, dict(gens)


def domains(card: Any) -> dict[str, str]:
    """The names of domains A and B ("photo", "Monet"), "A" and "B" when the card has none."""
    d = card.config.get("domains") or {}
    return {"a": str(d.get("a") or "A"), "b": str(d.get("b") or "B")}


def pick_direction(card: Any, gens: Mapping[str, Generator | None], direction: str) -> str:
    """"a2b" or "b2a": ``direction``, or the card's default for "auto"; UserError when the
    model has no generator for it."""
    names = domains(card)
    if direction == "auto":
        direction = str(card.config.get("default_direction") or "")
        if direction not in DIRECTIONS:
            direction = next(d for d in DIRECTIONS if gens.get(d) is not None)
    if direction not in DIRECTIONS:
        raise UserError(f"--direction: {direction!r} is not one of auto, a2b, b2a")
    if gens.get(direction) is None:
        have = next(d for d in DIRECTIONS if gens.get(d) is not None)
        raise UserError(f"{card.id} has no {direction} generator: it only translates "
                        f"{_arrow(names, have)} (--direction {have})")
    return direction


def _arrow(names: Mapping[str, str], direction: str) -> str:
    src, dst = (names["a"], names["b"]) if direction == "a2b" else (names["b"], names["a"])
    return f"{src} to {dst}"


def describe(card: Any, direction: str) -> str:
    """"photo to Monet" for a card and a direction."""
    return _arrow(domains(card), direction)
