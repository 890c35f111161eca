"""Several annotators on one sample: how far they agree, and consensus labels from them.

Each annotator's records sit in a directory of their own (`curate annotate --annotator A.yaml
--annotator B.yaml` writes `<out>/A/`, `<out>/B/`). Agreement per pair: Spearman (scipy),
quadratic-weighted kappa (scikit-learn) and exact agreement; over all annotators: Krippendorff's
alpha at the ordinal level (the `krippendorff` package). Consensus: the median score, dropping
documents whose annotators' scores spread more than `max_spread` points; the records are
ordinary annotation records (`annotator.backend: jury`) that `curate train` reads.
"""

from __future__ import annotations

import itertools
import logging
import math
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np

from curate.annotations import AnnotationRecord, iter_records, records_file, write_records
from curate.errors import InputError

logger = logging.getLogger(__name__)
Panel = dict[str, dict[str, AnnotationRecord]]  # annotator -> document id -> record


def load_panel(dirs: list[Path], task: str) -> Panel:
    """Each directory's `<task>.jsonl`, named by the directory; unreadable lines are logged
    with file and line and left out."""
    panel = {}
    for d in dirs:
        path = records_file(d, task)
        records = iter_records([path], skipped) if path.exists() else []
        panel[Path(d).name] = {r.id: r for r, _ in records if r.task == task}
    if len(panel) < 2:
        raise InputError("agreement needs at least two annotators' directories")
    return panel


def skipped(reason: str, where: str) -> None:
    logger.warning("%s: annotation record skipped: %s", where, reason)


def score_matrix(panel: Panel) -> tuple[list[str], np.ndarray]:
    """Document ids seen by any annotator, and (annotators x documents) scores, NaN if absent."""
    ids = sorted(set().union(*panel.values()))
    matrix = np.full((len(panel), len(ids)), np.nan)
    for row, records in enumerate(panel.values()):
        for col, doc_id in enumerate(ids):
            if doc_id in records:
                matrix[row, col] = records[doc_id].score
    return ids, matrix


def agreement(panel: Panel, scale: tuple[int, int]) -> dict[str, Any]:
    import krippendorff
    from scipy.stats import spearmanr
    from sklearn.metrics import cohen_kappa_score

    names = list(panel)
    _, matrix = score_matrix(panel)
    pairs = []
    for (i, a), (j, b) in itertools.combinations(enumerate(names), 2):
        both = ~np.isnan(matrix[i]) & ~np.isnan(matrix[j])
        x, y = matrix[i, both].astype(int), matrix[j, both].astype(int)
        labels = list(range(scale[0], scale[1] + 1))
        pairs.append(
            {
                "a": a,
                "b": b,
                "documents": int(both.sum()),
                "exact": float((x == y).mean()) if both.any() else math.nan,
                "spearman": float(spearmanr(x, y).statistic) if both.sum() > 2 else math.nan,
                "qwk": float(cohen_kappa_score(x, y, labels=labels, weights="quadratic"))
                if both.any()
                else math.nan,
            }
        )
    rated = (~np.isnan(matrix)).sum(axis=0) >= 2
    alpha = (
        float(krippendorff.alpha(reliability_data=matrix[:, rated], level_of_measurement="ordinal"))
        if rated.sum() > 1
        else math.nan
    )
    return {
        "annotators": names,
        "documents_rated_by_two_or_more": int(rated.sum()),
        "krippendorff_alpha_ordinal": alpha,
        "pairs": pairs,
    }


def consensus(
    panel: Panel, task: str, max_spread: float | None = None
) -> tuple[list[dict[str, Any]], int]:
    """Median-score records for documents two or more annotators scored, and how many were
    dropped because their scores spread more than `max_spread`. A median between two scores is
    rounded down: a jury in doubt does not promote a document."""
    ids, matrix = score_matrix(panel)
    names = list(panel)
    records, dropped = [], 0
    now = datetime.now(UTC).isoformat(timespec="seconds")
    for col, doc_id in enumerate(ids):
        scores = {n: matrix[r, col] for r, n in enumerate(names) if not np.isnan(matrix[r, col])}
        if len(scores) < 2:
            continue
        values = list(scores.values())
        if max_spread is not None and max(values) - min(values) > max_spread:
            dropped += 1
            continue
        first = next(panel[n][doc_id] for n in scores)
        records.append(
            AnnotationRecord(
                id=doc_id,
                task=task,
                score=int(math.floor(float(np.median(values)))),
                text_sha256=first.text_sha256,
                rationale=f"median of {len(values)} annotators",
                annotator={
                    "backend": "jury",
                    "model": None,
                    "members": {n: panel[n][doc_id].annotator.get("model") for n in scores},
                    "scores": {n: int(s) for n, s in scores.items()},
                },
                lang=first.lang,
                source=first.source,
                created=now,
            )
        )
    return records, dropped


def write_consensus(records: list[AnnotationRecord], out_dir: Path, task: str) -> Path:

    out_dir.mkdir(parents=True, exist_ok=True)
    path = records_file(out_dir, task)
    write_records(records, path)
    return path


def plot_confusions(panel: Panel, scale: tuple[int, int], path: Path, task: str) -> None:
    """One confusion matrix per annotator pair (rows: the first, columns: the second)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from sklearn.metrics import confusion_matrix

    names = list(panel)
    _, matrix = score_matrix(panel)
    pairs = list(itertools.combinations(range(len(names)), 2))
    fig, axes = plt.subplots(1, len(pairs), figsize=(4 * len(pairs), 3.8), squeeze=False)
    labels = list(range(scale[0], scale[1] + 1))
    for ax, (i, j) in zip(axes[0], pairs, strict=True):
        both = ~np.isnan(matrix[i]) & ~np.isnan(matrix[j])
        cm = confusion_matrix(matrix[i, both], matrix[j, both], labels=labels)
        ax.imshow(cm, cmap="Blues")
        for (r, c), v in np.ndenumerate(cm):
            ax.text(c, r, str(v), ha="center", va="center", fontsize=8)
        ax.set_xticks(range(len(labels)), labels)
        ax.set_yticks(range(len(labels)), labels)
        ax.set_xlabel(names[j])
        ax.set_ylabel(names[i])
    fig.suptitle(f"{task}: annotator against annotator")
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)
    plt.close(fig)


def describe_agreement(result: dict[str, Any], task: str) -> str:
    lines = [
        f"{task}: {len(result['annotators'])} annotators, "
        f"{result['documents_rated_by_two_or_more']} documents rated by two or more; "
        f"Krippendorff's alpha (ordinal) {result['krippendorff_alpha_ordinal']:.3f}",
        "  pair | documents | exact | Spearman | QWK",
    ]
    for p in result["pairs"]:
        lines.append(
            f"  {p['a']} / {p['b']} | {p['documents']} | {p['exact']:.1%} | "
            f"{p['spearman']:.3f} | {p['qwk']:.3f}"
        )
    return "\n".join(lines)
