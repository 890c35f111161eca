"""`curate evaluate`: score labelled documents with a trained classifier and report metrics."""

from __future__ import annotations

import os
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from curate.classify.calibrate import threshold_effect
from curate.classify.data import load_examples
from curate.classify.layout import ClassifierRunLayout
from curate.classify.metrics import evaluate
from curate.classify.model import load_encoder, predict
from curate.classify.trained import read_metrics
from curate.errors import InputError


def evaluate_classifier(
    model_dir: str | os.PathLike,
    annotations: Iterable[str | os.PathLike],
    corpus: Iterable[str | os.PathLike],
) -> list[dict[str, Any]]:
    """Metrics per task of `model_dir`, what `curate train` wrote: model/ plus metrics.json
    (task, scale, max_length, threshold; `tasks` for a model with a head per task). A task
    with no annotation among `annotations` is left out; none at all is an error."""
    root = Path(model_dir)
    trained = read_metrics(root)
    tasks = trained.tasks
    model, tokenizer = load_encoder(str(ClassifierRunLayout(root).model), num_labels=None)
    results = []
    for column, task in enumerate(tasks):
        scale = task.scale
        try:
            examples, report = load_examples(list(annotations), list(corpus), task.task, scale)
        except ValueError:
            if len(tasks) == 1:
                raise
            continue  # this task has no labels here
        texts = [e.text for e in examples]
        pred = predict(model, tokenizer, texts, trained.max_length)
        pred = pred.reshape(len(texts), len(tasks))[:, column]
        y = [e.score for e in examples]
        metrics = evaluate(y, pred, scale)
        metrics["threshold"] = threshold_effect(pred, y, task.threshold, task.positive_label)
        metrics["task"] = task.task
        metrics["labels"] = {"used": report.used, "skipped": dict(report.skipped)}
        results.append(metrics)
    if not results:
        raise InputError(f"no annotations for any of {trained.task_names}")
    return results
