"""What a bundle is made from (`Source`): a classifier folder `curate train` wrote, read here, or
a published transformers model (curate.classify.published)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from curate.classify.model import load_encoder
from curate.classify.trained import read_metrics


@dataclass
class Source:
    """What a bundle is made from: the model, its tokenizer, the facts its manifest records
    (task, scale, threshold, max_length, metrics, ...) and the folder with plots, side models
    and model card, when `curate train` wrote it."""

    model: Any
    tokenizer: Any
    info: dict[str, Any]
    folder: Path | None = None


def trained_source(model_dir: Path, max_length: int | None) -> Source:
    """A classifier folder written by `curate train`: one task, or several (`tasks` in its
    metrics.json: a model with an output per task)."""
    trained = read_metrics(model_dir)
    model, tokenizer = load_encoder(str(model_dir / "model"), num_labels=None)
    facts = {
        "max_length": max_length or trained.max_length,
        "base_model": trained.shared.get("base_model"),
        "head": None,
    }
    if len(trained.tasks) > 1:
        facts["tasks"] = [task_facts(m) for m in trained.tasks]
    else:
        facts.update(task_facts(trained.tasks[0]))
    return Source(model, tokenizer, facts, model_dir)


def task_facts(m: dict[str, Any]) -> dict[str, Any]:
    """One task's manifest fields from its `curate train` metrics."""
    threshold = m["threshold"]
    return {
        "task": m["task"],
        "scale": m["scale"],
        "threshold": threshold["value"],
        "threshold_policy": threshold["chosen_by"],
        "thresholds_by_language": {
            lang: t["value"] for lang, t in threshold.get("by_language", {}).items()
        },
        "fluency": m.get("fluency"),
        "lexical": m.get("lexical"),
        "label_scale": m.get("label_scale"),
        "curves": m.get("curves"),
        "metrics": {k: m["test"][k] for k in ("macro_f1", "mse", "spearman", "accuracy")},
    }


def task_folders(info: dict[str, Any]) -> list[str]:
    """Where each task's plots and side models sit, relative to the classifier folder."""
    return [t["task"] for t in info["tasks"]] if "tasks" in info else [""]
