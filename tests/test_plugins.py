"""Plugin loading by the public path: real distributions with entry points, failures recorded
against the plugin that caused them, disabling, and what `studio plugins` prints."""

from __future__ import annotations

import importlib
import os
import subprocess
import sys
import textwrap
from collections.abc import Callable, Iterator
from importlib import metadata
from pathlib import Path

import pytest

from studio.plugins import DISABLE_ENV, ENTRY_POINT_GROUP, PluginInfo, Registry, load_plugins
from tests.testkit_dist import write_dist_info

TESTKIT_TASKS = {
    "testkit.noise", "testkit.echo", "testkit.spin", "testkit.fail", "testkit.measure",
    "testkit.blob",
}

_HEADER = """\
from dataclasses import dataclass

from studio.hookspecs import Capability, hookimpl
from studio.tasks import Output, Task


@dataclass
class NoParams:
    pass


def _run(p, ctx):
    yield Output("x")
"""

# name -> (module source, stage, message): each plugin breaks in its own way.
BROKEN: dict[str, tuple[str, str, str]] = {
    "broken_import": (
        "import studio_missing_dependency  # noqa: F401\n",
        "import",
        "ModuleNotFoundError: No module named 'studio_missing_dependency'",
    ),
    "broken_exit": (
        "import sys\nsys.exit('refusing to load')\n",
        "import",
        "SystemExit: refusing to load",
    ),
    "broken_hook": (
        _HEADER + textwrap.dedent("""
            @hookimpl
            def studio_capabilities():
                raise RuntimeError("no licence key found\\nsee the plugin's README")
        """),
        "studio_capabilities",
        "RuntimeError: no licence key found",
    ),
    "broken_not_list": (
        _HEADER + textwrap.dedent("""
            @hookimpl
            def studio_capabilities():
                return Capability("single", "Single", [Task("single.run", "Run", NoParams, _run)])
        """),
        "studio_capabilities",
        "TypeError: returned Capability, not a list",
    ),
    # "tk_" sorts after "studio_testkit", so the testkit loads first and keeps its ids.
    "tk_duplicate": (
        _HEADER + textwrap.dedent("""
            @hookimpl
            def studio_capabilities():
                return [Capability("copycat", "Copycat",
                                   [Task("testkit.noise", "Noise", NoParams, _run)])]
        """),
        "studio_capabilities",
        "ValueError: task id 'testkit.noise' is already taken",
    ),
    "broken_twice": (
        _HEADER + textwrap.dedent("""
            @hookimpl
            def studio_capabilities():
                return [Capability("twice", "Twice", [Task("twice.run", "Run", NoParams, _run),
                                                      Task("twice.run", "Again", NoParams, _run)])]
        """),
        "studio_capabilities",
        "ValueError: task id 'twice.run' is already taken",
    ),
    "broken_tasks_not_list": (
        _HEADER + textwrap.dedent("""
            @hookimpl
            def studio_capabilities():
                return [Capability("lone", "Lone", Task("lone.run", "Run", NoParams, _run))]
        """),
        "studio_capabilities",
        "ValueError: capability 'lone': TypeError: 'Task' object is not iterable",
    ),
    "broken_annotation": (
        _HEADER + textwrap.dedent("""
            @dataclass
            class TypoParams:
                size: "Intt" = 3


            @hookimpl
            def studio_capabilities():
                return [Capability("typo", "Typo", [Task("typo.run", "Run", TypoParams, _run)])]
        """),
        "studio_capabilities",
        "ValueError: task 'typo.run': TypoParams: cannot resolve the parameter types: "
        "name 'Intt' is not defined",
    ),
    "broken_models": (
        _HEADER + textwrap.dedent("""
            @hookimpl
            def studio_models():
                raise KeyError("cards")
        """),
        "studio_models",
        "KeyError: 'cards'",
    ),
}


