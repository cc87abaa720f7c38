"""Tasks: the one definition of a piece of work that both the window and the CLI run.

A task is a generator function ``run(params, ctx)`` plus a parameter schema (a dataclass whose
fields carry their range, choices, help and file filters in ``param(...)`` metadata). It yields
events; it never imports Qt. Cancelling closes the generator, so its ``finally`` blocks run.

    @dataclass
    class EchoParams:
        text: str = param("hello", help="what to say")
        times: int = param(1, min=1, max=10)

    def echo(p: EchoParams, ctx: Context) -> Iterator[Event]:
        for i in range(p.times):
            yield Progress(i / p.times)
        yield Output(p.text * p.times, name="echo")

    TASK = Task("demo.echo", "Echo", EchoParams, echo)
"""

from __future__ import annotations

import dataclasses
import math
import random
import threading
import types
import typing
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

# ---------------------------------------------------------------------------------------------
# Events: plain data, safe to hand from a worker thread to the GUI thread.


@dataclass(frozen=True)
class Progress:
    """How far the task is: ``fraction`` in [0, 1], or None when it cannot tell."""

    fraction: float | None
    message: str = ""


@dataclass(frozen=True)
class Preview:
    """Something to show now and replace with the next preview (newest wins).

    ``data``: an image as a uint8 numpy array (H, W, 3) or (H, W), or a text, or a dict of
    figures (e.g. ``{"loss": 1.9}``) for a chart.
    """

    data: Any
    label: str = ""


@dataclass(frozen=True)
class Stream:
    """A chunk of text appended to what came before (a token as it is generated).

    ``data``: plain data about the chunk for a panel (e.g. the odds it was drawn from).
    ``echo``: the chunk repeats the task's input (a prompt); the CLI prints it, a panel that
    already shows that input skips it. Stream events are never dropped, only batched.
    """

    text: str
    data: Any = None
    echo: bool = False


@dataclass(frozen=True)
class Log:
    message: str
    level: str = "info"  # "info" | "warning" | "error"


@dataclass(frozen=True)
class Output:
    """A result the user keeps. The host saves it to the gallery with its recipe.

    ``data`` is a ``str`` (saved as .txt), a uint8 numpy image (saved as .png), or ``bytes``
    with a ``suffix`` such as ".mid" or ".wav". ``title``: a few words the gallery shows for
    the run ("8 bars, D minor"); without one it says what the file holds ("512x384").
    """

    data: Any
    name: str = "output"
    suffix: str = ""
    title: str = ""

    @property
    def kind(self) -> str:
        if isinstance(self.data, str):
            return "text"
        if isinstance(self.data, bytes | bytearray):
            return "file"
        return "image"

    @property
    def file_suffix(self) -> str:
        if self.suffix:
            return self.suffix if self.suffix.startswith(".") else "." + self.suffix
        return {"text": ".txt", "image": ".png", "file": ".bin"}[self.kind]


Event = Progress | Preview | Stream | Log | Output


# ---------------------------------------------------------------------------------------------
# Parameter schema.


class ParamError(ValueError):
    """A parameter value the task cannot take; the message names the parameter."""


def param(
    default: Any = dataclasses.MISSING,
    *,
    help: str = "",
    min: float | None = None,
    max: float | None = None,
    choices: typing.Sequence[Any] | None = None,
    filter: str = "",
    save: bool = False,
    multiline: bool = False,
    label: str = "",
    advanced: bool = False,
    model: str = "",
    architecture: str | typing.Sequence[str] = "",
) -> Any:
    """A dataclass field with the metadata the forms and the CLI flags are built from.

    ``filter``: file dialog filter for Path fields ("Images (*.png *.jpg)").
    ``save``: the Path is written by the task (it need not exist yet).
    ``advanced``: an expert knob most runs leave alone; the form keeps it in a collapsed
    "More settings" section (the command line lists it like any other flag).
    ``model``: a ``str`` that names a model of this capability; the form lists the store's.
    ``architecture``: with ``model``, the card architecture(s) the task takes (a capability may
    have several kinds of model); only those are offered and accepted.
    """
    meta = dict(help=help, min=min, max=max, choices=tuple(choices) if choices else None,
                filter=filter, save=save, multiline=multiline, label=label, advanced=advanced,
                model=model, architecture=(architecture,) if isinstance(architecture, str)
                and architecture else tuple(architecture or ()))
    if isinstance(default, list | dict | set):
        return field(default_factory=lambda d=default: type(d)(d), metadata=meta)
    return field(default=default, metadata=meta)


