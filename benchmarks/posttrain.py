"""Post-training: LoRA vs full fine-tuning (SFT on data/lm/sft_demo.jsonl, the same steps, batch
and data in one run; trainable parameters, peak memory, tokens/s, last train loss) on the tiny
demo Llama and on a wider one; and the cost of `curate translate` per 1,000 rows.

    python benchmarks/posttrain.py [--steps 30] [--sizes tiny,small]

Each fine-tuning variant runs in its own process so that its peak resident memory (CPU) or
peak allocated CUDA memory (GPU) is its own. Translation cost: the demo's English rows
(data/lm/sft_en_demo.jsonl and dpo_en_demo.jsonl) through the real Gemini client against the
offline server, whose token counts are characters / 4 (Norwegian and English run 4 to 4.5
characters per Gemini token), priced at curate/resources/annotate/gemini.yaml's list price;
Batch mode bills half.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
from pathlib import Path

from tables import write_results  # benchmarks/ is on sys.path when run as a script

ROOT = Path(__file__).resolve().parent.parent
SIZES = {"tiny": {"hidden_size": 128, "layers": 4}, "small": {"hidden_size": 512, "layers": 8}}
LORA = {"method": "lora", "rank": 16, "alpha": 32, "dropout": 0.0, "target_modules": "all-linear"}


def build_model(size: str, out: Path) -> Path:
    from curate.lm.tokenizer import init_tiny

    return init_tiny([ROOT / "data" / "demo"], out / f"model-{size}", 4096, **SIZES[size])


def finetune(model: str, variant: str, steps: int, out: str) -> dict:
    """One SFT run in this process; prints its figures as JSON."""
    import torch

    from curate.lm.config import LMConfig
    from curate.lm.train import run

    raw = {
        "stage": "sft",
        "model": model,
        "output": out,
        "data": {"train": [str(ROOT / "data/lm/sft_demo.jsonl")], "max_length": 512},
        "training": {
            "batch_size": 4,
            "accumulate_grad_batches": 1,
            "max_steps": steps,
            "learning_rate": 5e-3 if variant == "lora" else 1e-3,
            "checkpoint_every_n_steps": 10_000,
            "log_every_n_steps": 1,
        },
    }
    if variant == "lora":
        raw["adapter"] = LORA
    summary = run(LMConfig.from_dict(raw))
    cuda = torch.cuda.is_available()
    peak = (
        torch.cuda.max_memory_allocated() / 2**20
        if cuda
        else resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    )
    n_params = summary.get("parameters") or count_parameters(model)
    return {
        "variant": variant,
        "trainable": summary.get("trainable_parameters", n_params),
        "parameters": n_params,
        "peak_mib": peak,
        "memory": "CUDA allocated" if cuda else "resident (RSS)",
        "tokens_per_s": summary["train_tokens_per_s"],
        "train_loss": summary["metrics"].get("train_loss"),
    }


def count_parameters(model: str) -> int:
    from transformers import AutoModelForCausalLM

    return sum(p.numel() for p in AutoModelForCausalLM.from_pretrained(model).parameters())


def run_variant(model: Path, variant: str, steps: int, tmp: Path) -> dict:
    cmd = [sys.executable, __file__, "--child", variant, "--model", str(model)]
    cmd += ["--steps", str(steps), "--out", str(tmp / f"{model.name}-{variant}")]
    done = subprocess.run(cmd, capture_output=True, text=True, env={**os.environ})
    if done.returncode:
        raise SystemExit(done.stderr[-3000:])
    return json.loads(done.stdout.strip().splitlines()[-1])


def translation_cost(tmp: Path) -> dict:
    from curate.annotate.config import default_config_path, load_config
    from curate.annotate.fake_server import FakeLLMServer
    from curate.posttrain.translate import TranslateSettings, translate

    os.environ.setdefault("CURATE_BENCH_KEY", "bench-key")
    settings = TranslateSettings.load()
    settings.checks.language = settings.checks.residue = False  # the server echoes the source
    inputs = [ROOT / "data/lm/sft_en_demo.jsonl", ROOT / "data/lm/dpo_en_demo.jsonl"]
    with FakeLLMServer() as server:
        config = load_config(
            default_config_path("gemini"),
            base_url=server.url,
            api_key_env="CURATE_BENCH_KEY",
            requests_per_minute=60000,
        )
        result = translate(inputs, "en", "nb", config, tmp / "nb.jsonl", settings, progress=False)
    s = result.summary
    per_1000 = 1000 / result.rows_in
    return {
        "rows": result.rows_in,
        "texts": s.selected,
        "requests": s.requests,
        "input_tokens": s.input_tokens,
        "output_tokens": s.output_tokens,
        "price_per_million": config.price_per_million_tokens,
        "model": config.model,
        "usd_per_1000_rows": s.cost_usd * per_1000,
        "usd_per_1000_rows_batch": s.cost_usd * per_1000 * config.batch_price_factor,
        "requests_per_1000_rows": s.requests * per_1000,
    }


def table(rows: list[dict], cost: dict) -> list[str]:
    lines = [
        "Randomly initialised models (as `curate init-tiny-lm` builds them): the loss column "
        "compares how fast each variant learns in the same steps, not a finished model. "
        "LoRA rank 16, all linear layers; `share` counts the adapter against the base model.",
        "",
        "| model | variant | trainable params | share | peak memory (MiB) | tokens/s | "
        "ratio to full | last train loss |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        full = next(f for f in rows if f["size"] == r["size"] and f["variant"] == "full")
        lines.append(
            f"| {r['size']} ({full['parameters'] / 1e6:.1f}M) | {r['variant']} | "
            f"{r['trainable']:,} | {r['trainable'] / full['parameters']:.1%} | "
            f"{r['peak_mib']:.0f} ({r['memory']}) | {r['tokens_per_s']:,.0f} | "
            f"{r['tokens_per_s'] / full['tokens_per_s']:.2f}x | {r['train_loss']:.3f} |"
        )
    p = cost["price_per_million"]
    lines += [
        "",
        f"Translation ({cost['model']} at ${p['input']:.2f} / ${p['output']:.2f} per million "
        f"input / output tokens): {cost['rows']} demo rows, {cost['texts']} texts, "
        f"{cost['requests']} requests (a text shared by rows is paid once), "
        f"{cost['input_tokens']:,} input and {cost['output_tokens']:,} output tokens: "
        f"**${cost['usd_per_1000_rows']:.3f} per 1,000 rows** online, "
        f"${cost['usd_per_1000_rows_batch']:.3f} in Batch mode; "
        f"{cost['requests_per_1000_rows']:,.0f} requests per 1,000 rows.",
    ]
    return lines


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--steps", type=int, default=30)
    parser.add_argument("--sizes", default="tiny,small")
    parser.add_argument("--child", default=None, help=argparse.SUPPRESS)
    parser.add_argument("--model", default=None, help=argparse.SUPPRESS)
    parser.add_argument("--out", default=None, help=argparse.SUPPRESS)
    parser.add_argument("--results", default=str(ROOT / "benchmarks/results/posttrain"))
    args = parser.parse_args()
    if args.child:
        print(json.dumps(finetune(args.model, args.child, args.steps, args.out)))
        return
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        for size in args.sizes.split(","):
            model = build_model(size, tmp)
            for variant in ("full", "lora"):
                rows.append({"size": size, **run_variant(model, variant, args.steps, tmp)})
        cost = translation_cost(tmp)
    write_results(args.results, table(rows, cost), {"finetune": rows, "translation": cost})


if __name__ == "__main__":
    main()
