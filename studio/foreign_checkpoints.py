"""Reading foreign checkpoint files without running their code.

A ``.pth``/``.pt``/``.bin`` file is read with ``torch.load(weights_only=True)`` and nothing else;
when torch refuses one, its pickle is scanned (never run) to say why in one line: it would
import code, or it holds Python objects besides tensors. ``.safetensors`` files are read as
they are.
"""

from __future__ import annotations

import re
import warnings
from pathlib import Path
from typing import Any

from studio.errors import UserError, first_line

CHECKPOINT_SUFFIXES = (".pth", ".pt", ".bin")


def read_checkpoint(src: Path) -> dict[str, Any]:
    """The state dict in a checkpoint file: safetensors, or a torch file read with
    ``weights_only=True`` (a raw state dict, or a dict holding ``state_dict``/``model``)."""
    if not src.is_file():
        raise UserError(f"no such file: {src}")
    suffix = src.suffix.lower()
    if suffix == ".safetensors":
        from safetensors.torch import load_file

        try:
            return load_file(str(src))
        except Exception as exc:
            raise UserError(f"cannot read {src.name}: {first_line(exc)}") from None
    if suffix not in CHECKPOINT_SUFFIXES:
        raise UserError(f"unsupported checkpoint type {suffix or src.name!r} "
                        "(use .pth, .pt, .bin or .safetensors)")
    import pickle

    import torch

    if src.stat().st_size == 0:
        raise UserError(f"cannot read {src.name}: the file is empty (0 bytes)")
    try:
        with warnings.catch_warnings():  # torch's notes on pickle protocols: not the user's
            warnings.simplefilter("ignore")
            obj = torch.load(src, map_location="cpu", weights_only=True)
    except Exception as exc:
        unsafe = [g for g in pickle_globals(src) if not g.startswith(_SAFE_GLOBALS)]
        if unsafe:  # whichever way torch failed (a zip, a legacy file, a bare pickle)
            raise UserError(f"refused to load {src.name}: unsafe pickle, it would run code "
                            f"({', '.join(dict.fromkeys(unsafe[:3]))}); only plain state dicts "
                            "of tensors can be imported") from None
        m = re.search(r"(?:Unsupported global: GLOBAL|unsupported GLOBAL) ([\w.]+)", str(exc))
        if isinstance(exc, pickle.UnpicklingError) and m is not None:
            raise UserError(f"refused to load {src.name}: it holds Python objects besides "
                            f"tensors (it needs {m.group(1)}); only plain state dicts can be "
                            "imported") from None
        raise UserError(f"cannot read {src.name}: not a PyTorch checkpoint, or a damaged one "
                        f"({type(exc).__name__})") from None
    return _state_dict_in(obj, src.name)


# What a plain state dict's pickle imports: tensors, their storages, ordered dicts.
_SAFE_GLOBALS = ("torch.", "collections.OrderedDict", "_codecs.encode", "builtins.set")


def pickle_globals(src: Path) -> list[str]:
    """The Python objects (``module.name``) a pickle would import, read without running it: a
    bare pickle, a legacy torch file (several pickles in a row) or the ``data.pkl`` of a torch
    zip. What cannot be read is left out."""
    import io
    import pickletools
    import zipfile

    found: list[str] = []
    try:
        if zipfile.is_zipfile(src):
            with zipfile.ZipFile(src) as z:
                name = next((n for n in z.namelist() if n.endswith("data.pkl")), None)
                data = z.read(name) if name else b""
        else:
            data = src.read_bytes()
        stream = io.BytesIO(data)
        while stream.tell() < len(data):
            strings: list[str] = []
            for op, arg, _ in pickletools.genops(stream):
                if op.name in ("GLOBAL", "INST"):
                    found.append(str(arg).replace(" ", "."))
                elif op.name == "STACK_GLOBAL" and len(strings) >= 2:
                    found.append(f"{strings[-2]}.{strings[-1]}")
                if isinstance(arg, str):
                    strings.append(arg)
    except Exception:  # the rest is not a pickle: what was found stands
        pass
    return found


def _state_dict_in(obj: Any, name: str) -> dict[str, Any]:
    import torch

    for _ in range(3):  # {"model": {"state_dict": {...}}} at most
        if not isinstance(obj, dict):
            break
        if obj and all(isinstance(v, torch.Tensor) for v in obj.values()):
            return dict(obj)
        inner = next((obj[k] for k in ("state_dict", "model") if isinstance(obj.get(k), dict)),
                     None)
        if inner is None:
            break
        obj = inner
    if isinstance(obj, dict) and not obj:
        raise UserError(f"{name}: the state dict is empty (no tensors to import)")
    if isinstance(obj, dict):
        bad = next((k for k, v in obj.items() if not isinstance(v, torch.Tensor)), None)
        keys = ", ".join(map(str, list(obj)[:5])) or "none"
        raise UserError(f"{name}: no state dict found (key {bad!r} holds "
                        f"{type(obj.get(bad)).__name__}; top-level keys: {keys})")
    raise UserError(f"{name}: no state dict found (it holds {type(obj).__name__})")
