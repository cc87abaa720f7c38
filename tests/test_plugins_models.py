# ruff: noqa: F811  (the `install` fixture, imported, is taken as an argument)
"""Model parameters that know their capability (and architecture): the flags refuse another
kind of model naming the flag, and the form lists only the models the task takes, marking one
that is not installed and offering its download."""

from __future__ import annotations

import textwrap
from dataclasses import dataclass

import pytest

from studio.tasks import ParamError, Task, param
from studio.testing import model_store, run_cli, save_model
from tests.test_plugins import install  # noqa: F401  (the fixture)
from tests.test_plugins_kit import ONLY_TESTKIT


@dataclass
class PaintParams:
    model: str = param("paint.monet", model="paint", architecture="cyclegan")


def _paint(p, ctx):
    yield from ()


PAINT = Task("paint2.run", "Paint", PaintParams, _paint)


def _card(model_id: str, capability: str, architecture: str, url: str = "") -> dict:
    return {"id": model_id, "capability": capability, "title": model_id.title(),
            "architecture": architecture, "config": {},
            "files": [{"name": "w.safetensors", "sha256": "0" * 64, "size": 1000, **(
                {"url": url} if url else {})}],
            "licence": "MIT", "training_data": "", "command": "", "quality": {}}


@pytest.fixture
def store(tmp_path):
    import torch

    save_model(tmp_path / "models", "paint.monet", {"w": torch.zeros(2)}, capability="paint",
               architecture="cyclegan", title="Monet")
    save_model(tmp_path / "models", "paint.starry", {"w": torch.zeros(2)}, capability="paint",
               architecture="transformer-net", title="Starry")
    save_model(tmp_path / "models", "write.classics", {"w": torch.zeros(2)}, capability="write",
               architecture="gpt")
    return model_store(tmp_path / "models", cards=[
        _card("paint.vangogh", "paint", "cyclegan", url="https://example.org/w.safetensors")])


@pytest.mark.parametrize(("model_id", "message"), [
    ("paint.monet", ""),
    ("paint.vangogh", ""),  # known, not installed: loading it says how to get it
    ("write.classics", "--model: write.classics is a write (gpt) model, not a paint (cyclegan) "
                       "model"),
    ("paint.starry", "--model: paint.starry is a paint (transformer-net) model, not a paint "
                     "(cyclegan) model"),
    ("paint.nope", "--model: unknown model 'paint.nope' (paint (cyclegan) models: paint.monet, "
                   "paint.vangogh)"),
])
def test_a_model_parameter_takes_only_its_kind(store, model_id, message):
    params = PAINT.make_params({"model": model_id})

    if message:
        with pytest.raises(ParamError) as info:
            PAINT.check_models(params, store)
        assert str(info.value) == message
    else:
        PAINT.check_models(params, store)


def test_studio_run_refuses_another_capabilitys_model_naming_the_flag(install, tmp_path):
    install("studio_painter", textwrap.dedent('''
        from dataclasses import dataclass

        from studio.hookspecs import Capability, hookimpl
        from studio.tasks import Output, Task, param


        @dataclass
        class Params:
            palette: str = param("", model="painter")


        def run(p, ctx):
            yield Output("painted with " + p.palette)


        @hookimpl
        def studio_capabilities():
            return [Capability("painter", "Painter", [Task("painter.run", "Run", Params, run)])]


        @hookimpl
        def studio_models():
            card = {"architecture": "gpt", "config": {}, "files": [], "licence": "MIT",
                    "training_data": "", "command": "", "quality": {}}
            return [{**card, "id": "writer.gpt", "capability": "writer", "title": "GPT"},
                    {**card, "id": "painter.oils", "capability": "painter", "title": "Oils"}]
    '''))

    wrong = run_cli("run", "painter.run", "--palette", "writer.gpt", data_dir=tmp_path,
                    env=ONLY_TESTKIT)
    right = run_cli("run", "painter.run", "--palette", "painter.oils", "--out",
                    str(tmp_path / "out"), data_dir=tmp_path, env=ONLY_TESTKIT)

    assert wrong.code == 2
    assert wrong.stderr.strip() == ("studio: error: --palette: writer.gpt is a writer (gpt) "
                                    "model, not a painter model")
    assert right.code == 0, right.stderr
    assert (tmp_path / "out" / "output.txt").read_text(encoding="utf-8") == \
        "painted with painter.oils"


def test_the_form_lists_only_the_models_the_task_takes(qtbot, store):
    from studio.ui.forms import ModelField, ParamForm

    form = ParamForm(PAINT, models=store)
    qtbot.addWidget(form)
    field = form.widgets["model"]

    assert isinstance(field, ModelField)
    items = [(field.itemText(i), field.itemData(i)) for i in range(field.count())]
    assert items == [("Monet", "paint.monet"),
                     ("Paint.Vangogh (not installed)", "paint.vangogh")]
    assert field.model_id() == "paint.monet" and not field.download.isVisible()


def test_a_model_not_installed_offers_its_download(qtbot, store):
    from studio.ui.forms import ParamForm

    form = ParamForm(PAINT, models=store)
    qtbot.addWidget(form)
    form.show()
    field = form.widgets["model"]

    field.setCurrentIndex(field.findData("paint.vangogh"))

    assert form.values()["model"] == "paint.vangogh"
    assert field.download.isVisible()
    assert field.download.toolTip() == "Download paint.vangogh (0.0 MB)"
    assert form.params() is not None  # known: the run says it is not installed, or downloads


def test_the_form_refuses_a_typed_model_of_another_kind(qtbot, store):
    from studio.ui.forms import ParamForm

    form = ParamForm(PAINT, models=store)
    qtbot.addWidget(form)

    form.widgets["model"].setEditText("write.classics")

    assert form.params() is None
    assert form.error.text() == ("--model: write.classics is a write (gpt) model, not a paint "
                                 "(cyclegan) model")