@pytest.fixture
def install(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, testkit: str) -> Iterator[
        Callable[[str, str], Path]]:
    """Install plugin modules as real distributions (version 0.2) next to the testkit; returns
    a function ``install(name, source) -> site``. The modules are forgotten afterwards."""
    site = tmp_path / "site"
    site.mkdir()
    monkeypatch.syspath_prepend(str(site))
    names: list[str] = []

    def _install(name: str, source: str) -> Path:
        (site / f"{name}.py").write_text(source, encoding="utf-8")
        write_dist_info(site, name=name, module=name, version="0.2")
        importlib.invalidate_caches()
        names.append(name)
        return site

    yield _install
    for name in names:
        sys.modules.pop(name, None)


def _plugin(reg: Registry, name: str) -> PluginInfo:
    return next(p for p in reg.plugins if p.name == name)


def _tasks_of(reg: Registry, plugin: str) -> set[str]:
    return {task_id for task_id, task in reg.tasks.items() if task.plugin == plugin}


def _load_without_builtins() -> Registry:
    """Load with the plugins that ship with Studio disabled: they are not under test here, and
    the assertions below can then speak of everything the registry holds."""
    builtin = {ep.name for ep in metadata.entry_points(group=ENTRY_POINT_GROUP)
               if ep.name != "studio_testkit" and ep.name not in BROKEN
               and not ep.name.startswith("broken_")}
    return load_plugins(disable=builtin)


# --- the public path --------------------------------------------------------------------------


def test_testkit_loads_through_its_entry_point(testkit):
    reg = load_plugins(disable=set())

    info = _plugin(reg, "studio_testkit")
    assert (info.distribution, info.version, info.status) == ("studio_testkit", "1.0", "loaded")
    assert [f for f in reg.failures if f.plugin == "studio_testkit"] == []
    cap = reg.capability("testkit")
    assert cap is not None and cap.title == "Test kit"
    assert {t.id for t in cap.tasks} == TESTKIT_TASKS
    assert _tasks_of(reg, "studio_testkit") == TESTKIT_TASKS
    noise = reg.task("testkit.noise")
    assert (noise.plugin, noise.capability, noise.title) == ("studio_testkit", "testkit",
                                                            "Noise image")


def test_studio_capabilities_results_reach_the_registry(testkit):
    reg = load_plugins(disable=set())

    # What the hook returns through pluggy is what the registry holds.
    returned = [cap for caps in reg.manager.hook.studio_capabilities() for cap in caps]
    assert {c.id for c in returned} == {c.id for c in reg.capabilities}
    cap = reg.capability("testkit")
    assert cap in returned
    assert (cap.description, cap.accepts) == ("Tasks for the tests", (".txt", ".bin"))


def test_studio_models_results_reach_the_registry(testkit):
    reg = load_plugins(disable=set())

    [card] = [entry for name, entry in reg.model_entries if name == "studio_testkit"]
    assert card["id"] == "testkit.tiny" and card["capability"] == "testkit"
    assert [card] in reg.manager.hook.studio_models()


def test_unknown_task_names_the_known_ones(registry):
    with pytest.raises(KeyError) as info:
        registry.task("testkit.nope")
    assert "unknown task 'testkit.nope'" in info.value.args[0]
    assert "testkit.echo" in info.value.args[0]


# --- failure isolation ------------------------------------------------------------------------


@pytest.mark.parametrize("name", sorted(BROKEN))
def test_a_broken_plugin_is_recorded_and_the_others_load(install, name):
    source, stage, message = BROKEN[name]
    install(name, source)

    reg = _load_without_builtins()

    assert [(f.plugin, f.stage, f.message) for f in reg.failures] == [(name, stage, message)]
    failure = reg.failures[0]
    assert "\n" not in failure.message
    assert str(failure) == f"{name}: {stage} failed: {message}"
    assert failure.traceback.strip()  # kept for the Plugins dialog's details
    info = _plugin(reg, name)
    assert (info.status, info.distribution, info.version) == ("failed", name, "0.2")
    # The testkit is untouched by its neighbour's trouble.
    assert _plugin(reg, "studio_testkit").status == "loaded"
    assert _tasks_of(reg, "studio_testkit") == TESTKIT_TASKS
    assert reg.task("testkit.noise").plugin == "studio_testkit"


