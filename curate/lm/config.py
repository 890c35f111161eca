"""LM configs (lm/*.yaml). One file per run: the stage, the model, the data and the trainer
settings. Unknown keys are errors naming the allowed ones."""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar

from curate.config import build, load
from curate.errors import InputError
from curate.lm.adapters import AdapterConfig

STAGES = ("pretrain", "sft", "dpo")


@dataclass
class DataConfig:
    train: list[str] = field(default_factory=list)  # files or folders (jsonl/parquet)
    max_length: int = 2048  # pretraining: the packed block size; SFT/DPO: truncation
    val_fraction: float = 0.05
    val: list[str] = field(default_factory=list)  # sft/dpo: a validation set (curate mix's eval)
    cache_dir: str | None = None  # token cache; default <output>/token_cache
    shuffle: bool = True  # false: train in the file's order (a length curriculum from curate mix)


@dataclass
class TrainingConfig:
    RENAMED: ClassVar[dict[str, str]] = {"lr": "learning_rate", "micro_batch_size": "batch_size"}
    batch_size: int = 8  # per device and step; accumulate_grad_batches steps per update
    accumulate_grad_batches: int = 1
    epochs: int = 1  # passes over the training data
    max_steps: int = -1  # stop after this many optimizer steps; -1 = run all epochs
    learning_rate: float = 3e-4
    weight_decay: float = 0.1
    warmup_ratio: float = 0.03
    schedule: str = "cosine"  # any transformers.get_scheduler name: linear, cosine, constant...
    grad_clip: float = 1.0
    precision: str = "32-true"  # bf16-mixed on GPUs
    accelerator: str = "auto"  # Lightning's: auto, cpu, gpu
    devices: Any = 1  # Lightning's: a count, a list of ids, or auto
    num_nodes: int = 1
    strategy: str = "auto"  # ddp, fsdp (decoder layer as wrap + checkpointing policy)
    activation_checkpointing: bool = False
    seed: int = 0
    checkpoint_every_n_steps: int = 100
    val_every_n_steps: int | None = None  # default: once per epoch
    log_every_n_steps: int = 5
    neftune_alpha: float = 0.0  # SFT: NEFTune noise on the input embeddings (Ahma: 5)

    def __post_init__(self) -> None:
        if isinstance(self.devices, str) and self.devices.isdigit():  # --devices 2
            self.devices = int(self.devices)


@dataclass
class LMConfig:
    stage: str  # pretrain, sft or dpo (each command sets its own)
    model: str  # hub id or local path of the model to start from
    output: str  # the run folder (checkpoints, logs, model; curate.lm.layout)
    data: DataConfig = field(default_factory=DataConfig)
    training: TrainingConfig = field(default_factory=TrainingConfig)
    beta: float = 0.1  # DPO only
    adapter: AdapterConfig | None = None  # LoRA/RSLoRA for sft and dpo (curate.lm.adapters)

    def __post_init__(self) -> None:
        if self.stage not in STAGES:
            raise InputError(f"stage must be one of {STAGES}, got {self.stage!r}")
        if self.data.val and self.stage == "pretrain":
            raise InputError("data.val is for sft and dpo; pretraining splits val_fraction off")
        if self.training.neftune_alpha and self.stage != "sft":
            raise InputError("training.neftune_alpha is for the sft stage only")

    @classmethod
    def from_dict(cls, raw: dict[str, Any]) -> LMConfig:
        return build(cls, raw, "config")

    @classmethod
    def load(cls, path: str | Path, sets: Iterable[str] = (), **overrides: Any) -> LMConfig:
        """From `path`, `--set key=value` items, then overrides (dotted keys as
        `training__max_steps`; None values are not given)."""
        return load(cls, path, sets, **overrides)

    @classmethod
    def for_stage(
        cls, stage: str, path: str | Path, sets: Iterable[str] = (), **overrides: Any
    ) -> LMConfig:
        """`load`, refusing a config written for another stage."""
        config = cls.load(path, sets, **overrides)
        if config.stage != stage:
            raise InputError(f"{path} is a {config.stage!r} config, not {stage!r}")
        return config

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)
