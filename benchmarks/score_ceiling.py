"""How close the CPU scorer is to this machine's int8 limit, on real text: the bundle's int8
docs/s at several token budgets per batch (the runtime's default is 4,096), against the docs/s
an encoder of its size could reach if every FLOP ran at onnxruntime's measured int8 GEMM peak
(MatMulInteger, same threads). FLOPs per document: the linear layers and attention at the
documents' mean token count. Reference test split, max length 512, fluency penalty left out.

    python benchmarks/score_ceiling.py [--bundle classifiers/educational_value/bundle]
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import tempfile
import time
from collections import Counter
from pathlib import Path

import numpy as np
from score_throughput import load_texts  # benchmarks/ is on sys.path when run as a script
from tables import write_results

ROOT = Path(__file__).resolve().parent.parent
BUDGETS = (4096, 16384, 65536)


def int8_gemm_peak(threads: int, m: int = 4096, k: int = 384, n: int = 1536) -> float:
    """Integer ops per second of one (m x k) @ (k x n) uint8 x int8 MatMulInteger."""
    import onnxruntime as ort
    from onnx import TensorProto, helper

    inputs = [
        helper.make_tensor_value_info("a", TensorProto.UINT8, [m, k]),
        helper.make_tensor_value_info("b", TensorProto.INT8, [k, n]),
    ]
    out = helper.make_tensor_value_info("y", TensorProto.INT32, [m, n])
    node = helper.make_node("MatMulInteger", ["a", "b"], ["y"])
    model = helper.make_model(helper.make_graph([node], "gemm", inputs, [out]))
    opts = ort.SessionOptions()
    opts.intra_op_num_threads = threads
    session = ort.InferenceSession(model.SerializeToString(), opts)
    rng = np.random.default_rng(0)
    feed = {
        "a": rng.integers(0, 255, (m, k), dtype=np.uint8),
        "b": rng.integers(-127, 127, (k, n), dtype=np.int8),
    }
    return 2 * m * k * n / fastest(lambda: session.run(None, feed), 20)


def time_by_operator(bundle: Path, texts: list[str], threads: int) -> dict[str, float]:
    """Share of onnxruntime's kernel time per operator type: the int8 model on the scorer's own
    batches (default budget), from onnxruntime's profiler."""
    import onnxruntime as ort

    from curate.classify import QualityClassifier

    clf = QualityClassifier.load(bundle, intra_op_num_threads=threads)
    clf.spec = dataclasses.replace(clf.spec, max_length=512)
    with tempfile.TemporaryDirectory() as tmp:
        opts = ort.SessionOptions()
        opts.intra_op_num_threads = threads
        opts.enable_profiling = True
        opts.profile_file_prefix = str(Path(tmp) / "ort")
        # the scorer's session, profiled: same model file, same batches
        clf._session = ort.InferenceSession(
            str(clf.model_file), opts, providers=["CPUExecutionProvider"]
        )
        clf.encoder_score(texts)
        trace = json.loads(Path(clf._session.end_profiling()).read_text())
    spent: Counter[str] = Counter()
    for event in trace:
        if event.get("cat") == "Node" and event["name"].endswith("_kernel_time"):
            spent[event["args"]["op_name"]] += event["dur"]
    total = sum(spent.values())
    return {op: us / total for op, us in spent.most_common() if us / total >= 0.005}


def fastest(run, repeats: int) -> float:
    run()
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        run()
        times.append(time.perf_counter() - start)
    return min(times)


def flops_per_document(torch_config: dict, tokens: float) -> float:
    """Linear layers (4 h^2 attention projections, 2 h f feed-forward) and attention scores
    and mixing (2 L h), two FLOPs per multiply-add, every layer."""
    h, f = torch_config["hidden_size"], torch_config["intermediate_size"]
    per_token = 2 * (4 * h * h + 2 * h * f) + 4 * tokens * h
    return torch_config["num_hidden_layers"] * per_token * tokens


