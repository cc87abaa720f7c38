"""Loading plugins: entry points of the group ``studio.plugins``, one at a time, so that one
plugin failing (at import or inside a hook) is recorded against it and the others still load."""

from __future__ import annotations

import os
import traceback
from dataclasses import dataclass, field
from importlib import metadata
from typing import Any

import pluggy

from studio import hookspecs
from studio.hookspecs import Capability
from studio.tasks import Task

ENTRY_POINT_GROUP = "studio.plugins"
DISABLE_ENV = "STUDIO_DISABLE_PLUGINS"


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


@dataclass
class Registry:
    """What the loaded plugins offer, and what went wrong."""

    plugins: list[PluginInfo] = field(default_factory=list)
    failures: list[PluginFailure] = field(default_factory=list)
    capabilities: list[Capability] = field(default_factory=list)
    model_entries: list[tuple[str, Any]] = field(default_factory=list)  # (plugin, card-like)
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


def disabled_plugins(env: dict[str, str] | None = None) -> set[str]:
    raw = (env if env is not None else os.environ).get(DISABLE_ENV, "")
    return {name.strip() for name in raw.split(",") if name.strip()}


def load_plugins(
    disable: set[str] | None = None,
    extra: dict[str, Any] | None = None,
) -> Registry:
    """Load every plugin of the entry-point group (less the disabled ones) and collect what
    their hooks return. ``extra`` maps names to plugin objects registered directly (tests)."""
    disable = disabled_plugins() if disable is None else disable
    pm = pluggy.PluginManager("studio")
    pm.add_hookspecs(hookspecs)
    reg = Registry(manager=pm)

    candidates: list[tuple[str, Any, PluginInfo]] = []
    for ep in sorted(metadata.entry_points(group=ENTRY_POINT_GROUP), key=lambda e: e.name):
        dist = ep.dist
        info = PluginInfo(ep.name, dist.metadata["Name"] if dist else "",
                          dist.version if dist else "")
        if any(info.name == p.name for p in reg.plugins):
            continue  # the same distribution seen twice on sys.path
        reg.plugins.append(info)
        if ep.name in disable:
            info.status = "disabled"
            continue
        try:
            candidates.append((ep.name, ep.load(), info))
        except (Exception, SystemExit) as exc:  # a plugin may even call sys.exit at import
            _fail(reg, info, "import", exc)
    for name, obj in (extra or {}).items():
        info = PluginInfo(name)
        reg.plugins.append(info)
        if name in disable:
            info.status = "disabled"
        else:
            candidates.append((name, obj, info))

    for name, obj, info in candidates:
        try:
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
    for impl in pm.hook.studio_models.get_hookimpls():
        info = _info(reg, impl.plugin_name)
        for entry in _call(reg, info, "studio_models", impl.function) or []:
            reg.model_entries.append((info.name, entry))
    return reg


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
