"""SFT and DPO data. SFT rows are `{"messages": [{"role", "content"}, ...]}`, rendered with the
tokenizer's chat template; the loss covers assistant tokens only (end-of-turn included), taken
from the template's {% generation %} marks. DPO rows are `{"prompt", "chosen", "rejected"}`
(prompt: a string or a list of messages; chosen/rejected: the assistant's reply).

Bad rows are counted per reason, logged with file and line, and skipped; a template that marks
no assistant tokens is an error, since training on it would silently learn nothing."""

from __future__ import annotations

import logging
from collections import Counter
from typing import Any

import torch

from curate.errors import CurateError, InputError
from curate.lm.data import WindowDataModule
from curate.lm.rows import assistant, check_messages, check_pair, prompt_messages, read_rows

log = logging.getLogger(__name__)


class TemplateError(CurateError, ValueError):
    pass


def render_sft(messages: list[dict], tokenizer, max_length: int) -> dict[str, torch.Tensor]:
    out = tokenizer.apply_chat_template(
        messages, tokenize=True, return_dict=True, return_assistant_tokens_mask=True
    )
    ids, mask = out["input_ids"], out["assistant_masks"]
    if not any(mask):
        raise TemplateError(
            "the chat template marks no assistant tokens: it needs {% generation %} ... "
            "{% endgeneration %} around assistant content (stock Llama 3.1 templates have none; "
            "use curate.lm.tokenizer.TAGGED_LLAMA3_TEMPLATE)"
        )
    ids, mask = ids[:max_length], mask[:max_length]
    labels = [i if m else -100 for i, m in zip(ids, mask, strict=True)]
    return {"input_ids": torch.tensor(ids), "labels": torch.tensor(labels)}


def pad_batch(rows: list[dict[str, torch.Tensor]], pad_id: int) -> dict[str, torch.Tensor]:
    """Right-pad to the longest row; the attention mask comes from lengths (Llama 3 has no pad
    token, and comparing against an id that equals EOS would mask real EOS tokens)."""
    length = max(len(r["input_ids"]) for r in rows)
    batch = {
        "input_ids": torch.full((len(rows), length), pad_id),
        "labels": torch.full((len(rows), length), -100),
        "attention_mask": torch.zeros((len(rows), length), dtype=torch.long),
    }
    for i, r in enumerate(rows):
        n = len(r["input_ids"])
        batch["input_ids"][i, :n] = r["input_ids"]
        batch["labels"][i, :n] = r["labels"]
        batch["attention_mask"][i, :n] = 1
    return batch


class ListDataset(torch.utils.data.Dataset):
    def __init__(self, items: list):
        self.items = items

    def __len__(self) -> int:
        return len(self.items)

    def __getitem__(self, i: int):
        return self.items[i]


def split(items: list, val_fraction: float) -> tuple[list, list]:
    n_val = min(len(items) - 1, max(1, round(len(items) * val_fraction))) if len(items) > 1 else 0
    return items[: len(items) - n_val], items[len(items) - n_val :]


def skip(skipped: Counter, where: str, reason: str) -> None:
    skipped[reason] += 1
    log.warning("skipped %s: %s", where, reason)