def as_the_pipeline_runs_it(bundle: Path, texts: list[str], flops_at) -> list[dict]:
    """docs/s and share of the int8 limit at the bundle's own max length on one thread (a
    filter task's scorer), for the shipped int8 model (every encoder MatMul int8, the
    down-projections smoothed) and for one with the feed-forward down-projections fp32
    (`curate export --fp32-down-projections`, as bundles before 2026-12; quantised here into a
    copy of the bundle)."""
    import shutil

    from curate.classify import QualityClassifier
    from curate.classify.bundle import sha256_file
    from curate.classify.export import quantize

    peak = int8_gemm_peak(1)
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        copy = Path(tmp) / "bundle"
        shutil.copytree(bundle, copy)
        quantize(copy / "model.onnx", copy / "model.int8.onnx", down_projections=False)
        manifest = json.loads((copy / "classifier.json").read_text())
        manifest["sha256"]["model.int8.onnx"] = sha256_file(copy / "model.int8.onnx")
        (copy / "classifier.json").write_text(json.dumps(manifest))
        for name, folder in (("shipped int8", bundle), ("down-projections fp32", copy)):
            clf = QualityClassifier.load(folder, intra_op_num_threads=1)
            fp32 = QualityClassifier.load(folder, variant="fp32", intra_op_num_threads=1)
            tokens = np.mean([len(e.ids) for e in clf.tokenizer.encode_batch(texts)])
            rate = len(texts) / fastest(lambda c=clf: c.encoder_score(texts), 1)
            delta = np.abs(clf.encoder_score(texts) - fp32.encoder_score(texts)).mean()
            limit = peak / flops_at(tokens)
            rows.append(
                {
                    "variant": name,
                    "tokens": float(tokens),
                    "docs_per_s": rate,
                    "share": rate / limit,
                    "mean_abs_delta_vs_fp32": float(delta),
                }
            )
    return rows


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--bundle", type=Path, default=ROOT / "classifiers/educational_value/bundle")
    ap.add_argument("--docs", type=int, default=200)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--out", default=str(ROOT / "benchmarks" / "results" / "score_ceiling"))
    args = ap.parse_args()
    from curate.classify import QualityClassifier

    texts = load_texts(args.docs)
    rows = {}
    for budget in BUDGETS:
        clf = QualityClassifier.load(
            args.bundle, intra_op_num_threads=args.threads, batch_tokens=budget
        )
        clf.spec = dataclasses.replace(clf.spec, max_length=512)
        rows[budget] = args.docs / fastest(lambda c=clf: c.encoder_score(texts), 2)
    tokens = sum(len(e.ids) for e in clf.tokenizer.encode_batch(texts)) / args.docs
    config = json.loads((args.bundle / "torch" / "config.json").read_text())
    flops = flops_per_document(config, tokens)
    peak = int8_gemm_peak(args.threads)
    limit = peak / flops
    lines = [
        f"int8 scorer vs this CPU's int8 limit: {args.docs} reference nb/nn documents, "
        f"{tokens:.0f} tokens each on average (max 512), {args.threads} threads; "
        f"{flops / 1e9:.1f} GFLOP per document; MatMulInteger peak {peak / 1e9:.0f} GOP/s "
        f"= at most {limit:.0f} docs/s",
        "",
        "| tokens per batch | docs/s | share of the int8 limit |",
        "|---|---|---|",
        *(f"| {b:,} | {r:.1f} | {r / limit:.0%} |" for b, r in rows.items()),
    ]
    shares = time_by_operator(args.bundle, texts, args.threads)
    lines += [
        "",
        "Where the int8 scorer's time goes (onnxruntime's profiler, default budget): "
        "QAttention is int8 only in its QKV projection, its scores, softmax and mixing run in "
        "fp32; a plain MatMul is fp32 (with `--fp32-down-projections`, the feed-forward "
        "down-projections; since 2026-12 they are int8 after SmoothQuant, export.quantize).",
        "",
        "| operator | share of kernel time |",
        "|---|---|",
        *(f"| {op} | {share:.1%} |" for op, share in shares.items()),
    ]
    own = as_the_pipeline_runs_it(args.bundle, texts, lambda t: flops_per_document(config, t))
    lines += [
        "",
        f"As a filter task runs it: the bundle's own max length ({own[0]['tokens']:.0f} tokens "
        "on these documents), one thread, the default token budget; the encoder scores' mean "
        "|Δ| from the fp32 model's:",
        "",
        "| int8 model | docs/s | share of the int8 limit | mean abs. Δ vs fp32 |",
        "|---|---|---|---|",
        *(
            f"| {r['variant']} | {r['docs_per_s']:.1f} | {r['share']:.0%} | "
            f"{r['mean_abs_delta_vs_fp32']:.4f} |"
            for r in own
        ),
    ]
    figures = {"tokens_per_doc": tokens, "gflop_per_doc": flops / 1e9, "peak_gops": peak / 1e9}
    result = {**figures, "docs_per_s": rows, "time_by_operator": shares, "own_length": own}
    write_results(args.out, lines, result)


if __name__ == "__main__":
    main()
