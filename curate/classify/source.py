"""What a bundle is made from (`Source`): a classifier folder `curate train` wrote, read here, or
a published transformers model (curate.classify.published)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from curate.classify.layout import ClassifierRunLayout
from curate.classify.model import load_encoder
from curate.classify.trained import TaskMetrics, read_metrics


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
    model, tokenizer = load_encoder(str(ClassifierRunLayout(model_dir).model), num_labels=None)
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


def task_facts(m: TaskMetrics) -> dict[str, Any]:
    """One task's manifest fields from its `curate train` metrics."""
    return {
        "task": m.task,
        "scale": list(m.scale),
        "threshold": m.threshold,
        "threshold_policy": m.threshold_policy,
        "thresholds_by_language": dict(m.thresholds_by_language),
        "fluency": m.fluency,
        "lexical": m.lexical,
        "label_scale": m.label_scale,
        "curves": m.curves,
        "metrics": m.headline,
    }


def task_folders(info: dict[str, Any]) -> list[str]:
    """Where each task's plots and side models sit, relative to the classifier folder."""
    return [t["task"] for t in info["tasks"]] if "tasks" in info else [""]
