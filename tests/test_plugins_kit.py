# ruff: noqa: F811  (the `install` fixture, imported, is taken as an argument)
"""The plugin author's kit: `studio plugins --check`, plugin folders, the plugin API version,
the event contract and the error contract (which exit status a task's exception gives)."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path

import pytest

from studio.errors import UserError
from studio.execution import TaskFailed
from studio.hookspecs import API_VERSION
from studio.plugins import DISABLE_ENV, ENTRY_POINT_GROUP, PLUGINS_PATH_ENV, load_plugins
from studio.tasks import Log, Output, Progress, Stream, Task, param
from studio.testing import load_plugin, run_cli, run_task
from tests.test_plugins import BROKEN, TESTKIT_TASKS, install  # noqa: F401  (the fixture)

BUILTIN = sorted({ep.name for ep in metadata.entry_points(group=ENTRY_POINT_GROUP)}
                 - {"studio_testkit"} - set(BROKEN))
ONLY_TESTKIT = {DISABLE_ENV: ",".join(BUILTIN)}

HELLO = textwrap.dedent('''
    """A plugin in a plugin folder."""
    from dataclasses import dataclass

    from studio.hookspecs import Capability, hookimpl
    from studio.tasks import Output, Task, param

    __version__ = "0.3"


    @dataclass
    class Params:
        name: str = param("world")


    def greet(p, ctx):
        yield Output(f"hello {p.name}", name="greeting")


    @hookimpl
    def studio_capabilities():
        return [Capability("greet", "Greet", [Task("greet.say", "Say hello", Params, greet)])]
''')


# --- studio plugins --check -------------------------------------------------------------------


def test_check_passes_when_everything_loaded(testkit, tmp_path):
    done = run_cli("plugins", "--check", data_dir=tmp_path, env=ONLY_TESTKIT)

    assert done.code == 0, done.stdout + done.stderr
    assert done.stdout.splitlines()[-1] == "check: ok: 1 plugin loaded, every hook answered"


def test_check_fails_naming_each_broken_plugin(install, tmp_path):
    for name in ("broken_import", "broken_hook"):
        install(name, BROKEN[name][0])

    done = run_cli("plugins", "--check", data_dir=tmp_path, env=ONLY_TESTKIT)

    assert done.code == 1
    lines = done.stdout.splitlines()
    assert ("failed: broken_hook: studio_capabilities failed: RuntimeError: no licence key found"
            in lines)
    assert ("failed: broken_import: import failed: ModuleNotFoundError: No module named "
            "'studio_missing_dependency'") in lines
    assert lines[-1] == "check: FAILED: broken_hook, broken_import"


def test_without_check_the_listing_still_exits_0(install, tmp_path):
    install("broken_import", BROKEN["broken_import"][0])

    done = run_cli("plugins", data_dir=tmp_path, env=ONLY_TESTKIT)

    assert done.code == 0
    assert not any(line.startswith("check:") for line in done.stdout.splitlines())


def test_check_of_named_plugins_ignores_the_others(install, tmp_path):
    install("broken_import", BROKEN["broken_import"][0])

    ok = run_cli("plugins", "--check", "studio_testkit", data_dir=tmp_path, env=ONLY_TESTKIT)
    missing = run_cli("plugins", "--check", "studio_nothere", data_dir=tmp_path,
                      env=ONLY_TESTKIT)

    assert ok.code == 0 and ok.stdout.splitlines()[-1].startswith("check: ok: 1 plugin")
    assert missing.code == 1
    assert "check: studio_nothere: not installed and in no plugin folder" in missing.stdout


def test_check_fails_on_a_model_card_that_does_not_read(install, tmp_path):
    install("bad_card", textwrap.dedent("""
        from studio.hookspecs import hookimpl


        @hookimpl
        def studio_models():
            return [{"id": "bad.card", "capability": "bad"}]
    """))

    done = run_cli("plugins", "--check", "bad_card", data_dir=tmp_path, env=ONLY_TESTKIT)

    assert done.code == 1
    [line] = [x for x in done.stdout.splitlines() if x.startswith("check: model card")]
    assert line.startswith("check: model card: plugin bad_card: ")
    assert done.stdout.splitlines()[-1] == "check: FAILED: bad_card"


def test_check_as_a_real_command_gives_exit_status_1(install, testkit, tmp_path):
    site = install("broken_exit", BROKEN["broken_exit"][0])
    env = {**os.environ, **ONLY_TESTKIT, "STUDIO_DATA_DIR": str(tmp_path)}
    env["PYTHONPATH"] = os.pathsep.join([str(site), testkit])

    done = subprocess.run([sys.executable, "-m", "studio.cli", "plugins", "--check"], env=env,
                          capture_output=True, text=True, timeout=120)

    assert done.returncode == 1, done.stdout + done.stderr
    assert "failed: broken_exit: import failed: SystemExit: refusing to load" in done.stdout


# --- plugin folders ---------------------------------------------------------------------------


def test_a_module_in_the_user_plugin_folder_loads(testkit, tmp_path):
    folder = tmp_path / "plugins"
    folder.mkdir()
    (folder / "greet_local.py").write_text(HELLO, encoding="utf-8")
    try:
        done = run_cli("plugins", data_dir=tmp_path, env=ONLY_TESTKIT)
        ran = run_cli("run", "greet.say", "--name", "you", "--out", str(tmp_path / "out"),
                      data_dir=tmp_path, env=ONLY_TESTKIT)
    finally:
        sys.modules.pop("greet_local", None)

    assert done.code == 0
    line = next(x for x in done.stdout.splitlines() if x.startswith("greet_local"))
    assert line.split() == ["greet_local", "loaded", str(folder / "greet_local.py"),
                            "capabilities:", "greet"]
    assert ran.code == 0, ran.stderr
    assert (tmp_path / "out" / "greeting.txt").read_text(encoding="utf-8") == "hello you"


def test_packages_on_the_plugins_path_load_and_fail_alone(tmp_path, monkeypatch):
    one, two = tmp_path / "one", tmp_path / "two"
    (one / "greet_pkg").mkdir(parents=True)
    (one / "greet_pkg" / "__init__.py").write_text(
        "from .hooks import studio_capabilities  # noqa: F401\n__version__ = '2.0'\n")
    (one / "greet_pkg" / "hooks.py").write_text(HELLO)
    (one / "_private.py").write_text("raise RuntimeError('never imported')\n")
    two.mkdir()
    (two / "greet_broken.py").write_text("import studio_missing_dependency\n")
    (two / "greet_pkg.py").write_text(HELLO)  # the same name as an earlier folder's
    monkeypatch.setenv(PLUGINS_PATH_ENV, os.pathsep.join([str(one), str(two)]))
    monkeypatch.setenv("STUDIO_DATA_DIR", str(tmp_path / "data"))
    try:
        reg = load_plugins(disable=set(BUILTIN))
    finally:
        for name in ("greet_pkg", "greet_pkg.hooks", "greet_broken"):
            sys.modules.pop(name, None)

    pkg = reg.plugin("greet_pkg")
    assert (pkg.status, pkg.version, pkg.path) == ("loaded", "2.0", str(one / "greet_pkg"))
    assert reg.task("greet.say").plugin == "greet_pkg"
    assert {(f.plugin, f.stage, f.message) for f in reg.failures} == {
        ("greet_broken", "import",
         "ModuleNotFoundError: No module named 'studio_missing_dependency'"),
        ("greet_pkg", "import",
         "ValueError: a plugin named 'greet_pkg' is already installed or in an earlier folder"),
    }
    assert reg.plugin("_private") is None


def test_a_plugin_folder_module_can_be_disabled(tmp_path, monkeypatch):
    (tmp_path / "greet_off.py").write_text("raise SystemExit('must not run')\n")
    monkeypatch.setenv(PLUGINS_PATH_ENV, str(tmp_path))

    reg = load_plugins(disable={*BUILTIN, "greet_off"})

    assert reg.plugin("greet_off").status == "disabled" and reg.failures == []
    assert "greet_off" not in sys.modules


# --- the plugin API version -------------------------------------------------------------------


@pytest.mark.parametrize(("wanted", "message"), [
    ("1.0", ""),
    (API_VERSION, ""),
    ("1.99", f"RuntimeError: needs the plugin API 1.99; this Studio 0.1.0 has {API_VERSION}"),
    ("2.0", f"RuntimeError: needs the plugin API 2.0; this Studio 0.1.0 has {API_VERSION}"),
    ("one", "ValueError: STUDIO_API = 'one' is not a version like \"1.1\""),
])
def test_a_plugin_may_require_an_api_version(wanted, message):
    class Plugin:
        STUDIO_API = wanted

    reg = load_plugin(Plugin, "versioned")

    assert [(f.stage, f.message) for f in reg.failures] == ([("register", message)]
                                                             if message else [])


# --- the event contract -----------------------------------------------------------------------


@dataclass
class NoParams:
    pass


def _yielding(*events):
    def run(p, ctx):
        yield from events

    return run


@pytest.mark.parametrize(("event", "problem"), [
    ("50%", "yielded '50%' (str), which is not an event (Progress, Preview, Stream, Log or "
            "Output from studio.tasks)"),
    (Progress(1.5), "yielded Progress(1.5): the fraction must be from 0 to 1, or None"),
    (Progress(-0.1), "yielded Progress(-0.1): the fraction must be from 0 to 1, or None"),
    (Progress(float("nan")), "yielded Progress(nan): the fraction must be from 0 to 1, or None"),
    (Stream(b"abc"), "yielded a Stream of bytes, not of text (str)"),
    (Log("hm", level="debug"), "yielded a Log of level 'debug', not 'info', 'warning' or 'error'"),
    (Output([1, 2], name="list"), "yielded Output 'list' of list: an output is a str, bytes or "
                                  "a uint8 image (H, W) or (H, W, C)"),
])
def test_what_is_not_an_event_is_refused_naming_plugin_and_task(event, problem):
    task = Task("odd.run", "Odd", NoParams, _yielding(Progress(0.5), event))
    task.plugin = "studio_odd"

    with pytest.raises(TaskFailed) as info:
        run_task(task)

    assert str(info.value) == f"plugin studio_odd, task odd.run: {problem}"
    assert info.value.plugin_error and not info.value.bad_input


def test_a_bad_event_is_one_line_and_exit_1_on_the_command_line(install, tmp_path):
    install("studio_odd", textwrap.dedent("""
        from dataclasses import dataclass

        from studio.hookspecs import Capability, hookimpl
        from studio.tasks import Progress, Task


        @dataclass
        class NoParams:
            pass


        def run(p, ctx):
            yield Progress(2)


        @hookimpl
        def studio_capabilities():
            return [Capability("odd", "Odd", [Task("odd.run", "Odd", NoParams, run)])]
    """))

    done = run_cli("run", "odd.run", data_dir=tmp_path, env=ONLY_TESTKIT)

    assert done.code == 1
    assert done.stderr.strip() == ("studio: error: plugin studio_odd, task odd.run: yielded "
                                   "Progress(2): the fraction must be from 0 to 1, or None")


# --- the error contract -----------------------------------------------------------------------


@dataclass
class FileParams:
    source: Path = param(help="a file to read")


def _reader(p, ctx):
    yield Output(p.source.read_text(encoding="utf-8"))


def _raising(exc):
    def run(p, ctx):
        yield Progress(0.1)
        raise exc

    return run


@pytest.mark.parametrize(("exc", "bad_input", "line"), [
    (UserError("--size: too small for a 3x3 kernel"), True, "--size: too small for a 3x3 kernel"),
    (ValueError("the image has no pixels"), True, "the image has no pixels"),
    (RuntimeError("CUDA driver too old"), False, "CUDA driver too old"),
    (OSError(28, "No space left on device", "/tmp/out.png"), False,
     "[Errno 28] No space left on device: '/tmp/out.png'"),
    (KeyError("weights"), False, "'weights'"),
])
def test_which_exceptions_refuse_input(exc, bad_input, line):
    task = Task("err.run", "Err", NoParams, _raising(exc))

    with pytest.raises(TaskFailed) as info:
        run_task(task)

    assert (info.value.bad_input, str(info.value)) == (bad_input, line)


def test_an_unreadable_input_file_refuses_input_naming_the_flag(tmp_path):
    notes = tmp_path / "notes.txt"
    notes.write_bytes(b"x")
    task = Task("read.run", "Read", FileParams, _reader)
    params = task.make_params({"source": str(notes)})
    notes.unlink()  # gone between the form and the run, as a moved file is

    with pytest.raises(TaskFailed) as info:
        run_task(task, params=params)

    assert info.value.bad_input
    assert str(info.value) == f"--source: cannot read {notes}: No such file or directory"


def test_an_input_file_that_is_a_folder_refuses_input(tmp_path):
    task = Task("read.run", "Read", FileParams, _reader)

    with pytest.raises(TaskFailed) as info:
        run_task(task, {"source": str(tmp_path)})

    assert info.value.bad_input
    assert str(info.value) == f"--source: cannot read {tmp_path}: Is a directory"


def test_the_testkit_still_loads_beside_plugin_folders(testkit, tmp_path, monkeypatch):
    monkeypatch.setenv(PLUGINS_PATH_ENV, str(tmp_path / "missing"))

    reg = load_plugins(disable=set(BUILTIN))

    assert {t for t, task in reg.tasks.items() if task.plugin == "studio_testkit"} == \
        TESTKIT_TASKS


def test_a_bad_event_in_the_window_is_a_notification_naming_plugin_and_task(qtbot, tmp_path,
                                                                            monkeypatch):
    from studio.gallery import Gallery
    from studio.hookspecs import Capability, hookimpl
    from studio.models import ModelStore
    from studio.ui.jobs import JobState
    from studio.ui.main_window import MainWindow

    monkeypatch.setenv("STUDIO_DATA_DIR", str(tmp_path))
    task = Task("odd.run", "Odd", NoParams, _yielding(Progress(0.5), {"loss": 1.0}))

    class Odd:
        @staticmethod
        @hookimpl
        def studio_capabilities():
            return [Capability("odd", "Odd", [task])]

    reg = load_plugin(Odd, "studio_odd")
    window = MainWindow(reg, Gallery(), ModelStore.from_registry(reg), device="cpu")
    qtbot.addWidget(window)
    window.show()

    job = window.jobs.submit(task, task.make_params())
    qtbot.waitUntil(lambda: job.reported, timeout=20000)

    assert job.state is JobState.FAILED
    assert job.error == ("plugin studio_odd, task odd.run: yielded {'loss': 1.0} (dict), which is "
                         "not an event (Progress, Preview, Stream, Log or Output from "
                         "studio.tasks)")
    assert any(job.error in m for lvl, m in window.notifications.history if lvl == "error")
    assert window.isVisible()
    window.jobs.wait(5000)
