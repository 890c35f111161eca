"""Scorer throughput on the same documents in one run, real reference text by default (the
reference corpus's test split, cycled to --docs; --corpus demo for the bundled demo corpus):
(a) the transformers text-classification pipeline, fp32, batch 32, truncation at the bundle's
max length (how FineWeb-Edu applied its classifier), (b) torch fp32 with length-sorted
batches, (c) onnxruntime fp32 fused, (d) onnxruntime int8 fused, each with the score
difference to (a) and keep/drop agreement at the bundle's threshold, docs/s per thread count
and peak memory (each variant in its own process). Every variant is the encoder's score alone
(the pipeline has no side models); the last agreement column applies the bundle's lexical blend
and fluency penalty to every variant's encoder scores alike: the keep decision a user gets.
Where torch sees a CUDA GPU, GPU rows follow (score_gpu.py); --gpu-only --bundle B runs only
those, from an exported bundle.

    python benchmarks/score_throughput.py --model classifiers/educational_value [--docs 400]
"""

from __future__ import annotations

import argparse
import itertools
import json
import os
import platform
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from score_gpu import gpu_rows  # benchmarks/ is on sys.path when run as a script
from tables import write_results

ROOT = Path(__file__).resolve().parent.parent
VARIANTS = {
    "a": "transformers pipeline fp32",
    "b": "torch fp32, length-sorted",
    "c": "onnxruntime fp32 fused",
    "d": "onnxruntime int8 fused",
}


def load_texts(n: int, corpus: str = "reference") -> list[str]:
    """`n` texts: the reference test split's Norwegian documents, or the demo corpus, cycled."""
    from curate.documents import read_documents
    from curate.reference import reference_splits

    if corpus == "demo":
        docs = [d.text for d in read_documents([ROOT / "data" / "demo"])]
    else:
        docs = [d.text for d in reference_splits()["test"] if d.lang in ("nb", "nn")]
    return list(itertools.islice(itertools.cycle(docs), n))


def bundle_scores(bundle: Path, scores: dict, texts: list[str]) -> dict:
    """Each variant's encoder scores turned into the bundle's score (its lexical blend and
    fluency penalty, the same for every variant): the keep decision a user gets."""
    from curate.classify import QualityClassifier

    clf = QualityClassifier.load(bundle)
    return {key: clf.adjust(s, texts) for key, s in scores.items()}


def run_variant(
    variant: str, threads: int, model_dir: Path, bundle: Path, texts: list[str], max_length: int
) -> np.ndarray:
    if variant in ("a", "b"):
        import torch

        torch.set_num_threads(threads)
        from curate.classify.model import load_encoder, predict

        model, tok = load_encoder(str(model_dir / "model"))
        if variant == "b":
            return predict(model, tok, texts, max_length, batch_size=32)
        from transformers import pipeline

        pipe = pipeline(
            "text-classification",
            model=model,
            tokenizer=tok,
            device="cpu",
            function_to_apply="none",
        )
        out = pipe(texts, batch_size=32, truncation=True, max_length=max_length)
        return np.array([o["score"] for o in out], dtype=np.float32)
    from curate.classify import QualityClassifier

    clf = QualityClassifier.load(
        bundle, variant="fp32" if variant == "c" else "int8", intra_op_num_threads=threads
    )
    # the encoder alone, as (a) and (b) are: the bundle's fluency penalty is not theirs
    return clf.encoder_score(texts)


