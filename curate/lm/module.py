"""LightningModules for the three stages. Optimisation is manual so that a window of
`accumulate_grad_batches` micro-batches is normalised by the number of target tokens (SFT,
pretraining) or pairs (DPO) in the whole window, across devices: Lightning's automatic
accumulation averages per micro-batch, which over-weights short micro-batches."""

from __future__ import annotations

from typing import Any

import pytorch_lightning as pl
import torch
import torch.nn.functional as F


def load_causal_lm(path: str):
    from transformers import AutoModelForCausalLM

    # float32 master weights: transformers 5 would otherwise keep a bf16 checkpoint in bf16
    return AutoModelForCausalLM.from_pretrained(path, dtype=torch.float32)


def flops_per_token(model, seq_len: int) -> float:
    """6N for the dense matmuls forward + backward, plus attention's 12 * layers * hidden * seq
    (PaLM, appendix B)."""
    config = model.config
    n = sum(p.numel() for p in model.parameters())
    return 6 * n + 12 * config.num_hidden_layers * config.hidden_size * seq_len


def forward_logits(model, batch: dict[str, torch.Tensor], prefix: str = "") -> torch.Tensor:
    """Packed blocks carry position_ids and no attention mask; padded batches carry a mask.
    use_cache=False always: with a cache, packed documents silently attend to each other."""
    return model(
        input_ids=batch[f"{prefix}input_ids"],
        position_ids=batch.get(f"{prefix}position_ids"),
        attention_mask=batch.get(f"{prefix}attention_mask"),
        use_cache=False,
    ).logits


def loss_sum(model, batch: dict[str, torch.Tensor]) -> tuple[torch.Tensor, torch.Tensor]:
    """Summed next-token loss and target count; labels are shifted here, once."""
    logits = forward_logits(model, batch)[:, :-1]
    targets = batch["labels"][:, 1:]
    total = F.cross_entropy(
        logits.reshape(-1, logits.size(-1)).float(),
        targets.reshape(-1),
        ignore_index=-100,
        reduction="sum",
    )
    return total, (targets != -100).sum()


def sequence_logps(model, batch: dict[str, torch.Tensor], prefix: str) -> torch.Tensor:
    """Per sequence, the sum of log-probs of the completion tokens (labels != -100) only."""
    logits = forward_logits(model, batch, prefix)[:, :-1].float()
    targets = batch[f"{prefix}labels"][:, 1:]
    mask = targets != -100
    logps = torch.log_softmax(logits, -1).gather(-1, targets.clamp(min=0).unsqueeze(-1))
    return (logps.squeeze(-1) * mask).sum(-1)