def test_studio_models_failure_keeps_the_plugins_capabilities(install):
    install("broken_models", BROKEN["broken_models"][0] + textwrap.dedent("""
        @hookimpl
        def studio_capabilities():
            return [Capability("still", "Still here", [Task("still.run", "Run", NoParams, _run)])]
    """))

    reg = _load_without_builtins()

    assert [(f.plugin, f.stage) for f in reg.failures] == [("broken_models", "studio_models")]
    assert reg.task("still.run").plugin == "broken_models"
    assert [name for name, _ in reg.model_entries] == ["studio_testkit"]


def test_unsupported_parameter_type_is_a_load_failure(install):
    install("broken_schema", textwrap.dedent("""
        from dataclasses import dataclass, field

        from studio.hookspecs import Capability, hookimpl
        from studio.tasks import Task


        @dataclass
        class ListParams:
            tags: list[str] = field(default_factory=list)


        def _run(p, ctx):
            yield from ()


        @hookimpl
        def studio_capabilities():
            return [Capability("tags", "Tags", [Task("tags.run", "Run", ListParams, _run)])]
    """))

    reg = _load_without_builtins()

    [failure] = reg.failures
    assert (failure.plugin, failure.stage) == ("broken_schema", "studio_capabilities")
    assert "ListParams.tags: unsupported parameter type" in failure.message
    assert "tags.run" not in reg.tasks
    assert _tasks_of(reg, "studio_testkit") == TESTKIT_TASKS


def test_all_broken_plugins_at_once(install):
    for name, (source, _, _) in BROKEN.items():
        install(name, source)

    reg = _load_without_builtins()

    expected = {(name, stage, message) for name, (_, stage, message) in BROKEN.items()}
    assert {(f.plugin, f.stage, f.message) for f in reg.failures} == expected
    assert {p.name for p in reg.plugins if p.status == "failed"} == set(BROKEN)
    assert set(reg.tasks) == TESTKIT_TASKS


# --- disabling --------------------------------------------------------------------------------


def test_disabled_by_environment(testkit, monkeypatch):
    monkeypatch.setenv(DISABLE_ENV, "studio_testkit, something_else")

    reg = load_plugins()

    info = _plugin(reg, "studio_testkit")
    assert (info.status, info.version) == ("disabled", "1.0")
    assert reg.capability("testkit") is None
    assert _tasks_of(reg, "studio_testkit") == set()
    assert not any(task_id.startswith("testkit.") for task_id in reg.tasks)
    assert [name for name, _ in reg.model_entries if name == "studio_testkit"] == []
    assert [f for f in reg.failures if f.plugin == "studio_testkit"] == []


def test_a_disabled_plugin_is_not_even_imported(install, monkeypatch):
    install("broken_exit", BROKEN["broken_exit"][0])
    monkeypatch.setenv(DISABLE_ENV, "broken_exit")

    reg = load_plugins()

    assert [f for f in reg.failures if f.plugin == "broken_exit"] == []
    assert _plugin(reg, "broken_exit").status == "disabled"
    assert "broken_exit" not in sys.modules
    assert _tasks_of(reg, "studio_testkit") == TESTKIT_TASKS


# --- `studio plugins` -------------------------------------------------------------------------


