"""The Lightning side: an encoder with a regression head of one output per task (MSE on each
task's score, over the documents labelled for that task), the data module that feeds it, and
length-sorted batch prediction."""

from __future__ import annotations

from collections import Counter

import numpy as np
import pytorch_lightning as pl
import torch
from torch.utils.data import DataLoader
from transformers import (
    AutoModelForSequenceClassification,
    AutoTokenizer,
    DataCollatorWithPadding,
    get_linear_schedule_with_warmup,
)
from transformers.utils import logging as hf_logging

from curate.classify.config import ClassifierConfig, trained_tasks
from curate.classify.metrics import macro_f1
from curate.errors import InputError

Labelled = tuple[list[str], list[list[float]]]  # texts and, per text, a score per task (NaN: none)


def load_encoder(path: str, num_labels: int | None = 1):
    """A sequence-regression model: a base encoder with a new head of `num_labels` outputs, or
    (`num_labels=None`) a trained model as saved."""
    # eager attention: its graph exports to ONNX in the shape onnxruntime's optimizer fuses
    # (sdpa's does not); float32 master weights even when the checkpoint is stored in half
    # precision.
    hf_logging.disable_progress_bar()  # a bar per weight load is noise in a training log
    # a new head replaces one of another size (a trained classifier as the base of a joint one)
    head = {} if num_labels is None else {"num_labels": num_labels, "ignore_mismatched_sizes": True}
    model = AutoModelForSequenceClassification.from_pretrained(
        path,
        **head,
        problem_type="regression",
        dtype=torch.float32,
        attn_implementation="eager",
    )
    return model, AutoTokenizer.from_pretrained(path)


def loss_weights(scores: list[int], mode: str) -> dict[int, float]:
    """Per-score loss weights so rare scores are not drowned out (mean weight 1)."""
    counts = Counter(scores)
    if mode == "none":
        return {s: 1.0 for s in counts}
    power = 0.5 if mode == "sqrt" else 1.0
    raw = {s: (max(counts.values()) / n) ** power for s, n in counts.items()}
    mean = sum(raw[s] * n for s, n in counts.items()) / len(scores)
    return {s: w / mean for s, w in raw.items()}


