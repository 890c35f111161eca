"""Scoring a causal LM on an ablation's TaskSet: perplexity per domain and minimal-pair accuracy
from log-likelihoods, and lm-evaluation-harness tasks through curate.ablate.harness. Works on a
transformers model in memory, so a training run scores its checkpoints without writing them."""

from __future__ import annotations

import math
from collections.abc import Iterator

import torch

from curate.ablate.tasks import Pair, TaskSet

CHANCE_PAIR = 0.5


def batches(items: list, size: int) -> Iterator[list]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


def token_logprobs(model, sequences: list[list[int]]) -> list[torch.Tensor]:
    """log p(token_t | tokens_<t) for t >= 1 of each sequence (right-padded batch)."""
    width = max(len(s) for s in sequences)
    ids = torch.zeros(len(sequences), width, dtype=torch.long)
    mask = torch.zeros(len(sequences), width, dtype=torch.long)
    for row, seq in enumerate(sequences):
        ids[row, : len(seq)] = torch.tensor(seq)
        mask[row, : len(seq)] = 1
    device = next(model.parameters()).device
    logits = model(input_ids=ids.to(device), attention_mask=mask.to(device)).logits.float()
    logps = torch.log_softmax(logits[:, :-1], dim=-1)
    picked = logps.gather(-1, ids[:, 1:].to(device).unsqueeze(-1)).squeeze(-1).cpu()
    return [picked[row, : len(seq) - 1] for row, seq in enumerate(sequences)]


def perplexity(model, tokenizer, texts: list[str], max_tokens: int, batch_size: int) -> float:
    """exp of the mean negative log-likelihood over every token of every text (after BOS, the
    first `max_tokens` tokens of each): token-weighted, as a corpus perplexity."""
    bos = tokenizer.bos_token_id
    sequences = sorted(
        (
            [bos, *ids[:max_tokens]]
            for ids in tokenizer(texts, add_special_tokens=False)["input_ids"]
            if ids
        ),
        key=len,
    )
    total, count = 0.0, 0
    for batch in batches(sequences, batch_size):
        for logps in token_logprobs(model, batch):
            total -= float(logps.sum())
            count += len(logps)
    return math.exp(total / count) if count else float("nan")


def continuation_ids(tokenizer, prefix: str, candidate: str) -> tuple[list[int], list[int]]:
    """(BOS + prefix tokens, candidate tokens): the candidate follows the prefix after a space,
    tokenized on its own so both candidates share the prefix's tokens exactly."""
    bos = tokenizer.bos_token_id
    head = [bos, *tokenizer(prefix, add_special_tokens=False)["input_ids"]] if prefix else [bos]
    tail = tokenizer((" " if prefix else "") + candidate, add_special_tokens=False)["input_ids"]
    return head, tail


def pair_accuracy(model, tokenizer, items: list[Pair], batch_size: int) -> float:
    """Share of items where the good candidate has the higher mean log-likelihood per token.
    Per token, not per byte (lm-eval's acc_norm): an untrained model then scores chance
    whatever the tokenizer, where per byte it already prefers the candidate its tokenizer cuts
    into fewer pieces (a Norwegian tokenizer cuts Swedish and OCR damage finer)."""
    sequences = []
    for item in items:
        for key in ("good", "bad"):
            head, tail = continuation_ids(tokenizer, item["prefix"], item[key])
            sequences.append((head + tail, len(tail)))
    order = sorted(range(len(sequences)), key=lambda i: len(sequences[i][0]))  # less padding
    mean = [0.0] * len(sequences)
    for batch in batches(order, batch_size):
        logps = token_logprobs(model, [sequences[i][0] for i in batch])
        for i, lp in zip(batch, logps, strict=True):
            mean[i] = float(lp[-sequences[i][1] :].mean())
    wins = [mean[i] > mean[i + 1] for i in range(0, len(mean), 2)]
    return sum(wins) / len(wins) if wins else float("nan")


@torch.no_grad()
def score_model(model, tokenizer, tasks: TaskSet, batch_size: int = 16) -> dict[str, float]:
    """task name -> score (perplexity: lower is better; pairs and harness: higher)."""
    was_training = model.training
    model.eval()
    config = tasks.config
    try:
        scores = {
            f"ppl/{domain}": perplexity(
                model, tokenizer, texts, config.perplexity_tokens, batch_size
            )
            for domain, texts in tasks.perplexity.items()
        }
        for name, items in tasks.pairs.items():
            scores[f"pairs/{name}"] = pair_accuracy(model, tokenizer, items, batch_size)
        if config.lm_eval:
            from curate.ablate.harness import harness_scores

            scores.update(harness_scores(model, tokenizer, config, batch_size))
    finally:
        model.train(was_training)
    return scores
