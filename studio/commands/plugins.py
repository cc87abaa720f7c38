"""``studio plugins`` (what loaded, what failed) and ``studio tasks`` (every task's flags)."""

from __future__ import annotations

import argparse


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("plugins", help="list plugins and their failures")
    p.set_defaults(func=plugins)
    t = sub.add_parser("tasks", help="list every task with its parameters")
    t.add_argument("capability", nargs="?", help="only this capability's tasks")
    t.set_defaults(func=tasks)


def plugins(args: argparse.Namespace) -> int:
    from studio.plugins import load_plugins

    reg = load_plugins()
    if not reg.plugins:
        print("no plugins installed")
    width = max((len(p.name) for p in reg.plugins), default=0)
    for info in reg.plugins:
        caps = [c.id for c in reg.capabilities if any(t.plugin == info.name for t in c.tasks)]
        version = f"{info.distribution} {info.version}".strip()
        detail = f"  capabilities: {', '.join(caps)}" if caps else ""
        print(f"{info.name:<{width}}  {info.status:<8}  {version}{detail}")
    for failure in reg.failures:
        print(f"failed: {failure}")
    return 0


def tasks(args: argparse.Namespace) -> int:
    from studio.plugins import load_plugins

    reg = load_plugins()
    for cap in reg.capabilities:
        if args.capability and cap.id != args.capability:
            continue
        print(f"{cap.title} ({cap.id})")
        for task in cap.tasks:
            print(f"  {task.id:<24} {task.title}")
            for spec in task.schema():
                default = "required" if spec.required else f"default {spec.default!r}"
                print(f"      {spec.flag:<22} {spec.type.__name__:<6} {default}"
                      + (f"  {spec.help}" if spec.help else ""))
    if not reg.capabilities:
        print("no tasks: no plugin offers any")
    return 0
