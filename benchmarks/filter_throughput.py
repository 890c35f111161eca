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

  (e) the demo spec on the real web sample (../shared/web, every split; credit HPLT), one task
      on one core, three ways in one run: as before this release (`cascade: false`, datatrove's
      word tokenizer), with the shared words alone (decisions must be identical: any difference
      is listed by document), and with the cascade as well (keep/drop agreement with the full
      model, the share of documents reaching each encoder per language, the scorer's share of
      step time).

    python benchmarks/filter_throughput.py [--docs 20000] [--only-spec] [--only-web]
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


def run_spec(spec: dict, folder: Path, env: dict[str, str] | None = None) -> float:
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
            env={**os.environ, **(env or {})},
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
    parser.add_argument("--only-web", action="store_true", help="run (e) alone")
    parser.add_argument("--web", default=None, help="the web sample folder (../shared/web)")
    args = parser.parse_args()
    web_ways(args.web, Path(args.out).with_name("filter_web"))
    if args.only_web:
        return
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


WAYS = {  # name: (environment, quality_scorer settings)
    "before (no cascade, datatrove's words)": ({"CURATE_DATATROVE_WORDS": "1"}, {"cascade": False}),
    "shared words": ({}, {"cascade": False}),
    "shared words + cascade": ({}, {"cascade": True}),
}


def web_ways(web: str | None, out: Path) -> None:
    """(e): the demo spec on the web sample, before and after, side by side."""
    from curate.web import CREDIT, WebMissing, page_text, web_splits

    try:
        pages = [d for split in web_splits(web).values() for d in split]
    except WebMissing as err:
        print(f"(e) skipped: it measures on the real web sample first: {err}")
        return
    work = Path(tempfile.mkdtemp(prefix="curate-filter-web-"))
    try:
        corpus = work / "corpus"
        corpus.mkdir()
        with gzip.open(corpus / "pages.jsonl.gz", "wt", encoding="utf-8") as fh:
            for doc in pages:
                row = {"id": doc.id, "text": page_text(doc), "lang": doc.lang}
                fh.write(json.dumps(row, ensure_ascii=False) + "\n")
        runs = {
            name: web_run(corpus, work / f"run{i}", *way)
            for i, (name, way) in enumerate(WAYS.items())
        }
        report_web(runs, {d.id: d.lang for d in pages}, out, CREDIT)
    finally:
        shutil.rmtree(work, ignore_errors=True)


def web_run(corpus: Path, folder: Path, env: dict, scorer: dict) -> dict:
    """One way: the demo spec, one task, one onnxruntime thread; its time per step, kept ids
    and the scorer's counts."""
    demo = yaml.safe_load((ROOT / "pipelines" / "demo.yaml").read_text())
    demo["input"] = {"path": str(corpus)}
    demo["output"] = {"path": str(folder / "out")}
    demo["executor"] = {"local": {"tasks": 1, "workers": 1}}
    for step in demo["steps"]:
        if "quality_scorer" in step:
            step["quality_scorer"].update(scorer, threads=1)
    folder.mkdir()
    seconds = run_spec(demo, folder, env)
    layout = RunLayout(folder / "out")
    steps, counts = [], {}
    for stage in layout.logs.glob("stage*/stats.json"):
        for s in json.loads(stage.read_text()):
            if s.get("time_stats"):
                steps.append((s["name"], s["time_stats"]["total"]))
            if "quality scorer" in s["name"]:
                counts = {
                    k: v["total"] if isinstance(v, dict) else v for k, v in s["stats"].items()
                }
    kept = set()
    for file in layout.kept.glob("*.jsonl.gz"):
        with gzip.open(file, "rt", encoding="utf-8") as fh:
            kept |= {json.loads(line)["id"] for line in fh}
    return {"seconds": seconds, "steps": steps, "kept": kept, "scorer": counts}


