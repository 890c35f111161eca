"""Corpus hygiene measured on real text first: the `pii`, `url_filter` and `semantic_dedup` steps.

1. pii: precision and recall per kind on the synthetic set (curate.pipeline.pii_testset, a seed
   the patterns were not written against); every change on the reference corpus's real prose
   (../shared/reference) with the share of characters changed; matches per kind on the web
   sample (../shared/web).
2. url_filter: a sample of datatrove's blocklisted domains (all must be dropped) and real
   Norwegian news and public-sector domains (benchmarks/data/norwegian_urls.txt: none may be).
3. semantic_dedup: the near-duplicate set (benchmarks/data/near_duplicates.jsonl: reworded and
   templated copies, written here) mixed into the web sample's test split, through a real
   `curate filter` run (scorer, exact, MinHash, semantic dedup, best copy kept): groups MinHash
   merged, groups semantic dedup merged and whether it kept the best copy, and how many of the
   distinct web test pages it merged (each listed). `--tune` instead prints, for thresholds
   0.80-0.99, the share of web validation pages with a neighbour that close and the share of
   odd-numbered near-duplicate groups joined: the threshold is chosen there, never on the test
   pages or the even groups.
4. Throughput: the demo spec with and without the three steps on the web sample (1 task, URLs
   made up for the pages, which the sample lacks), time per step from datatrove's stats.

  python benchmarks/hygiene.py [--tune] [--skip-throughput]
"""

from __future__ import annotations

import argparse
import gzip
import json
import random
import shutil
import sys
import tarfile
import tempfile
import time
from collections import Counter, defaultdict
from pathlib import Path

import numpy as np
import yaml
from filter_throughput import run_spec  # benchmarks/ is on sys.path when run as a script
from tables import write_results

from curate.documents import read_documents
from curate.pipeline.pii import KINDS, find_pii
from curate.pipeline.pii_testset import evaluate, generate
from curate.reference import load_reference
from curate.web import load_web, page_text, web_splits

ROOT = Path(__file__).resolve().parent.parent
DATA = ROOT / "benchmarks" / "data"
BUNDLES = [
    str(ROOT / "classifiers" / t / "bundle") for t in ("educational_value", "linguistic_quality")
]
TEST_SEED = 2026  # the synthetic PII set the patterns were not written against (they saw 1, 7)


def pii_section() -> tuple[list[str], dict]:
    scores, misses = evaluate(generate(n=2000, seed=TEST_SEED))
    lines = [
        "## Personal data (`pii`)",
        "",
        f"Synthetic set (seed {TEST_SEED}, 2,000 documents, valid and invalid numbers of each "
        "kind among dates, prices, law references, ISBNs, organisation and order numbers):",
        "",
        "| kind | true | found | precision | recall |",
        "|---|---|---|---|---|",
    ]
    for kind, s in scores.items():
        lines.append(
            f"| {kind} | {s['tp'] + s['fn']} | {s['tp'] + s['fp']} | {s['precision']:.1%} | "
            f"{s['recall']:.1%} |"
        )
    lines += ["", *[f"- {m}" for m in misses[:10]]]
    kinds = list(KINDS.values())
    changes, changed, total = [], 0, 0
    for doc in load_reference():
        total += len(doc.text)
        for start, end, kind in find_pii(doc.text, kinds):
            changed += end - start
            context = doc.text[max(0, start - 50) : end + 15].replace("\n", " ")
            changes.append((kind.name, doc.id, context))
    lines += [
        "",
        f"Reference prose ({total:,} characters): {len(changes)} matches, {changed} characters "
        f"replaced ({changed / total:.2e} of the text); each:",
        "",
        *[f"- {kind}, `{doc}`: …{context}…" for kind, doc, context in changes],
    ]
    web = Counter()
    pages = load_web()
    for doc in pages:
        web.update(kind.name for _, _, kind in find_pii(page_text(doc), kinds))
    lines += [
        "",
        f"Web sample ({len(pages):,} pages): matches per kind "
        + ", ".join(f"{k} {n}" for k, n in web.most_common()),
    ]
    data = {"synthetic": scores, "reference_changed_share": changed / total, "web": dict(web)}
    data["reference_changes"] = changes
    return lines, data


