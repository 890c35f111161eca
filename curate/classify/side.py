"""What a task's score adds to its encoder's: the lexical model's blend
(curate.classify.lexical), then the fluency penalty (curate.classify.fluency), which make the
raw score; then the map onto the label scale (curate.classify.label_scale). The one owner of
that order, for training (before a bundle exists) and for the bundle's runtime."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

import numpy as np

from curate.classify.fluency import FLUENCY_FILE, FluencyParams, WordBigramLM, fluency_penalty
from curate.classify.label_scale import LabelScale
from curate.classify.lexical import LEXICAL_FILE, LexicalModel, blend


@dataclass
class SideParts:
    """The side models' share of some texts' scores: the lexical model's prediction and the
    fluency penalty (None where the task has no such model)."""

    lexical: np.ndarray | None = None
    penalty: np.ndarray | None = None

    def select(self, rows: np.ndarray) -> SideParts:
        return SideParts(*(None if a is None else a[rows] for a in (self.lexical, self.penalty)))


@dataclass
class SideModels:
    fluency: tuple[WordBigramLM, FluencyParams] | None = None
    lexical: LexicalModel | None = None
    weight: float = 0.0  # the lexical model's share of the score
    label_scale: LabelScale | None = None  # None: a bundle from before calibration

    def adjust(self, encoder: np.ndarray, texts: list[str]) -> np.ndarray:
        """The task's score on its label scale."""
        return self.calibrate(self.raw(encoder, texts))

    def calibrate(self, raw: np.ndarray) -> np.ndarray:
        return raw if self.label_scale is None else self.label_scale.apply(raw)

    def raw(self, encoder: np.ndarray, texts: list[str]) -> np.ndarray:
        """The encoder's score blended and penalised, before the label-scale map."""
        return self.combine(encoder, self.parts(texts))

    def parts(self, texts: list[str]) -> SideParts:
        """What the side models say of the texts, without the encoder (cheap: the cascade's
        first judge, curate.classify.cascade)."""
        lexical = self.lexical.predict(texts) if self.lexical is not None else None
        penalty = fluency_penalty(*self.fluency, texts) if self.fluency is not None else None
        return SideParts(lexical, penalty)

    def combine(self, encoder: np.ndarray, parts: SideParts) -> np.ndarray:
        """The raw score from an encoder score and the side models' parts."""
        scores = np.asarray(encoder, dtype=np.float32)
        if parts.lexical is not None:
            scores = blend(scores, parts.lexical, self.weight)
        if parts.penalty is not None:
            scores = scores + parts.penalty
        return scores

    def record(self, alpha: float | None = None) -> dict[str, Any]:
        """The manifest's `fluency`, `lexical` (files relative to the task folder) and
        `label_scale` entries."""
        fluency = None
        if self.fluency is not None:
            fluency = {**asdict(self.fluency[1]), "file": FLUENCY_FILE}
        lexical = None
        if self.lexical is not None:
            lexical = {
                "file": LEXICAL_FILE,
                "weight": self.weight,
                "alpha": alpha,
                "examples": self.lexical.examples,  # how many it was fit on
            }
        label_scale = self.label_scale.to_dict() if self.label_scale is not None else None
        return {"fluency": fluency, "lexical": lexical, "label_scale": label_scale}
