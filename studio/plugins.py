"""Loading plugins: entry points of the group ``studio.plugins`` and the modules in the plugin
folders (``STUDIO_PLUGINS_PATH`` and ``plugins`` in the user data folder), one at a time, so that
one plugin failing (at import or inside a hook) is recorded against it and the others still
load."""

from __future__ import annotations

import importlib.util
import os
import sys
import traceback
from collections.abc import Callable
from dataclasses import dataclass, field
from importlib import metadata
from pathlib import Path
from typing import Any

import pluggy

from studio import hookspecs, paths
from studio.hookspecs import API_VERSION, Capability
from studio.tasks import Task

ENTRY_POINT_GROUP = "studio.plugins"
DISABLE_ENV = "STUDIO_DISABLE_PLUGINS"
PLUGINS_PATH_ENV = "STUDIO_PLUGINS_PATH"


@dataclass
class PluginFailure:
    plugin: str
    stage: str  # "import", "register", "studio_capabilities", ...
    message: str
    traceback: str = ""

    def __str__(self) -> str:
        return f"{self.plugin}: {self.stage} failed: {self.message}"


@dataclass
class PluginInfo:
    name: str
    distribution: str = ""
    version: str = ""
    status: str = "loaded"  # "loaded" | "failed" | "disabled"
    path: str = ""  # the file or folder of a plugin loaded from a plugin folder

    @property
    def origin(self) -> str:
        """Where it came from: "distribution version", or the path of a local plugin."""
        return self.path or f"{self.distribution} {self.version}".strip()


@dataclass
class Registry:
    """What the loaded plugins offer, and what went wrong."""

    plugins: list[PluginInfo] = field(default_factory=list)
    failures: list[PluginFailure] = field(default_factory=list)
    capabilities: list[Capability] = field(default_factory=list)
    model_entries: list[tuple[str, Any]] = field(default_factory=list)  # (plugin, card-like)
    capability_plugins: dict[str, str] = field(default_factory=dict)  # capability id -> plugin
    manager: pluggy.PluginManager | None = None

    @property
    def tasks(self) -> dict[str, Task]:
        return {t.id: t for cap in self.capabilities for t in cap.tasks}

    def task(self, task_id: str) -> Task:
        tasks = self.tasks
        if task_id not in tasks:
            hint = ", ".join(sorted(tasks)) or "none: no plugin offers a task"
            raise KeyError(f"unknown task {task_id!r} (known: {hint})")
        return tasks[task_id]

    def capability(self, cap_id: str) -> Capability | None:
        return next((c for c in self.capabilities if c.id == cap_id), None)

    def plugin(self, name: str) -> PluginInfo | None:
        return next((p for p in self.plugins if p.name == name), None)

    def capabilities_of(self, plugin: str) -> list[str]:
        """The ids of the capabilities a plugin added."""
        return [c.id for c in self.capabilities if self.capability_plugins.get(c.id) == plugin]


def disabled_plugins(env: dict[str, str] | None = None) -> set[str]:
    raw = (env if env is not None else os.environ).get(DISABLE_ENV, "")
    return {name.strip() for name in raw.split(",") if name.strip()}


def plugin_folders(env: dict[str, str] | None = None) -> list[Path]:
    """The folders whose modules load as plugins: those of ``STUDIO_PLUGINS_PATH`` (separated
    by ``os.pathsep``), then ``plugins`` in the user data folder."""
    raw = (env if env is not None else os.environ).get(PLUGINS_PATH_ENV, "")
    folders = [Path(p).expanduser() for p in raw.split(os.pathsep) if p.strip()]
    return [*folders, paths.data_dir() / "plugins"]