def encoder_shares(counts: dict) -> dict[str, str]:
    """{task: "nb 12% (of 2,900), nn ..."} from the scorer's `<task> <path>: <lang>` counts."""
    out: dict[str, dict[str, list[int]]] = {}
    for key, value in counts.items():
        if ": " not in key or " " not in key.split(": ")[0]:
            continue
        head, lang = key.split(": ", 1)
        task, path = head.rsplit(" ", 1)
        pair = out.setdefault(task, {}).setdefault(lang, [0, 0])
        pair[path == "encoder"] += int(value)
    return {
        task: ", ".join(
            f"{lang} {e / (c + e):.1%} of {c + e:,}" for lang, (c, e) in sorted(langs.items())
        )
        for task, langs in out.items()
    }


def report_web(runs: dict, langs: dict[str, str], out: Path, credit: str) -> None:
    names = list(runs)
    base = runs[names[0]]
    docs = len(langs)
    before_rate = docs / sum(s for _, s in base["steps"])
    lines = [
        f"# The demo spec on the web sample: {docs:,} real pages, one task on one core",
        "",
        "| way | wall s | step s | docs/s per core | vs before | scorer s | scorer share | kept "
        "| of before's kept | same decisions as before |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    result: dict = {"docs": docs, "ways": {}}
    for name, run in runs.items():
        total = sum(s for _, s in run["steps"])
        scorer = sum(s for n, s in run["steps"] if "quality scorer" in n)
        differ = sorted(run["kept"] ^ base["kept"])
        both = len(run["kept"] & base["kept"])
        lines.append(
            f"| {name} | {run['seconds']:.1f} | {total:.1f} | {docs / total:.0f} | "
            f"{docs / total / before_rate:.2f}x | {scorer:.1f} | {scorer / total:.0%} | "
            f"{len(run['kept']):,} | {both / len(base['kept']):.1%} | "
            f"{1 - len(differ) / docs:.2%} ({len(differ)} differ) |"
        )
        result["ways"][name] = {
            "wall_s": run["seconds"],
            "step_s": total,
            "docs_per_s_per_core": docs / total,
            "scorer_s": scorer,
            "kept": len(run["kept"]),
            "kept_by_both": both,
            "differ_from_before": differ,
            "by_language": language_agreement(run["kept"], base["kept"], langs),
            "encoder_share": encoder_shares(run["scorer"]),
            "steps": run["steps"],
        }
    lines += [
        "",
        "Per language (HPLT's label), the last way against the first: same keep/drop decision, "
        "and the share of the first way's kept pages it keeps too:",
        "",
        "| language | pages | same decision | kept before | of them kept |",
        "|---|---|---|---|---|",
    ]
    for lang, row in result["ways"][names[-1]]["by_language"].items():
        lines.append(
            f"| {lang} | {row['pages']:,} | {row['same']:.2%} | {row['kept_before']} | "
            f"{row['kept_both'] / max(row['kept_before'], 1):.1%} |"
        )
    lines += ["", "Documents whose decision differs from the first way's, by way:", ""]
    for name, row in result["ways"].items():
        if row["differ_from_before"]:
            lines.append(f"- {name}: {', '.join(row['differ_from_before'])}")
    lines += ["", "Share of the documents reaching the scorer that its encoder judged:", ""]
    for name, row in result["ways"].items():
        for task, share in row["encoder_share"].items():
            lines.append(f"- {name}, {task}: {share}")
    lines += ["", "Seconds per step, the last way:", "", "| step | seconds |", "|---|---|"]
    lines += [f"| {n} | {s:.2f} |" for n, s in runs[names[-1]]["steps"]]
    lines += ["", credit]
    write_results(out, lines, result)


def language_agreement(kept: set, before: set, langs: dict[str, str]) -> dict[str, dict]:
    out: dict[str, dict] = {}
    for doc_id, lang in langs.items():
        row = out.setdefault(lang, {"pages": 0, "same": 0, "kept_before": 0, "kept_both": 0})
        row["pages"] += 1
        row["same"] += (doc_id in kept) == (doc_id in before)
        row["kept_before"] += doc_id in before
        row["kept_both"] += doc_id in before and doc_id in kept
    for row in out.values():
        row["same"] /= row["pages"]
    return dict(sorted(out.items()))


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