@dataclass(frozen=True)
class ParamSpec:
    """One field of a task's schema, as the form builder and the CLI see it."""

    name: str
    type: type  # int, float, str, bool or Path
    default: Any
    required: bool
    optional: bool  # None is allowed
    help: str = ""
    label: str = ""
    min: float | None = None
    max: float | None = None
    choices: tuple | None = None
    filter: str = ""
    save: bool = False
    multiline: bool = False
    advanced: bool = False  # shown in the form's collapsed "More settings" section
    model: str = ""  # the capability whose models the value names (a list in the form)
    architecture: tuple[str, ...] = ()  # with ``model``: the card architectures it takes

    def takes_model(self, card: Any) -> bool:
        """Whether this ``model`` parameter may name ``card`` (its capability, and one of its
        architectures when the parameter names some)."""
        return (bool(self.model) and card.capability == self.model
                and (not self.architecture or card.architecture in self.architecture))

    def model_problem(self, model_id: str, cards: typing.Iterable[Any]) -> str:
        """Why ``model_id`` is no model for this parameter ("" when it is one)."""
        cards = list(cards)
        card = next((c for c in cards if c.id == model_id), None)
        kind = self.model + (f" ({', '.join(self.architecture)})" if self.architecture else "")
        if card is None:
            fits = ", ".join(c.id for c in cards if self.takes_model(c)) or "none installed"
            return f"{self.flag}: unknown model {model_id!r} ({kind} models: {fits})"
        if not self.takes_model(card):
            what = card.capability + (f" ({card.architecture})" if card.architecture else "")
            return f"{self.flag}: {model_id} is a {what} model, not a {kind} model"
        return ""

    @property
    def flag(self) -> str:
        return "--" + self.name.replace("_", "-")

    @property
    def title(self) -> str:
        return self.label or self.name.replace("_", " ").capitalize()

    def convert(self, value: Any) -> Any:
        """Turn ``value`` (a Python value or a command-line string) into this field's type and
        check it, raising ParamError with a message that names the parameter."""
        blank = isinstance(value, str) and value.strip().lower() in ("", "none")
        if value is None or (self.optional and blank):
            if self.optional:
                return None
            raise ParamError(f"{self.flag} is required")
        try:
            if self.type is bool:
                v = _to_bool(value)
            elif self.type is Path:
                v = Path(value).expanduser()
            elif self.type is int:
                if isinstance(value, float) and not value.is_integer():
                    raise ValueError
                v = int(value)
            else:
                v = self.type(value)
                if isinstance(v, float) and not math.isfinite(v):
                    raise ValueError(value)
        except (TypeError, ValueError):
            kind = self.type.__name__
            raise ParamError(f"{self.flag}: {value!r} is not a valid {kind}") from None
        if self.choices is not None and v not in self.choices:
            allowed = ", ".join(map(str, self.choices))
            raise ParamError(f"{self.flag}: {v!r} is not one of {allowed}")
        if self.min is not None and v < self.min:
            raise ParamError(f"{self.flag}: {v} is below the minimum {self.min:g}")
        if self.max is not None and v > self.max:
            raise ParamError(f"{self.flag}: {v} is above the maximum {self.max:g}")
        if self.type is Path and not self.save and not v.exists():
            raise ParamError(f"{self.flag}: no such file: {v}")
        return v

    def to_json(self, value: Any) -> Any:
        return str(value) if isinstance(value, Path) else value


