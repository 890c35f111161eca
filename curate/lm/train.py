"""Run one LM stage from an LMConfig: data module, Lightning module and trainer, checkpoints
with resume, and the final model written with save_pretrained (loads in transformers, vLLM)."""

from __future__ import annotations

import contextlib
import dataclasses
import json
import logging
import math
import sys
import time
from pathlib import Path
from typing import Any

import pytorch_lightning as pl
import torch
from pytorch_lightning.callbacks import ModelCheckpoint, ThroughputMonitor
from pytorch_lightning.loggers import CSVLogger

from curate.atomic import atomic_path, write_atomic
from curate.fit import fit as fit_resumable
from curate.lm.adapters import is_adapted, merged_model, parameter_counts
from curate.lm.config import LMConfig
from curate.lm.export import save_model
from curate.lm.layout import LMRunLayout

log = logging.getLogger(__name__)


def window_tokens(window: dict[str, torch.Tensor]) -> int:
    """Real (non-padding) input tokens in a window, for throughput."""
    if "position_ids" in window:
        return int(window["input_ids"].numel())
    return int(sum(v.sum() for k, v in window.items() if k.endswith("attention_mask")))


def window_size(window: dict[str, torch.Tensor]) -> int:
    return len(next(iter(window.values())))


class TokenClock(pl.Callback):
    """Tokens and seconds spent in training steps, for tokens/s in the run summary."""

    def __init__(self) -> None:
        self.tokens, self.seconds, self._start = 0, 0.0, 0.0

    def on_train_batch_start(self, trainer, module, batch, batch_idx) -> None:
        self._start = time.perf_counter()

    def on_train_batch_end(self, trainer, module, outputs, batch, batch_idx) -> None:
        self.seconds += time.perf_counter() - self._start
        self.tokens += window_tokens(batch)


def decoder_layer_class(model_path: str):
    """The model's decoder layer class (from `_no_split_modules`), for FSDP wrapping and
    activation checkpointing."""
    from transformers import AutoConfig, AutoModelForCausalLM

    config = AutoConfig.from_pretrained(model_path)
    model_class = AutoModelForCausalLM._model_mapping[type(config)]
    return getattr(sys.modules[model_class.__module__], model_class._no_split_modules[0])


def make_strategy(config: LMConfig):
    training = config.training
    if training.strategy != "fsdp":
        return training.strategy
    from pytorch_lightning.strategies import FSDPStrategy

    layer = decoder_layer_class(config.model)
    return FSDPStrategy(
        auto_wrap_policy={layer},
        activation_checkpointing_policy={layer} if training.activation_checkpointing else None,
        state_dict_type="sharded",
    )


def make_datamodule(config: LMConfig, tokenizer):
    from curate.lm.chat import DPODataModule, SFTDataModule
    from curate.lm.data import PackedDataModule

    t, d = config.training, config.data
    window = {
        "batch_size": t.batch_size,
        "accumulate": t.accumulate_grad_batches,
        "seed": t.seed,
        "shuffle": d.shuffle,
    }
    if config.stage == "pretrain":
        cache = Path(d.cache_dir or LMRunLayout.of(config.output).token_cache)
        return PackedDataModule(d.train, tokenizer, d.max_length, cache, d.val_fraction, **window)
    cls = SFTDataModule if config.stage == "sft" else DPODataModule
    return cls(d.train, tokenizer, d.max_length, d.val_fraction, d.val, **window)


def make_module(config: LMConfig, total_steps: int):
    from curate.lm.module import CausalLMModule, DPOModule

    t = config.training
    kwargs = dict(
        model_path=config.model,
        batch_size=t.batch_size,
        total_steps=total_steps,
        accumulate_grad_batches=t.accumulate_grad_batches,
        learning_rate=t.learning_rate,
        weight_decay=t.weight_decay,
        warmup_ratio=t.warmup_ratio,
        schedule=t.schedule,
        grad_clip=t.grad_clip,
        seq_len=config.data.max_length,
        adapter=dataclasses.asdict(config.adapter) if config.adapter else None,
        neftune_alpha=t.neftune_alpha,
    )
    if config.stage == "dpo":
        return DPOModule(beta=config.beta, **kwargs)
    return CausalLMModule(**kwargs)


