"""PNG plots for a trained classifier: confusion matrix, predicted-score distributions and the
threshold trade-off curves."""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402


def confusion_matrix_png(matrix, scale, title: str, path: Path) -> None:
    from sklearn.metrics import ConfusionMatrixDisplay  # the train extra's; reports need none

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


CURVE_STYLES = {"keep_share": "-", "precision": "--", "recall": ":"}


def tradeoff_png(
    curves: dict, threshold: float | None, title: str, path: Path, chosen: dict | None = None
) -> None:
    fig = tradeoff_figure(curves, threshold, title, chosen)
    fig.savefig(path, dpi=110)
    plt.close(fig)


def tradeoff_figure(curves: dict, threshold: float | None, title: str, chosen: dict | None = None):
    """One panel per calibration domain: share kept, precision and recall at the positive label
    against the threshold, one colour per language; `threshold` (the bundle's default) dashed,
    `chosen` ({language: threshold}) marked on the keep-share line."""
    domains = [d for d in curves if curves[d]]
    fig, axes = plt.subplots(1, len(domains), figsize=(4.6 * len(domains), 3.8), squeeze=False)
    for ax, domain in zip(axes[0], domains, strict=True):
        for n, (lang, curve) in enumerate(curves[domain].items()):
            colour = f"C{n}"
            for column, style in CURVE_STYLES.items():
                ax.plot(curve["threshold"], curve[column], style, color=colour, lw=1.2)
            label = f"{lang} (n {curve['n']}, positives {curve['positives']})"
            ax.plot([], [], color=colour, label=label)
            if chosen and lang in chosen:
                t = chosen[lang]
                keep = np.interp(t, curve["threshold"], curve["keep_share"])
                ax.plot([t], [keep], "o", color=colour)
        if threshold is not None:
            ax.axvline(threshold, color="grey", lw=0.8, ls="-.")
        ax.set_title(f"{title}: {domain}", fontsize=9)
        ax.set_xlabel("threshold (label scale)")
        ax.set_ylim(-0.02, 1.02)
        ax.legend(fontsize=7, loc="lower left")
    axes[0][0].set_ylabel("solid: kept, dashed: precision, dotted: recall")
    fig.tight_layout()
    return fig
