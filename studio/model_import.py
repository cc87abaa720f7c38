"""Importing a foreign checkpoint into the model store: its tensors checked (keys, shapes,
finite floating-point weights), written as safetensors beside a card that is written last, so
a half-imported model is never listed."""

from __future__ import annotations

import os
import shutil
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from studio import paths
from studio.atomic import fsync_dir, fsync_file
from studio.errors import UserError
from studio.foreign_checkpoints import CHECKPOINT_SUFFIXES, read_checkpoint
from studio.models import (
    ID_RE,
    ModelCard,
    ModelFile,
    card_from,
    card_path,
    sha256_file,
    shape_problems,
    weight_problem,
)

_CARD_DEFAULTS: dict[str, Any] = {
    "architecture": "", "config": {}, "licence": "unknown", "training_data": "unknown",
    "command": "", "quality": {}, "description": "",
}
_FLOAT_DTYPES = ("float16", "bfloat16", "float32", "float64")


def import_checkpoint(
    src: Path,
    model_id: str,
    capability: str,
    expected: Mapping[str, tuple[int, ...]] | None = None,
    rename: Callable[[str], str | None] | None = None,
    drop: Callable[[str], bool] | None = None,
    card_fields: Mapping[str, Any] | None = None,
    store_dir: Path | None = None,
    dtype: str | None = "float16",
) -> ModelCard:
    """Import a checkpoint into ``<store_dir>/<model_id>/`` as safetensors with its card.

    ``drop(key)`` removes tensors (stray buffers); ``rename(key)`` maps names (None drops);
    ``expected`` maps every key to its shape and is checked after both. Floating tensors are
    stored as ``dtype`` (None keeps theirs). Re-importing an id replaces it: the card, written
    last, is what switches to the new weights.
    """
    src = Path(src)
    if not ID_RE.match(model_id):
        raise UserError(f"model id {model_id!r} should be letters, digits, '.', '_' or '-'")
    if dtype is not None and dtype not in _FLOAT_DTYPES:
        raise UserError(f"dtype {dtype!r} is not one of {', '.join(_FLOAT_DTYPES)}")
    extra = dict(card_fields or {})
    unknown = sorted(set(extra) - set(_CARD_DEFAULTS) - {"title"})
    if unknown:
        raise UserError(f"unknown card field {', '.join(unknown)}")

    state = _map_keys(read_checkpoint(src), rename, drop)
    if expected is not None:
        problem = shape_problems(state, expected)
        if problem:
            raise UserError(f"{src.name} does not fit {model_id}: {problem}")
    tensors = _prepare(state, dtype, src.name)

    folder = Path(store_dir or paths.models_dir()) / model_id
    folder.mkdir(parents=True, exist_ok=True)
    weights = _write_safetensors(tensors, folder, model_id)
    fields_ = {**_CARD_DEFAULTS, "title": model_id,
               "description": f"Imported from {src.name}.", **extra}
    card = ModelCard(
        id=model_id, capability=capability,
        files=[ModelFile(weights.name, sha256_file(weights), weights.stat().st_size)],
        folder=folder, **fields_,
    )
    _replace_card(folder, card, keep=weights.name)
    return card


