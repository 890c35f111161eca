"""Adapters for SFT and DPO through peft: LoRA (Hu et al. 2021) or RSLoRA (Kalajdzievski 2023:
scaling alpha/sqrt(rank) instead of alpha/rank, so a high rank such as Ahma's 256 still
learns), NEFTune embedding noise for SFT (Jain et al. 2023), and merge-and-save for export."""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass, field
from typing import Any

log = logging.getLogger(__name__)
METHODS = ("lora", "rslora")


@dataclass
class AdapterConfig:
    method: str = "lora"  # lora or rslora
    rank: int = 16
    alpha: float = 32.0
    dropout: float = 0.05
    target_modules: Any = "all-linear"  # or a list: [q_proj, k_proj, v_proj, o_proj, ...]
    modules_to_save: list[str] = field(default_factory=list)  # trained in full: lm_head...

    def __post_init__(self) -> None:
        if self.method not in METHODS:
            from curate.errors import InputError

            raise InputError(f"adapter.method must be one of {METHODS}, got {self.method!r}")


def add_adapter(model, config: AdapterConfig | dict):
    """The model wrapped by peft: only the adapter (and modules_to_save) train."""
    from peft import LoraConfig, get_peft_model

    if isinstance(config, dict):
        config = AdapterConfig(**config)
    lora = LoraConfig(
        r=config.rank,
        lora_alpha=config.alpha,
        lora_dropout=config.dropout,
        target_modules=config.target_modules,
        modules_to_save=list(config.modules_to_save) or None,
        use_rslora=config.method == "rslora",
        task_type="CAUSAL_LM",
    )
    model = get_peft_model(model, lora)
    trainable, total = parameter_counts(model)
    log.info("%s: %d of %d parameters train (%.2f%%)", config.method, trainable, total,
             100 * trainable / total)  # fmt: skip
    return model


def parameter_counts(model) -> tuple[int, int]:
    """(trainable, all) parameters."""
    params = list(model.parameters())
    return sum(p.numel() for p in params if p.requires_grad), sum(p.numel() for p in params)


def add_neftune(model, alpha: float):
    """Uniform noise of magnitude alpha / sqrt(length x hidden) on the input embeddings, in
    training mode only (validation, DPO reference and generation see clean embeddings)."""

    def noisy(module, inputs, output):
        if not module.training:
            return output
        magnitude = alpha / math.sqrt(output.size(1) * output.size(2))
        return output + output.new_empty(output.shape).uniform_(-magnitude, magnitude)

    return model.get_input_embeddings().register_forward_hook(noisy)


def merged_model(model):
    """The adapter folded into the base weights: a plain transformers model for export."""
    return model.merge_and_unload() if hasattr(model, "merge_and_unload") else model


def is_adapted(model) -> bool:
    return hasattr(model, "disable_adapter")
