"""Studio's pytest plugin: fixtures for testing a Studio plugin (plugin API 1.1).

Registered through the ``pytest11`` entry point, so any test session in an environment where
Studio is installed has them (``pytest -p no:studio`` turns them off):

- ``studio_run``: ``studio.testing.run_task`` whose outputs go to a fresh folder and whose model
  store is ``studio_models``;
- ``studio_context``: a ``Context`` (CPU, seed 0) with a fresh scratch folder and that store;
- ``studio_models``: a fresh, empty model-store folder (``studio.testing.save_model`` puts a
  model there);
- ``studio_cli``: ``studio.testing.run_cli`` with a fresh user data folder (gallery, models,
  plugin folder).

Nothing heavy is imported until a fixture is used.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest


@pytest.fixture
def studio_models(tmp_path: Path) -> Path:
    """An empty folder for the test's model store (the roots ``studio_run`` and
    ``studio_context`` read)."""
    folder = tmp_path / "studio-models"
    folder.mkdir()
    return folder


@pytest.fixture
def studio_context(tmp_path: Path, studio_models: Path) -> Any:
    """A ``studio.tasks.Context`` for calling a run function directly."""
    from studio.testing import make_context

    return make_context(tmp_path / "studio-scratch", models=studio_models)


@pytest.fixture
def studio_run(tmp_path: Path, studio_models: Path) -> Callable[..., Any]:
    """``studio_run(task, values=None, **options) -> TaskResult``: ``run_task`` saving outputs
    in a fresh folder (``out`` and ``models`` may be given to override)."""
    from studio.testing import run_task

    def run(task: Any, values: Any = None, **options: Any) -> Any:
        options.setdefault("out", tmp_path / "studio-out")
        options.setdefault("models", studio_models)
        return run_task(task, values, **options)

    return run


@pytest.fixture
def studio_cli(tmp_path: Path) -> Callable[..., Any]:
    """``studio_cli(*args, env=None) -> CliResult``: a ``studio`` command run in this process
    with a fresh user data folder."""
    from studio.testing import run_cli

    data = tmp_path / "studio-data"

    def cli(*args: str, env: Any = None) -> Any:
        return run_cli(*args, data_dir=data, env=env)

    cli.data_dir = data  # type: ignore[attr-defined]
    return cli
