"""Drive models in the store: reading V, M and C from one, and writing them into one.

A drive model is a folder with ``model.safetensors`` (fp16) and ``card.json`` (capability
"drive", architecture "world-models", config ``z_size``, ``hidden``, ``gaussians``,
``actions``). The file holds the parts trained so far, each under its prefix: ``vae.*`` (from
drive.train-vae), ``mdnrnn.*`` (drive.train-rnn, on that VAE's latents) and
``controller.weight`` / ``controller.bias`` (drive.train-controller, on both). Each stage
writes into the same model id; a part written anew drops the parts after it, which were
trained on the old one. The card's ``quality`` keeps a record per part (its command, steps,
time, losses or score), and its ``command`` the stages' commands in order.
"""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Any

import torch

from studio.errors import UserError
from studio_drive.controller import Controller
from studio_drive.mdnrnn import MDNRNN
from studio_drive.vae import VAE

CAPABILITY = "drive"
ARCHITECTURE = "world-models"
WEIGHTS = "model.safetensors"
PARTS = ("vae", "mdnrnn", "controller")  # in the order they are trained
NAMES = {"vae": "VAE (V)", "mdnrnn": "MDN-RNN (M)", "controller": "controller (C)"}
TASKS = {"vae": "drive.train-vae", "mdnrnn": "drive.train-rnn",
         "controller": "drive.train-controller"}
CONFIG_KEYS = ("z_size", "hidden", "gaussians", "actions")
DEFAULT_CONFIG = {"z_size": 32, "hidden": 256, "gaussians": 5, "actions": 3}

_cache: dict[tuple, tuple] = {}
_lock = threading.Lock()


def check_config(config: Any, name: str) -> dict[str, int]:
    """The card's config as ints, or a one-line error naming what is wrong."""
    if not isinstance(config, dict):
        raise UserError(f"model {name}: its card's config is not an object")
    out = {}
    for key in CONFIG_KEYS:
        value = config.get(key, DEFAULT_CONFIG[key] if key == "actions" else None)
        if not isinstance(value, int) or isinstance(value, bool) or value < 1:
            raise UserError(f"model {name}: its card's config needs a positive whole "
                            f"{key}, not {value!r}")
        out[key] = value
    return out


def part_of(tensors: dict[str, torch.Tensor], part: str) -> dict[str, torch.Tensor]:
    """The tensors under ``part.``, without the prefix."""
    prefix = part + "."
    return {k[len(prefix):]: v for k, v in tensors.items() if k.startswith(prefix)}


def _expected(part: str, config: dict[str, int]) -> dict[str, tuple[int, ...]]:
    with torch.device("meta"):
        if part == "vae":
            net = VAE(config["z_size"]).state_dict()
        elif part == "mdnrnn":
            net = MDNRNN(config["z_size"], config["actions"], config["hidden"],
                         config["gaussians"]).state_dict()
        else:
            net = {"weight": torch.empty(3, config["z_size"] + config["hidden"]),
                   "bias": torch.empty(3)}
    return {k: tuple(v.shape) for k, v in net.items()}


def part_problem(tensors: dict[str, torch.Tensor], part: str, config: dict[str, int]) -> str:
    """Why ``part``'s tensors (unprefixed) do not fit ``config``, in one line ("" when they
    do); a VAE or MDN-RNN made for another z is named as such."""
    from studio.models import shape_problems

    z = config["z_size"]
    if part == "vae" and "mu.weight" in tensors and tensors["mu.weight"].shape[0] != z:
        return (f"its VAE has z = {tensors['mu.weight'].shape[0]}, but the model's config says "
                f"z_size {z}")
    if part == "mdnrnn" and "lstm.weight_ih_l0" in tensors:
        width = tensors["lstm.weight_ih_l0"].shape[1]
        if width != z + config["actions"]:
            return (f"its MDN-RNN reads {width} inputs, not z = {z} and {config['actions']} "
                    f"actions: it was trained on another VAE's latents")
    if part == "controller" and "weight" in tensors \
            and tensors["weight"].shape[-1] != z + config["hidden"]:
        return (f"its controller reads {tensors['weight'].shape[-1]} inputs, not z = {z} and "
                f"h = {config['hidden']}")
    problems = shape_problems(tensors, _expected(part, config))
    return f"its {NAMES[part]} does not fit the model's config: {problems}" if problems else ""


def build_vae(tensors: dict[str, torch.Tensor], config: dict[str, int],
              device: str | torch.device = "cpu") -> VAE:
    vae = VAE(config["z_size"])
    vae.load_state_dict({k: v.float() for k, v in tensors.items()})
    return vae.to(device).eval()


def build_mdnrnn(tensors: dict[str, torch.Tensor], config: dict[str, int],
                 device: str | torch.device = "cpu") -> MDNRNN:
    m = MDNRNN(config["z_size"], config["actions"], config["hidden"], config["gaussians"])
    m.load_state_dict({k: v.float() for k, v in tensors.items()})
    return m.to(device).eval()


