"""Classifiers that `curate train` did not write: any transformers sequence-classification
model (a local folder or a hub id), in the two shapes published quality classifiers take:

- a regression head with one output (FineWeb-Edu's classifier, NbAiLab's nb-bert-base
  regressors): the output is the score;
- a multi-class head (one class per score, e.g. labels "0".."5"): the score is the expected
  class value under the softmax, so it stays continuous and a threshold between classes works.

Task, scale and threshold come from the options, else from keys `task`, `scale` and
`threshold` in the model's config.json, else (scale only) from the head's labels.
"""

from __future__ import annotations

from typing import Any

from curate.classify.source import Source
from curate.errors import InputError

DEFAULT_MAX_LENGTH = 512


def published_source(
    name: str,
    task: str | None = None,
    scale: tuple[int, int] | None = None,
    threshold: float | None = None,
    max_length: int | None = None,
) -> Source:
    import torch
    from transformers import AutoModelForSequenceClassification, AutoTokenizer

    try:
        model = AutoModelForSequenceClassification.from_pretrained(
            name, dtype=torch.float32, attn_implementation="eager"
        )
        tokenizer = AutoTokenizer.from_pretrained(name)
    except (OSError, ValueError) as err:
        raise InputError(
            f"{name}: neither a `curate train` folder (no metrics.json) nor a transformers "
            f"sequence-classification model: {err}"
        ) from err
    config = model.config
    head = class_values(config)
    task = task or getattr(config, "task", None)
    threshold = threshold if threshold is not None else getattr(config, "threshold", None)
    missing = [flag for flag, v in (("--task", task), ("--threshold", threshold)) if v is None]
    if missing:
        raise InputError(
            f"{name} was not written by `curate train`: give {' and '.join(missing)} "
            "(or set them as `task` / `threshold` in its config.json)"
        )
    scale = scale or getattr(config, "scale", None) or default_scale(head)
    info: dict[str, Any] = {
        "task": task,
        "scale": [int(scale[0]), int(scale[1])],
        "threshold": float(threshold),
        "threshold_policy": "given",
        "thresholds_by_language": {},
        "max_length": max_length or model_max_length(tokenizer),
        "fluency": None,
        "lexical": None,
        "base_model": name,
        "metrics": None,
        "head": head,
    }
    return Source(model, tokenizer, info)


def class_values(config) -> list[float] | None:
    """None for a regression head; else each class's score: its label when every label is a
    number ("0".."5"), else its index."""
    if config.num_labels == 1:
        return None
    labels = [config.id2label[i] for i in range(config.num_labels)]
    try:
        return [float(label) for label in labels]
    except ValueError:
        return [float(i) for i in range(config.num_labels)]


def default_scale(head: list[float] | None) -> tuple[int, int]:
    """The classes' range for a multi-class head; 0..5 (FineWeb-Edu's scale) for regression."""
    if head is None:
        return (0, 5)
    return (int(min(head)), int(max(head)))


def model_max_length(tokenizer) -> int:
    """The tokenizer's limit, unless it is the 'no limit' sentinel transformers uses."""
    limit = getattr(tokenizer, "model_max_length", None) or DEFAULT_MAX_LENGTH
    return int(limit) if limit < 100_000 else DEFAULT_MAX_LENGTH