def peak_rss_mb() -> float:
    """VmHWM, not ru_maxrss: ru_maxrss carries the parent's peak across fork + exec."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def child(args) -> None:
    texts = load_texts(args.docs, args.corpus)
    start = time.perf_counter()
    scores = run_variant(
        args.variant, args.threads, Path(args.model), Path(args.bundle), texts, args.max_length
    )
    seconds = time.perf_counter() - start
    np.save(args.scores, scores)
    peak_mb = peak_rss_mb()
    print(json.dumps({"seconds": seconds, "peak_mb": peak_mb}))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--model", default=str(ROOT / "classifiers" / "educational_value"))
    ap.add_argument("--docs", type=int, default=400)
    ap.add_argument("--corpus", choices=("reference", "demo"), default="reference")
    ap.add_argument("--gpu-only", action="store_true", help="only the GPU rows (needs --bundle)")
    ap.add_argument("--max-length", type=int, default=512)
    ap.add_argument("--out", default=str(ROOT / "benchmarks" / "results" / "score.json"))
    ap.add_argument("--variant", help=argparse.SUPPRESS)
    ap.add_argument("--threads", type=int, default=2, help=argparse.SUPPRESS)
    ap.add_argument("--bundle", help=argparse.SUPPRESS)
    ap.add_argument("--scores", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.variant:
        return child(args)
    if args.gpu_only:
        return gpu_table(args)
    from curate.classify.export import export_bundle

    texts = load_texts(max(args.docs, 200), args.corpus)  # the parity check takes 200
    tmp = Path(tempfile.mkdtemp())
    bundle = tmp / "bundle"
    spec = export_bundle(
        args.model,
        bundle,
        texts[:200],
        min_agreement=0.0,
        max_length=args.max_length,
    )
    threshold = spec["threshold"]
    runs = [("a", 2), ("b", 2), ("c", 2), ("d", 2), ("c", 1), ("d", 1)]
    results, scores = [], {}
    for variant, threads in runs:
        path = tmp / f"{variant}{threads}.npy"
        proc = subprocess.run(
            [
                sys.executable,
                __file__,
                "--variant",
                variant,
                "--threads",
                str(threads),
                "--model",
                args.model,
                "--bundle",
                str(bundle),
                "--scores",
                str(path),
                "--docs",
                str(args.docs),
                "--max-length",
                str(args.max_length),
                "--corpus",
                args.corpus,
            ],
            capture_output=True,
            text=True,
            check=True,
        )
        timing = json.loads(proc.stdout.strip().splitlines()[-1])
        scores[(variant, threads)] = np.load(path)
        results.append(
            {
                "variant": variant,
                "name": VARIANTS[variant],
                "threads": threads,
                "docs_per_s": args.docs / timing["seconds"],
                "peak_mb": timing["peak_mb"],
            }
        )
    base = scores[("a", 2)]
    base_rate = results[0]["docs_per_s"]
    full = bundle_scores(bundle, scores, texts[: args.docs])
    for r in results:
        key = (r["variant"], r["threads"])
        s = scores[key]
        r["speedup_vs_a"] = r["docs_per_s"] / base_rate
        r["mean_abs_delta"] = float(np.abs(s - base).mean())
        r["max_abs_delta"] = float(np.abs(s - base).max())
        r["keep_agreement"] = float(((s >= threshold) == (base >= threshold)).mean())
        agree = (full[key] >= threshold) == (full[("a", 2)] >= threshold)
        r["keep_agreement_bundle_score"] = float(agree.mean())
    lines = []
    lines.append(
        f"scorer throughput: {args.docs} {args.corpus} documents, max length {args.max_length}, "
        f"threshold {threshold:.3f}; {platform.machine()}, {os.cpu_count()} cores"
    )
    lines.append(
        "| variant | threads | docs/s | × (a) | mean abs Δ vs (a) | max abs Δ | keep agreement "
        "| keep agreement, bundle's score | peak MB |"
    )
    lines.append("|---|---|---|---|---|---|---|---|---|")
    for r in results:
        lines.append(
            f"| ({r['variant']}) {r['name']} | {r['threads']} | {r['docs_per_s']:.1f} | "
            f"{r['speedup_vs_a']:.2f} | {r['mean_abs_delta']:.4f} | {r['max_abs_delta']:.4f} "
            f"| {r['keep_agreement']:.2%} | {r['keep_agreement_bundle_score']:.2%} "
            f"| {r['peak_mb']:.0f} |"
        )
    figures = {
        "docs": args.docs,
        "max_length": args.max_length,
        "fused_ops": spec["fused_ops"],
        "rows": results,
    }
    from curate.classify.torch_encoder import cuda_available

    if cuda_available():
        lines += [
            "",
            *gpu_rows(bundle, load_texts(args.docs * 10, args.corpus), args.max_length, tmp),
        ]
    write_results(args.out, lines, figures)


def gpu_table(args) -> None:
    bundle = Path(args.bundle)
    texts = load_texts(args.docs, args.corpus)
    with tempfile.TemporaryDirectory() as tmp:
        lines = gpu_rows(bundle, texts, args.max_length, Path(tmp))
    write_results(args.out, lines, {"gpu_lines": lines})


if __name__ == "__main__":
    main()
