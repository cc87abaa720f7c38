"""``studio run TASK --flag value ...``: run one task in the foreground."""

from __future__ import annotations

import argparse

from studio.errors import UserError


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("run", help="run a task here (see `studio tasks`)", add_help=False,
                       description="Run a task. `studio run TASK --help` lists its flags.")
    p.add_argument("task", nargs="?", help="task id, e.g. write.generate")
    p.add_argument("args", nargs=argparse.REMAINDER, help="the task's flags")
    p.set_defaults(func=run)


def unknown_task(name: str, known: list[str]) -> str:
    """One line for a task id no plugin offers, with the nearest ids: a misspelt id
    ("write.generat") or its part after the dot alone ("generate")."""
    from difflib import SequenceMatcher

    if not known:
        return f"unknown task {name!r}: no plugin offers a task (see `studio plugins`)"

    def likeness(task: str) -> float:
        whole = SequenceMatcher(None, name.lower(), task.lower()).ratio()
        after_dot = SequenceMatcher(None, name.lower(), task.split(".", 1)[-1].lower()).ratio()
        return max(whole, after_dot)

    scores = {task: likeness(task) for task in known}
    best = max(scores.values())
    near = sorted((t for t, r in scores.items() if r >= max(0.7, best - 0.05)),
                  key=lambda t: -scores[t])[:3]
    hint = f": did you mean {' or '.join(near)}?" if near else ""
    return f"unknown task {name!r}{hint} (all tasks: `studio tasks`)"


def run(args: argparse.Namespace) -> int:
    from studio import device as devices
    from studio.execution import Execution
    from studio.plugins import load_plugins
    from studio.runner import parse_task_args, run_in_terminal, warn_plugin_failures

    if not args.task or args.task in ("-h", "--help"):
        print("usage: studio run TASK [--flag value ...]   (tasks: `studio tasks`)")
        return 0
    registry = load_plugins()
    warn_plugin_failures(registry)
    try:
        task = registry.task(args.task)
    except KeyError:
        raise UserError(unknown_task(args.task, sorted(registry.tasks))) from None
    if "-h" in args.args or "--help" in args.args:
        from studio.runner import task_parser

        task_parser(task).print_help()
        return 0
    params, opts = parse_task_args(task, args.args)
    from studio.models import ModelStore
    from studio.tasks import ParamError

    store = ModelStore.from_registry(registry)
    try:
        task.check_models(params, store)  # a model id of another capability is refused here
    except ParamError as exc:
        raise UserError(str(exc)) from None
    try:
        info = devices.pick(opts.device or args.device or "auto")
    except devices.DeviceError as exc:
        raise UserError(str(exc)) from None

    if opts.out is not None:
        from studio.gallery import DirectorySink

        sink = DirectorySink(opts.out)
    else:
        from studio.gallery import Gallery

        sink = Gallery()

    plugin = next((p for p in registry.plugins if p.name == task.plugin), None)
    execution = Execution(task, params, info, sink=sink, seed=opts.seed,
                          models=store,
                          plugin_version=plugin.version if plugin else "")
    return run_in_terminal(execution.run, args.debug, task.id)
