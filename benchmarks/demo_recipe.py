"""The classifiers `make demo` trains (RECIPE=quick) against those of `make train` (the full
recipe): every judgement figure of `benchmarks/quality.py` side by side, from two of its result
files. Writes benchmarks/results/demo_recipe.{md,json}.

    # in a checkout whose classifiers/ hold the quick bundles (after `make demo`):
    python benchmarks/quality.py --out /tmp/quick/quality
    # here, whose benchmarks/results/quality.json is the full recipe's:
    python benchmarks/demo_recipe.py --quick /tmp/quick/quality.json [--full FILE]

This release's quick result file is kept as benchmarks/results/quality_demo_recipe.json, and
that of the quick recipe trained with another seed (`--set training.seed=43` on both tasks) as
quality_demo_recipe_seed43.json: `--other-seed` puts the spread training alone gives beside each
group's difference, the floor any recipe's figures sit on.

A figure is a share, an AUC, an F1, a Spearman or an MSE of quality.json (reference test split
and web test split, classifiers and specs); thresholds, mean scores, counts, throughput and line
cleaning are left out (none is a classifier's judgement). The goal (#36): every figure within
0.02 of the full recipe's.
"""

from __future__ import annotations

import argparse
import json
import math
from pathlib import Path

RESULTS = Path(__file__).resolve().parent / "results"
NOT_JUDGEMENT = {"n", "mean_score", "thresholds", "spec_thresholds", "throughput", "scale",
                 "threshold", "support", "documents", "docs_per_s", "seconds",
                 "cleaning"}  # fmt: skip
TOLERANCE = 0.02


def figures(node, path: tuple[str, ...] = ()):
    """(path, value) of every numeric judgement figure in a quality.json tree."""
    if isinstance(node, dict):
        for key, value in node.items():
            if str(key) not in NOT_JUDGEMENT:
                yield from figures(value, (*path, str(key)))
    elif isinstance(node, int | float) and not isinstance(node, bool) and math.isfinite(node):
        yield path, float(node)


def group_of(path: tuple[str, ...]) -> str:
    """Where a figure sits: section / classifier or spec / measure."""
    if path[0] == "web":
        return " / ".join(path[:3] + ((path[3],) if len(path) > 3 else ()))
    return " / ".join(path[:3])


def compare(full: dict, quick: dict) -> dict:
    a, b = dict(figures(full)), dict(figures(quick))
    common = sorted(set(a) & set(b))
    groups: dict[str, list[float]] = {}
    for path in common:
        groups.setdefault(group_of(path), []).append(b[path] - a[path])
    worst = sorted(common, key=lambda p: -abs(b[p] - a[p]))[:25]
    return {
        "figures": len(common),
        "within": sum(abs(b[p] - a[p]) <= TOLERANCE for p in common),
        "groups": {
            g: {
                "n": len(d),
                "max_abs": max(map(abs, d)),
                "over": sum(abs(x) > TOLERANCE for x in d),
            }
            for g, d in groups.items()
        },
        "largest": [{"figure": "/".join(p), "full": a[p], "quick": b[p]} for p in worst],
    }


def markdown(result: dict) -> list[str]:
    spread = result.get("seed_spread")
    lines = [
        f"{result['within']} of {result['figures']} judgement figures of `benchmarks/quality.py` "
        f"within {TOLERANCE} of the full recipe's (#36's goal: all of them)."
    ]
    if spread:
        beyond = [g for g, s in result["groups"].items() if s["max_abs"] > seed_max(spread, g)]
        lines += [
            "",
            f"Two seeds of the quick recipe (42 and 43): {spread['within']} of "
            f"{spread['figures']} figures within {TOLERANCE} of each other. Groups whose largest "
            f"difference from the full recipe exceeds the seeds' own: {len(beyond)} of "
            f"{len(result['groups'])}.",
        ]
    lines += ["", "| where | figures | largest abs. difference | over 0.02 |"]
    lines[-1] += " seed to seed: largest | over 0.02 |" if spread else ""
    lines.append("|---|---|---|---|" + ("---|---|" if spread else ""))
    for g, s in result["groups"].items():
        row = f"| {g} | {s['n']} | {s['max_abs']:.3f} | {s['over']} |"
        if spread:
            other = spread["groups"].get(g, {"max_abs": float("nan"), "over": "—"})
            row += f" {other['max_abs']:.3f} | {other['over']} |"
        lines.append(row)
    lines += ["", "Largest differences:", "", "| figure | full | quick | Δ |", "|---|---|---|---|"]
    for r in result["largest"]:
        delta = r["quick"] - r["full"]
        lines.append(f"| {r['figure']} | {r['full']:.3f} | {r['quick']:.3f} | {delta:+.3f} |")
    return lines


def seed_max(spread: dict, group: str) -> float:
    return spread["groups"].get(group, {"max_abs": 0.0})["max_abs"]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--quick", type=Path, required=True, help="quality.json of the quick bundles"
    )
    parser.add_argument("--full", type=Path, default=RESULTS / "quality.json")
    parser.add_argument(
        "--other-seed", type=Path, help="quality.json of quick bundles trained with another seed"
    )
    parser.add_argument("--out", type=Path, default=RESULTS / "demo_recipe")
    args = parser.parse_args()
    quick = json.loads(args.quick.read_text())
    result = compare(json.loads(args.full.read_text()), quick)
    if args.other_seed:
        result["seed_spread"] = compare(quick, json.loads(args.other_seed.read_text()))
    lines = markdown(result)
    args.out.with_suffix(".json").write_text(json.dumps(result, indent=2) + "\n")
    args.out.with_suffix(".md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
