"""The settings a piece is generated with, as the Compose panel shows them: model, bars, seed,
tempo, key, variation and an instrument per voice. ``values()`` gives them as
``compose.generate`` parameters; ``saved()`` and ``restore()`` keep them between runs."""

from __future__ import annotations

import contextlib
from typing import Any

from PySide6.QtWidgets import QComboBox, QDoubleSpinBox, QFormLayout, QLabel, QSpinBox, QWidget

from studio.ui import theme
from studio.ui.widgets import ModelPicker
from studio_compose.keys import TONICS
from studio_compose.score import DEFAULT_PROGRAM, SATB
from studio_compose.ui.pianoroll import voice_colour
from studio_compose.ui.seeds import SEED_MAX, new_seed

# General MIDI programs (0-based) that suit a chorale voice
INSTRUMENTS = (
    ("Choir aahs", 52), ("Voice oohs", 53), ("Strings", 48), ("Church organ", 19),
    ("Piano", 0), ("Flute", 73), ("Oboe", 68), ("Clarinet", 71), ("Bassoon", 70),
    ("Violin", 40), ("Viola", 41), ("Cello", 42), ("Contrabass", 43), ("French horn", 60),
    ("Trumpet", 56), ("Trombone", 57), ("Tuba", 58), ("Recorder", 74),
)


def seed_box(tip: str = "") -> QSpinBox:
    """A seed field: a number, or "random" below zero; as wide as the largest seed needs (Qt's
    own guess is half as wide again, which widens the whole form)."""
    box = QSpinBox()
    box.setRange(-1, SEED_MAX)
    box.setValue(-1)
    box.setSpecialValueText("random")
    box.setToolTip(tip)
    box.setMinimumWidth(box.fontMetrics().horizontalAdvance(str(SEED_MAX)) + 3 * theme.SPACE_L)
    return box


class PieceSettings(QWidget):
    def __init__(self, models, parent: QWidget | None = None):
        super().__init__(parent)
        self.model = ModelPicker(models, "compose", "compose.chorales")
        self.bars = QSpinBox()
        self.bars.setRange(1, 64)
        self.bars.setValue(8)
        self.seed = seed_box("Generate starts from this seed (random: a new one each time)")
        self.tempo = QDoubleSpinBox()
        self.tempo.setRange(20, 300)
        self.tempo.setDecimals(0)
        self.tempo.setValue(90)
        self.tempo.setSuffix(" bpm")
        self.variation = QDoubleSpinBox()
        self.variation.setRange(0.0, 1.0)
        self.variation.setSingleStep(0.05)
        self.variation.setValue(0.5)
        self.variation.setToolTip("How much each phrase departs from the one before "
                                  "(0: the same phrase again, 1: unrelated)")
        self.key = QComboBox()
        self.key.addItem("as written", "auto")
        for tonic in TONICS:
            self.key.addItem(tonic, tonic)
        self.key.setToolTip("Move the piece to this tonic; major or minor stays as the model "
                            "wrote it. As written: the model's own key; a model trained in "
                            "one key (as the starter model is) takes one from the chords "
                            "seed, so re-rolling the chords changes it")
        form = QFormLayout(self)
        form.setContentsMargins(0, 0, 0, 0)
        form.addRow("Model", self.model)
        form.addRow("Bars", self.bars)
        form.addRow("Seed", self.seed)
        form.addRow("Tempo", self.tempo)
        form.addRow("Key", self.key)
        form.addRow("Variation", self.variation)
        self.instruments: list[QComboBox] = []
        for v, name in enumerate(SATB):
            combo = QComboBox()
            for title, program in INSTRUMENTS:
                combo.addItem(title, program)
            combo.setCurrentIndex(combo.findData(DEFAULT_PROGRAM))
            self.instruments.append(combo)
            label = QLabel(name.capitalize())
            label.setStyleSheet(f"color: {voice_colour(v).name()};")
            form.addRow(label, combo)

    def start_seed(self) -> int:
        """The seed box's seed, or a fresh one where it says random."""
        return self.seed.value() if self.seed.value() >= 0 else new_seed()

    def values(self) -> dict[str, Any]:
        """The generate parameters that are not seeds."""
        return {"model": self.model.model_id(), "bars": self.bars.value(),
                "tempo": self.tempo.value(), "key": self.key.currentData(),
                "variation": round(self.variation.value(), 2),
                "instruments": ",".join(str(c.currentData()) for c in self.instruments)}

    def saved(self) -> dict[str, Any]:
        return {"model": self.model.model_id(), "bars": self.bars.value(),
                "seed": self.seed.value(), "tempo": self.tempo.value(),
                "key": self.key.currentData(), "variation": self.variation.value(),
                "instruments": [c.currentData() for c in self.instruments]}

    def restore(self, v: dict[str, Any]) -> None:
        """Back to ``saved()``'s values; a broken or old one is ignored from there on."""
        with contextlib.suppress(TypeError, ValueError):
            self.model.select(v.get("model"))
            self.bars.setValue(int(v.get("bars", 8)))
            self.seed.setValue(int(v.get("seed", -1)))
            self.tempo.setValue(float(v.get("tempo", 90)))
            self.key.setCurrentIndex(max(0, self.key.findData(v.get("key", "auto"))))
            self.variation.setValue(float(v.get("variation", 0.5)))
            for combo, program in zip(self.instruments, v.get("instruments") or [], strict=False):
                i = combo.findData(int(program))
                if i >= 0:
                    combo.setCurrentIndex(i)