class ScoreRegressor(pl.LightningModule):
    """`configs`: one per task (output column); training settings come from the first.
    `weights`: per task, the loss weight of each score."""

    def __init__(
        self,
        model_path: str,
        configs: list[ClassifierConfig],
        weights: list[dict[int, float]],
        total_steps: int,
    ):
        super().__init__()
        self.save_hyperparameters(
            {
                "model_path": model_path,
                "configs": [c.to_dict() for c in configs],
                "weights": weights,
                "total_steps": total_steps,
            }
        )
        self.configs = configs
        self.cfg = configs[0]
        self.model, _ = load_encoder(model_path, num_labels=len(configs))
        self.inherited = self.inherit_heads(model_path, trained_tasks(self.cfg.base_model))
        # transformers 5 returns models in eval mode and Lightning keeps submodule modes as it
        # finds them: without this, dropout would stay off during training.
        self.model.train()
        self.weights = weights
        self.total_steps = total_steps
        self._val_pred: list[torch.Tensor] = []
        self._val_true: list[torch.Tensor] = []
        if self.cfg.training.freeze_encoder:
            self.freeze_encoder()

    def inherit_heads(self, model_path: str, base_tasks: list[str]) -> dict[int, tuple]:
        """Where the base model is a classifier `curate train` wrote, each task it was trained
        for starts from its head: {column: (weight row, bias)} of those tasks."""
        if not base_tasks:
            return {}
        base, _ = load_encoder(model_path, num_labels=None)
        if not isinstance(getattr(self.model, "classifier", None), torch.nn.Linear):
            raise InputError(
                f"{self.cfg.base_model}: a head per task needs a one-layer head (BERT's "
                f"`classifier`); this model has {type(self.model).__name__}"
            )
        inherited = {}
        with torch.no_grad():
            for column, config in enumerate(self.configs):
                if config.task in base_tasks:
                    row = base_tasks.index(config.task)
                    inherited[column] = (
                        base.classifier.weight[row].clone(),
                        base.classifier.bias[row].clone(),
                    )
                    self.model.classifier.weight[column] = inherited[column][0]
                    self.model.classifier.bias[column] = inherited[column][1]
        return inherited

    def freeze_encoder(self) -> None:
        """FineWeb-Edu's recipe: only the head learns, on the features of an encoder in eval
        mode (no dropout). The pooler stays trainable because it belongs to the head in BERT's
        classification architecture, unless the base model is a trained classifier whose heads
        this model inherits: then its pooler is part of those heads and stays as trained."""
        for name, param in self.model.base_model.named_parameters():
            param.requires_grad = name.startswith("pooler") and not self.inherited
        self.model.base_model.eval()

    def on_validation_epoch_start(self) -> None:
        # validation (and so early stopping and the best checkpoint) sees the inherited heads
        # as they will be kept
        self.restore_inherited_heads()

    def restore_inherited_heads(self) -> None:
        """With a frozen encoder, an inherited task keeps its base classifier's scores exactly:
        its head rows go back to the base's values (training and weight decay move them)."""
        if not self.cfg.training.freeze_encoder:
            return
        with torch.no_grad():
            for column, (weight, bias) in self.inherited.items():
                self.model.classifier.weight[column] = weight
                self.model.classifier.bias[column] = bias

    def forward(self, batch) -> torch.Tensor:
        inputs = {
            k: v for k, v in batch.items() if k in ("input_ids", "attention_mask", "token_type_ids")
        }
        return self.model(**inputs).logits.float()  # (batch, tasks)

    def weighted_mse(self, pred: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        """Each task's score-weighted MSE over the documents labelled for it, averaged over
        the tasks labelled in the batch."""
        losses = []
        for column, weights in enumerate(self.weights):
            have = ~torch.isnan(labels[:, column])
            if not have.any():
                continue
            y = labels[have, column]
            w = torch.tensor([weights.get(int(v), 1.0) for v in y], device=pred.device)
            losses.append((w * (pred[have, column] - y) ** 2).mean())
        return torch.stack(losses).mean()

    def training_step(self, batch, _):
        pred = self(batch)
        labels = batch["labels"].float().reshape(pred.shape)
        loss = self.weighted_mse(pred, labels)
        self.log("train_loss", loss, prog_bar=True, batch_size=len(labels))
        return loss

    def validation_step(self, batch, _):
        pred = self(batch)
        labels = batch["labels"].float().reshape(pred.shape)
        have = ~torch.isnan(labels)
        mse = torch.mean((pred[have] - labels[have]) ** 2)
        self.log("val_mse", mse, prog_bar=True, batch_size=len(labels))
        self._val_pred.append(pred.detach().cpu())
        self._val_true.append(labels.detach().cpu())

    def on_validation_epoch_end(self) -> None:
        """val_macro_f1: the mean over tasks of each task's macro-F1."""
        pred = torch.cat(self._val_pred).numpy()
        true = torch.cat(self._val_true).numpy()
        self._val_pred.clear()
        self._val_true.clear()
        scores = []
        for column, config in enumerate(self.configs):
            have = ~np.isnan(true[:, column])
            if have.any():
                y = true[have, column].astype(int)
                scores.append(macro_f1(y, pred[have, column], config.scale))
        self.log("val_macro_f1", float(np.mean(scores)), prog_bar=True)

    def configure_optimizers(self):
        t = self.cfg.training
        head = [
            p
            for n, p in self.model.named_parameters()
            if p.requires_grad and not n.startswith(self.model.base_model_prefix)
        ]
        body = [
            p
            for n, p in self.model.named_parameters()
            if p.requires_grad and n.startswith(self.model.base_model_prefix)
        ]
        groups = [{"params": head, "lr": t.head_learning_rate}]
        if body:
            groups.append({"params": body, "lr": t.learning_rate})
        optimizer = torch.optim.AdamW(groups, weight_decay=t.weight_decay)
        scheduler = get_linear_schedule_with_warmup(
            optimizer, int(t.warmup_ratio * self.total_steps), self.total_steps
        )
        return {
            "optimizer": optimizer,
            "lr_scheduler": {"scheduler": scheduler, "interval": "step"},
        }


class ScoreDataModule(pl.LightningDataModule):
    def __init__(self, splits: dict[str, Labelled], tokenizer, max_length: int, batch_size: int):
        super().__init__()
        self.splits, self.tokenizer = splits, tokenizer
        self.max_length, self.batch_size = max_length, batch_size
        self.collate = DataCollatorWithPadding(tokenizer)

    def encode(self, labelled: Labelled) -> list[dict]:
        texts, labels = labelled
        enc = self.tokenizer(texts, truncation=True, max_length=self.max_length)
        return [{**{k: enc[k][i] for k in enc}, "labels": labels[i]} for i in range(len(texts))]

    def train_dataloader(self):
        return DataLoader(
            self.encode(self.splits["train"]),
            batch_size=self.batch_size,
            shuffle=True,
            collate_fn=self.collate,
        )

    def val_dataloader(self):
        return DataLoader(
            self.encode(self.splits["validation"]),
            batch_size=self.batch_size,
            collate_fn=self.collate,
        )


def expected_score(logits: torch.Tensor, head: list[float] | None) -> torch.Tensor:
    """A regression model's single output, or for a multi-class model (`head`: the score of each
    class) the expected score under its softmax."""
    if head is None:
        return logits.squeeze(-1)
    values = torch.tensor(head, dtype=logits.dtype, device=logits.device)
    return torch.softmax(logits, dim=-1) @ values


@torch.inference_mode()
def predict(
    model,
    tokenizer,
    texts: list[str],
    max_length: int,
    batch_size: int = 32,
    device: str | None = None,
    head: list[float] | None = None,
) -> np.ndarray:
    """Scores for `texts` with a transformers model, in length-sorted batches, input order kept
    (`head`: see expected_score): shape (texts,), or (texts, tasks) for a model of several
    regression outputs."""
    model.eval()
    device = device or next(model.parameters()).device
    order = np.argsort([len(t) for t in texts], kind="stable")
    columns = () if head is not None or model.config.num_labels == 1 else (model.config.num_labels,)
    out = np.empty((len(texts), *columns), dtype=np.float32)
    for start in range(0, len(texts), batch_size):
        idx = order[start : start + batch_size]
        enc = tokenizer(
            [texts[i] for i in idx],
            truncation=True,
            max_length=max_length,
            padding=True,
            return_tensors="pt",
        ).to(device)
        out[idx] = expected_score(model(**enc).logits, head).float().cpu().numpy()
    return out
