"""``write.import_gpt2``: bring a Hugging Face GPT-2 checkpoint into the model store.

A GPT-2 folder holds ``config.json`` (n_layer, n_head, n_embd, n_positions, vocab_size),
``model.safetensors`` (or ``pytorch_model.bin``, read with ``torch.load(weights_only=True)`` so
no code in it runs) and the tokenizer as ``vocab.json`` + ``merges.txt`` or ``tokenizer.json``.
Its weights map onto our GPT after four changes: an optional ``transformer.`` prefix goes, the
attention masks ``attn.bias`` / ``attn.masked_bias`` (buffers, not weights) go, a tied
``lm_head.weight`` goes, and the Conv1D weights (``attn.c_attn``, ``attn.c_proj``, ``mlp.c_fc``,
``mlp.c_proj``), stored as [in, out], are transposed to ``nn.Linear``'s [out, in]. Every key and
shape is then checked against the architecture the config describes. The model is written to
the user store in fp16 as ``model.safetensors`` + ``tokenizer.json`` + ``card.json``.

Using OpenAI's GPT-2. This plugin declares no cards for the public checkpoints: a card must
carry the sha256 of each file, and they cannot be checked from here. Download a folder once,
then import it:

    huggingface-cli download openai-community/gpt2 config.json model.safetensors \\
        vocab.json merges.txt --local-dir ~/gpt2
    studio run write.import_gpt2 --folder ~/gpt2 --model-id gpt2
    studio run write.generate --model gpt2 --prompt "The meaning of life is"

The same works for gpt2-medium, gpt2-large, gpt2-xl and fine-tunes in the same layout.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from studio.tasks import Context, Event, Log, Progress, Task, param

if TYPE_CHECKING:
    import torch

CONV1D = re.compile(r"^h\.\d+\.(attn\.c_attn|attn\.c_proj|mlp\.c_fc|mlp\.c_proj)\.weight$")
MASKS = re.compile(r"^h\.\d+\.attn\.(bias|masked_bias)$")
TANH_GELUS = ("gelu_new", "gelu_pytorch_tanh", "gelu_fast")


class CheckpointError(ValueError):
    """A folder that is not a GPT-2 checkpoint we can read; the message says why."""


@dataclass
class ImportParams:
    folder: Path = param(help="a Hugging Face GPT-2 folder (config.json, model.safetensors or "
                              "pytorch_model.bin, vocab.json + merges.txt or tokenizer.json)")
    model_id: str = param("gpt2", help="name of the imported model")
    licence: str = param("", help="licence of the weights, for the model card")
    training_data: str = param("", help="what the model was trained on, for the model card")


def read_config(folder: Path) -> dict[str, Any]:
    """The GPTConfig fields from ``config.json``; refuses variants our GPT does not compute."""
    path = folder / "config.json"
    try:
        cfg = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise CheckpointError(f"{folder}: no config.json") from None
    except (OSError, ValueError) as exc:
        raise CheckpointError(f"{path}: not readable JSON ({exc})") from None
    missing = [k for k in ("n_layer", "n_head", "n_embd", "n_positions", "vocab_size")
               if not isinstance(cfg.get(k), int)]
    if missing:
        raise CheckpointError(f"{path}: not a GPT-2 config (no {', '.join(missing)})")
    problems = []
    if cfg.get("activation_function", "gelu_new") not in TANH_GELUS:
        problems.append(f"activation {cfg['activation_function']!r} (GPT-2 uses gelu_new)")
    if cfg.get("n_inner") not in (None, 4 * cfg["n_embd"]):
        problems.append(f"n_inner {cfg['n_inner']} (we use 4 * n_embd)")
    if abs(cfg.get("layer_norm_epsilon", 1e-5) - 1e-5) > 1e-12:
        problems.append(f"layer_norm_epsilon {cfg['layer_norm_epsilon']} (we use 1e-5)")
    if cfg.get("scale_attn_by_inverse_layer_idx") or cfg.get("scale_attn_weights") is False:
        problems.append("a different attention scaling")
    if cfg["n_embd"] % cfg["n_head"]:
        problems.append(f"n_embd {cfg['n_embd']} not divisible by n_head {cfg['n_head']}")
    if problems:
        raise CheckpointError(f"{path}: unsupported GPT-2 variant: {'; '.join(problems)}")
    return {"vocab_size": cfg["vocab_size"], "block_size": cfg["n_positions"],
            "n_layer": cfg["n_layer"], "n_head": cfg["n_head"], "n_embd": cfg["n_embd"],
            "dropout": 0.0, "bias": True}


def read_weights(folder: Path) -> tuple[dict[str, torch.Tensor], str]:
    """The raw tensors and the file they came from: ``model.safetensors`` first, else
    ``pytorch_model.bin`` through ``torch.load(weights_only=True)``."""
    from studio.foreign_checkpoints import read_checkpoint

    for name in ("model.safetensors", "pytorch_model.bin"):
        if (folder / name).is_file():
            return read_checkpoint(folder / name), name
    if any(folder.glob("*.index.json")):
        raise CheckpointError(f"{folder}: sharded checkpoints are not supported; "
                           "save the model as one model.safetensors")
    raise CheckpointError(f"{folder}: no model.safetensors nor pytorch_model.bin")


def _listing(keys: list[str], n: int = 8) -> str:
    return ", ".join(keys[:n]) + (f" and {len(keys) - n} more" if len(keys) > n else "")


def convert(state: dict[str, torch.Tensor], config: dict[str, Any]) -> dict[str, torch.Tensor]:
    """GPT-2 tensors under our names, Conv1D weights transposed, every key and shape checked
    against ``config`` (CheckpointError listing missing and unexpected keys)."""
    import torch

    from studio_write.gpt import GPT, GPTConfig

    out: dict[str, torch.Tensor] = {}
    source: dict[str, str] = {}
    head = None
    for key, tensor in state.items():
        k = key.removeprefix("transformer.")
        if MASKS.match(k):
            continue
        if k == "lm_head.weight":
            head = tensor
            continue
        if CONV1D.match(k) and tensor.dim() == 2:
            tensor = tensor.t()
        new = "transformer." + k
        if new in out:
            raise CheckpointError(f"both {source[new]!r} and {key!r} hold {new}")
        out[new], source[new] = tensor.contiguous(), key

    with torch.device("meta"):
        want = {k: tuple(v.shape) for k, v in GPT(GPTConfig(**config)).state_dict().items()
                if k != "lm_head.weight"}
    missing = sorted(set(want) - set(out))
    extra = sorted(source[k] for k in set(out) - set(want))
    shapes = sorted(f"{source[k]} {tuple(out[k].shape)} (expected {want[k]})"
                    for k in set(out) & set(want) if tuple(out[k].shape) != want[k])
    problems = []
    if missing:
        problems.append(f"missing {len(missing)} key(s): {_listing(missing)}")
    if extra:
        problems.append(f"unexpected {len(extra)} key(s): {_listing(extra)}")
    if shapes:
        problems.append(f"wrong shape: {_listing(shapes, 3)}")
    if problems:
        raise CheckpointError("the weights do not fit the config: " + "; ".join(problems))
    wte = out["transformer.wte.weight"]
    if head is not None and (head.shape != wte.shape or not torch.equal(head, wte)):
        raise CheckpointError("lm_head.weight differs from wte.weight: an untied output layer "
                           "is not supported")
    return out


def import_gpt2(folder: Path, model_id: str, store_dir: Path, licence: str = "",
                training_data: str = "") -> Any:
    """Read, convert, check and write ``store_dir/<model_id>``; returns its ModelCard."""
    from studio_write.tokenizer import TextTokenizer
    from studio_write.train import ID_RE, write_model_folder

    folder = Path(folder).expanduser()
    if not folder.is_dir():
        raise CheckpointError(f"--folder: {folder} is not a folder")
    if not ID_RE.match(model_id):
        raise CheckpointError(f"--model-id {model_id!r}: use letters, digits, '.', '_' or '-'")
    config = read_config(folder)
    state, weights_file = read_weights(folder)
    weights = convert(state, config)
    try:
        tok = TextTokenizer.load(folder)
    except ValueError as exc:
        raise CheckpointError(str(exc)) from None
    if tok.vocab_size > config["vocab_size"]:
        raise CheckpointError(f"the tokenizer has {tok.vocab_size} tokens, the model only "
                           f"{config['vocab_size']}")
    n = sum(t.numel() for k, t in weights.items() if k != "transformer.wpe.weight")
    return write_model_folder(
        Path(store_dir) / model_id, weights, tok, config, title=model_id,
        licence=licence or (f"unknown: as the source of {folder.name} states (OpenAI's "
                            "released GPT-2 weights are under the MIT licence)"),
        training_data=training_data or (f"unknown: see the source of {folder.name} (OpenAI's "
                                        "GPT-2 was trained on WebText)"),
        command=f"studio run write.import_gpt2 --folder {folder} --model-id {model_id}",
        quality={},
        description=(f"GPT-2 ({config['n_layer']} layers, {config['n_head']} heads, "
                     f"{config['n_embd']} wide, {n / 1e6:.0f}M parameters) imported from "
                     f"{folder.name}/{weights_file}."))


def write_import_gpt2(p: ImportParams, ctx: Context) -> Iterator[Event]:
    from studio.training import user_models_dir

    yield Progress(None, f"reading {p.folder.name}")
    card = import_gpt2(p.folder, p.model_id, user_models_dir(ctx), p.licence, p.training_data)
    yield Progress(1.0, "done")
    yield Log(f"imported {p.folder} as {card.id} ({card.size / 1e6:.0f} MB in {card.folder})")


IMPORT_GPT2 = Task("write.import_gpt2", "Import a GPT-2 checkpoint", ImportParams,
                   write_import_gpt2,
                   "Adds a Hugging Face GPT-2 folder (config, weights, tokenizer) to your models.")
