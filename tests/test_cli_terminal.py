"""`studio run` and `studio gallery` as a terminal user meets them: streamed text and the progress
bar share a real terminal without erasing each other, stdout holds only the output, a closed pipe
ends quietly, a misspelt task gets its near match, and no display is one line."""

from __future__ import annotations

import fcntl
import os
import pty
import re
import select
import shutil
import struct
import subprocess
import sys
import termios
from io import StringIO
from pathlib import Path

import pytest

from studio.runner import TerminalReporter
from studio.tasks import Log, Output, Progress, Stream

ROOT = Path(__file__).resolve().parent.parent


class Screen:
    """What a terminal shows for the bytes written to it: printable characters (wrapping at the
    right edge as xterm does), CR, LF, erase to end of line, cursor up, cursor to column."""

    def __init__(self, columns: int):
        self.columns, self.rows, self.row, self.col, self.wrap = columns, [[]], 0, 0, False

    def feed(self, data: str) -> None:
        for m in re.finditer(r"\x1b\[(\d*)([A-Za-z])|[\s\S]", data):
            if m.group(2):
                n = int(m.group(1) or 1)
                line = self.rows[self.row]
                if m.group(2) == "K":
                    del line[self.col:]
                elif m.group(2) == "A":
                    self.row = max(0, self.row - n)
                elif m.group(2) == "G":
                    self.col = n - 1
                self.wrap = False
                continue
            ch = m.group(0)
            if ch == "\r":
                self.col, self.wrap = 0, False
            elif ch == "\n":
                self._down()
                self.wrap = False
            else:
                if self.wrap:
                    self._down()
                    self.col, self.wrap = 0, False
                line = self.rows[self.row]
                line.extend(" " * (self.col + 1 - len(line)))
                line[self.col] = ch
                if self.col == self.columns - 1:
                    self.wrap = True
                else:
                    self.col += 1

    def _down(self) -> None:
        self.row += 1
        if self.row == len(self.rows):
            self.rows.append([])

    def text(self) -> list[str]:
        return ["".join(r).rstrip() for r in self.rows]


def _terminal(columns: int):
    """Both ends of a real pty with ``columns`` columns: (reporter out, reporter err, reader)."""
    master, slave = pty.openpty()
    fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", 24, columns, 0, 0))
    out = os.fdopen(slave, "w", encoding="utf-8")
    err = os.fdopen(os.dup(slave), "w", encoding="utf-8")

    def read() -> str:
        got = b""
        while select.select([master], [], [], 0.2)[0]:
            got += os.read(master, 65536)
        return got.decode("utf-8")

    return out, err, read, master


@pytest.mark.parametrize("columns", [80, 30, 26])
def test_streamed_text_survives_the_progress_bar_in_a_real_terminal(columns):
    out, err, read, master = _terminal(columns)
    rep = TerminalReporter(out, err)
    assert rep.tty and rep.shared
    screen = Screen(columns)
    words = ["You ", "say ", "you, ", "then, ", "cousin, ", "and ", "I ", "am ", "here."]
    rep(Progress(0.0, "loading"), None)
    for i, word in enumerate(words):
        rep._last_draw = 0.0  # draw the bar before every chunk: the hardest case
        rep(Progress((i + 1) / len(words), f"{i + 1} tokens"), None)
        rep(Stream(word), None)
        screen.feed(read())
        shown = [row for row in screen.text() if not row.startswith("[")]
        assert "".join(shown).replace(" ", "") == "".join(words[:i + 1]).replace(" ", "")
    rep(Progress(1.0, "done"), None)
    screen.feed(read())
    assert screen.text()[-1].startswith("[####")  # the bar on its own line below the text
    rep(Output("".join(words), name="text"), None)
    rep.finish(completed=True)
    screen.feed(read())
    shown = "".join(screen.text())  # the text wraps at the terminal's edge
    assert shown == "".join(words).rstrip()
    out.close(), err.close(), os.close(master)


def test_a_log_line_goes_below_the_streamed_text():
    out, err, read, master = _terminal(60)
    rep = TerminalReporter(out, err)
    screen = Screen(60)
    rep(Stream("The grey wolf"), None)
    rep(Log("model loaded"), None)
    rep(Log("warming up", "warning"), None)
    rep(Stream(" ran."), None)
    rep.finish(completed=True)
    screen.feed(read())
    assert screen.text()[:4] == ["The grey wolf", "model loaded", "warning: warming up", " ran."]
    out.close(), err.close(), os.close(master)


def test_progress_not_on_a_terminal_is_a_line_per_tenth_and_100_at_the_end():
    out, err = StringIO(), StringIO()
    rep = TerminalReporter(out, err)
    for f in (0.0, 0.05, 0.12, 0.15, 0.19, 0.2, 0.61, 0.97):
        rep(Progress(f, "step"), None)
    rep(Progress(None, "busy"), None)
    rep.finish(completed=True)
    assert err.getvalue().splitlines() == [" 12% step", " 20% step", " 61% step", " 97% step",
                                           "100% busy"]
    assert out.getvalue() == ""


