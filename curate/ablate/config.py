"""Ablation configs (lm/ablate.*.yaml): which filter settings to compare, the token budget, the
seeds, the small model trained from scratch on each variant, and the early-signal tasks.

    name: web-filters
    output: out/ablate/demo
    spec: pipelines/ablate.demo.yaml      # the filter spec every `set:` variant starts from
    input: DIR                            # its input.path (default: the spec's)
    variants:                             # the first is the baseline the others are compared to
      - {name: no_filter, documents: [DIR]}                 # a ready folder, not filtered
      - {name: heuristics, first_steps: 6}                  # the spec's first 6 steps
      - {name: edu_2.3, set: {steps.10.score_filter.thresholds: {educational_value: 2.3}}}
    budget_tokens: 300000                 # every variant trains on exactly this many tokens
    seeds: [0, 1, 2]
    model: {hidden_size: 128, layers: 4, heads: 4, vocab_size: 8192}
    training: {batch_size: 8, max_length: 256, learning_rate: 3.0e-3}
    eval_every: 20                        # optimizer steps between evaluations
    tasks: {...}                          # curate.ablate.tasks.TasksConfig
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from curate.config import ConfigError, build, load

NAME = re.compile(r"^[A-Za-z0-9_.-]+$")


@dataclass
class VariantConfig:
    name: str
    first_steps: int | None = None  # keep the spec's first N steps (a cumulative pipeline)
    set: dict[str, Any] | list[str] | None = None  # overrides of the spec: {dotted.key: value}
    spec: str | None = None  # another spec than the ablation's
    documents: list[str] | None = None  # ready files or folders: no filtering

    def __post_init__(self) -> None:
        if not NAME.match(self.name):
            raise ConfigError(f"variant name {self.name!r}: use letters, digits, _ . - only")
        if self.documents and (self.set or self.spec or self.first_steps is not None):
            raise ConfigError(
                f"variant {self.name}: give `documents` or a spec (+ `set`), not both"
            )

    @property
    def filtered(self) -> bool:
        return not self.documents

    def overrides(self) -> list[str] | dict[str, Any]:
        return self.set or {}


@dataclass
class ModelConfig:
    """The LM trained from scratch on every variant: a Llama of this size with random weights
    (the same initial weights per seed for every variant), and one tokenizer for all."""

    hidden_size: int = 128
    layers: int = 4
    heads: int = 4
    vocab_size: int = 8192
    tokenizer: str | None = None  # a tokenizer folder or hub id; None: BPE trained on the input


@dataclass
class RunTrainingConfig:
    """The curate pretrain settings every run shares (curate.lm.config.TrainingConfig)."""

    batch_size: int = 8
    accumulate_grad_batches: int = 1
    max_length: int = 256  # the packed block
    learning_rate: float = 3e-3
    weight_decay: float = 0.1
    warmup_ratio: float = 0.05
    schedule: str = "cosine"
    precision: str = "32-true"  # bf16-mixed on a GPU
    accelerator: str = "auto"
    devices: int | list[int] = 1  # a count or device ids: each device trains its own batch

    def __post_init__(self) -> None:
        count = self.device_count
        if not isinstance(count, int) or isinstance(count, bool) or count < 1:
            raise ConfigError(
                f"training.devices: give a number of devices or a list of ids, not "
                f"{self.devices!r} (the token budget counts every device's batch)"
            )

    @property
    def device_count(self) -> int:
        return len(self.devices) if isinstance(self.devices, list) else self.devices

    @property
    def window_tokens(self) -> int:
        """Tokens per optimizer step, over every device."""
        return self.batch_size * self.accumulate_grad_batches * self.max_length * self.device_count


@dataclass
class AblationConfig:
    name: str
    output: str
    variants: list[VariantConfig]
    budget_tokens: int
    spec: str | None = None
    input: str | None = None  # the documents every spec variant filters (the spec's input.path)
    seeds: list[int] = field(default_factory=lambda: [0])
    model: ModelConfig = field(default_factory=ModelConfig)
    training: RunTrainingConfig = field(default_factory=RunTrainingConfig)
    eval_every: int = 20
    tasks: dict[str, Any] = field(default_factory=dict)  # curate.ablate.tasks.TasksConfig

    def __post_init__(self) -> None:
        self.variants = [
            v if isinstance(v, VariantConfig) else build(VariantConfig, v, f"variants[{i}]")
            for i, v in enumerate(self.variants)
        ]
        names = [v.name for v in self.variants]
        if not names:
            raise ConfigError("variants: give at least one")
        if len(set(names)) != len(names):
            raise ConfigError(f"variants: names must differ, got {names}")
        if any(v.filtered and not (v.spec or self.spec) for v in self.variants):
            raise ConfigError(
                "a variant without `documents` needs `spec` (its own or the config's)"
            )
        if self.steps < 1:
            raise ConfigError(
                f"budget_tokens {self.budget_tokens} is less than one optimizer step "
                f"({self.training.window_tokens} tokens: batch_size x accumulate x max_length "
                "x devices)"
            )
        if self.eval_every < 1:
            raise ConfigError(f"eval_every: give a number of steps >= 1, got {self.eval_every}")
        if not self.seeds or len(set(self.seeds)) != len(self.seeds):
            raise ConfigError(f"seeds: give distinct seeds, got {self.seeds}")

    @property
    def steps(self) -> int:
        """Optimizer steps of every run: the budget in whole steps."""
        return self.budget_tokens // self.training.window_tokens

    @property
    def trained_tokens(self) -> int:
        """Tokens each run trains on: the same for every variant and seed."""
        return self.steps * self.training.window_tokens

    @classmethod
    def load(cls, path: str | Path, sets: Iterable[str] = (), **overrides: Any) -> AblationConfig:
        return load(cls, path, sets, **overrides)

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)