def test_studio_plugins_command_lists_plugins_and_failures(install, testkit):
    site = install("broken_import", BROKEN["broken_import"][0])
    env = {k: v for k, v in os.environ.items() if k != DISABLE_ENV}
    env["PYTHONPATH"] = os.pathsep.join([str(site), testkit])

    done = subprocess.run([sys.executable, "-m", "studio.cli", "plugins"], env=env,
                          capture_output=True, text=True, timeout=120)

    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    testkit_line = next(line for line in lines if line.startswith("studio_testkit"))
    assert "loaded" in testkit_line and "1.0" in testkit_line and "testkit" in testkit_line
    broken_line = next(line for line in lines if line.startswith("broken_import"))
    assert "failed" in broken_line
    assert ("failed: broken_import: import failed: ModuleNotFoundError: "
            "No module named 'studio_missing_dependency'") in lines


# --- the command line -------------------------------------------------------------------------


def _studio(args: list[str], pythonpath: str, data_dir: Path) -> subprocess.CompletedProcess:
    """Run ``python -m studio.cli ARGS`` as a user would. The plugins that ship with Studio are
    disabled, so that what is printed comes from the testkit alone."""
    builtin = {ep.name for ep in metadata.entry_points(group=ENTRY_POINT_GROUP)} - {
        "studio_testkit"}
    env = {**os.environ, DISABLE_ENV: ",".join(sorted(builtin))}
    env["PYTHONPATH"] = pythonpath
    env["STUDIO_DATA_DIR"] = str(data_dir)
    return subprocess.run([sys.executable, "-m", "studio.cli", *args], env=env,
                          capture_output=True, text=True, timeout=120)


def test_studio_tasks_lists_the_testkit_flags(testkit, tmp_path):
    done = _studio(["tasks"], testkit, tmp_path / "data")

    assert done.returncode == 0, done.stderr
    assert "Test kit (testkit)" in done.stdout
    echo = done.stdout.split("testkit.echo", 1)[1].split("testkit.", 1)[0]
    assert "--times" in echo and "--text" in echo and "--shout" in echo


def test_studio_run_prints_the_text_and_saves_it(testkit, tmp_path):
    out = tmp_path / "out"

    done = _studio(["run", "testkit.echo", "--text", "hi there", "--times", "2", "--seed", "3",
                    "--out", str(out)], testkit, tmp_path / "data")

    assert done.returncode == 0, done.stderr
    assert "hi there hi there" in done.stdout
    assert "echoed 2 time(s)" in done.stderr
    [saved] = out.glob("*.txt")
    assert saved.read_text(encoding="utf-8") == "hi there hi there"
    assert done.stdout == "hi there hi there \n"  # the text alone; where it went on stderr
    assert f"saved to {saved}" in done.stderr


def test_studio_run_out_of_range_is_one_line(testkit, tmp_path):
    done = _studio(["run", "testkit.echo", "--times", "999"], testkit, tmp_path / "data")

    assert done.returncode == 2
    assert "Traceback" not in done.stderr
    [line] = done.stderr.strip().splitlines()
    assert "--times: 999 is above the maximum 100" in line


def test_studio_run_unknown_task(testkit, tmp_path):
    done = _studio(["run", "nope.task"], testkit, tmp_path / "data")

    assert done.returncode == 2
    assert "unknown task 'nope.task'" in done.stderr
    assert "Traceback" not in done.stderr


def test_studio_version(tmp_path):
    done = _studio(["--version"], os.getcwd(), tmp_path / "data")

    assert done.returncode == 0
    assert done.stdout.strip() == "studio 0.1.0"


def test_version_loads_neither_torch_nor_qt():
    probe = textwrap.dedent("""
        import contextlib, io, sys
        import studio.cli
        with contextlib.redirect_stdout(io.StringIO()) as out:
            code = studio.cli.main(["--version"])
        heavy = sorted(m for m in ("torch", "PySide6") if m in sys.modules)
        print(code, out.getvalue().strip(), heavy)
    """)
    root = str(Path(__file__).parent.parent)
    env = {**os.environ, "PYTHONPATH": root}

    done = subprocess.run([sys.executable, "-c", probe], env=env, capture_output=True,
                          text=True, timeout=60)

    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "0 studio 0.1.0 []"