def url_section() -> tuple[list[str], dict]:
    from datatrove.data import Document as DTDocument
    from datatrove.utils._import_utils import ASSETS_PATH

    from curate.pipeline.url_filter import NordicURLFilter

    with tarfile.open(Path(ASSETS_PATH) / "url_filterblacklistsv0_3_0.tar.gz") as tar:
        member = next(m for m in tar.getmembers() if m.name.endswith("domains"))
        domains = [d.strip() for d in tar.extractfile(member).read().decode().splitlines()]
    sample = random.Random(1).sample([d for d in domains if d and d[0] != "#"], 2000)
    news = [u.strip() for u in (DATA / "norwegian_urls.txt").read_text().splitlines()]
    news = [u for u in news if u.startswith("http")]
    url_filter = NordicURLFilter()
    start = time.perf_counter()
    url_filter.download_data()  # once per task: datatrove's 4.5 M listed domains into a set
    loading = time.perf_counter() - start

    def dropped(url: str) -> bool:
        return url_filter.filter(DTDocument(text="", id="x", metadata={"url": url})) is not True

    start = time.perf_counter()
    blocked = sum(dropped(f"https://{d}/") for d in sample)
    lost = [u for u in news if dropped(u)]
    per_url = (time.perf_counter() - start) / (len(sample) + len(news))
    lines = [
        "## URLs (`url_filter`)",
        "",
        f"- datatrove's blocklisted domains, a random 2,000 of {len(domains):,}: "
        f"{blocked:,} dropped ({blocked / len(sample):.1%})",
        f"- real Norwegian news and public-sector pages (paths on casinos, escort, pornography, "
        f"sex crimes): {len(news) - len(lost)} of {len(news)} kept"
        + (f"; dropped: {lost}" if lost else ""),
        f"- cost: {loading:.1f} s to load the lists once per task, then {1 / per_url:,.0f} "
        "URLs/s on one core",
    ]
    data = {"blocklist_dropped": blocked / len(sample), "news_dropped": lost}
    return lines, {**data, "load_s": loading, "urls_per_s": 1 / per_url}


def near_duplicates() -> list[dict]:
    return [json.loads(line) for line in (DATA / "near_duplicates.jsonl").read_text().splitlines()]


