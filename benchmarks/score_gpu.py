"""GPU rows of the scorer benchmark (run by score_throughput.py when torch sees a CUDA GPU).

On the same GPU, the same documents, in one run: the transformers text-classification pipeline
(fp32 and fp16, batch 32, truncation at max length) against curate's GPU path (the bundle's
torch copy in fp16 or bf16 with SDPA attention, length-sorted batches under a token budget).
Two encoders: the trained demo classifier's bundle (MiniLM-L6) and a BERT-base-sized encoder
(12 layers, hidden 768, random weights: speed does not depend on the weights; its scores only
serve the agreement columns, with the threshold at the baseline's median).
"""

from __future__ import annotations

import json
import shutil
import time
from pathlib import Path

import numpy as np

PIPELINE_BATCH = 32


def bert_base_bundle(like: Path, out: Path, max_length: int) -> Path:
    """A bundle-shaped folder holding a randomly initialised BERT-base regressor with the
    tokenizer of `like` (weights seeded: the same model in every row)."""
    import torch
    from transformers import BertConfig, BertForSequenceClassification

    spec = json.loads((like / "classifier.json").read_text())
    vocab = json.loads((like / "tokenizer.json").read_text())["model"]["vocab"]
    torch.manual_seed(0)
    config = BertConfig(vocab_size=len(vocab), num_labels=1, problem_type="regression")
    model = BertForSequenceClassification(config)
    out.mkdir(parents=True, exist_ok=True)
    model.to(torch.float16).save_pretrained(out / "torch")
    for f in like.iterdir():
        if f.name.startswith("tokenizer") or f.name in ("vocab.txt", "special_tokens_map.json"):
            shutil.copy(f, out / f.name)
    spec.update(task="bert_base_random", max_length=max_length, fluency=None, sha256={})
    (out / "classifier.json").write_text(json.dumps(spec))
    return out


def pipeline_scores(bundle: Path, texts: list[str], max_length: int, dtype: str) -> np.ndarray:
    import torch
    from transformers import AutoModelForSequenceClassification, AutoTokenizer, pipeline

    model = AutoModelForSequenceClassification.from_pretrained(
        bundle / "torch", dtype=getattr(torch, dtype)
    )
    tok = AutoTokenizer.from_pretrained(bundle)
    pipe = pipeline(
        "text-classification", model=model, tokenizer=tok, device="cuda", function_to_apply="none"
    )
    out = pipe(texts, batch_size=PIPELINE_BATCH, truncation=True, max_length=max_length)
    return np.array([o["score"] for o in out], dtype=np.float32)


def curate_scores(bundle: Path, texts: list[str], dtype: str, batch_tokens: int) -> np.ndarray:
    from curate.classify.runtime import QualityClassifier

    clf = QualityClassifier.load(bundle, device="cuda", dtype=dtype, batch_tokens=batch_tokens)
    return clf.encoder_score(texts)


def timed(fn, *args) -> tuple[np.ndarray, float]:
    import torch

    fn(*args[:1], args[1][:64], *args[2:])  # warm-up: CUDA context, kernels, allocator
    torch.cuda.synchronize()
    start = time.perf_counter()
    scores = fn(*args)
    torch.cuda.synchronize()
    return scores, time.perf_counter() - start


def count_tokens(bundle: Path, texts: list[str], max_length: int) -> int:
    from tokenizers import Tokenizer

    tok = Tokenizer.from_file(str(bundle / "tokenizer.json"))
    tok.no_padding()
    tok.enable_truncation(max_length)
    return sum(len(e.ids) for e in tok.encode_batch(texts))


def gpu_rows(bundle: Path, texts: list[str], max_length: int, work: Path) -> list[str]:
    """Markdown lines of the GPU table."""
    import torch

    encoders = {
        "demo classifier (MiniLM-L6, 22M)": bundle,
        "BERT-base size (110M, random)": bert_base_bundle(bundle, work / "bert-base", max_length),
    }
    variants = [
        ("transformers pipeline fp32", pipeline_scores, "float32", None),
        ("transformers pipeline fp16", pipeline_scores, "float16", None),
        ("curate torch fp16 SDPA, 32k tokens/batch", curate_scores, "float16", 32768),
        ("curate torch fp16 SDPA, 128k tokens/batch", curate_scores, "float16", 131072),
        ("curate torch bf16 SDPA, 128k tokens/batch", curate_scores, "bfloat16", 131072),
    ]
    lines = [
        f"GPU: {torch.cuda.get_device_name()}; {len(texts)} documents, max length {max_length}",
        "",
        "| encoder | variant | docs/s | tokens/s | × pipeline fp32 | mean abs Δ | max abs Δ "
        "| keep agreement |",
        "|---|---|---|---|---|---|---|---|",
    ]
    notes = []
    for name, path in encoders.items():
        tokens = count_tokens(path, texts, max_length)
        base = None
        for label, fn, dtype, budget in variants:
            args = (
                (path, texts, max_length, dtype) if budget is None else (path, texts, dtype, budget)
            )
            scores, seconds = timed(fn, *args)
            if base is None:
                base, base_rate = scores, len(texts) / seconds
                spec = json.loads((path / "classifier.json").read_text())
                threshold = spec["threshold"] if path == bundle else float(np.median(base))
            delta = np.abs(scores - base)
            agree = ((scores >= threshold) == (base >= threshold)).mean()
            rate = len(texts) / seconds
            lines.append(
                f"| {name} | {label} | {rate:,.0f} | {tokens / seconds:,.0f} | "
                f"{rate / base_rate:.2f} | {delta.mean():.4f} | {delta.max():.4f} | {agree:.2%} |"
            )
            print(lines[-1], flush=True)
        notes.append(f"{name}: baseline scores' standard deviation {base.std():.4f}")
    return [*lines, "", *notes]
