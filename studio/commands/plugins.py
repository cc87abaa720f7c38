"""``studio plugins`` (what loaded, what failed) and ``studio tasks`` (every task's flags)."""

from __future__ import annotations

import argparse


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "plugins", help="list plugins and their failures",
        description="List the plugins (installed, and from the plugin folders) and what failed. "
                    "With --check the exit status is 1 when any plugin failed.")
    p.add_argument("--check", action="store_true",
                   help="exit 1 when a plugin failed to load, a hook failed or a model card "
                        "it declares does not read (a plugin's CI asserts that it loads)")
    p.add_argument("names", nargs="*", metavar="NAME",
                   help="with --check: only these plugins, each of which must be present")
    p.set_defaults(func=plugins)
    t = sub.add_parser("tasks", help="list every task with its parameters")
    t.add_argument("capability", nargs="?", help="only this capability's tasks")
    t.set_defaults(func=tasks)


def plugins(args: argparse.Namespace) -> int:
    from studio.errors import EXIT_FAILED, UserError
    from studio.plugins import load_plugins

    reg = load_plugins()
    names = list(getattr(args, "names", None) or [])
    check = bool(getattr(args, "check", False))
    if names and not check:
        raise UserError("plugin names are taken with --check only")
    if not reg.plugins:
        print("no plugins installed")
    width = max((len(p.name) for p in reg.plugins), default=0)
    for info in reg.plugins:
        caps = reg.capabilities_of(info.name)
        detail = f"  capabilities: {', '.join(caps)}" if caps else ""
        print(f"{info.name:<{width}}  {info.status:<8}  {info.origin}{detail}")
    for failure in reg.failures:
        print(f"failed: {failure}")
    if not check:
        return 0
    failed, problems = _check_problems(reg, names)
    for problem in problems:
        print(f"check: {problem}")
    if failed:
        print(f"check: FAILED: {', '.join(failed)}")
        return EXIT_FAILED
    checked = [p for p in reg.plugins if p.status == "loaded" and (not names or p.name in names)]
    print(f"check: ok: {len(checked)} plugin{'s' if len(checked) != 1 else ''} loaded, "
          "every hook answered")
    return 0


def _check_problems(reg, names: list[str]) -> tuple[list[str], list[str]]:
    """What ``--check`` fails on: the plugins that failed (of ``names`` only, when given), and
    the problems not printed yet: a named plugin that is not there or disabled, model cards a
    plugin declares that do not read."""
    import tempfile
    from pathlib import Path

    from studio.models import ModelStore

    def wanted(name: str) -> bool:
        return not names or name in names

    failed = [f.plugin for f in reg.failures if wanted(f.plugin)]
    problems = []
    for name in names:
        info = reg.plugin(name)
        if info is None:
            problems.append(f"{name}: not installed and in no plugin folder")
        elif info.status == "disabled":
            problems.append(f"{name}: disabled (STUDIO_DISABLE_PLUGINS)")
        else:
            continue
        failed.append(name)
    with tempfile.TemporaryDirectory() as empty:  # the plugins' cards alone, no installed ones
        for name, entry in reg.model_entries:
            if not wanted(name):
                continue
            store = ModelStore([Path(empty)], extra_cards=[(name, entry)])
            store.cards()
            if store.errors:
                problems += [f"model card: {error}" for error in store.errors]
                failed.append(name)
    return sorted(set(failed)), problems


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