def dpo_loss(
    policy_chosen: torch.Tensor,
    policy_rejected: torch.Tensor,
    reference_chosen: torch.Tensor,
    reference_rejected: torch.Tensor,
    beta: float = 0.1,
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Sigmoid DPO (Rafailov et al. 2023): per pair loss, chosen reward, rejected reward."""
    chosen = beta * (policy_chosen - reference_chosen)
    rejected = beta * (policy_rejected - reference_rejected)
    return -F.logsigmoid(chosen - rejected), chosen, rejected


def micro_batches(window: dict[str, torch.Tensor], size: int) -> list[dict[str, torch.Tensor]]:
    """Split a window; drop the padding columns a micro-batch does not need."""
    n = len(next(iter(window.values())))
    parts = []
    for start in range(0, n, size):
        part = {k: v[start : start + size] for k, v in window.items()}
        for prefix in ("", "chosen_", "rejected_"):
            mask = part.get(f"{prefix}attention_mask")
            if mask is not None:
                length = int(mask.sum(-1).max())
                for key in ("input_ids", "labels", "attention_mask"):
                    part[f"{prefix}{key}"] = part[f"{prefix}{key}"][:, :length]
        parts.append(part)
    return parts


class CausalLMModule(pl.LightningModule):
    """Continued pretraining and SFT: summed token loss / target tokens in the window."""

    def __init__(
        self,
        model_path: str,
        batch_size: int,
        total_steps: int,
        accumulate_grad_batches: int = 1,
        learning_rate: float = 3e-4,
        weight_decay: float = 0.1,
        warmup_ratio: float = 0.03,
        schedule: str = "cosine",
        grad_clip: float = 1.0,
        seq_len: int = 2048,
        adapter: dict | None = None,
        neftune_alpha: float = 0.0,
    ):
        super().__init__()
        self.save_hyperparameters()
        self.automatic_optimization = False
        self.model = None
        self._val = [0.0, 0.0]

    def configure_model(self) -> None:
        if self.model is None:  # built here so FSDP can shard it as it is created
            self.model = load_causal_lm(self.hparams.model_path)
            self.model.config.use_cache = False
            if self.hparams.adapter:
                from curate.lm.adapters import add_adapter

                self.model = add_adapter(self.model, self.hparams.adapter)
            if self.hparams.neftune_alpha:
                from curate.lm.adapters import add_neftune

                add_neftune(self.model, self.hparams.neftune_alpha)
            self.model.train()  # transformers 5 loads in eval mode (dropout off)
            # read by Lightning's ThroughputMonitor for MFU; a window is one "batch"
            window = self.hparams.batch_size * self.hparams.accumulate_grad_batches
            tokens = window * self.hparams.seq_len
            self.flops_per_batch = flops_per_token(self.model, self.hparams.seq_len) * tokens

    def reduce_sum(self, value: torch.Tensor) -> torch.Tensor:
        return self.trainer.strategy.reduce(value.float(), reduce_op="sum")

    def window_losses(self, parts) -> list[tuple[torch.Tensor, torch.Tensor]]:
        return [loss_sum(self.model, p) for p in parts]

    def training_step(self, window: dict[str, torch.Tensor], batch_idx: int) -> None:
        parts = micro_batches(window, self.hparams.batch_size)
        local = sum((p["labels"][:, 1:] != -100).sum() for p in parts)
        scale = self.trainer.world_size / self.reduce_sum(local).clamp(min=1)
        total = torch.zeros((), device=self.device)
        for part in parts:
            summed, _ = loss_sum(self.model, part)
            self.manual_backward(summed * scale)
            total += summed.detach()
        self.step_optimizer()
        self.log("train_loss", total / local.clamp(min=1), prog_bar=True)
        self.log("target_tokens", local.float(), reduce_fx="sum")

    def step_optimizer(self) -> None:
        """Manual optimisation: clip, step, zero, advance the schedule."""
        optimizer, scheduler = self.optimizers(), self.lr_schedulers()
        self.clip_gradients(
            optimizer, gradient_clip_val=self.hparams.grad_clip, gradient_clip_algorithm="norm"
        )
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)
        scheduler.step()
        self.log("lr", scheduler.get_last_lr()[0])

    def on_validation_epoch_start(self) -> None:
        self._val = [0.0, 0.0]

    def validation_step(self, window: dict[str, torch.Tensor], batch_idx: int) -> None:
        for part in micro_batches(window, self.hparams.batch_size):
            summed, count = loss_sum(self.model, part)
            self._val[0] += float(summed)
            self._val[1] += float(count)

    def on_validation_epoch_end(self) -> None:
        summed = self.reduce_sum(torch.tensor(self._val[0], device=self.device))
        count = self.reduce_sum(torch.tensor(self._val[1], device=self.device))
        loss = summed / count.clamp(min=1)
        self.log_dict({"val_loss": loss, "val_ppl": torch.exp(loss)}, prog_bar=True)

    def configure_optimizers(self) -> dict[str, Any]:
        from transformers import get_scheduler

        decay, no_decay = [], []
        for name, param in self.model.named_parameters():
            if param.requires_grad:
                (no_decay if param.ndim < 2 or "norm" in name else decay).append(param)
        optimizer = torch.optim.AdamW(
            [
                {"params": decay, "weight_decay": self.hparams.weight_decay},
                {"params": no_decay, "weight_decay": 0.0},
            ],
            lr=self.hparams.learning_rate,
            betas=(0.9, 0.95),
        )
        total = self.hparams.total_steps
        scheduler = get_scheduler(
            self.hparams.schedule,
            optimizer,
            num_warmup_steps=round(total * self.hparams.warmup_ratio),
            num_training_steps=total,
        )
        return {"optimizer": optimizer, "lr_scheduler": {"scheduler": scheduler}}


class DPOModule(CausalLMModule):
    """DPO on (chosen, rejected) pairs against reference log-probs carried in the batch."""

    def __init__(self, *args, beta: float = 0.1, **kwargs):
        super().__init__(*args, **kwargs)
        self.save_hyperparameters()
        self._val = []

    def pair_terms(self, part):
        chosen = sequence_logps(self.model, part, "chosen_")
        rejected = sequence_logps(self.model, part, "rejected_")
        return dpo_loss(
            chosen,
            rejected,
            part["chosen_reference"],
            part["rejected_reference"],
            self.hparams.beta,
        )

    def training_step(self, window: dict[str, torch.Tensor], batch_idx: int) -> None:
        parts = micro_batches(window, self.hparams.batch_size)
        local = torch.tensor(len(window["chosen_input_ids"]), device=self.device)
        scale = self.trainer.world_size / self.reduce_sum(local)
        losses, margins = [], []
        for part in parts:
            loss, chosen, rejected = self.pair_terms(part)
            self.manual_backward(loss.sum() * scale)
            losses.append(loss.detach())
            margins.append((chosen - rejected).detach())
        self.step_optimizer()
        margin = torch.cat(margins)
        self.log("train_loss", torch.cat(losses).mean(), prog_bar=True)
        self.log("reward_margin", margin.mean(), prog_bar=True)
        self.log("preference_accuracy", (margin > 0).float().mean())

    def on_validation_epoch_start(self) -> None:
        self._val = []

    def validation_step(self, window: dict[str, torch.Tensor], batch_idx: int) -> None:
        for part in micro_batches(window, self.hparams.batch_size):
            loss, chosen, rejected = self.pair_terms(part)
            self._val.append(torch.stack([loss, chosen - rejected]))

    def on_validation_epoch_end(self) -> None:
        if not self._val:
            return
        loss, margin = torch.cat(self._val, dim=1)
        self.log_dict(
            {
                "val_loss": loss.mean(),
                "val_reward_margin": margin.mean(),
                "val_preference_accuracy": (margin > 0).float().mean(),
            },
            prog_bar=True,
            sync_dist=True,
        )


@torch.no_grad()
def reference_logps(model, collate, items: list[dict], batch_size: int) -> None:
    """Attach the initial policy's log-probs to every DPO item (computed once, before any
    optimizer step; the trainer caches them next to the checkpoints)."""
    model.eval()
    for start in range(0, len(items), batch_size):
        chunk = items[start : start + batch_size]
        batch = collate(chunk)
        for side in ("chosen", "rejected"):
            logps = sequence_logps(model, batch, f"{side}_")
            for item, value in zip(chunk, logps, strict=True):
                item[f"{side}_reference"] = value
    model.train()