def _to_bool(value: Any) -> bool:
    if isinstance(value, bool):
        return value
    s = str(value).strip().lower()
    if s in ("1", "true", "yes", "on"):
        return True
    if s in ("0", "false", "no", "off"):
        return False
    raise ValueError(value)


_SIMPLE = (int, float, str, bool, Path)
# Taken by `studio run` itself (--seed, --out, --device, --help); the seed is ``ctx.seed``.
RESERVED_NAMES = frozenset({"seed", "out", "device", "help"})


def schema_of(params_cls: type) -> list[ParamSpec]:
    """The ParamSpecs of a parameter dataclass, in field order. A schema the host cannot use
    raises TypeError."""
    try:
        hints = typing.get_type_hints(params_cls)
    except Exception as exc:  # e.g. NameError: an annotation names something undefined
        name = getattr(params_cls, "__name__", repr(params_cls))
        raise TypeError(f"{name}: cannot resolve the parameter types: {exc}") from exc
    specs = []
    for f in dataclasses.fields(params_cls):
        if f.name in RESERVED_NAMES:
            raise TypeError(f"{params_cls.__name__}.{f.name}: the parameter name {f.name!r} is "
                            f"reserved (taken by `studio run`; the run's seed is ctx.seed)")
        tp, optional = _unwrap_optional(hints[f.name])
        if tp not in _SIMPLE:
            raise TypeError(f"{params_cls.__name__}.{f.name}: unsupported parameter type {tp!r}")
        if f.default is not dataclasses.MISSING:
            default, required = f.default, False
        elif f.default_factory is not dataclasses.MISSING:
            default, required = f.default_factory(), False
        else:
            default, required = None, True
        m = dict(f.metadata)
        specs.append(ParamSpec(
            name=f.name, type=tp, default=default, required=required, optional=optional,
            help=m.get("help", ""), label=m.get("label", ""), min=m.get("min"), max=m.get("max"),
            choices=m.get("choices"), filter=m.get("filter", ""), save=m.get("save", False),
            multiline=m.get("multiline", False), advanced=m.get("advanced", False),
            model=m.get("model", ""), architecture=m.get("architecture", ()),
        ))
    return specs


def _unwrap_optional(tp: Any) -> tuple[type, bool]:
    if typing.get_origin(tp) in (typing.Union, types.UnionType):
        args = [a for a in typing.get_args(tp) if a is not type(None)]
        if len(args) == 1:
            return args[0], True
    return tp, False


# ---------------------------------------------------------------------------------------------
# Tasks and their context.


class Cancelled(Exception):
    """The user cancelled the task."""


@dataclass
class Task:
    """A unit of work a user can start from the window or the command line.

    ``run(params, ctx)`` is a generator of events. ``grad`` says whether the task needs
    autograd (training); others run under ``torch.inference_mode()``.
    """

    id: str
    title: str
    params: type
    run: Callable[[Any, Context], Iterator[Event]]
    description: str = ""
    grad: bool = False
    capability: str = ""  # filled in by the host
    plugin: str = ""  # filled in by the host

    def schema(self) -> list[ParamSpec]:
        return schema_of(self.params)

    def make_params(self, values: dict[str, Any] | None = None) -> Any:
        """Build the parameter dataclass from ``values`` (missing keys take defaults), converting
        and checking each one. Unknown keys raise ParamError."""
        values = dict(values or {})
        specs = {s.name: s for s in self.schema()}
        unknown = sorted(set(values) - set(specs))
        if unknown:
            raise ParamError(f"{self.id}: unknown parameter {', '.join(unknown)}")
        kwargs = {}
        for name, spec in specs.items():
            if name in values:
                kwargs[name] = spec.convert(values[name])
            elif spec.required:
                raise ParamError(f"{spec.flag} is required")
            elif spec.type is Path and spec.default is not None and not spec.save:
                kwargs[name] = spec.convert(spec.default)
        return self.params(**kwargs)

    def check_models(self, params: Any, models: Any) -> None:
        """Refuse a ``model`` parameter naming a model the store does not know, or one of
        another capability or architecture (ParamError naming the flag)."""
        specs = [s for s in self.schema() if s.model and getattr(params, s.name, None)]
        if not specs:
            return
        cards = models.cards()
        for spec in specs:
            problem = spec.model_problem(str(getattr(params, spec.name)), cards)
            if problem:
                raise ParamError(problem)

    def params_to_json(self, params: Any) -> dict[str, Any]:
        return {s.name: s.to_json(getattr(params, s.name)) for s in self.schema()}