def local_plugins(folder: Path) -> list[tuple[str, Path]]:
    """``(name, path)`` of each plugin in a folder: a module ``name.py`` or a package
    ``name/__init__.py``. Names starting with ``_`` or ``.`` are skipped."""
    if not folder.is_dir():
        return []
    found = []
    for entry in sorted(folder.iterdir()):
        if entry.name.startswith(("_", ".")):
            continue
        if entry.suffix == ".py" and entry.is_file():
            found.append((entry.stem, entry))
        elif entry.is_dir() and (entry / "__init__.py").is_file() and entry.name.isidentifier():
            found.append((entry.name, entry))
    return found


def load_plugins(
    disable: set[str] | None = None,
    extra: dict[str, Any] | None = None,
    folders: list[Path] | None = None,
) -> Registry:
    """Load every plugin of the entry-point group and of the plugin folders (less the disabled
    ones) and collect what their hooks return. ``extra`` maps names to plugin objects registered
    directly (tests); ``folders`` replaces ``plugin_folders()``."""
    disable = disabled_plugins() if disable is None else disable
    pm = pluggy.PluginManager("studio")
    pm.add_hookspecs(hookspecs)
    reg = Registry(manager=pm)

    # (name, info, load): everything is imported in the order of the names
    found: list[tuple[str, PluginInfo, Callable[[], Any]]] = []
    for ep in sorted(metadata.entry_points(group=ENTRY_POINT_GROUP), key=lambda e: e.name):
        dist = ep.dist
        info = PluginInfo(ep.name, dist.metadata["Name"] if dist else "",
                          dist.version if dist else "")
        if any(ep.name == name for name, _, _ in found):
            continue  # the same distribution seen twice on sys.path
        found.append((ep.name, info, ep.load))
    taken = {name for name, _, _ in found}
    local: list[tuple[str, PluginInfo, Callable[[], Any]]] = []
    shadowed: list[PluginInfo] = []
    for folder in plugin_folders() if folders is None else folders:
        for name, path in local_plugins(folder):
            info = PluginInfo(name, path=str(path))
            if name in taken:
                shadowed.append(info)
                continue
            taken.add(name)
            local.append((name, info, lambda n=name, p=path: _import_file(n, p)))
    found = sorted(found + local, key=lambda item: item[0])

    candidates: list[tuple[str, Any, PluginInfo]] = []
    for name, info, load in found:
        reg.plugins.append(info)
        if name in disable:
            info.status = "disabled"
            continue
        try:
            obj = load()
        except (Exception, SystemExit) as exc:  # a plugin may even call sys.exit at import
            _fail(reg, info, "import", exc)
            continue
        if info.path and not info.version:
            info.version = str(getattr(obj, "__version__", ""))
        candidates.append((name, obj, info))
    for info in shadowed:  # listed after the plugin that keeps the name
        reg.plugins.append(info)
        _fail(reg, info, "import", ValueError(
            f"a plugin named {info.name!r} is already installed or in an earlier folder"))
    for name, obj in (extra or {}).items():
        info = PluginInfo(name)
        reg.plugins = [p for p in reg.plugins if p.name != name]  # replaces an installed one
        candidates = [c for c in candidates if c[0] != name]
        reg.plugins.append(info)
        if name in disable:
            info.status = "disabled"
        else:
            candidates.append((name, obj, info))

    for name, obj, info in candidates:
        try:
            _check_api(obj)
            pm.register(obj, name=name)
        except (Exception, SystemExit) as exc:
            _fail(reg, info, "register", exc)

    for impl in pm.hook.studio_capabilities.get_hookimpls():
        info = _info(reg, impl.plugin_name)
        caps = _call(reg, info, "studio_capabilities", impl.function)
        for cap in caps or []:
            try:
                problem = _check_capability(cap, reg)
            except Exception as exc:  # e.g. ``tasks`` is not a list: still this plugin's fault
                problem = f"capability {getattr(cap, 'id', cap)!r}: {type(exc).__name__}: {exc}"
            if problem:
                _fail(reg, info, "studio_capabilities", ValueError(problem))
                continue
            for task in cap.tasks:
                task.capability, task.plugin = cap.id, info.name
            reg.capabilities.append(cap)
            reg.capability_plugins[cap.id] = info.name
    for impl in pm.hook.studio_models.get_hookimpls():
        info = _info(reg, impl.plugin_name)
        for entry in _call(reg, info, "studio_models", impl.function) or []:
            reg.model_entries.append((info.name, entry))
    return reg


