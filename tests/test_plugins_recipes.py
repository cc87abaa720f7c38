"""Recipes record the sha256 of each input file, and "Again" says when an input is missing or
has changed instead of silently making other bytes."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path

import pytest

from studio.errors import UserError
from studio.gallery import DirectorySink
from studio.recipes import again, input_changes
from studio.tasks import Log, Output, Task, param
from studio.testing import run_task


@dataclass
class ShoutParams:
    source: Path = param(help="a text to shout")
    save_to: Path | None = param(None, save=True)


def _shout(p, ctx):
    yield Output(p.source.read_text(encoding="utf-8").upper(), name="shout")


SHOUT = Task("shout.run", "Shout", ShoutParams, _shout)


class _Registry:
    plugins: list = []

    def task(self, task_id: str) -> Task:
        assert task_id == SHOUT.id
        return SHOUT


@pytest.fixture
def original(tmp_path):
    source = tmp_path / "words.txt"
    source.write_text("quiet words", encoding="utf-8")
    result = run_task(SHOUT, {"source": str(source), "save_to": str(tmp_path / "x.txt")},
                      out=tmp_path / "first", seed=4)
    return source, result.recipe()


def test_the_recipe_records_each_input_files_sha256(original):
    source, recipe = original

    assert recipe["inputs"] == {"source": {
        "path": str(source), "sha256": hashlib.sha256(b"quiet words").hexdigest()}}


def test_again_with_the_same_input_says_nothing_of_inputs(original, tmp_path):
    source, recipe = original
    seen: list = []

    again(recipe, _Registry(), DirectorySink(tmp_path / "again"), on_event=lambda e, s:
          seen.append(e))

    assert input_changes(recipe, SHOUT) == []
    assert [e for e in seen if isinstance(e, Log)] == [Log("identical bytes to the original")]


def test_again_says_an_input_changed(original, tmp_path):
    source, recipe = original
    source.write_text("other words", encoding="utf-8")
    seen: list = []

    again(recipe, _Registry(), DirectorySink(tmp_path / "again"), on_event=lambda e, s:
          seen.append(e))

    then = hashlib.sha256(b"quiet words").hexdigest()[:12]
    now = hashlib.sha256(b"other words").hexdigest()[:12]
    change = (f"--source: the input {source} has changed since the original was made "
              f"(sha256 {then} then, {now} now), so the output will differ")
    logs = [e for e in seen if isinstance(e, Log)]
    assert logs == [Log(change, "warning"), Log(
        "differs from the original (its sha256 does not match) (1 input file changed)")]
    assert (tmp_path / "again" / "shout.txt").read_text(encoding="utf-8") == "OTHER WORDS"


def test_again_says_an_input_is_missing(original, tmp_path):
    source, recipe = original
    source.unlink()

    assert input_changes(recipe, SHOUT) == [
        f"--source: the input {source} is missing; the original was made from a file with "
        f"sha256 {hashlib.sha256(b'quiet words').hexdigest()[:12]}"]
    with pytest.raises(UserError) as info:
        again(recipe, _Registry(), DirectorySink(tmp_path / "again"))
    assert str(info.value) == f"cannot run this recipe again: --source: no such file: {source}"
    assert not (tmp_path / "again").exists()


@dataclass
class SayParams:
    text: str = param("hi")


def test_a_recipe_without_input_files_has_no_inputs(tmp_path):
    say = Task("say.run", "Say", SayParams, lambda p, ctx: iter([Output(p.text)]))

    recipe = run_task(say, out=tmp_path).recipe()

    assert "inputs" not in recipe and recipe["params"] == {"text": "hi"}