def write_jsonl(path: Path, rows: list[dict]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with gzip.open(path, "wt", encoding="utf-8") as out:
        for row in rows:
            out.write(json.dumps(row, ensure_ascii=False) + "\n")


def dedup_spec(corpus: Path, out: Path, threshold: float) -> dict:
    return {
        "name": "hygiene-dedup",
        "input": {"path": str(corpus)},
        "steps": [
            {"quality_scorer": {"bundles": BUNDLES, "embeddings": True}},
            {"exact_dedup": {"keep": "best_score"}},
            {"minhash_dedup": {"language": "nb", "keep": "best_score"}},
            {"semantic_dedup": {"threshold": threshold, "keep": "best_score"}},
        ],
        "output": {"path": str(out)},
        "executor": {"local": {"tasks": 2, "workers": 2}},
    }


def semantic_section(work: Path, threshold: float) -> tuple[list[str], dict]:
    groups = near_duplicates()
    test_pages = [d for d in web_splits()["test"]]
    rows = [
        {"id": f"{g['group']}#{g['version']}", "text": g["text"], "lang": g["lang"]} for g in groups
    ]
    rows += [{"id": d.id, "text": page_text(d), "lang": d.lang} for d in test_pages]
    write_jsonl(work / "dedup_in" / "docs.jsonl.gz", rows)
    run_spec(dedup_spec(work / "dedup_in", work / "dedup", threshold), work)
    out = work / "dedup"
    kept = {d.id: d for d in read_documents([out / "kept"])}
    removed = {
        step: {d.id: d for d in read_documents([out / "excluded" / step])}
        if (out / "excluded" / step).exists()
        else {}
        for step in ("02_exact_dedup", "03_minhash_dedup", "04_semantic_dedup")
    }
    everything = {**kept, **{i: d for r in removed.values() for i, d in r.items()}}
    score = lambda d: np.mean([d.metadata[t] for t in ("educational_value", "linguistic_quality")])  # noqa: E731
    members = defaultdict(list)
    for g in groups:
        members[(g["group"], g["kind"])].append(f"{g['group']}#{g['version']}")
    table = {}
    for (group, kind), ids in members.items():
        by_minhash = any(i in removed["03_minhash_dedup"] for i in ids)
        left = [i for i in ids if i in kept]
        semantic = [i for i in ids if i in removed["04_semantic_dedup"]]
        best = max(ids, key=lambda i: score(everything[i]))
        row = table.setdefault(kind, Counter())
        row["groups"] += 1
        row["minhash"] += by_minhash
        row["merged"] += len(left) == 1 and bool(semantic)
        row["best_kept"] += len(left) == 1 and bool(semantic) and left[0] == best
        row["half_" + ("odd" if int(group.split("-")[1]) % 2 else "even")] += len(
            left
        ) == 1 and bool(semantic)
    web_ids = {d.id for d in test_pages}
    reached = [i for i in web_ids if i not in removed["02_exact_dedup"]]
    reached = [i for i in reached if i not in removed["03_minhash_dedup"]]
    merged_web = [everything[i] for i in reached if i in removed["04_semantic_dedup"]]
    lines = [
        "## Semantic near-duplicates (`semantic_dedup`)",
        "",
        f"A real `curate filter` run (scorer with embeddings, exact, MinHash, semantic dedup at "
        f"cosine {threshold}, `keep: best_score`) over the near-duplicate set (written here) "
        f"and the web sample's test split ({len(test_pages):,} pages, every language):",
        "",
        "| groups | n | merged by MinHash | merged by semantic dedup | best copy kept |",
        "|---|---|---|---|---|",
    ]
    for kind, row in sorted(table.items()):
        lines.append(
            f"| {kind} | {row['groups']} | {row['minhash']} | {row['merged']} "
            f"({row['merged'] / row['groups']:.0%}; odd groups, tuned on: {row['half_odd']}, "
            f"even: {row['half_even']}) | {row['best_kept']} |"
        )
    lines += [
        "",
        f"Distinct web test pages (after exact and MinHash dedup): {len(reached):,}; merged by "
        f"semantic dedup: {len(merged_web)} ({len(merged_web) / max(len(reached), 1):.2%}):",
        "",
    ]
    survivors = {d.metadata.get("cluster_id"): d for d in kept.values()}
    for doc in merged_web:
        survivor = survivors.get(f"04_semantic_dedup-{doc.metadata.get('minhash_cluster_id')}")
        lines.append(f"- `{doc.id}`: {page_text_of(doc)[:200]!r}")
        if survivor is not None:
            lines.append(f"  kept `{survivor.id}`: {page_text_of(survivor)[:200]!r}")
    data = {
        "threshold": threshold,
        "groups": {k: dict(v) for k, v in table.items()},
        "web_reached": len(reached),
        "web_merged": [d.id for d in merged_web],
    }
    return lines, data


def page_text_of(doc) -> str:
    return " ".join(doc.text.split())


def tune(false_share: float = 0.005) -> float:
    """The threshold at which `false_share` of the web validation pages have a neighbour at
    least that close (no near-duplicate group is used to choose it), and the table around it
    with the share of odd-numbered near-duplicate groups joined."""
    from curate.classify import QualityClassifier

    clf = QualityClassifier.load(BUNDLES[0])
    validation = [page_text(d) for d in web_splits()["validation"]]
    groups = [g for g in near_duplicates() if int(g["group"].split("-")[1]) % 2]
    pages = clf.text_vectors(validation)
    dups = clf.text_vectors([g["text"] for g in groups])
    sims = pages @ pages.T
    np.fill_diagonal(sims, -1)
    nearest = sims.max(axis=1)
    chosen = float(np.quantile(nearest, 1 - false_share))
    by_group = defaultdict(list)
    for g, v in zip(groups, dups, strict=True):
        by_group[(g["group"], g["kind"])].append(v)
    total = Counter(kind for _, kind in by_group)
    print(f"{len(validation)} validation pages; odd groups: {dict(total)}")
    print("threshold | validation pages with a neighbour >= t | odd groups joined (rw / tp)")
    for t in sorted({0.90, 0.93, 0.95, 0.96, 0.97, 0.98, round(chosen, 4)}):
        joined = Counter()
        for (_, kind), vectors in by_group.items():
            m = np.stack(vectors)
            joined[kind] += bool(((m @ m.T)[np.triu_indices(len(m), 1)] >= t).all())
        print(
            f"{t:.4f} | {(nearest >= t).mean():.2%} | "
            f"{joined['reworded']}/{total['reworded']} / {joined['templated']}/{total['templated']}"
        )
    print(f"chosen: {chosen:.4f} ({false_share:.1%} of validation pages have a neighbour)")
    return chosen


def demo_spec(corpus: Path, out: Path, hygiene: bool) -> dict:
    spec = yaml.safe_load((ROOT / "pipelines" / "demo.yaml").read_text())
    if not hygiene:
        spec["steps"] = [
            s for s in spec["steps"] if next(iter(s)) not in ("url_filter", "pii", "semantic_dedup")
        ]
        for step in spec["steps"]:
            if "quality_scorer" in step:
                step["quality_scorer"]["embeddings"] = False
    spec["input"] = {"path": str(corpus)}
    spec["output"] = {"path": str(out)}
    spec["executor"] = {"local": {"tasks": 1, "workers": 1}}
    return spec


def step_times(out: Path) -> Counter:
    times = Counter()
    for stats in (out / "logs").glob("stage*/stats.json"):
        for step in json.loads(stats.read_text()):
            if step.get("time_stats"):
                times[step["name"]] += step["time_stats"]["total"]
    return times


def throughput_section(work: Path) -> tuple[list[str], dict]:
    pages = load_web()
    rows = [
        {"id": d.id, "text": page_text(d), "lang": d.lang, "url": f"https://side{i}.example.no/a"}
        for i, d in enumerate(pages)
    ]
    write_jsonl(work / "web_in" / "pages.jsonl.gz", rows)
    runs = {}
    for hygiene in (False, True):
        out = work / f"demo_{hygiene}"
        seconds = run_spec(demo_spec(work / "web_in", out, hygiene), work)
        runs[hygiene] = (seconds, step_times(out))
    (before, before_steps), (after, after_steps) = runs[False], runs[True]
    total_before, total_after = sum(before_steps.values()), sum(after_steps.values())
    lines = [
        "## Cost (1 task, 1 core)",
        "",
        f"The demo spec on the web sample ({len(pages):,} pages, half of them nb or nn by HPLT): "
        f"{before:.0f} s without the three steps, {after:.0f} s with them (wall time, stage "
        f"start-up included: semantic dedup adds three datatrove stages). Step time (datatrove "
        f"stats, summed over stages): {total_before:.1f} s without, {total_after:.1f} s with "
        f"({total_after / total_before - 1:+.1%}); the scorer's time includes the text vectors:",
        "",
        "| step | seconds without | seconds with | share of step time (with) | ms per input page |",
        "|---|---|---|---|---|",
    ]
    for name, seconds in after_steps.most_common():
        lines.append(
            f"| {name} | {before_steps.get(name, 0):.2f} | {seconds:.2f} | "
            f"{seconds / total_after:.1%} | {1000 * seconds / len(pages):.3f} |"
        )
    data = {"before_s": before, "after_s": after, "steps": dict(after_steps)}
    data["steps_before"] = dict(before_steps)
    return lines, data


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--tune", action="store_true", help="print the threshold table only")
    parser.add_argument("--threshold", type=float, default=None)
    parser.add_argument("--skip-throughput", action="store_true")
    parser.add_argument("--out", default=str(ROOT / "benchmarks" / "results" / "hygiene"))
    args = parser.parse_args()
    from curate.reference import ReferenceMissing, reference_dir
    from curate.web import WebMissing, web_dir

    try:
        reference_dir(), web_dir()
    except (ReferenceMissing, WebMissing) as err:
        sys.exit(f"hygiene benchmark skipped (it measures on real text first): {err}")
    if args.tune:
        tune()
        return
    spec = yaml.safe_load((ROOT / "pipelines" / "demo.yaml").read_text())
    semantic = next(s["semantic_dedup"] for s in spec["steps"] if "semantic_dedup" in s)
    threshold = args.threshold or semantic["threshold"]
    work = Path(tempfile.mkdtemp(prefix="curate-hygiene-"))
    try:
        lines, data = ["# Corpus hygiene: personal data, URLs, semantic duplicates", ""], {}
        for name, section in [
            ("pii", pii_section),
            ("url", url_section),
            ("semantic", lambda: semantic_section(work, threshold)),
            *([] if args.skip_throughput else [("cost", lambda: throughput_section(work))]),
        ]:
            part, data[name] = section()
            lines += [*part, ""]
        write_results(args.out, lines, data)
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
