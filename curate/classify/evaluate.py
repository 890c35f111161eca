"""`curate evaluate`: score labelled documents with a trained classifier and report metrics."""

from __future__ import annotations

import json
import os
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from curate.classify.calibrate import threshold_effect
from curate.classify.data import load_examples
from curate.classify.metrics import evaluate
from curate.classify.model import load_encoder, predict


def evaluate_classifier(
    model_dir: str | os.PathLike,
    annotations: Iterable[str | os.PathLike],
    corpus: Iterable[str | os.PathLike],
) -> dict[str, Any]:
    """`model_dir` is what `curate train` wrote: model/ plus metrics.json (task, scale,
    max_length, threshold)."""
    root = Path(model_dir)
    trained = root / "metrics.json"
    if not trained.exists():
        raise FileNotFoundError(f"{root} is not a trained classifier: no metrics.json")
    info = json.loads(trained.read_text())
    scale = tuple(info["scale"])
    examples, report = load_examples(list(annotations), list(corpus), info["task"], scale)
    model, tokenizer = load_encoder(str(root / "model"))
    pred = predict(model, tokenizer, [e.text for e in examples], info["max_length"])
    y = [e.score for e in examples]
    metrics = evaluate(y, pred, scale)
    th = info["threshold"]
    metrics["threshold"] = threshold_effect(pred, y, th["value"], th["positive_label"])
    metrics["task"] = info["task"]
    metrics["labels"] = {"used": report.used, "skipped": dict(report.skipped)}
    return metrics
