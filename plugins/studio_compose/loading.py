"""From the model store to a ready MuseGAN generator and critic.

A compose model is a folder with ``model.safetensors`` (fp16; ``generator.*`` and ``critic.*``
keys) and ``card.json`` whose ``config`` holds the MuseGANConfig fields.
"""

from __future__ import annotations

import threading
from typing import Any

import torch

from studio_compose.musegan import Critic, Generator, MuseGANConfig

_cache: dict[tuple, tuple[Generator, Critic]] = {}
_lock = threading.Lock()


class WeightsError(ValueError):
    """The weights do not fit the architecture; the message lists the keys."""


def load_networks(gen: Generator, critic: Critic, tensors: dict[str, torch.Tensor],
                  added: tuple[str, ...] = (), source: str = "") -> None:
    """Loads ``generator.*`` and ``critic.*`` tensors (any float precision) into the networks,
    or raises WeightsError listing the keys that do not fit (after ``source``, when given).
    The critic streams named in ``added`` may be missing: they keep their fresh weights."""
    from studio.models import shape_problems

    new = tuple(f"{name}." for name in added)
    want = {f"generator.{k}": tuple(v.shape) for k, v in gen.state_dict().items()}
    want |= {f"critic.{k}": tuple(v.shape) for k, v in critic.state_dict().items()
             if not k.startswith(new)}
    problems = shape_problems(tensors, want)
    if problems:
        raise WeightsError(f"{source} does not fit this network: {problems}" if source
                           else problems)
    for prefix, net in (("generator.", gen), ("critic.", critic)):
        net.load_state_dict({k[len(prefix):]: v.float() for k, v in tensors.items()
                             if k.startswith(prefix)}, strict=not added)


def build(config: dict[str, Any], weights: dict[str, torch.Tensor], device: str = "cpu"
          ) -> tuple[Generator, Critic]:
    cfg = MuseGANConfig.from_dict(config)
    gen, critic = Generator(cfg), Critic(cfg)
    load_networks(gen, critic, weights)
    return gen.to(device).eval(), critic.to(device).eval()


def load(ctx: Any, model_id: str) -> tuple[Generator, Critic, Any]:
    """The generator and critic of ``model_id`` on the context's device, kept for the next run
    with the same weights."""
    card, weights = ctx.load_model(model_id)
    if card.capability != "compose":
        raise ValueError(f"{model_id} is a {card.capability} model, not a compose model")
    key = (card.id, card.weights_sha256, ctx.device)
    with _lock:
        if key not in _cache:
            _cache.clear()  # one compose model at a time is plenty
            try:
                _cache[key] = build(card.config, weights, ctx.device)
            except WeightsError as exc:
                name = next((f.name for f in card.files if f.name.endswith(".safetensors")), "?")
                where = f"{card.folder}/{name}" if card.folder is not None else name
                raise WeightsError(f"model {card.id!r} ({where}) does not fit its config: "
                                   f"{exc}") from None
        gen, critic = _cache[key]
    return gen, critic, card


def convert_checkpoint(state: dict[str, torch.Tensor], card: Any) -> dict[str, torch.Tensor]:
    """A compose checkpoint (``generator.*`` and ``critic.*``) checked against the MuseGAN that
    ``card.config`` describes (the model's card.json beside the checkpoint, ``--config`` values,
    else the defaults). Settings such as the lowest pitch are in no shape, so nothing is guessed:
    UserError names the keys that do not fit."""
    from studio.errors import UserError

    try:
        cfg = MuseGANConfig.from_dict(card.config)
        load_networks(Generator(cfg), Critic(cfg), state)
    except (WeightsError, ValueError, TypeError) as exc:
        raise UserError(f"{exc}; put the model's card.json (its config) beside the checkpoint, "
                        "or give --config KEY=VALUE") from None
    card.config = {**card.config, **cfg.to_dict()}
    return state

