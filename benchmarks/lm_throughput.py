"""Continued-pretraining throughput of `curate pretrain` (Lightning) against transformers'
Trainer on the same model, the same packed blocks (per-document position_ids, no attention
mask, use_cache off), the same micro-batch, accumulation, optimizer steps and schedule, in one
run. Tokens/s = input tokens of the optimizer steps / wall time of the training call (fit() or
train()), so both include their loop overhead and neither includes tokenization or saving.

    python benchmarks/lm_throughput.py [--model models/tiny-llama] [--steps 60]

On a GPU: `--size 1b --precision bf16-mixed --block 2048` builds a Llama-3.2-1B-shaped model
(16 layers, hidden 2048, GQA 32/8 heads, random weights, the tiny model's tokenizer) and adds
model FLOPs utilisation (6N + attention FLOPs per token, curate.lm.module.flops_per_token)
against the GPU's dense bf16 peak and a measured bf16 matrix-product rate.
"""

from __future__ import annotations

import argparse
import os
import platform
import tempfile
import time
from pathlib import Path

import yaml
from tables import write_results  # benchmarks/ is on sys.path when run as a script

ROOT = Path(__file__).resolve().parent.parent


def curate_run(model: str, data: str, out: Path, args) -> dict:
    from curate.lm.config import LMConfig
    from curate.lm.train import run

    raw = {
        "stage": "pretrain",
        "model": model,
        "output": str(out / "curate"),
        "data": {"train": [data], "max_length": args.block, "val_fraction": 0.02},
        "training": {
            "batch_size": args.micro,
            "accumulate_grad_batches": args.accumulate,
            "max_steps": args.steps,
            "learning_rate": 1e-3,
            "precision": args.precision,
            "warmup_ratio": 0.05,
            "checkpoint_every_n_steps": 10_000,
            "log_every_n_steps": 10,
        },
    }
    (out / "curate.yaml").write_text(yaml.safe_dump(raw))
    summary = run(LMConfig.from_dict(raw))
    tokens = args.steps * args.micro * args.accumulate * args.block
    return {
        "seconds": summary["fit_seconds"],
        "tokens": tokens,
        "loss": summary["metrics"]["train_loss"],
    }


def trainer_run(model_path: str, data: str, out: Path, args) -> dict:
    import torch
    from transformers import AutoTokenizer, Trainer, TrainingArguments

    from curate.lm.data import TensorDictDataset, pack, tokenize_corpus
    from curate.lm.module import load_causal_lm

    tokenizer = AutoTokenizer.from_pretrained(model_path)
    stream = tokenize_corpus([data], tokenizer, out / "curate" / "token_cache")
    blocks = pack(stream.tokens, args.block, tokenizer.bos_token_id, tokenizer.eos_token_id)
    model = load_causal_lm(model_path)
    model.config.use_cache = False  # with the cache on, packed documents attend to each other
    training = TrainingArguments(
        output_dir=str(out / "hf"),
        per_device_train_batch_size=args.micro,
        gradient_accumulation_steps=args.accumulate,
        max_steps=args.steps,
        learning_rate=1e-3,
        weight_decay=0.1,
        adam_beta2=0.95,
        warmup_steps=round(args.steps * 0.05),  # transformers 5: no warmup_ratio
        lr_scheduler_type="cosine",
        max_grad_norm=1.0,
        logging_steps=10,
        save_strategy="no",
        report_to=[],
        use_cpu=not torch.cuda.is_available(),
        bf16=args.precision.startswith("bf16"),
        dataloader_num_workers=0,
        seed=0,
        disable_tqdm=True,
    )
    trainer = Trainer(model=model, args=training, train_dataset=TensorDictDataset(blocks))
    start = time.perf_counter()
    result = trainer.train()
    seconds = time.perf_counter() - start
    tokens = args.steps * args.micro * args.accumulate * args.block
    last_loss = [h["loss"] for h in trainer.state.log_history if "loss" in h][-1]
    del result
    return {"seconds": seconds, "tokens": tokens, "loss": last_loss}


LLAMA_1B = {  # Llama-3.2-1B's shape (its vocabulary aside)
    "hidden_size": 2048,
    "intermediate_size": 8192,
    "num_hidden_layers": 16,
    "num_attention_heads": 32,
    "num_key_value_heads": 8,
    "head_dim": 64,
    "tie_word_embeddings": True,
}


def sized_model(template: str, out: Path) -> str:
    """A random-weight Llama of LLAMA_1B's shape with the tokenizer of `template`."""
    import shutil

    import torch
    from transformers import AutoConfig, AutoModelForCausalLM

    config = AutoConfig.from_pretrained(template)
    for key, value in LLAMA_1B.items():
        setattr(config, key, value)
    torch.manual_seed(0)
    AutoModelForCausalLM.from_config(config).save_pretrained(out)
    for f in Path(template).iterdir():
        if f.name.startswith(("tokenizer", "special_tokens")):
            shutil.copy(f, out / f.name)
    return str(out)


