"""LM configs (lm/*.yaml). One file per run: the stage, the model, the data and the trainer
settings. Unknown keys are errors naming the allowed ones."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

STAGES = ("pretrain", "sft", "dpo")


@dataclass
class DataConfig:
    train: list[str] = field(default_factory=list)  # files or folders (jsonl/parquet)
    max_length: int = 2048  # pretraining: the packed block size; SFT/DPO: truncation
    val_fraction: float = 0.05
    cache_dir: str | None = None  # token cache; default <output>/token_cache


@dataclass
class TrainingConfig:
    micro_batch_size: int = 8
    accumulate_grad_batches: int = 1
    epochs: int = 1
    max_steps: int = -1
    lr: float = 3e-4
    weight_decay: float = 0.1
    warmup_ratio: float = 0.03
    schedule: str = "cosine"  # any transformers.get_scheduler name: linear, cosine, constant...
    grad_clip: float = 1.0
    precision: str = "32-true"  # bf16-mixed on GPUs
    accelerator: str = "auto"
    devices: Any = 1
    num_nodes: int = 1
    strategy: str = "auto"  # ddp, fsdp (decoder layer as wrap + checkpointing policy)
    activation_checkpointing: bool = False
    seed: int = 0
    checkpoint_every_n_steps: int = 100
    val_every_n_steps: int | None = None  # default: once per epoch
    log_every_n_steps: int = 5


@dataclass
class LMConfig:
    stage: str
    model: str
    output: str
    data: DataConfig = field(default_factory=DataConfig)
    training: TrainingConfig = field(default_factory=TrainingConfig)
    beta: float = 0.1  # DPO only

    def __post_init__(self) -> None:
        if self.stage not in STAGES:
            raise ValueError(f"stage must be one of {STAGES}, got {self.stage!r}")

    @classmethod
    def from_dict(cls, raw: dict[str, Any]) -> LMConfig:
        raw = dict(raw)
        sections = {"data": DataConfig, "training": TrainingConfig}
        for name, section in sections.items():
            raw[name] = build(section, raw.get(name) or {}, name)
        return build(cls, raw, "config")

    @classmethod
    def load(cls, path: str | Path, **overrides: Any) -> LMConfig:
        raw = yaml.safe_load(Path(path).read_text(encoding="utf-8")) or {}
        for key, value in overrides.items():
            if value is None:
                continue
            section, _, name = key.rpartition(".")
            (raw.setdefault(section, {}) if section else raw)[name] = value
        try:
            return cls.from_dict(raw)
        except (TypeError, ValueError) as err:
            raise ValueError(f"{path}: {err}") from err

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


def build(cls, values: dict[str, Any], where: str):
    allowed = {f.name for f in dataclasses.fields(cls)}
    unknown = set(values) - allowed
    if unknown:
        raise ValueError(f"{where}: unknown keys {sorted(unknown)}; allowed: {sorted(allowed)}")
    return cls(**values)
