"""Scores on the label scale: a monotone map from a task's raw score (encoder, lexical blend,
fluency penalty) to the scale its labels use, fitted on the validation split, so that 3 means
what the guidelines' 3 means (FineWeb-Edu keeps "score >= 3" because its regressor's 3 is the
annotators' 3).

The map is centred isotonic regression (Oron & Flournoy 2017): scikit-learn's isotonic fit
pools the validation labels into blocks, and each block's mean raw score and mean label become
a knot. Between knots the map is linear, so it is strictly increasing there: it keeps the raw
score's ranking (a threshold can keep any share of the documents, not only whole plateaus, as a
plain isotonic step function would). Beyond the outer knots it goes on with the outer
segments' slopes and is clamped to the scale. Applying it needs numpy alone (the scoring
runtime has no scikit-learn).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np


@dataclass(frozen=True)
class LabelScale:
    raw: tuple[float, ...]  # knots, strictly increasing
    calibrated: tuple[float, ...]  # their values on the scale, strictly increasing
    scale: tuple[int, int]

    def apply(self, raw: np.ndarray) -> np.ndarray:
        raw = np.asarray(raw, dtype=np.float64)
        x, y = np.asarray(self.raw), np.asarray(self.calibrated)
        lo, hi = self.scale
        if len(x) == 1:  # one block: the labels gave no order to follow; keep the raw one
            return np.clip(raw - x[0] + y[0], lo, hi).astype(np.float32)
        out = np.interp(raw, x, y)
        first, last = (y[1] - y[0]) / (x[1] - x[0]), (y[-1] - y[-2]) / (x[-1] - x[-2])
        below, above = raw < x[0], raw > x[-1]
        out[below] = y[0] + first * (raw[below] - x[0])
        out[above] = y[-1] + last * (raw[above] - x[-1])
        return np.clip(out, lo, hi).astype(np.float32)

    def to_dict(self) -> dict[str, Any]:
        return {
            "method": "centred isotonic regression on the validation split",
            "raw": [round(v, 6) for v in self.raw],
            "calibrated": [round(v, 6) for v in self.calibrated],
        }

    @classmethod
    def from_dict(cls, stored: dict[str, Any], scale: tuple[int, int]) -> LabelScale:
        return cls(tuple(stored["raw"]), tuple(stored["calibrated"]), scale)


def fit_label_scale(
    raw, labels, scale: tuple[int, int], weights=None, min_block: int = 1
) -> LabelScale:
    """The map from `raw` scores to `labels` on `scale` (see the module's doc). `weights` give
    each example's weight in the fit (to let a small domain count as much as a large one)."""
    from sklearn.isotonic import IsotonicRegression

    raw = np.asarray(raw, dtype=np.float64)
    labels = np.asarray(labels, dtype=np.float64)
    weights = np.ones_like(raw) if weights is None else np.asarray(weights, dtype=np.float64)
    order = np.argsort(raw, kind="stable")
    raw, labels, weights = raw[order], labels[order], weights[order]
    fitted = IsotonicRegression(y_min=scale[0], y_max=scale[1]).fit_transform(
        raw, labels, sample_weight=weights
    )
    knots_x, knots_y = [], []
    start = 0
    for end in range(1, len(raw) + 1):
        if end == len(raw) or fitted[end] != fitted[start]:
            w = weights[start:end]
            knots_x.append(float(np.average(raw[start:end], weights=w)))
            knots_y.append(float(fitted[start]))
            start = end
    x, y = np.asarray(knots_x), np.asarray(knots_y)
    keep = np.r_[True, np.diff(x) > 1e-9]  # blocks of tied raw scores share one knot
    return LabelScale(tuple(x[keep]), tuple(y[keep]), (int(scale[0]), int(scale[1])))
