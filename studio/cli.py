"""The ``studio`` command. With no subcommand it opens the window.

    studio [--device D]                 open the window
    studio --version
    studio plugins                      loaded plugins and their failures
    studio tasks                        every task with its parameters
    studio run TASK --param-name V ...  run a task here, outputs to the gallery or --out DIR
    studio models list|show|verify|import|download|remove
    studio gallery list|search|show|again|rebuild|remove

Bad input ends with one line on stderr and exit status 2 (a traceback with ``--debug``).
Nothing heavy is imported at module level: ``studio --version`` loads neither torch nor Qt.
"""

from __future__ import annotations

import argparse
import contextlib
import importlib
import os
import sys

import studio
from studio.errors import EXIT_CANCELLED, EXIT_FAILED, EXIT_USAGE, UserError

COMMANDS = ("run", "plugins", "models", "gallery")
EXIT_CLOSED_PIPE = 141  # what a shell reports for a command ended by SIGPIPE (128 + 13)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="studio", description="A desktop creative studio: paint, write, compose, drive.")
    parser.add_argument("--version", action="version", version=f"studio {studio.__version__}")
    parser.add_argument("--debug", action="store_true", help="show tracebacks")
    parser.add_argument("--device", default=None, help="auto, cpu, cuda or mps (default: auto)")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name in COMMANDS:
        importlib.import_module(f"studio.commands.{name}").register(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    # Before torch loads: OpenMP threads that find no work sleep instead of spinning. When the
    # other cores are busy (a DAW, a training run) spinning threads wait on each other: two-thread
    # generation fell from 72 to 2 tokens/s on a loaded 2-core machine without this.
    os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
    argv = sys.argv[1:] if argv is None else argv
    if argv and argv[0] in ("--version", "-V"):  # answer before building any parser
        print(f"studio {studio.__version__}")
        return 0
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        if args.command is None:
            return open_window(args.device)
        return int(args.func(args) or 0)
    except UserError as exc:
        if args.debug:
            raise
        print(f"studio: error: {exc}", file=sys.stderr)
        return EXIT_USAGE
    except KeyboardInterrupt:
        print("studio: cancelled", file=sys.stderr)
        return EXIT_CANCELLED
    except BrokenPipeError:  # `studio gallery show ID | head`: the reader has all it wants
        end_quietly_on_closed_pipe()
        return EXIT_CLOSED_PIPE


def open_window(device: str | None) -> int:
    """The window, or one line saying why it cannot open here (before Qt aborts the process)."""
    from studio.display import problem

    found = problem()
    if found:
        print(f"studio: {found}", file=sys.stderr)
        return EXIT_FAILED
    from studio.ui.app import run_app

    return run_app(device=device)


def end_quietly_on_closed_pipe() -> None:
    """Point stdout and stderr at /dev/null, so the interpreter's last flush into the closed
    pipe raises nothing either."""
    devnull = os.open(os.devnull, os.O_WRONLY)
    for stream in (sys.stdout, sys.stderr):
        with contextlib.suppress(OSError, ValueError):  # a stream without a descriptor
            os.dup2(devnull, stream.fileno())
    os.close(devnull)


if __name__ == "__main__":
    sys.exit(main())
