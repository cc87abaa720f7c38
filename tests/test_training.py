"""The shared pieces of the training tasks (studio/training.py) that no one task covers."""

from types import SimpleNamespace

import pytest

from studio.training import base_licence, starting_point


class Context:
    """Just the model store of a task's context: one compose model, one write model."""

    cards = {"chorales": SimpleNamespace(capability="compose", architecture="musegan",
                                         licence="public domain music"),
             "gpt": SimpleNamespace(capability="write", architecture="gpt", licence="CC0")}

    def __init__(self):
        self.models = SimpleNamespace(get=self.get)

    def get(self, model_id):
        if model_id not in self.cards:
            raise KeyError(f"no model {model_id!r}")
        return self.cards[model_id]

    def load_model(self, model_id):
        return self.get(model_id), {"w": 1}


def test_a_fresh_run_loads_the_model_it_starts_from():
    start = starting_point(Context(), "chorales", None, "mine", "compose", "musegan")
    assert start.name == "chorales" and start.weights == {"w": 1} and not start.warning
    assert starting_point(Context(), None, None, "mine", "compose", "musegan").name == ""
    with pytest.raises(ValueError, match=r"--start-from gpt: a write model \(gpt\), not a "
                                         r"compose model \(musegan\)"):
        starting_point(Context(), "gpt", None, "mine", "compose", "musegan")
    with pytest.raises(KeyError, match="nothing"):
        starting_point(Context(), "nothing", None, "mine", "compose", "musegan")


def test_a_resumed_run_keeps_the_model_it_began_with():
    saved = {"start_from": "chorales"}
    start = starting_point(Context(), None, saved, "mine", "compose", "musegan")
    assert start.name == "chorales" and start.weights is None and not start.warning
    start = starting_point(Context(), "gpt", saved, "mine", "compose", "musegan")
    assert start.name == "chorales" and start.warning == ("resuming mine: --start-from gpt is "
                                                          "not used")
    assert starting_point(Context(), None, {}, "mine", "compose", "musegan").name == ""


def test_a_fine_tuned_models_licence_names_the_model_it_began_with():
    assert base_licence(Context(), "") == ""
    assert base_licence(Context(), "gpt") == "; it began with gpt, whose licence applies too: CC0"
    assert "it began with gone, whose licence applies too" in base_licence(Context(), "gone")
