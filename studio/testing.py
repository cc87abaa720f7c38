"""Testing a plugin's tasks the way Studio runs them, without the window (plugin API 1.1).

    from studio.testing import run_task

    def test_echo_says_it_twice(tmp_path):
        result = run_task(ECHO, {"text": "hi", "times": 2}, out=tmp_path)
        assert result.text == "hi hi "
        assert result.output().data == "hi hi"
        assert result.paths[0].read_text() == "hi hi"

``run_task`` runs through the same executor as ``studio run`` and the window: parameters are
converted and checked, every generator is seeded, torch is in inference mode unless the task
trains, each event is checked against the contract, and outputs are saved (with their recipes)
when ``out`` is given. A task that fails raises ``studio.execution.TaskFailed`` (``bad_input``
tells a refused input, exit status 2, from a failure, 1).

The pytest plugin ``studio.pytest_plugin`` (installed with Studio's ``test`` extra) offers the
same as fixtures: ``studio_run``, ``studio_context``, ``studio_models``, ``studio_cli``.
Nothing here imports Qt; torch is imported only when a task or a model needs it.
"""

from __future__ import annotations

import atexit
import contextlib
import io
import os
import shutil
import tempfile
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from types import ModuleType
from typing import Any

from studio.tasks import (
    Context,
    Controls,
    Event,
    Log,
    Output,
    Preview,
    Progress,
    Stream,
    Task,
)

__all__ = [
    "CliResult", "TaskResult", "load_plugin", "make_context", "make_params", "model_store",
    "run_cli", "run_task", "save_model",
]


def model_store(models: Any = None, cards: Iterable[Any] = ()) -> Any:
    """A ``studio.models.ModelStore`` over ``models`` (a folder of model folders, each with its
    ``card.json``, or a list of such folders; an existing store is returned as it is) plus the
    card-likes of ``cards`` (what a ``studio_models`` hook returns). With ``models`` None: the
    shipped starter models, and a fresh empty folder for what a task saves (removed when the
    process ends). Nothing of the user's own store is read."""
    from studio.models import ModelStore

    if isinstance(models, ModelStore):
        return models
    if models is None:
        roots: list[Path] = []
    elif isinstance(models, str | os.PathLike):
        roots = [Path(models)]
    else:
        roots = [Path(m) for m in models]
    if not roots:  # the starters (read only), then a folder of its own for what is saved
        from studio import paths

        saved = Path(tempfile.mkdtemp(prefix="studio-models-"))
        atexit.register(shutil.rmtree, saved, True)
        roots = [paths.shipped_models_dir(), saved]
    return ModelStore(roots, extra_cards=list(cards))


def make_context(scratch: Path | str, *, models: Any = None, cards: Iterable[Any] = (),
                 seed: int = 0, device: str = "cpu", controls: Controls | None = None) -> Context:
    """A ``Context`` for calling a task's run function directly: ``scratch`` is created, the
    model loader reads ``models`` (see ``model_store``) and ``cards``."""
    scratch = Path(scratch)
    scratch.mkdir(parents=True, exist_ok=True)
    return Context(device=device, seed=seed, scratch=scratch, models=model_store(models, cards),
                   controls=controls or Controls())


def make_params(task: Task, values: Mapping[str, Any] | None = None, *,
                flags: list[str] | None = None) -> Any:
    """The task's parameter dataclass from ``values`` (a dict; missing keys take their
    defaults) or from command-line ``flags`` (``["--times", "2"]``), converted and checked as
    Studio does: a bad value raises ``ParamError`` (dict) or ``UserError`` (flags) whose
    message names the parameter, as the user sees it."""
    if flags is not None:
        if values:
            raise TypeError("give values or flags, not both")
        from studio.runner import parse_task_args

        params, _ = parse_task_args(task, list(flags))
        return params
    return task.make_params(dict(values or {}))


@dataclass
class TaskResult:
    """What a run yielded, in order, and the files it saved."""

    events: list[Event] = field(default_factory=list)
    paths: list[Path] = field(default_factory=list)  # saved outputs (when ``out`` was given)
    seed: int = 0
    models_used: list[dict[str, str]] = field(default_factory=list)  # as in the recipe

    def of(self, kind: type) -> list[Any]:
        """The events of one type, e.g. ``result.of(Preview)``."""
        return [e for e in self.events if isinstance(e, kind)]

    @property
    def outputs(self) -> list[Output]:
        return self.of(Output)

    @property
    def progress(self) -> list[float | None]:
        """The fractions of the Progress events."""
        return [e.fraction for e in self.of(Progress)]

    @property
    def previews(self) -> list[Preview]:
        return self.of(Preview)

    @property
    def logs(self) -> list[str]:
        """The Log messages (``warning: ...`` / ``error: ...`` as the terminal prints them)."""
        return [e.message if e.level == "info" else f"{e.level}: {e.message}"
                for e in self.of(Log)]

    @property
    def text(self) -> str:
        """Every Stream chunk joined, as ``studio run`` prints it."""
        return "".join(e.text for e in self.of(Stream))

    def output(self, name: str | None = None) -> Output:
        """The one output (or the one named ``name``); AssertionError when there is not
        exactly one."""
        found = [o for o in self.outputs if name is None or o.name == name]
        names = [o.name for o in self.outputs]
        assert len(found) == 1, f"expected one output{f' named {name!r}' if name else ''}, " \
                                f"got {len(found)} (outputs: {names})"
        return found[0]

    def recipe(self, path: Path | str | None = None) -> dict[str, Any]:
        """The recipe saved beside an output file (the only one when ``path`` is None)."""
        import json

        from studio.gallery import RECIPE_SUFFIX

        if path is None:
            assert len(self.paths) == 1, f"expected one saved output, got {self.paths}"
            path = self.paths[0]
        path = Path(path)
        return json.loads((path.parent / (path.name + RECIPE_SUFFIX)).read_text("utf-8"))


