"""What every training task needs: resumable checkpoints, the trained model's folder in the
store, and the command line that reproduces a run.

A checkpoint is a folder holding ``<part>-<step>.safetensors`` files (weights, optimizer
moments: any named dicts of tensors) and ``state.json`` naming them, written last and
atomically, so a run killed at any moment leaves the previous checkpoint whole. Random-number
states and everything else are JSON. Nothing is pickled.
"""

from __future__ import annotations

import base64
import json
import shlex
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from studio import paths

if TYPE_CHECKING:
    import torch

    from studio.tasks import Context, Task

STATE_FILE = "state.json"


def save_tensors(tensors: dict[str, torch.Tensor], path: Path,
                 metadata: dict[str, str] | None = None) -> None:
    """Write a safetensors file through a temporary file and a rename."""
    from safetensors.torch import save_file

    from studio.atomic import write_atomic_with

    cpu = {k: v.detach().to("cpu").contiguous() for k, v in tensors.items()}
    write_atomic_with(path, lambda tmp: save_file(cpu, str(tmp), metadata=metadata))


def fp16_tensors(tensors: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """Floating-point tensors as fp16 (what the studio ships), the others as they are."""
    import torch

    return {k: v.to(torch.float16) if v.is_floating_point() else v for k, v in tensors.items()}


# ---------------------------------------------------------------------------------------------
# Optimizer and random states as tensors and JSON.


def optimizer_tensors(opt: torch.optim.Optimizer) -> tuple[dict[str, torch.Tensor], list]:
    """The optimizer's per-parameter state flattened to ``"<param id>.<name>"`` tensors, and its
    param groups (plain JSON)."""
    import torch

    sd = opt.state_dict()
    flat = {f"{pid}.{name}": (v if torch.is_tensor(v) else torch.tensor(v))
            for pid, st in sd["state"].items() for name, v in st.items()}
    return flat, sd["param_groups"]


def restore_optimizer(opt: torch.optim.Optimizer, tensors: dict[str, torch.Tensor],
                      param_groups: list) -> None:
    state: dict[int, dict[str, torch.Tensor]] = {}
    for key, value in tensors.items():
        pid, name = key.split(".", 1)
        state.setdefault(int(pid), {})[name] = value
    groups = [{**g, "betas": tuple(g["betas"])} if "betas" in g else g for g in param_groups]
    opt.load_state_dict({"state": state, "param_groups": groups})


def _b64(t: torch.Tensor) -> str:
    return base64.b64encode(t.cpu().numpy().tobytes()).decode("ascii")


def _unb64(s: str) -> torch.Tensor:
    import torch

    return torch.frombuffer(bytearray(base64.b64decode(s)), dtype=torch.uint8)


def rng_state(g: torch.Generator) -> dict[str, Any]:
    """The states of ``g`` and of torch's global generators (CPU, CUDA)."""
    import torch

    state: dict[str, Any] = {"batch": _b64(g.get_state()), "torch": _b64(torch.get_rng_state())}
    if torch.cuda.is_available():
        state["cuda"] = [_b64(s) for s in torch.cuda.get_rng_state_all()]
    return state


def restore_rng(g: torch.Generator, state: dict[str, Any]) -> None:
    import torch

    g.set_state(_unb64(state["batch"]))
    torch.set_rng_state(_unb64(state["torch"]))
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all([_unb64(s) for s in state["cuda"]])


# ---------------------------------------------------------------------------------------------
# Checkpoints.


def save_checkpoint(folder: Path, step: int, parts: dict[str, dict[str, torch.Tensor]],
                    state: dict[str, Any]) -> None:
    """One safetensors file per part, then ``state.json`` (``state`` plus the step and the file
    names); then the previous checkpoint's files are removed."""
    from studio.atomic import write_atomic

    folder.mkdir(parents=True, exist_ok=True)
    files = {name: f"{name}-{step:08d}.safetensors" for name in parts}
    for name, tensors in parts.items():
        save_tensors(tensors, folder / files[name])
    write_atomic(folder / STATE_FILE,
                 json.dumps({**state, "step": step, "files": files}).encode("utf-8"))
    for old in folder.glob("*.safetensors"):
        if old.name not in files.values():
            old.unlink(missing_ok=True)


def read_checkpoint(folder: Path) -> dict[str, Any] | None:
    """The saved state with each part's tensors under its name, or None when there is none."""
    from safetensors.torch import load_file

    path = folder / STATE_FILE
    if not path.is_file():
        return None
    try:
        state = json.loads(path.read_text(encoding="utf-8"))
        for name, file in state["files"].items():
            state[name] = load_file(str(folder / file))
    except (OSError, ValueError, KeyError, TypeError, AttributeError) as exc:
        raise ValueError(f"the checkpoint in {folder} cannot be read ({exc}); "
                         "train without --resume to start again") from None
    return state


# ---------------------------------------------------------------------------------------------
# Where trained models go, and how to train them again.


def user_models_dir(ctx: Context) -> Path:
    store = getattr(ctx, "models", None)
    return Path(store.user_dir) if store is not None else paths.models_dir()


@dataclass
class StartingPoint:
    """The model a training run began with (``--start-from``)."""

    name: str = ""  # its id ("" for none), as the run's checkpoint remembers it once resumed
    card: Any = None  # its card and weights, when they are to be loaded now (a fresh run)
    weights: dict[str, Any] | None = None
    warning: str = ""  # a line to log: a --start-from that a resumed run does not use


def starting_point(ctx: Context, asked: str | None, saved: dict[str, Any] | None,
                   model_id: str, capability: str, architecture: str) -> StartingPoint:
    """Resolves ``--start-from asked``: a resumed run (``saved``, its checkpoint) keeps the
    model it began with; a fresh one loads ``asked``, which must be a ``capability`` model of
    ``architecture``."""
    asked = asked or ""
    if saved is not None:
        name = saved.get("start_from", "")
        unused = asked and asked != name
        return StartingPoint(name, warning=f"resuming {model_id}: --start-from {asked} is not "
                                           "used" if unused else "")
    if not asked:
        return StartingPoint()
    card, weights = ctx.load_model(asked)
    if (card.capability, card.architecture) != (capability, architecture):
        raise ValueError(f"--start-from {asked}: a {card.capability} model "
                         f"({card.architecture}), not a {capability} model ({architecture})")
    return StartingPoint(asked, card, weights)


def base_licence(ctx: Context, start_from: str) -> str:
    """What a fine-tuned model's licence adds for the model it began with ("" for none)."""
    if not start_from:
        return ""
    try:
        licence = ctx.models.get(start_from).licence
    except Exception:  # the base model is gone: its name must do
        return f"; it began with {start_from}, whose licence applies too"
    return f"; it began with {start_from}, whose licence applies too: {licence}"


def command_line(task: Task, params: Any, seed: int, skip: tuple[str, ...] = ("resume",)) -> str:
    """The ``studio run`` command that runs ``task`` with ``params`` from scratch."""
    parts = ["studio", "run", task.id]
    for spec in task.schema():
        value = getattr(params, spec.name)
        if spec.name in skip or (not spec.required and value == spec.default):
            continue
        if spec.type is bool:
            parts.append(spec.flag if value else "--no-" + spec.flag[2:])
        else:
            parts += [spec.flag, str(value)]
    parts += ["--seed", str(seed)]
    return shlex.join(parts)