def _import_file(name: str, path: Path) -> Any:
    """Import a plugin module (``x.py``) or package (``x/``) from its file, as module ``name``."""
    loaded = sys.modules.get(name)
    if loaded is not None:
        where = getattr(loaded, "__file__", None) or ""
        expected = path / "__init__.py" if path.is_dir() else path
        if Path(where).resolve() == expected.resolve():
            return loaded
        raise ImportError(f"the module name {name!r} is taken by {where or 'a built-in module'}")
    if path.is_dir():
        spec = importlib.util.spec_from_file_location(
            name, path / "__init__.py", submodule_search_locations=[str(path)])
    else:
        spec = importlib.util.spec_from_file_location(name, path)
    if spec is None or spec.loader is None:
        raise ImportError(f"cannot import {path}")
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module  # dataclasses and typing look their module up here
    try:
        spec.loader.exec_module(module)
    except BaseException:
        sys.modules.pop(name, None)
        raise
    return module


def _check_api(obj: Any) -> None:
    """Refuse a plugin whose ``STUDIO_API`` asks for a plugin API this Studio lacks."""
    wanted = getattr(obj, "STUDIO_API", None)
    if wanted is None:
        return
    try:
        major, minor = (int(x) for x in str(wanted).split("."))
    except ValueError:
        raise ValueError(f"STUDIO_API = {wanted!r} is not a version like \"1.1\"") from None
    have_major, have_minor = (int(x) for x in API_VERSION.split("."))
    if major != have_major or minor > have_minor:
        raise RuntimeError(f"needs the plugin API {major}.{minor}; this Studio "
                           f"{studio_version()} has {API_VERSION}")


def studio_version() -> str:
    import studio

    return studio.__version__


def _check_capability(cap: Any, reg: Registry) -> str:
    if not isinstance(cap, Capability):
        return f"returned {type(cap).__name__}, not a Capability"
    if reg.capability(cap.id) is not None:
        return f"capability id {cap.id!r} is already taken"
    known = set(reg.tasks)
    for task in cap.tasks:
        if not isinstance(task, Task):
            return f"capability {cap.id!r} lists {type(task).__name__}, not a Task"
        if task.id in known:
            return f"task id {task.id!r} is already taken"
        known.add(task.id)  # two tasks of this capability may not share an id either
        try:
            task.schema()
        except TypeError as exc:
            return f"task {task.id!r}: {exc}"
    return ""


def _call(reg: Registry, info: PluginInfo, hook: str, fn: Any) -> list | None:
    try:
        result = fn()
    except (Exception, SystemExit) as exc:
        _fail(reg, info, hook, exc)
        return None
    if result is None:
        return []
    if not isinstance(result, list | tuple):
        _fail(reg, info, hook, TypeError(f"returned {type(result).__name__}, not a list"))
        return None
    return list(result)


def _info(reg: Registry, name: str) -> PluginInfo:
    for info in reg.plugins:
        if info.name == name:
            return info
    info = PluginInfo(name)
    reg.plugins.append(info)
    return info


def _fail(reg: Registry, info: PluginInfo, stage: str, exc: BaseException) -> None:
    info.status = "failed"
    first_line = next(iter(str(exc).strip().splitlines()), "")  # messages are one line
    message = f"{type(exc).__name__}: {first_line}" if first_line else type(exc).__name__
    tb = "".join(traceback.format_exception(type(exc), exc, exc.__traceback__))
    reg.failures.append(PluginFailure(info.name, stage, message, tb))