def attach_reference(config: LMConfig, module, datamodule) -> None:
    """DPO: the initial policy's log-probs, computed once and cached beside the checkpoints so
    that a resumed run uses the same reference."""
    from curate.lm.module import reference_logps

    items = datamodule.prepare_items()
    path = Path(config.output) / "reference_logps.pt"
    if path.exists():
        cached = torch.load(path, weights_only=True)
        if len(cached) == len(items):
            for item, (chosen, rejected) in zip(items, cached, strict=True):
                item["chosen_reference"], item["rejected_reference"] = chosen, rejected
            return
    module.configure_model()
    # the reference is the policy without its adapter: no second copy of the model in memory
    adapted = is_adapted(module.model)
    with module.model.disable_adapter() if adapted else contextlib.nullcontext():
        reference_logps(module.model, datamodule.collate, items, config.training.batch_size)
    values = [(i["chosen_reference"], i["rejected_reference"]) for i in items]
    with atomic_path(path) as tmp:
        torch.save(values, tmp)


def make_trainer(
    config: LMConfig, layout: LMRunLayout, total_steps: int, callbacks: list
) -> pl.Trainer:
    t = config.training
    checkpoints = ModelCheckpoint(
        dirpath=layout.checkpoints,
        save_last=True,
        save_top_k=1,
        every_n_train_steps=t.checkpoint_every_n_steps,
    )
    throughput = ThroughputMonitor(batch_size_fn=window_size, length_fn=window_tokens)
    return pl.Trainer(
        max_steps=total_steps,
        max_epochs=-1 if t.max_steps > 0 else t.epochs,
        accelerator=t.accelerator,
        devices=t.devices,
        num_nodes=t.num_nodes,
        strategy=make_strategy(config),
        precision=t.precision,
        val_check_interval=t.val_every_n_steps,
        log_every_n_steps=t.log_every_n_steps,
        logger=CSVLogger(layout.root, name=layout.LOGS, version=""),
        callbacks=[checkpoints, throughput, *callbacks],
        deterministic=False,
        enable_progress_bar=True,
        enable_model_summary=log.isEnabledFor(logging.INFO),  # the table with -v
    )


def run(config: LMConfig, resume: bool = False, callbacks: list = ()) -> dict[str, Any]:
    from transformers import AutoTokenizer

    pl.seed_everything(config.training.seed, workers=True)
    layout = LMRunLayout.of(config.output)
    layout.root.mkdir(parents=True, exist_ok=True)
    tokenizer = AutoTokenizer.from_pretrained(config.model)
    datamodule = make_datamodule(config, tokenizer)
    datamodule.setup("fit")
    t = config.training
    world = (t.devices if isinstance(t.devices, int) else 1) * t.num_nodes
    per_epoch = math.ceil(datamodule.steps_per_epoch() / world)
    total_steps = t.max_steps if t.max_steps > 0 else t.epochs * per_epoch
    module = make_module(config, total_steps)
    if config.stage == "dpo":
        attach_reference(config, module, datamodule)
    clock = TokenClock()
    trainer = make_trainer(config, layout, total_steps, [clock, *callbacks])
    last = layout.last_checkpoint
    started = time.perf_counter()
    ckpt_path = fit_resumable(trainer, module, datamodule, layout, resume)
    fit_seconds = time.perf_counter() - started
    trainer.save_checkpoint(last)  # the end state, so a later --resume has nothing left to do
    summary = {
        "stage": config.stage,
        "model": config.model,
        "steps": trainer.global_step,
        "data": datamodule.stats,
        "metrics": {k: float(v) for k, v in trainer.callback_metrics.items()},
        "train_tokens_per_s": clock.tokens / clock.seconds if clock.seconds else None,
        "fit_seconds": fit_seconds,
        "fit_tokens": clock.tokens,
        "resumed_from": ckpt_path,
    }
    if trainer.is_global_zero:
        if t.strategy == "fsdp":  # rank 0 holds a shard only; gathering it is not built yet
            log.warning(
                "FSDP: model/ not written; consolidate %s with "
                "`python -m pytorch_lightning.utilities.consolidate_checkpoint`",
                last,
            )
        else:
            summary.update(save_outputs(module.model, tokenizer, layout))
        write_json(layout.summary, summary)
    return summary


def save_outputs(model, tokenizer, layout: LMRunLayout) -> dict[str, Any]:
    """model/ (adapter merged in, loadable by transformers and vLLM) and, for an adapter run,
    adapter/ (peft's adapter alone, for serving it on the base model)."""
    saved = {}
    if is_adapted(model):
        trainable, total = parameter_counts(model)
        saved["trainable_parameters"], saved["parameters"] = trainable, total
        saved["adapter_dir"] = str(save_model(model, tokenizer, layout.adapter))
        model = merged_model(model)
    saved["model_dir"] = str(save_model(model, tokenizer, layout.model))
    return saved


def write_json(path: Path, data: dict) -> None:
    write_atomic(path, json.dumps(data, indent=2, default=str))
