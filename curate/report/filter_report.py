"""`curate report OUTPUT`: an HTML page (PNG plots inlined, opens offline) for a filtering run
written by `curate filter`: documents kept and dropped per step, retention per source and per
language, classifier score histograms with thresholds, and samples of kept and dropped text."""

from __future__ import annotations

import base64
import contextlib
import html
import io
from collections import Counter, defaultdict
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

from curate.classify.bundle import BundleError, task_thresholds  # noqa: E402
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
            reason = md.get("filter_reason", "kept")
            if len(data["samples"][(name, reason)]) < 3:
                data["samples"][(name, reason)].append(sample(doc.text, md.get(SCORE_DROP)))
    return data


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
    for title, png in plots(data):
        parts.append(f"<h2>{html.escape(title)}</h2><img src='data:image/png;base64,{png}'>")
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
    tmp = path.with_suffix(".html.tmp")
    tmp.write_text(page, encoding="utf-8")
    tmp.replace(path)
    return path
