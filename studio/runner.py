"""Running a task in the terminal: flags built from its schema, a progress bar on stderr,
streamed text and text outputs on stdout, saved file paths on stdout (a text's on stderr)."""

from __future__ import annotations

import argparse
import os
import sys
import time
import unicodedata
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
    """Shows a task's events in the terminal: streamed text and text outputs on stdout (and
    nothing else there, so ``> story.txt`` gets the story), the paths of saved files on stdout,
    one a line; logs, progress and where a text was saved on stderr.

    On a terminal the progress bar is redrawn in place. When text streams to the same terminal,
    the bar sits on the line below the text and steps aside before each chunk, so neither
    overwrites the other. Not on a terminal, progress is a line each time it crosses a multiple
    of 10 %, and a last line at 100 % when the task ends. A reader that closes the pipe stops
    the task (``Cancelled``, with ``pipe_closed`` set).
    """

    def __init__(self, out: TextIO | None = None, err: TextIO | None = None):
        self.out, self.err = out or sys.stdout, err or sys.stderr
        self.tty = self.err.isatty()
        self.shared = self.tty and _same_terminal(self.out, self.err)
        self.streamed = False
        self.pipe_closed = False
        self._line_ended = True  # the streamed text ends with a newline (or none came)
        self._col = 0  # terminal columns the streamed text's last line takes
        self._bar_shown = False
        self._bar_below = 0  # 0: on the text's line; 1: below it, cursor goes back up; 2: below
        self._back = ""  # the escape codes from the bar below back to the text's end
        self._last_draw = 0.0
        self._last_pct = -1  # not on a terminal: the last percentage printed (-1: no progress)
        self._last_message = ""

    def __call__(self, event: Event, saved: Any) -> None:
        try:
            self._show(event, saved)
        except BrokenPipeError:
            self.pipe_closed = True
            raise Cancelled() from None

    def _show(self, event: Event, saved: Any) -> None:
        if isinstance(event, Progress):
            self._progress(event)
        elif isinstance(event, Stream):
            self._clear_bar()
            self.out.write(event.text)
            self.out.flush()
            self.streamed = True
            self._advance(event.text)
        elif isinstance(event, Log):
            self._clear_bar()
            if self.shared and not self._line_ended:  # a log line of its own, below the text
                self.err.write("\n")
                self._col, self._line_ended = 0, True
            print(f"{event.level}: {event.message}" if event.level != "info" else event.message,
                  file=self.err)
        elif isinstance(event, Output):
            self._clear_bar()
            if event.kind == "text":
                if not self.streamed:
                    print(event.data, file=self.out)
                elif not self._line_ended:
                    print(file=self.out)  # end the streamed line
                    self._advance("\n")
                self.out.flush()
                if saved is not None:
                    print(f"saved to {saved.path}", file=self.err)
            elif saved is not None:
                print(saved.path, file=self.out)
                self.out.flush()

    def finish(self, completed: bool = False) -> None:
        """Take the bar away; ``completed``: the task ended well (not on a terminal, the last
        progress line says 100 % if none did yet)."""
        self._clear_bar()
        if self.shared and not self._line_ended:  # what follows starts a line of its own
            self.err.write("\n")
            self._line_ended = True
        if completed and not self.tty and 0 <= self._last_pct < 100:
            print(f"100% {self._last_message}".rstrip(), file=self.err)
            self._last_pct = 100

    def _progress(self, p: Progress) -> None:
        pct = -1 if p.fraction is None else int(100 * max(0.0, min(1.0, p.fraction)))
        self._last_message = p.message
        if self.tty:
            now = time.monotonic()
            if now - self._last_draw >= 0.05 or pct == 100:
                self._draw_bar(pct, p.message)
                self._last_draw = now
        elif pct >= 0:
            if pct // 10 > max(self._last_pct, 0) // 10:
                print(f"{pct:3d}% {p.message}".rstrip(), file=self.err)
                self._last_pct = pct
            elif self._last_pct < 0:
                self._last_pct = 0

    def _draw_bar(self, pct: int, message: str) -> None:
        columns = _columns(self.err)
        filled = 0 if pct < 0 else pct * 30 // 100
        shown = "  ?%" if pct < 0 else f"{pct:3d}%"
        line = f"[{'#' * filled}{'.' * (30 - filled)}] {shown} {message[:40]}"[:columns - 1]
        if not self._bar_shown and self.shared and self._col:
            # below the streamed text; coming back, the cursor returns to the text's end,
            # except after a line the text filled exactly, where the text goes on below
            self.err.write("\n")
            self._bar_below = 2 if self._col % columns == 0 else 1
            self._back = f"\033[1A\033[{self._col % columns + 1}G"
        self.err.write(f"\r{line}\033[K")
        self.err.flush()
        self._bar_shown = True

    def _clear_bar(self) -> None:
        if self._bar_shown:
            self.err.write("\r\033[K" + (self._back if self._bar_below == 1 else ""))
            self.err.flush()
            self._bar_shown = False
            self._bar_below = 0

    def _advance(self, text: str) -> None:
        """Follow the terminal column where the streamed text ends."""
        if text:
            self._line_ended = text.endswith("\n")
        for ch in text:
            if ch in "\n\r":
                self._col = 0
            elif ch == "\t":
                self._col += 8 - self._col % 8
            elif unicodedata.combining(ch) or unicodedata.category(ch) in ("Cc", "Cf"):
                continue
            else:
                self._col += 2 if unicodedata.east_asian_width(ch) in "WF" else 1


def _same_terminal(a: TextIO, b: TextIO) -> bool:
    try:
        return a.isatty() and os.path.samestat(os.fstat(a.fileno()), os.fstat(b.fileno()))
    except (OSError, ValueError):
        return False


def _columns(stream: TextIO) -> int:
    try:
        return max(20, os.get_terminal_size(stream.fileno()).columns)
    except (OSError, ValueError):
        return 80


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
        if reporter.pipe_closed:  # the reader went away: the CLI ends quietly
            raise BrokenPipeError() from None
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
    reporter.finish(completed=True)
    return 0
