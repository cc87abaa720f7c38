"""Running a task in the terminal: flags built from its schema, a progress bar on stderr,
streamed text and text outputs on stdout, saved file paths on stdout."""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, TextIO

from studio.errors import EXIT_CANCELLED, EXIT_FAILED, EXIT_USAGE, UserError
from studio.tasks import Cancelled, Event, Log, Output, ParamError, Progress, Stream, Task


class _Parser(argparse.ArgumentParser):
    """An ArgumentParser whose errors are one line (raised as UserError), not usage + exit."""

    def error(self, message: str) -> None:  # type: ignore[override]
        raise UserError(f"{self.prog}: {message}")


def task_parser(task: Task) -> argparse.ArgumentParser:
    """Flags named after the schema's fields (``max_tokens`` -> ``--max-tokens``)."""
    parser = _Parser(prog=f"studio run {task.id}", description=task.description or task.title,
                     allow_abbrev=False)
    for spec in task.schema():
        help_ = spec.help or spec.title
        bits = []
        if spec.choices:
            bits.append("one of " + ", ".join(map(str, spec.choices)))
        if spec.min is not None or spec.max is not None:
            bits.append(f"{'' if spec.min is None else f'{spec.min:g}'}.."
                        f"{'' if spec.max is None else f'{spec.max:g}'}")
        if spec.required:
            bits.append("required")
        elif spec.default is not None and spec.default != "":
            bits.append(f"default {spec.default}")
        if bits:
            help_ += f" ({'; '.join(bits)})"
        if spec.type is bool:
            parser.add_argument(spec.flag, dest=spec.name, action=argparse.BooleanOptionalAction,
                                default=None, help=help_)
        else:
            parser.add_argument(spec.flag, dest=spec.name, default=None, help=help_,
                                metavar=spec.type.__name__.upper())
    parser.add_argument("--seed", type=int, default=None, help="random seed (default: random)")
    parser.add_argument("--out", type=Path, default=None,
                        help="save outputs to this folder instead of the gallery")
    parser.add_argument("--device", default=None, help="auto, cpu, cuda or mps")
    return parser


def parse_task_args(task: Task, argv: list[str]) -> tuple[Any, argparse.Namespace]:
    """The task's parameters (checked) and the run options from the command line."""
    ns = task_parser(task).parse_args(argv)
    values = {s.name: getattr(ns, s.name) for s in task.schema() if getattr(ns, s.name) is not None}
    try:
        params = task.make_params(values)
    except ParamError as exc:
        raise UserError(str(exc)) from None
    return params, ns


class TerminalReporter:
    """Shows a task's events in the terminal."""

    def __init__(self, out: TextIO | None = None, err: TextIO | None = None):
        self.out, self.err = out or sys.stdout, err or sys.stderr
        self.tty = self.err.isatty()
        self.streamed = False
        self._bar_shown = False
        self._last_draw = 0.0
        self._last_pct = -1

    def __call__(self, event: Event, saved: Any) -> None:
        if isinstance(event, Progress):
            self._progress(event)
        elif isinstance(event, Stream):
            self._clear_bar()
            self.out.write(event.text)
            self.out.flush()
            self.streamed = True
        elif isinstance(event, Log):
            self._clear_bar()
            print(f"{event.level}: {event.message}" if event.level != "info" else event.message,
                  file=self.err)
        elif isinstance(event, Output):
            self._clear_bar()
            if self.streamed and event.kind == "text":
                print(file=self.out)  # end the streamed line
            elif event.kind == "text":
                print(event.data, file=self.out)
            if saved is not None:
                print(saved.path, file=self.out)
            self.out.flush()

    def finish(self) -> None:
        self._clear_bar()

    def _progress(self, p: Progress) -> None:
        now = time.monotonic()
        pct = -1 if p.fraction is None else int(100 * max(0.0, min(1.0, p.fraction)))
        if self.tty:
            if now - self._last_draw < 0.05 and pct != 100:
                return
            width = 30
            filled = 0 if pct < 0 else pct * width // 100
            bar = "#" * filled + "." * (width - filled)
            shown = "  ?%" if pct < 0 else f"{pct:3d}%"
            self.err.write(f"\r[{bar}] {shown} {p.message[:40]}\033[K")
            self.err.flush()
            self._bar_shown = True
        elif pct >= 0 and pct // 10 != self._last_pct // 10 and now - self._last_draw >= 0.5:
            print(f"{pct:3d}% {p.message}".rstrip(), file=self.err)
        else:
            return
        self._last_draw, self._last_pct = now, pct

    def _clear_bar(self) -> None:
        if self._bar_shown:
            self.err.write("\r\033[K")
            self.err.flush()
            self._bar_shown = False


def warn_plugin_failures(registry: Any) -> None:
    for failure in registry.failures:
        print(f"studio: warning: plugin {failure}", file=sys.stderr)


def run_in_terminal(work: Callable[[TerminalReporter], object], debug: bool = False,
                    what: str = "", on_cancel: str = "studio: cancelled") -> int:
    """Run ``work(reporter)``, which runs a task reporting to ``reporter``, and turn how it
    ended into the command's exit status: 0, 1 (failed, one line), 2 (the task refused its
    input, one line), 130 (cancelled). A task that broke the plugin contract (yielded what is
    not an event) failed: its message names the plugin and the task."""
    from studio.execution import TaskFailed

    reporter = TerminalReporter()
    try:
        work(reporter)
    except Cancelled:
        reporter.finish()
        print(on_cancel, file=sys.stderr)
        return EXIT_CANCELLED
    except TaskFailed as exc:
        reporter.finish()
        if debug:
            print(exc.details, file=sys.stderr)
        if exc.bad_input:
            print(f"studio: error: {exc}", file=sys.stderr)
            return EXIT_USAGE
        if getattr(exc, "plugin_error", False):
            print(f"studio: error: {exc}", file=sys.stderr)
            return EXIT_FAILED
        print(f"studio: error: {what + ' failed: ' if what else ''}{exc}", file=sys.stderr)
        return EXIT_FAILED
    reporter.finish()
    return 0