class Controls:
    """A small thread-safe channel from the window to a running task: the panel that submitted
    the job sets values (a slider's position, the keys held down) and sends commands (pause,
    step once); the task reads them between its yields. A run owns one (``ctx.controls``; the
    window hands the job's, ``job.controls``, to it). On the command line nobody writes to it,
    so the task sees the defaults it passes to ``get``.

        speed = ctx.controls.get("speed", p.speed)      # the newest value, or the default
        for name, value in ctx.controls.take():          # commands sent since the last take
            ...
        ctx.controls.wait(0.05)                          # paused: sleep until something comes
    """

    def __init__(self) -> None:
        self._cond = threading.Condition()
        self._values: dict[str, Any] = {}
        self._commands: list[tuple[str, Any]] = []
        self._version = 0

    def set(self, **values: Any) -> None:
        """Set named values (the newest wins); wakes a task waiting in ``wait``."""
        with self._cond:
            self._values.update(values)
            self._version += 1
            self._cond.notify_all()

    def get(self, name: str, default: Any = None) -> Any:
        with self._cond:
            return self._values.get(name, default)

    def values(self) -> dict[str, Any]:
        """A copy of every value set so far."""
        with self._cond:
            return dict(self._values)

    def send(self, command: str, value: Any = None) -> None:
        """Queue a command for the task (each is taken once, in order); wakes ``wait``."""
        with self._cond:
            self._commands.append((command, value))
            self._version += 1
            self._cond.notify_all()

    def take(self) -> list[tuple[str, Any]]:
        """The commands sent since the last ``take``, oldest first."""
        with self._cond:
            commands, self._commands = self._commands, []
            return commands

    def wait(self, timeout: float) -> bool:
        """Sleep until a value is set or a command is waiting (sent and not taken yet), or
        ``timeout`` seconds pass; True when something came. Keep the timeout short (0.05 s): a
        stop is seen only after it."""
        with self._cond:
            seen = self._version
            return bool(self._cond.wait_for(
                lambda: self._commands or self._version != seen, timeout))


@dataclass
class Context:
    """What a running task gets from the host. Nothing in it is Qt."""

    device: str = "cpu"  # "cpu", "cuda", "cuda:1", "mps"
    dtype: str = "float32"
    seed: int = 0
    scratch: Path = field(default_factory=lambda: Path("."))
    models: Any = None  # studio.models.ModelStore
    is_cancelled: Callable[[], bool] = lambda: False
    models_used: list[dict[str, str]] = field(default_factory=list)  # for the recipe
    controls: Controls = field(default_factory=Controls)  # values and commands from the panel

    def rng(self) -> random.Random:
        return random.Random(self.seed)

    def numpy_rng(self) -> Any:
        import numpy as np

        return np.random.default_rng(self.seed)

    def torch_generator(self) -> Any:
        """A torch.Generator on this context's device, seeded with the task's seed."""
        import torch

        dev = self.device if self.device.startswith("cuda") else "cpu"
        return torch.Generator(device=dev).manual_seed(self.seed)

    def load_model(self, model_id: str) -> Any:
        """The model card and its weights (a dict of tensors) from the model store."""
        if self.models is None:
            raise RuntimeError("no model store in this context")
        card, weights = self.models.load(model_id, device=self.device)
        self.models_used.append({"id": card.id, "sha256": card.weights_sha256})
        return card, weights
