"""`curate report OUTPUT`: an HTML page (PNG plots inlined, opens offline) for a filtering run
written by `curate filter`: documents kept and dropped per step, retention per source and per
language, classifier score histograms with thresholds, each score filter's trade-off curves
(share kept, precision, recall on the bundle's validation split) with the thresholds it applied,
the documents just above and just below each threshold, and samples of kept and dropped text."""

from __future__ import annotations

import base64
import contextlib
import heapq
import html
import io
from collections import Counter, defaultdict
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

from curate.atomic import write_atomic
from curate.classify.bundle import BundleError, read_manifest, task_thresholds  # noqa: E402
from curate.classify.plots import tradeoff_figure  # noqa: E402
from curate.documents import read_documents  # noqa: E402
from curate.pipeline import SpecError  # noqa: E402
from curate.pipeline.clusters import REHYDRATED_COPY  # noqa: E402
from curate.pipeline.layout import SCORE_DROP, RunLayout  # noqa: E402
from curate.tasks import task_names  # noqa: E402


def run_tasks(layout: RunLayout) -> list[str]:
    """Every task the run's bundles carry (run.json names them; a published bundle's task is as
    good as ours), then every registered task, for runs whose bundles have moved."""
    tasks: list[str] = []
    record: dict = {}
    with contextlib.suppress(SpecError):
        record = layout.read_record()
    for bundle in record.get("bundles", {}):
        with contextlib.suppress(BundleError):
            tasks += [t for t in task_thresholds(bundle) if t not in tasks]
    return tasks + [t for t in task_names() if t not in tasks]


def collect(out_dir: Path) -> dict:
    """Where every document ended: 'kept' or the exclusion folder of the step that dropped it."""
    layout = RunLayout(out_dir)
    groups = layout.groups()
    tasks = run_tasks(layout)
    data = {
        "where": Counter(),
        "words_where": Counter(),
        "by_source": defaultdict(Counter),
        "words_by_source": defaultdict(Counter),
        "by_lang": defaultdict(Counter),
        "scores": defaultdict(lambda: defaultdict(list)),
        "thresholds": defaultdict(dict),  # task -> language -> threshold
        "samples": defaultdict(list),
        "copies": 0,  # rehydration's repeats of kept documents, counted apart
        # task -> "above"/"below" -> heap of the documents nearest the threshold
        "boundary": defaultdict(lambda: {"above": [], "below": []}),
    }
    for name, folder in groups.items():
        for doc in read_documents([folder]):
            md = doc.metadata
            if md.get(REHYDRATED_COPY):
                data["copies"] += 1
                continue
            words = len(doc.text.split())
            data["where"][name] += 1
            data["words_where"][name] += words
            source, lang = doc.source or "unknown", md.get("lang_id") or doc.lang or "unknown"
            data["by_source"][source][name == "kept"] += 1
            data["words_by_source"][source][name == "kept"] += words
            data["by_lang"][lang][name == "kept"] += 1
            for task in tasks:
                if task in md:
                    data["scores"][task][lang].append(md[task])
                if f"{task}_threshold" in md:
                    data["thresholds"][task][lang] = md[f"{task}_threshold"]
                    if task in md:
                        near_threshold(data["boundary"][task], doc, md, task, lang)
            reason = md.get("filter_reason", "kept")
            if len(data["samples"][(name, reason)]) < 3:
                data["samples"][(name, reason)].append(sample(doc.text, md.get(SCORE_DROP)))
    return data


BOUNDARY_SAMPLES = 4  # documents shown on each side of a threshold


def near_threshold(sides: dict, doc, md: dict, task: str, lang: str) -> None:
    """Keep the BOUNDARY_SAMPLES documents nearest the threshold on each side (a bounded heap:
    a run of millions keeps a few)."""
    margin = md[task] - md[f"{task}_threshold"]
    side = sides["above" if margin >= 0 else "below"]
    item = (-abs(margin), doc.id, lang, md[task], md[f"{task}_threshold"], doc.text[:400])
    if len(side) < BOUNDARY_SAMPLES:
        heapq.heappush(side, item)
    elif item > side[0]:
        heapq.heapreplace(side, item)


def sample(text: str, score_drop: dict | None) -> str:
    """The start of a document, with its exact score and threshold where a score dropped it."""
    if not score_drop:
        return text[:400]
    d = score_drop
    return f"[{d['task']} {d['score']:.4f} < {d['threshold']:.4f}] {text[:400]}"


def _png(fig) -> str:
    buf = io.BytesIO()
    fig.tight_layout()
    fig.savefig(buf, format="png", dpi=110)
    plt.close(fig)
    return base64.b64encode(buf.getvalue()).decode()