def matmul_tflops(n: int = 8192, repeats: int = 10) -> float:
    """Measured bf16 matrix-product rate on this GPU (random data, after warm-up)."""
    import torch

    a, b = (torch.randn(n, n, device="cuda", dtype=torch.bfloat16) for _ in range(2))
    for _ in range(3):
        a @ b
    torch.cuda.synchronize()
    start = time.perf_counter()
    for _ in range(repeats):
        a @ b
    torch.cuda.synchronize()
    return 2 * n**3 * repeats / (time.perf_counter() - start) / 1e12


def add_mfu(result: dict, config, block: int) -> list[str]:
    """MFU of each row against the spec sheet's dense bf16 peak and the measured matmul rate."""
    import torch
    from transformers import AutoModelForCausalLM

    from curate.lm.module import flops_per_token

    with torch.device("meta"):
        model = AutoModelForCausalLM.from_config(config)
    per_token = flops_per_token(model, block)
    name = torch.cuda.get_device_name()
    peak = 989.0 if "H100" in name or "H200" in name else None  # dense bf16, SXM spec sheet
    measured = matmul_tflops()
    result.update(gpu=name, flops_per_token=per_token, measured_matmul_tflops=measured)
    lines = [
        "",
        f"{name}: {per_token / 1e9:.2f} GFLOP per token; measured bf16 matmul "
        f"{measured:.0f} TFLOP/s; spec-sheet dense bf16 peak {peak or '?'} TFLOP/s",
        "",
        "| variant | achieved TFLOP/s | MFU (spec peak) | MFU (measured matmul) |",
        "|---|---|---|---|",
    ]
    for r in result["rows"]:
        achieved = r["tokens_per_s"] * per_token / 1e12
        r["mfu"] = achieved / peak if peak else None
        r["mfu_measured"] = achieved / measured
        spec_mfu = f"{r['mfu']:.1%}" if peak else "?"
        lines.append(f"| {r['variant']} | {achieved:.0f} | {spec_mfu} | {r['mfu_measured']:.1%} |")
    return lines


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", default=str(ROOT / "models" / "tiny-llama"))
    parser.add_argument("--data", default=str(ROOT / "data" / "demo"))
    parser.add_argument("--steps", type=int, default=60)
    parser.add_argument("--micro", type=int, default=8)
    parser.add_argument("--accumulate", type=int, default=2)
    parser.add_argument("--block", type=int, default=256)
    parser.add_argument(
        "--size",
        choices=("model", "1b"),
        default="model",
        help="1b: a random Llama-3.2-1B-shaped model with --model's tokenizer",
    )
    parser.add_argument("--precision", default="32-true", help="Lightning precision")
    parser.add_argument("--out", default=str(ROOT / "benchmarks" / "results" / "lm"))
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="curate-lm-bench-") as tmp:
        work = Path(tmp)
        if args.size == "1b":
            args.model = sized_model(args.model, work / "llama-1b")
        hf = trainer_run(args.model, args.data, work, args)  # also fills the token cache
        ours = curate_run(args.model, args.data, work, args)
        from transformers import AutoConfig

        model_config = AutoConfig.from_pretrained(args.model)
    rows = [("transformers Trainer", hf), ("curate pretrain (Lightning)", ours)]
    result = {
        "machine": f"{platform.machine()}, {os.cpu_count()} cores, "
        f"{'cuda' if __import__('torch').cuda.is_available() else 'cpu'}",
        "model": args.model,
        "settings": vars(args),
        "rows": [
            {
                "variant": name,
                **r,
                "tokens_per_s": r["tokens"] / r["seconds"],
                "ratio": (r["tokens"] / r["seconds"]) / (hf["tokens"] / hf["seconds"]),
            }
            for name, r in rows
        ],
    }
    lines = [
        f"# Pretraining throughput ({result['machine']}; {args.steps} optimizer steps of "
        f"{args.micro}x{args.accumulate} blocks of {args.block} tokens)",
        "",
        "| variant | seconds | tokens/s | vs Trainer | last logged train loss |",
        "|---|---|---|---|---|",
    ]
    for r in result["rows"]:
        lines.append(
            f"| {r['variant']} | {r['seconds']:.1f} | {r['tokens_per_s']:,.0f} | "
            f"{r['ratio']:.2f}x | {r['loss']:.3f} |"
        )
    if __import__("torch").cuda.is_available():
        lines += add_mfu(result, model_config, args.block)
    write_results(args.out, lines, result)


if __name__ == "__main__":
    main()
