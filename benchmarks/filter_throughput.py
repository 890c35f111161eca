"""Filtering throughput on the demo corpus repeated to N documents (ids made unique, text
unchanged), in one run:

  (a) the classifiers alone: QualityClassifier.score over every text, in this process;
  (b) a scorer-dominated datatrove pipeline (reader -> quality_scorer -> score_filter -> writer),
      1 task / 1 worker, same bundles and threads: the ratio b/a is the pipeline's overhead;
  (c) the same pipeline, 2 tasks / 2 workers with 1 onnxruntime thread each (1 -> 2 scaling);
  (d) the full demo spec (encoding repair, language, heuristics, scorer, exact + MinHash dedup
      keeping the best-scored copy, thresholds, rehydration) with per-step time from
      datatrove's merged stats: how many times each step ran, and the whole run's step time
      against one pass of every step (the reader, each step once and the final writer; the
      difference is the writing and reading back of what reaches each dedup). The repeats are
      duplicates, so dedup removes most of them.

    python benchmarks/filter_throughput.py [--docs 20000] [--only-spec]
"""

from __future__ import annotations

import argparse
import gzip
import json
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import yaml
from tables import write_results  # benchmarks/ is on sys.path when run as a script

from curate.pipeline.layout import RunLayout

ROOT = Path(__file__).resolve().parent.parent
BUNDLES = [
    str(ROOT / "classifiers" / t / "bundle") for t in ("educational_value", "linguistic_quality")
]


def build_corpus(folder: Path, n: int, shards: int = 8) -> list[str]:
    """`shards` files: datatrove hands whole files to tasks, so one file would idle a worker."""
    from curate.documents import read_documents

    docs = list(read_documents([ROOT / "data" / "demo"]))
    folder.mkdir(parents=True)
    texts = []
    outs = [gzip.open(folder / f"{k:02d}.jsonl.gz", "wt", encoding="utf-8") for k in range(shards)]
    for i in range(n):
        doc = docs[i % len(docs)]
        row = {"id": f"{doc.id}#{i // len(docs)}", "text": doc.text, "lang": doc.lang}
        outs[i * shards // n].write(json.dumps(row, ensure_ascii=False) + "\n")
        texts.append(doc.text)
    for out in outs:
        out.close()
    return texts


def scorer_alone(texts: list[str], threads: int) -> float:
    from curate.classify import QualityClassifier

    start = time.perf_counter()  # loading included, as in the pipeline runs
    classifiers = [QualityClassifier.load(b, intra_op_num_threads=threads) for b in BUNDLES]
    for clf in classifiers:
        clf.score(texts)
    return time.perf_counter() - start


def run_spec(spec: dict, folder: Path) -> float:
    path = folder / "spec.yaml"
    path.write_text(yaml.safe_dump(spec))
    start = time.perf_counter()
    with (folder / "run.log").open("w") as log:
        subprocess.run(
            [sys.executable, "-m", "curate.cli", "filter", str(path)],
            check=True,
            cwd=ROOT,
            stdout=log,
            stderr=log,
        )
    return time.perf_counter() - start


def scorer_spec(corpus: Path, out: Path, tasks: int, threads: int) -> dict:
    return {
        "name": "bench",
        "input": {"path": str(corpus)},
        "steps": [
            {"quality_scorer": {"bundles": BUNDLES, "batch_size": 256, "threads": threads}},
            {"score_filter": {"bundles": BUNDLES}},
        ],
        "output": {"path": str(out)},
        "executor": {"local": {"tasks": tasks, "workers": tasks}},
    }


def step_seconds(stats_path: Path) -> list[tuple[str, float]]:
    stats = json.loads(stats_path.read_text())
    return [(s["name"], s["time_stats"]["total"]) for s in stats if s.get("time_stats")]


def step_passes(steps: list[tuple[str, str, float]]) -> dict:
    """Per step: the stages it ran in and its seconds; the run's total against one pass of
    every step (the reader, each step once, the final writer; no intermediate I/O)."""
    by_step: dict[str, dict] = {}
    for stage, name, seconds in steps:
        row = by_step.setdefault(name, {"step": name, "runs": 0, "seconds": 0.0, "stages": []})
        row["runs"] += 1
        row["seconds"] += seconds
        row["stages"].append(stage)
    total = sum(s for _, _, s in steps)
    last = steps[-1][0]

    def one_pass(stage: str, name: str) -> bool:
        if "WRITER" in name:
            return stage == last  # the output, not what reaches a dedup
        return "READER: 🐿 Jsonl" not in name  # same-named steps in a stage are different steps

    once = sum(s for stage, name, s in steps if one_pass(stage, name))
    return {"rows": list(by_step.values()), "total": total, "one_pass": once}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--docs", type=int, default=20000)
    parser.add_argument("--out", default=str(ROOT / "benchmarks" / "results" / "filter"))
    parser.add_argument("--only-spec", action="store_true", help="run (d) alone")
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="curate-filter-bench-"))
    try:
        corpus = work / "corpus"
        texts = build_corpus(corpus, args.docs)
        cores = os.cpu_count() or 1
        rows = []
        seconds_a = None
        if not args.only_spec:
            seconds_a = scorer_alone(texts, threads=cores)
            rows.append(("(a) classifiers alone, in-process", 1, seconds_a))
            (work / "b").mkdir()
            seconds_b = run_spec(scorer_spec(corpus, work / "b" / "out", 1, cores), work / "b")
            rows.append(("(b) scorer pipeline, 1 worker", 1, seconds_b))
            (work / "c").mkdir()
            seconds_c = run_spec(scorer_spec(corpus, work / "c" / "out", 2, 1), work / "c")
            rows.append(("(c) scorer pipeline, 2 workers x 1 thread", 2, seconds_c))
        demo = yaml.safe_load((ROOT / "pipelines" / "demo.yaml").read_text())
        demo["input"] = {"path": str(corpus)}
        demo["output"] = {"path": str(work / "d" / "out")}
        demo["executor"] = {"local": {"tasks": 2, "workers": 2}}
        (work / "d").mkdir()
        seconds_d = run_spec(demo, work / "d")
        rows.append(("(d) full demo spec, 2 workers", 2, seconds_d))
        steps = []
        stages = RunLayout(Path(demo["output"]["path"])).logs.glob("stage*/stats.json")
        for stage in sorted(stages, key=lambda p: int(p.parent.name.removeprefix("stage"))):
            steps += [(stage.parent.name, *s) for s in step_seconds(stage)]
        result = {
            "docs": args.docs,
            "machine": f"{platform.machine()}, {cores} cores",
            "rows": [
                {
                    "variant": v,
                    "workers": w,
                    "seconds": s,
                    "docs_per_s": args.docs / s,
                    "ratio_to_a": seconds_a / s if seconds_a else None,
                }
                for v, w, s in rows
            ],
            "demo_steps": step_passes(steps),
        }
        report(result, Path(args.out))
    finally:
        shutil.rmtree(work, ignore_errors=True)