def plots(data: dict) -> list[tuple[str, str]]:
    out = []
    fig, axes = plt.subplots(1, 2, figsize=(10, 3), sharey=True)
    names = list(data["where"])
    colors = ["tab:green"] + ["tab:red"] * (len(names) - 1)
    for ax, key, unit in ((axes[0], "where", "documents"), (axes[1], "words_where", "words")):
        ax.barh(names, [data[key][n] for n in names], color=colors)
        ax.set_xlabel(unit)
    axes[0].set_title("where documents ended")
    out.append(("Kept and dropped per step", _png(fig)))
    for title, key in (
        ("Retention per source (documents)", "by_source"),
        ("Retention per source (words, whitespace-split)", "words_by_source"),
        ("Retention per language", "by_lang"),
    ):
        groups = sorted(data[key], key=lambda g: -sum(data[key][g].values()))
        fig, ax = plt.subplots(figsize=(7, 3))
        kept = [data[key][g][True] for g in groups]
        dropped = [data[key][g][False] for g in groups]
        ax.bar(groups, kept, label="kept", color="tab:green")
        ax.bar(groups, dropped, bottom=kept, label="dropped", color="tab:red")
        for i, (k, d) in enumerate(zip(kept, dropped, strict=True)):
            ax.text(i, k + d, f"{k / (k + d):.0%}", ha="center", va="bottom", fontsize=8)
        ax.legend()
        ax.set_title(title)
        out.append((title, _png(fig)))
    for task, by_lang in data["scores"].items():
        fig, ax = plt.subplots(figsize=(7, 3))
        langs = sorted(by_lang, key=lambda lang: -len(by_lang[lang]))
        ax.hist([by_lang[lang] for lang in langs], bins=30, stacked=True, label=langs)
        for style, (lang, threshold) in zip(
            ("--", ":", "-.", "-"), sorted(data["thresholds"][task].items()), strict=False
        ):
            ax.axvline(threshold, color="black", linestyle=style, label=f"{lang} {threshold:.2f}")
        ax.legend()
        ax.set_xlabel(f"{task} score (documents that reached the scorer)")
        out.append((f"{task} scores", _png(fig)))
    return out


def score_filter_curves(out_dir: Path, data: dict) -> list[tuple[str, str]]:
    """Each score filter's tasks: the bundle's trade-off curves in the spec's calibration domain
    (all domains where it names none), the thresholds the run applied marked on them."""
    out = []
    with contextlib.suppress(SpecError):
        steps = RunLayout(out_dir).read_record().get("steps", [])
        for step in steps:
            params = step.get("score_filter") if isinstance(step, dict) else None
            for bundle in (params or {}).get("bundles", []):
                with contextlib.suppress(BundleError):
                    for spec in read_manifest(bundle).tasks:
                        domain = params.get("domain")
                        curves = spec.curves or {}  # none: a bundle from before them
                        if domain:  # absent: the bundle changed since the run
                            curves = {domain: curves[domain]} if domain in curves else {}
                        if not curves or spec.task not in data["thresholds"]:
                            continue
                        chosen = data["thresholds"][spec.task]
                        fig = tradeoff_figure(curves, None, spec.task, chosen)
                        title = f"{spec.task}: what a threshold keeps (validation; dots: applied)"
                        out.append((title, _png(fig)))
    return out


def boundary_html(data: dict) -> list[str]:
    parts = []
    for task, sides in data["boundary"].items():
        parts.append(f"<h3>{html.escape(task)}: just above and just below the threshold</h3>")
        for side in ("above", "below"):
            for _, doc_id, lang, score, threshold, text in sorted(sides[side], reverse=True):
                verdict = "kept" if side == "above" else "dropped"
                head = f"{verdict}: {doc_id} ({lang}) score {score:.3f}, threshold {threshold:.3f}"
                parts.append(f"<p><b>{html.escape(head)}</b></p><pre>{html.escape(text)}</pre>")
    return parts


def write_report(out_dir: str | Path) -> Path:
    out_dir = Path(out_dir)
    data = collect(out_dir)
    total = sum(data["where"].values())
    parts = [
        f"<h1>Filtering report: {html.escape(str(out_dir))}</h1>",
        f"<p>{total:,} documents; kept {data['where']['kept']:,} "
        f"({data['where']['kept'] / max(total, 1):.1%}).</p>",
    ]
    if data["copies"]:
        parts.append(
            f"<p>Rehydration wrote {data['copies']:,} more copies of kept documents "
            "(by duplicate-cluster size); the figures below count each document once.</p>"
        )
    for title, png in plots(data) + score_filter_curves(out_dir, data):
        parts.append(f"<h2>{html.escape(title)}</h2><img src='data:image/png;base64,{png}'>")
    if data["boundary"]:
        parts.append("<h2>What the thresholds decide</h2>")
        parts += boundary_html(data)
    parts.append("<h2>Samples</h2>")
    for (where, reason), texts in sorted(data["samples"].items()):
        parts.append(f"<h3>{html.escape(where)}: {html.escape(reason)}</h3>")
        parts += [f"<pre>{html.escape(t)}</pre>" for t in texts]
    page = (
        "<!doctype html><meta charset='utf-8'><title>curate report</title><style>"
        "body{font-family:sans-serif;max-width:960px;margin:auto}pre{white-space:pre-wrap;"
        "background:#f4f4f4;padding:6px}</style>" + "\n".join(parts)
    )
    path = RunLayout(out_dir).report
    write_atomic(path, page)
    return path