def run_task(task: Task | str, values: Mapping[str, Any] | None = None, *,
             flags: list[str] | None = None, params: Any = None, seed: int = 0,
             device: str = "cpu", models: Any = None, cards: Iterable[Any] = (),
             out: Path | str | None = None, controls: Controls | None = None,
             registry: Any = None, stop_after: int | None = None) -> TaskResult:
    """Run a task to its end as Studio does and collect its events and saved files.

    ``task``: a ``Task``, or a task id looked up in ``registry`` (default: every installed
    plugin). Parameters come from ``values``, ``flags`` or a ready ``params``. ``models`` and
    ``cards``: the model store (see ``model_store``; the registry's cards are added when a task
    id is given). ``out``: save outputs there with their recipes (``result.paths``); without it
    nothing is written. ``stop_after``: press Stop after that many events (the run then raises
    ``Cancelled``). Raises ``TaskFailed`` when the task fails or breaks the event contract."""
    from studio import device as devices
    from studio.execution import Execution

    if isinstance(task, str):
        if registry is None:
            from studio.plugins import load_plugins

            registry = load_plugins()
        task = registry.task(task)
    if registry is not None:
        cards = [*cards, *registry.model_entries]
    if params is None:
        params = make_params(task, values, flags=flags)
    elif values or flags:
        raise TypeError("give params, values or flags, not more than one")
    sink = None
    if out is not None:
        from studio.gallery import DirectorySink

        sink = DirectorySink(out)
    result = TaskResult(seed=seed)
    execution = Execution(task, params, devices.pick(device), sink=sink, seed=seed,
                          models=model_store(models, cards), controls=controls or Controls())
    seen = 0

    def on_event(event: Event, saved: Any) -> None:
        nonlocal seen
        result.events.append(event)
        if saved is not None:
            result.paths.append(saved.path)
        seen += 1

    execution.run(on_event, lambda: stop_after is not None and seen >= stop_after)
    return result


def load_plugin(module: ModuleType | Any, name: str | None = None) -> Any:
    """Load one plugin module alone (not installed; the installed plugins and the plugin folders
    are left out) by the path Studio loads plugins: the returned ``Registry`` holds its
    capabilities, tasks and model entries, and in ``failures`` what went wrong."""
    from importlib import metadata

    from studio.plugins import ENTRY_POINT_GROUP, load_plugins

    name = name or getattr(module, "__name__", "plugin").rsplit(".", 1)[-1]
    installed = {ep.name for ep in metadata.entry_points(group=ENTRY_POINT_GROUP)}
    registry = load_plugins(disable=installed - {name}, extra={name: module}, folders=[])
    registry.plugins = [p for p in registry.plugins if p.name == name]
    return registry


def save_model(folder: Path | str, model_id: str, tensors: Mapping[str, Any], *,
               capability: str, architecture: str = "", config: Mapping[str, Any] | None = None,
               title: str = "", **fields: Any) -> Any:
    """Install a model into ``folder`` (a store root) as Studio does: ``<id>/`` with the
    tensors as safetensors and a ``card.json`` naming them with their sha256. Returns the
    ``ModelCard``. Other card fields (``licence``, ``quality``...) go in ``fields``."""
    from studio.model_import import _write_safetensors
    from studio.models import CARD_NAME, ModelCard, ModelFile, sha256_file

    home = Path(folder) / model_id
    home.mkdir(parents=True, exist_ok=True)
    weights = _write_safetensors(dict(tensors), home, model_id)
    card = ModelCard(id=model_id, capability=capability, title=title or model_id,
                     architecture=architecture, config=dict(config or {}),
                     files=[ModelFile(weights.name, sha256_file(weights),
                                      weights.stat().st_size)], **fields)
    card.save(home / CARD_NAME)
    card.folder = home
    return card


@dataclass
class CliResult:
    """How a ``studio`` command ended: its exit status and what it printed."""

    code: int
    stdout: str
    stderr: str


def run_cli(*args: str, data_dir: Path | str | None = None,
            env: Mapping[str, str] | None = None) -> CliResult:
    """Run ``studio ARGS`` in this process, as a user would type it, and capture its output.
    ``data_dir`` isolates the gallery, the models and the plugin folder
    (``STUDIO_DATA_DIR``); ``env`` sets more variables (``STUDIO_DISABLE_PLUGINS``) for the
    call."""
    from studio.cli import main

    changes = dict(env or {})
    if data_dir is not None:
        changes["STUDIO_DATA_DIR"] = str(data_dir)
    out, err = io.StringIO(), io.StringIO()
    with _environ(changes), contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        try:
            code = main(list(args))
        except SystemExit as exc:  # argparse's --help and usage errors
            code = exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 2)
    return CliResult(code, out.getvalue(), err.getvalue())


@contextlib.contextmanager
def _environ(changes: Mapping[str, str]) -> Iterator[None]:
    old = {k: os.environ.get(k) for k in changes}
    os.environ.update(changes)
    try:
        yield
    finally:
        for k, v in old.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v
