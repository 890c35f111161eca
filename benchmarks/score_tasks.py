"""Both tasks' scores: two single-task bundles (two encoder passes) against one bundle with a
head per task (one pass), on the same real documents in the same run: the reference test
split's nb/nn documents cycled to --docs, int8, each bundle at its own max length, 2 threads.
The fastest of --repeats runs per variant, taken in turns, after a warm-up.

    python benchmarks/score_tasks.py --joint classifiers/joint/bundle \
        [--bundle classifiers/educational_value/bundle --bundle ...]

Quality of the same bundles: benchmarks/quality.py --bundle ... (AUC per damage family, hand
labels).
"""

from __future__ import annotations

import argparse
import math
import os
import platform
import time
from pathlib import Path

from score_throughput import load_texts  # benchmarks/ is on sys.path when run as a script
from tables import write_results

ROOT = Path(__file__).resolve().parent.parent
SEPARATE = [
    ROOT / "classifiers" / "educational_value" / "bundle",
    ROOT / "classifiers" / "linguistic_quality" / "bundle",
]


def fastest(variants: dict, texts: list[str], repeats: int) -> dict[str, float]:
    """The fastest of `repeats` runs of each variant, taken in turns (A B A B ...) so that a
    slow spell of the machine falls on both."""
    for score in variants.values():
        score(texts[:32])  # sessions, tokenizer and side models load outside the timing
    best = dict.fromkeys(variants, math.inf)
    for _ in range(repeats):
        for name, score in variants.items():
            start = time.perf_counter()
            score(texts)
            best[name] = min(best[name], time.perf_counter() - start)
    return best


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--joint", type=Path, default=ROOT / "classifiers" / "joint" / "bundle")
    ap.add_argument("--bundle", action="append", type=Path, help="single-task bundles")
    ap.add_argument("--docs", type=int, default=400)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--out", default=str(ROOT / "benchmarks" / "results" / "score_tasks"))
    args = ap.parse_args()
    from curate.classify import QualityClassifier

    texts = load_texts(args.docs)
    separate = [
        QualityClassifier.load(b, intra_op_num_threads=args.threads)
        for b in args.bundle or SEPARATE
    ]
    joint = QualityClassifier.load(args.joint, intra_op_num_threads=args.threads)
    rows = fastest(
        {
            f"{len(separate)} bundles ({', '.join(c.task for c in separate)})": lambda t: [
                c.score(t) for c in separate
            ],
            f"1 bundle, a head per task ({', '.join(joint.tasks)})": joint.scores,
        },
        texts,
        args.repeats,
    )
    base = next(iter(rows.values()))
    lines = [
        f"Both tasks' scores: {args.docs} reference nb/nn documents, int8, max length "
        f"{joint.max_length}, {args.threads} threads; {platform.machine()}, {os.cpu_count()} "
        "cores",
        "",
        "| variant | docs/s (all tasks) | × two bundles |",
        "|---|---|---|",
    ]
    lines += [f"| {name} | {args.docs / s:.1f} | {base / s:.2f} |" for name, s in rows.items()]
    figures = {name: {"seconds": s, "docs_per_s": args.docs / s} for name, s in rows.items()}
    write_results(args.out, lines, {"docs": args.docs, "rows": figures})


if __name__ == "__main__":
    main()