def report(result: dict, out: Path) -> None:
    """(a)-(d) into `out` (unless only (d) ran), the demo spec's steps into `out`_steps."""
    if len(result["rows"]) > 1:
        lines = [
            f"# Filtering throughput: {result['docs']:,} documents ({result['machine']})",
            "",
            "| variant | workers | seconds | docs/s | vs (a) |",
            "|---|---|---|---|---|",
        ]
        for r in result["rows"]:
            lines.append(
                f"| {r['variant']} | {r['workers']} | {r['seconds']:.1f} | "
                f"{r['docs_per_s']:.0f} | {r['ratio_to_a']:.0%} |"
            )
        write_results(out, lines, {k: v for k, v in result.items() if k != "demo_steps"})
    passes, (spec_run,) = result["demo_steps"], result["rows"][-1:]
    lines = [
        f"# The demo spec on {result['docs']:,} documents ({result['machine']}): "
        f"{spec_run['seconds']:.1f} s, {spec_run['docs_per_s']:.0f} docs/s, 2 workers",
        "",
        "Time per step summed over tasks (datatrove stats); `runs` counts the stages a step ran "
        "in (the JSONL reader and writer are the documents that reach a dedup, written once "
        "and read by the stages after it):",
        "",
        "| step | runs | stages | seconds |",
        "|---|---|---|---|",
    ]
    lines += [
        f"| {r['step']} | {r['runs']} | {', '.join(r['stages'])} | {r['seconds']:.2f} |"
        for r in passes["rows"]
    ]
    lines += [
        "",
        f"All steps of all stages: {passes['total']:.1f} s; one pass of every step (reader, "
        f"each step once, the output writer): {passes['one_pass']:.1f} s; ratio "
        f"**{passes['total'] / passes['one_pass']:.3f}** (goal <= 1.15).",
    ]
    write_results(out.with_name(out.name + "_steps"), lines, {**result, "rows": [spec_run]})


if __name__ == "__main__":
    main()
