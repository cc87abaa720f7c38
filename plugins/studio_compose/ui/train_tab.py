"""The Compose panel's Train tab: trains a MuseGAN (``compose.train``) and follows it: the
critic and generator losses (and the line critic's loss and the line, crossing and motion
mismatches, when they are trained) as a chart, the latest sample as a piano roll."""

from __future__ import annotations

from typing import Any

from studio.ui import theme
from studio.ui.train_tab import TrainTab
from studio_compose.score import Score
from studio_compose.train import BASE_FLAGS
from studio_compose.ui.pianoroll import PianoRoll

TRAIN = "compose.train"


class ComposeTrainTab(TrainTab):
    base_fields = BASE_FLAGS
    base_config = {"bars": "n_bars", "steps_per_bar": "n_steps", "pitches": "n_pitches",
                   "lowest_pitch": "lowest_pitch", "output": "output"}

    def __init__(self, host, parent=None):
        self.sample_roll = PianoRoll(compact=True)
        self.sample_roll.empty_text = "The latest sample appears as it trains"
        super().__init__(host, TRAIN, {"critic": ("critic", "#61afef"),
                                       "generator": ("generator", theme.ACCENT),
                                       "line critic": ("line", theme.OK),
                                       "line mismatch": ("match", "#c678dd"),
                                       "crossing mismatch": ("crossing", "#56b6c2"),
                                       "motion mismatch": ("motion", "#d19a66")},
                         self.sample_roll, "The critic and generator losses appear as it trains",
                         parent=parent)

    def show_sample(self, data: dict[str, Any]) -> None:
        if isinstance(data.get("score"), Score):
            self.sample_roll.set_score(data["score"])

    def clear_sample(self) -> None:
        self.sample_roll.set_score(None)