class SFTDataModule(WindowDataModule):
    """`val_paths`: a validation set of its own (curate mix's eval.jsonl); without it the last
    `val_fraction` of the rows."""

    def __init__(
        self, paths, tokenizer, max_length: int, val_fraction: float = 0.1, val_paths=(), **window
    ):
        super().__init__(**window)
        self.paths, self.tokenizer, self.max_length = paths, tokenizer, max_length
        self.val_fraction, self.val_paths = val_fraction, list(val_paths)
        self.stats: dict[str, Any] = {}

    def read(self, paths, skipped: Counter) -> tuple[list[dict], int]:
        rows, report = read_rows(paths)
        items = []
        for where, row in rows:
            reason = check_messages(row.get("messages") if isinstance(row, dict) else None)
            if reason:
                skip(skipped, where, reason)
                continue
            items.append(render_sft(row["messages"], self.tokenizer, self.max_length))
        if not items:
            raise InputError(f"no usable conversations in {paths}: {dict(skipped)}")
        return items, report.bad_count

    def setup(self, stage: str | None = None) -> None:
        if self.train_set is not None:
            return
        skipped = Counter()
        items, bad = self.read(self.paths, skipped)
        if self.val_paths:
            train = items
            val, bad_val = self.read(self.val_paths, skipped)
            bad += bad_val
        else:
            train, val = split(items, self.val_fraction)
        self.train_set, self.val_set = ListDataset(train), ListDataset(val)
        self.stats = {
            "conversations": len(train) + len(val),
            "val_conversations": len(val),
            "skipped": dict(skipped),
            "bad_rows": bad,
            "assistant_tokens": int(sum((i["labels"] != -100).sum() for i in train)),
        }
        log.info("SFT data: %s", self.stats)

    def collate(self, rows):
        return pad_batch(rows, self.tokenizer.eos_token_id)


def render_completion(prompt: list[dict], reply: str, tokenizer, max_length: int):
    """Token ids of prompt + reply and a mask of the reply's tokens (end-of-turn included)."""
    item = render_sft([*prompt, assistant(reply)], tokenizer, max_length)
    return item["input_ids"], item["labels"]


class DPODataModule(WindowDataModule):
    """Items hold chosen and rejected sequences; `reference` log-probs are attached by the
    trainer before fitting (computed once with the initial policy)."""

    def __init__(
        self, paths, tokenizer, max_length: int, val_fraction: float = 0.1, val_paths=(), **window
    ):
        super().__init__(**window)
        self.paths, self.tokenizer, self.max_length = paths, tokenizer, max_length
        self.val_fraction, self.val_paths = val_fraction, list(val_paths)
        self.items: list[dict] = []
        self.n_val: int | None = None  # pairs read from val_paths (at the end of items)
        self.stats: dict[str, Any] = {}

    def prepare_items(self) -> list[dict]:
        """Train pairs, then validation pairs from `val_paths` (all get reference log-probs)."""
        if self.items:
            return self.items
        skipped = Counter()
        bad = self.read(self.paths, skipped)
        if self.val_paths:
            n_train = len(self.items)
            bad += self.read(self.val_paths, skipped)
            self.n_val = len(self.items) - n_train
        self.stats = {
            "pairs": len(self.items),
            "skipped": dict(skipped),
            "bad_rows": bad,
        }
        log.info("DPO data: %s", self.stats)
        return self.items

    def read(self, paths, skipped: Counter) -> int:
        rows, report = read_rows(paths)
        before = len(self.items)
        for where, row in rows:
            reason = check_pair(row)
            if reason:
                skip(skipped, where, reason)
                continue
            prompt = prompt_messages(row["prompt"])
            item = {}
            for side in ("chosen", "rejected"):
                ids, labels = render_completion(prompt, row[side], self.tokenizer, self.max_length)
                item[f"{side}_input_ids"], item[f"{side}_labels"] = ids, labels
            self.items.append(item)
        if len(self.items) == before:
            raise InputError(f"no usable preference pairs in {paths}: {dict(skipped)}")
        return report.bad_count

    def setup(self, stage: str | None = None) -> None:
        if self.train_set is None:
            items = self.prepare_items()
            if self.n_val is not None:
                train, val = items[: len(items) - self.n_val], items[len(items) - self.n_val :]
            else:
                train, val = split(items, self.val_fraction)
            self.train_set, self.val_set = ListDataset(train), ListDataset(val)

    def collate(self, rows):
        batch = {}
        for side in ("chosen", "rejected"):
            side_rows = [
                {"input_ids": r[f"{side}_input_ids"], "labels": r[f"{side}_labels"]} for r in rows
            ]
            for k, v in pad_batch(side_rows, self.tokenizer.eos_token_id).items():
                batch[f"{side}_{k}"] = v
            if "chosen_reference" in rows[0]:
                batch[f"{side}_reference"] = torch.stack([r[f"{side}_reference"] for r in rows])
        return batch