def install_converted(src: Path, card: ModelCard, store_dir: Path,
                      source: Mapping[str, Any] | None = None, dtype: str | None = "float16",
                      model_id: str | None = None) -> ModelCard:
    """Install checkpoint ``src`` as the model ``card`` declares it (as ``model_id`` when
    given): its state dict through the card's ``convert`` (the raw keys when it has none),
    written as safetensors into ``<store_dir>/<id>/``, with a card that copies the declared
    one's fields, lists the new file and records ``source`` (where ``src`` came from) in
    ``sources``. Raises UserError, naming the keys, for a checkpoint that does not fit.

    ``convert`` gets this install's own copy of the card and may fill its ``config`` from the
    weights. Files the card lists besides weights (a tokenizer.json) are taken from beside
    ``src``; one that is missing there refuses the import."""
    src = Path(src)
    model_id = model_id or card.id
    if not ID_RE.match(model_id):
        raise UserError(f"model id {model_id!r} should be letters, digits, '.', '_' or '-'")
    card = card_from(card)  # this install's copy, converter kept
    companions = [src.parent / f.name for f in card.files
                  if not f.name.lower().endswith((".safetensors", *CHECKPOINT_SUFFIXES))]
    missing = [p.name for p in companions if not p.is_file()]
    if missing:
        raise UserError(f"{src.name}: a {card.capability} model needs its {missing[0]}, and "
                        f"there is none beside it in {src.parent}")
    state = read_checkpoint(src)
    if card.convert is not None:
        try:
            state = card.convert(state, card)
        except UserError as exc:
            raise UserError(f"{src.name} does not fit {model_id}: {exc}") from None
    if not state:
        raise UserError(f"{src.name}: the checkpoint holds no tensors to import")
    tensors = _prepare(state, dtype, src.name)
    folder = Path(store_dir) / model_id
    folder.mkdir(parents=True, exist_ok=True)
    weights = _write_safetensors(tensors, folder, model_id)
    files = [ModelFile(weights.name, sha256_file(weights), weights.stat().st_size)]
    for companion in companions:
        shutil.copyfile(companion, folder / companion.name)
        copied = folder / companion.name
        files.append(ModelFile(copied.name, sha256_file(copied), copied.stat().st_size))
    sources = [dict(source)] if source else []
    installed = ModelCard.from_dict(
        {**card.to_dict(), "id": model_id, "sources": sources,
         "files": [f.to_dict() for f in files]},
        folder=folder)
    _replace_card(folder, installed, keep={f.name for f in files})
    return installed


def _replace_card(folder: Path, card: ModelCard, keep: str | set[str]) -> None:
    """Write ``card`` (last: it switches the model to the new files) and delete the files an
    earlier card of the folder listed that are unused now (all but ``keep``)."""
    keep = {keep} if isinstance(keep, str) else keep
    old = card_path(folder)
    previous = ModelCard.load(old) if old.is_file() else None
    card.save(old)
    if previous is not None:
        for f in previous.files:
            if f.name not in keep:
                (folder / f.name).unlink(missing_ok=True)


def _map_keys(
    state: dict[str, Any],
    rename: Callable[[str], str | None] | None,
    drop: Callable[[str], bool] | None,
) -> dict[str, Any]:
    out: dict[str, Any] = {}
    origin: dict[str, str] = {}
    for key, tensor in state.items():
        if drop is not None and drop(key):
            continue
        new = rename(key) if rename is not None else key
        if new is None:
            continue
        if new in out:
            raise UserError(f"rename maps both {origin[new]!r} and {key!r} to {new!r}")
        out[new], origin[new] = tensor, key
    if not out:
        raise UserError("the checkpoint holds no tensors to import")
    return out


def _prepare(state: dict[str, Any], dtype: str | None, name: str) -> dict[str, Any]:
    """Own, contiguous tensors (safetensors refuses shared storage), floats cast to ``dtype``;
    UserError for a tensor that cannot be a weight (``weight_problem``)."""
    import torch

    problems = [p for key, t in state.items() if (p := weight_problem(key, t))]
    if problems:
        more = f" (and {len(problems) - 1} more)" if len(problems) > 1 else ""
        raise UserError(f"refused {name}: {problems[0]}{more}")
    target = getattr(torch, dtype) if dtype else None
    out = {}
    for key, t in state.items():
        t = t.detach()
        if target is not None and t.is_floating_point():
            t = t.to(target)
        out[key] = t.clone().contiguous()
    return out


def _write_safetensors(tensors: dict[str, Any], folder: Path, model_id: str) -> Path:
    """Write the weights to a temporary file in ``folder``, flush, and rename it to
    ``<model_id>-<sha256[:8]>.safetensors`` (a new name, so the old card stays valid until
    the new card replaces it)."""
    from safetensors.torch import save_file

    fd, tmp_name = paths.temp_file_beside(folder / model_id)
    os.close(fd)
    tmp = Path(tmp_name)
    try:
        save_file(tensors, str(tmp), metadata={"format": "pt", "studio_model": model_id})
        paths.give_usual_permissions(tmp)
        fsync_file(tmp)
        final = folder / f"{model_id}-{sha256_file(tmp)[:8]}.safetensors"
        os.replace(tmp, final)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    fsync_dir(folder)
    return final