def load_world_model(ctx: Any, model_id: str, require: tuple[str, ...] = ("vae", "mdnrnn")
                     ) -> tuple[Any, VAE, MDNRNN | None, Controller | None]:
    """(card, V, M, C) of ``model_id`` on the context's device, in eval mode; M and C are None
    when the model has none yet and ``require`` does not ask for them. A missing required
    part, or a part that does not fit the card's config, is a one-line UserError. The
    networks are kept for the next call with the same weights: do not train them in place."""
    card, weights = ctx.load_model(model_id)
    if card.capability != CAPABILITY:
        raise UserError(f"{model_id} is a {card.capability} model, not a drive model")
    if card.architecture != ARCHITECTURE:
        raise UserError(f"{model_id} is a {card.architecture!r} model, not a World Models "
                        f"({ARCHITECTURE}) one")
    config = check_config(card.config, model_id)
    parts = {p: part_of(weights, p) for p in PARTS}
    for p in PARTS:
        if parts[p] and (problem := part_problem(parts[p], p, config)):
            raise UserError(f"model {model_id}: {problem}")
    for p in ("vae", *require):
        if not parts[p]:
            raise UserError(f"model {model_id} has no {NAMES[p]} yet; train it with "
                            f"{TASKS[p]} --model-id {model_id}")
    key = (card.id, card.weights_sha256, str(ctx.device))
    with _lock:
        if key not in _cache:
            _cache.clear()  # one drive model at a time is plenty
            vae = build_vae(parts["vae"], config, ctx.device)
            m = build_mdnrnn(parts["mdnrnn"], config, ctx.device) if parts["mdnrnn"] else None
            c = (Controller.from_tensors(weights, config["z_size"], ctx.device)
                 if parts["controller"] else None)
            _cache[key] = (vae, m, c)
        vae, m, c = _cache[key]
    return card, vae, m, c


# ---------------------------------------------------------------------------------------------
# Writing.


def model_folder(root: Path, model_id: str) -> Path:
    return Path(root) / model_id


def read_parts(folder: Path) -> tuple[Any, dict[str, torch.Tensor]]:
    """The card and tensors of the drive model in ``folder`` as they are on disk (None and {}
    when there is none yet); another capability's model there is a UserError."""
    from safetensors.torch import load_file

    from studio.models import ModelCard, card_path

    path = card_path(folder)
    if not path.is_file():
        return None, {}
    card = ModelCard.load(path)
    if card.capability != CAPABILITY:
        raise UserError(f"{folder.name} is a {card.capability} model; give the drive model "
                        "another --model-id")
    weights = folder / WEIGHTS
    return card, (load_file(str(weights)) if weights.is_file() else {})


def save_part(root: Path, model_id: str, part: str, tensors: dict[str, torch.Tensor],
              config: dict[str, int], record: dict[str, Any], *, training_data: str = "",
              licence: str = "") -> tuple[Any, list[str]]:
    """Writes ``part``'s ``tensors`` (unprefixed: a state dict) into the drive model
    ``model_id`` under ``root``, keeping the parts before it and dropping those after it;
    ``record`` (its command, steps, minutes, losses...) becomes the card's ``quality[part]``.
    Returns the new card and the parts dropped."""
    from studio.models import ModelCard, ModelFile, card_path, sha256_file
    from studio.training import fp16_tensors, save_tensors

    if part not in PARTS:
        raise ValueError(f"unknown part {part!r}")
    folder = model_folder(root, model_id)
    old_card, old = read_parts(folder)
    later = PARTS[PARTS.index(part) + 1:]
    dropped = [p for p in later if part_of(old, p)]
    kept = {k: v for k, v in old.items() if k.split(".", 1)[0] not in (part, *later)}
    for p in PARTS[:PARTS.index(part)]:  # the parts this one was trained on
        if not part_of(kept, p):
            raise UserError(f"model {model_id} in {folder} has no {NAMES[p]}; train it first "
                            f"with {TASKS[p]} --model-id {model_id}")
        if problem := part_problem(part_of(kept, p), p, config):
            raise UserError(f"model {model_id}: {problem}; train a new --model-id")
    merged = {**kept, **{f"{part}.{k}": v for k, v in tensors.items()}}
    folder.mkdir(parents=True, exist_ok=True)
    save_tensors(fp16_tensors(merged), folder / WEIGHTS, metadata={"format": "pt"})
    quality = {p: q for p, q in (old_card.quality if old_card else {}).items()
               if p not in (part, *later)}
    quality[part] = record
    data = {p: q.get("data", "") for p, q in quality.items() if p in PARTS}
    f = folder / WEIGHTS
    card = ModelCard(
        id=model_id, capability=CAPABILITY, title=model_id, architecture=ARCHITECTURE,
        config={k: config[k] for k in CONFIG_KEYS}, files=[ModelFile(WEIGHTS, sha256_file(f),
                                                                       f.stat().st_size)],
        licence=licence or (old_card.licence if old_card else "") or
        "rollouts of gymnasium's CarRacing-v3 (MIT licence), collected with drive.collect",
        training_data=training_data or "; ".join(f"{NAMES[p]}: {d}" for p, d in data.items()
                                                 if d),
        command=" && ".join(quality[p]["command"] for p in PARTS
                            if p in quality and quality[p].get("command")),
        quality=quality, description=describe(config, quality), folder=folder)
    card.save(card_path(folder))
    return card, dropped


def describe(config: dict[str, int], quality: dict[str, Any]) -> str:
    """A sentence per part: what it is and how it was trained."""
    z, hidden, k = config["z_size"], config["hidden"], config["gaussians"]
    what = {"vae": f"V, a convolutional VAE (z = {z}) on 64x64 frames",
            "mdnrnn": f"M, an LSTM of {hidden} units predicting z with a mixture of {k} "
                      "Gaussians, the reward and the episode's end",
            "controller": f"C, a linear map of [z, h] ({3 * (z + hidden) + 3} parameters) "
                          "to steering, gas and brake"}
    lines = ["A World Models agent (Ha and Schmidhuber 2018) for CarRacing."]
    for p in PARTS:
        q = quality.get(p)
        if q is None:
            lines.append(f"{what[p][0]}: not trained yet.")
            continue
        done = f", trained {q['steps']} steps" if "steps" in q else ""
        done += f" in {q['minutes']} min" if "minutes" in q else ""
        done += f" on {q['device']}" if "device" in q else ""
        lines.append(f"{what[p]}{done}.")
    return " ".join(lines)
