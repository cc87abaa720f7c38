from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest

from tests.testkit_dist import sys_path_entries, write_dist_info

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
# the built-in synthesiser whether or not FluidSynth is installed here (subprocesses inherit
# it); the tests of FluidSynth name their engine
os.environ["STUDIO_SYNTH"] = "builtin"


@pytest.fixture(scope="session")
def testkit_site(tmp_path_factory) -> Path:
    """A site folder holding the test plugin's dist-info."""
    return write_dist_info(tmp_path_factory.mktemp("site"))


@pytest.fixture
def testkit(testkit_site, monkeypatch):
    """The test plugin installed (on sys.path, entry point visible) for one test; returns the
    PYTHONPATH value a subprocess needs to see it too."""
    entries = sys_path_entries(testkit_site)
    for e in reversed(entries):
        monkeypatch.syspath_prepend(e)
    import importlib

    importlib.invalidate_caches()
    return os.pathsep.join(entries + [str(Path(__file__).parent.parent)])


@pytest.fixture
def user_data(tmp_path, monkeypatch) -> Path:
    """An empty user data folder (gallery, models, settings) for one test."""
    root = tmp_path / "userdata"
    monkeypatch.setenv("STUDIO_DATA_DIR", str(root))
    return root


@pytest.fixture
def registry(testkit):
    from studio.plugins import load_plugins

    return load_plugins(disable=set())


def pytest_configure(config):
    sys.dont_write_bytecode = True
