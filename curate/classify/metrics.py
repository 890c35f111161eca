"""Evaluation with scikit-learn: what a user checks before trusting a quality classifier."""

from __future__ import annotations

from typing import Any

import numpy as np
from scipy.stats import spearmanr
from sklearn.linear_model import LinearRegression
from sklearn.metrics import (
    classification_report,
    confusion_matrix,
    f1_score,
    mean_squared_error,
    precision_recall_fscore_support,
)


def to_int_scores(pred: np.ndarray, scale: tuple[int, int]) -> np.ndarray:
    return np.clip(np.rint(pred), scale[0], scale[1]).astype(int)


def macro_f1(y_true, pred, scale) -> float:
    labels = list(range(scale[0], scale[1] + 1))
    return float(
        f1_score(
            y_true,
            to_int_scores(np.asarray(pred), scale),
            labels=labels,
            average="macro",
            zero_division=0,
        )
    )


def evaluate(y_true, pred, scale: tuple[int, int]) -> dict[str, Any]:
    y_true = np.asarray(y_true, dtype=int)
    pred = np.asarray(pred, dtype=float)
    y_int = to_int_scores(pred, scale)
    labels = list(range(scale[0], scale[1] + 1))
    binary = {}
    for k in labels[1:]:
        p, r, f, _ = precision_recall_fscore_support(
            y_true >= k, y_int >= k, average="binary", zero_division=0
        )
        binary[str(k)] = {
            "precision": float(p),
            "recall": float(r),
            "f1": float(f),
            "kept": float(np.mean(y_int >= k)),
        }
    rho = spearmanr(y_true, pred).statistic if len(set(y_true)) > 1 else float("nan")
    return {
        "n": int(len(y_true)),
        "macro_f1": macro_f1(y_true, pred, scale),
        "mse": float(mean_squared_error(y_true, pred)),
        "spearman": float(rho),
        "accuracy": float(np.mean(y_int == y_true)),
        "binary_at_threshold": binary,
        "classification_report": classification_report(
            y_true, y_int, labels=labels, output_dict=True, zero_division=0
        ),
        "confusion_matrix": confusion_matrix(y_true, y_int, labels=labels).tolist(),
    }


def baselines(train_texts, train_y, test_texts, test_y, scale) -> dict[str, dict[str, float]]:
    """Majority class, and a length-only regression: what the classifier has to beat."""
    majority = np.bincount(np.asarray(train_y)).argmax()
    length = LinearRegression().fit(_log_len(train_texts), train_y)
    out = {}
    for name, pred in (
        ("majority_class", np.full(len(test_y), majority, dtype=float)),
        ("length_only", length.predict(_log_len(test_texts))),
    ):
        m = evaluate(test_y, pred, scale)
        out[name] = {k: m[k] for k in ("macro_f1", "mse", "spearman", "accuracy")}
    return out


def _log_len(texts) -> np.ndarray:
    return np.log1p([len(t) for t in texts]).reshape(-1, 1)
