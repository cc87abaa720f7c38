"""studio.testing and its pytest plugin, as a plugin author uses them: the docs' minimal plugin
installed as a real distribution, and the docs' example test run by pytest against it."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from importlib import metadata
from pathlib import Path

import pytest

from studio.errors import UserError
from studio.execution import TaskFailed
from studio.plugins import DISABLE_ENV, ENTRY_POINT_GROUP
from studio.tasks import Cancelled, Preview, Progress, Stream
from studio.testing import (
    load_plugin,
    make_context,
    make_params,
    model_store,
    run_cli,
    run_task,
    save_model,
)
from tests.testkit_dist import write_dist_info

ROOT = Path(__file__).resolve().parent.parent
DOCS = (ROOT / "docs" / "plugins.md").read_text(encoding="utf-8")
FENCE = re.compile(r"^```(?P<lang>[\w-]*)\n(?P<body>.*?)^```$", re.M | re.S)


def _block_after(heading: str, lang: str, nth: int = 0) -> str:
    """The ``nth`` fenced ``lang`` block after ``heading`` in docs/plugins.md."""
    rest = DOCS[DOCS.index(heading):]
    return [m["body"] for m in FENCE.finditer(rest) if m["lang"] == lang][nth]


def _write_hello(site: Path) -> None:
    """The docs' minimal plugin, installed as distribution studio-hello 1.0 under ``site``."""
    package = site / "studio_hello"
    package.mkdir(parents=True)
    (package / "__init__.py").write_text(_block_after("## A minimal plugin", "python"))
    write_dist_info(site, name="studio_hello", module="studio_hello", version="1.0")


def test_the_docs_example_test_passes_against_the_docs_plugin(tmp_path):
    site = tmp_path / "site"
    _write_hello(site)
    tests = tmp_path / "tests"
    tests.mkdir()
    (tests / "test_hello.py").write_text(_block_after("### An example test", "python"))
    builtin = {ep.name for ep in metadata.entry_points(group=ENTRY_POINT_GROUP)}
    env = {**os.environ, DISABLE_ENV: ",".join(sorted(builtin)),
           "PYTHONPATH": os.pathsep.join([str(site), str(ROOT)])}

    done = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider",
                           str(tests / "test_hello.py")], cwd=tmp_path, env=env,
                          capture_output=True, text=True, timeout=300)

    assert done.returncode == 0, done.stdout + done.stderr
    assert re.search(r"^4 passed", done.stdout, re.M), done.stdout


# --- studio.testing on the testkit -----------------------------------------------------------


def test_run_task_collects_events_outputs_and_files(registry, tmp_path):
    result = run_task("testkit.echo", {"text": "a b", "times": 2}, registry=registry,
                      out=tmp_path, seed=3)

    assert result.text == "a b a b "
    assert result.progress == [0.5, 1.0]
    assert result.logs == ["echoed 2 time(s)"]
    assert result.output().data == "a b a b"
    assert result.paths == [tmp_path / "echo.txt"]
    assert result.paths[0].read_text(encoding="utf-8") == "a b a b"
    recipe = result.recipe()
    assert (recipe["task"], recipe["seed"], recipe["params"]["times"]) == ("testkit.echo", 3, 2)


def test_run_task_takes_flags_as_the_command_line_does(registry):
    task = registry.task("testkit.noise")

    result = run_task(task, flags=["--width", "8", "--height", "4", "--steps", "2"], seed=1)

    assert [type(e) for e in result.events] == [Progress, Preview, Progress, Preview,
                                                type(result.output())]
    assert result.output().data.shape == (4, 8, 3)
    assert result.paths == []  # nothing written without ``out``
    same = run_task(task, {"width": 8, "height": 4, "steps": 2}, seed=1)
    assert (same.output().data == result.output().data).all()


def test_make_params_names_the_parameter(registry):
    task = registry.task("testkit.echo")

    assert make_params(task, {"times": "3"}).times == 3
    assert make_params(task, flags=["--shout"]).shout is True
    with pytest.raises(UserError, match="--times: 999 is above the maximum 100"):
        make_params(task, flags=["--times", "999"])
    with pytest.raises(ValueError, match="--mode: 'loud' is not one of plain, upper"):
        make_params(task, {"mode": "loud"})


def test_a_failing_task_raises_task_failed(registry):
    with pytest.raises(TaskFailed) as info:
        run_task(registry.task("testkit.fail"), {"after": 1})

    # a ValueError is a refused input (exit status 2)
    assert info.value.bad_input and str(info.value) == "the test task failed on purpose"


def test_stop_after_cancels_the_run(registry):
    with pytest.raises(Cancelled):
        run_task(registry.task("testkit.echo"), {"times": 5}, stop_after=2)


def test_a_model_saved_for_a_test_loads_through_the_context(tmp_path):
    import torch

    card = save_model(tmp_path / "models", "tiny.net", {"w": torch.arange(4.0)},
                      capability="tiny", architecture="line", config={"n": 4})
    ctx = make_context(tmp_path / "scratch", models=tmp_path / "models", seed=5)

    loaded, weights = ctx.load_model("tiny.net")

    assert (loaded.id, loaded.architecture, loaded.config) == ("tiny.net", "line", {"n": 4})
    assert torch.equal(weights["w"], torch.arange(4.0))
    assert ctx.models_used == [{"id": "tiny.net", "sha256": card.weights_sha256}]
    assert ctx.scratch.is_dir() and ctx.seed == 5
    assert model_store(tmp_path / "models").is_installed(loaded)


def test_load_plugin_records_failures_like_studio():
    class Broken:
        @staticmethod
        def studio_capabilities():
            raise RuntimeError("no licence key")

    from studio.hookspecs import hookimpl

    hookimpl(Broken.studio_capabilities)

    reg = load_plugin(Broken, "broken_alone")

    assert [(p.name, p.status) for p in reg.plugins] == [("broken_alone", "failed")]
    assert [str(f) for f in reg.failures] == [
        "broken_alone: studio_capabilities failed: RuntimeError: no licence key"]


def test_run_cli_gives_the_exit_status_and_the_lines(testkit, tmp_path):
    builtin = {ep.name for ep in metadata.entry_points(group=ENTRY_POINT_GROUP)} - {
        "studio_testkit"}

    done = run_cli("run", "testkit.echo", "--times", "0", data_dir=tmp_path,
                   env={DISABLE_ENV: ",".join(sorted(builtin))})

    assert done.code == 2
    assert done.stderr.strip() == "studio: error: --times: 0 is below the minimum 1"


def test_the_fixtures_come_from_the_pytest_plugin(studio_run, studio_context, studio_models,
                                                  registry):
    result = studio_run(registry.task("testkit.echo"), {"text": "fixture"})

    assert result.of(Stream) == [Stream("fixture ")]
    assert result.paths[0].parent.name == "studio-out"
    assert studio_context.models.roots == [studio_models]
    assert studio_context.scratch.is_dir()


def test_run_task_by_id_finds_the_shipped_starter_models():
    from studio.testing import run_task

    result = run_task("write.generate", {"prompt": "ROMEO:", "max_tokens": 5}, seed=1)
    assert result.text.startswith("ROMEO:") and len(result.text) > len("ROMEO:")