def test_a_cancelled_task_gets_no_100_line():
    err = StringIO()
    rep = TerminalReporter(StringIO(), err)
    rep(Progress(0.3), None)
    rep.finish()
    assert err.getvalue() == " 30%\n"


def _studio(args: list[str], testkit: str, data: Path, **kw) -> subprocess.Popen:
    env = {**os.environ, "PYTHONPATH": testkit, "STUDIO_DATA_DIR": str(data),
           "STUDIO_DISABLE_PLUGINS": "studio_write,studio_compose,studio_paint,studio_drive"}
    return subprocess.Popen([sys.executable, "-m", "studio.cli", *args], env=env, text=True,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, **kw)


def test_stdout_holds_the_streamed_text_alone(testkit, tmp_path):
    p = _studio(["run", "testkit.echo", "--text", "hi there", "--times", "2", "--out",
                 str(tmp_path / "out")], testkit, tmp_path / "data")
    out, err = p.communicate(timeout=120)
    assert p.returncode == 0, err
    assert out == "hi there hi there \n"
    [saved] = (tmp_path / "out").glob("*.txt")
    assert f"saved to {saved}" in err.splitlines()
    assert "100%" in err


def test_file_outputs_list_their_paths_on_stdout(testkit, tmp_path):
    p = _studio(["run", "testkit.blob", "--size", "10", "--out", str(tmp_path / "out")],
                testkit, tmp_path / "data")
    out, err = p.communicate(timeout=120)
    assert p.returncode == 0, err
    [saved] = (tmp_path / "out").glob("*.bin")
    assert out == f"{saved}\n"


@pytest.mark.parametrize("args", [["gallery", "show"], ["run", "testkit.echo", "--times", "50"]])
def test_a_closed_pipe_ends_quietly(testkit, tmp_path, args):
    data = tmp_path / "data"
    made = _studio(["run", "testkit.echo", "--text", "saved once"], testkit, data)
    assert made.wait(timeout=120) == 0
    listed = _studio(["gallery", "list"], testkit, data).communicate(timeout=120)[0]
    if args == ["gallery", "show"]:
        args = args + [listed.split()[0]]
    p = _studio(args, testkit, data)
    p.stdout.close()  # the reader is gone before anything is written (`| head` that ended)
    err = p.stderr.read()
    assert p.wait(timeout=120) == 141
    assert err == "" or "Traceback" not in err and "Broken" not in err and "Exception" not in err


def test_an_unknown_task_gets_its_near_match(testkit, tmp_path):
    p = _studio(["run", "testkit.ecko"], testkit, tmp_path / "data")
    out, err = p.communicate(timeout=120)
    assert p.returncode == 2
    assert err == ("studio: error: unknown task 'testkit.ecko': did you mean testkit.echo? "
                   "(all tasks: `studio tasks`)\n")


def test_the_window_without_a_display_is_one_line(tmp_path):
    env = {k: v for k, v in os.environ.items()
           if k not in ("DISPLAY", "WAYLAND_DISPLAY", "QT_QPA_PLATFORM")}
    done = subprocess.run([sys.executable, "-m", "studio.cli"], env=env, capture_output=True,
                          text=True, timeout=120)
    assert done.returncode == 1
    assert done.stderr == ("studio: no display to open the window on (DISPLAY and "
                           "WAYLAND_DISPLAY are unset): start it from a desktop session, or use "
                           "`studio run TASK` in a terminal\n")


@pytest.mark.skipif(not sys.platform.startswith("linux") or not shutil.which("cc"),
                    reason="builds a shared library")
def test_a_missing_system_library_is_named_with_its_package(tmp_path):
    from studio import display

    # a plugin linked against a library that is then gone, as libxcb-cursor on a fresh Debian
    dep = "libstudio-gone.so.0"
    (tmp_path / "dep.c").write_text("int dep(void) { return 1; }\n")
    (tmp_path / "plugin.c").write_text("int dep(void);\nint plugin(void) { return dep(); }\n")
    subprocess.run(["cc", "-shared", "-fPIC", "-o", tmp_path / dep, f"-Wl,-soname,{dep}",
                    tmp_path / "dep.c"], check=True)
    subprocess.run(["cc", "-shared", "-fPIC", "-o", tmp_path / "libqxcb.so",
                    tmp_path / "plugin.c", tmp_path / dep], check=True)
    (tmp_path / dep).unlink()

    missing = display.missing_libraries(tmp_path / "libqxcb.so")
    assert missing == [dep]
    assert display.install_hint(["libxcb-cursor.so.0", "libxkbcommon-x11.so.0", dep]) == (
        "sudo apt install libxcb-cursor0 libxkbcommon-x11-0 libstudio-gone.so.0")
