"""PNG plots for a trained classifier: confusion matrix and predicted-score distributions."""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
from sklearn.metrics import ConfusionMatrixDisplay  # noqa: E402


def confusion_matrix_png(matrix, scale, title: str, path: Path) -> None:
    fig, ax = plt.subplots(figsize=(5, 4.5))
    ConfusionMatrixDisplay(
        np.asarray(matrix), display_labels=list(range(scale[0], scale[1] + 1))
    ).plot(ax=ax, colorbar=False, cmap="Blues")
    ax.set_title(title)
    ax.set_xlabel("predicted (rounded)")
    ax.set_ylabel("label")
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def score_distribution_png(pred, y_true, scale, threshold: float, title: str, path: Path) -> None:
    """Predicted scores per true label, with the keep threshold drawn."""
    fig, ax = plt.subplots(figsize=(6, 4))
    bins = np.linspace(scale[0] - 0.5, scale[1] + 0.5, 25)
    for label in range(scale[0], scale[1] + 1):
        sel = np.asarray(y_true) == label
        if sel.any():
            ax.hist(np.asarray(pred)[sel], bins=bins, alpha=0.55, label=f"label {label}")
    ax.axvline(threshold, color="black", linestyle="--", label=f"threshold {threshold:.2f}")
    ax.set_xlabel("predicted score")
    ax.set_ylabel("documents")
    ax.set_title(title)
    ax.legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)
