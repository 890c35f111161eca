"""An ablation's results: results.json, table.md (data per variant, final scores with seed spread,
signal checks, differences from the baseline said to be beyond noise or not), a learning-curve
plot per task under curves/, and report.html with all of them."""

from __future__ import annotations

import base64
import html
import json
import re
import statistics
from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

from curate.ablate.layout import AblationLayout, read_evals  # noqa: E402
from curate.ablate.signal import (  # noqa: E402
    Runs,
    TaskSignal,
    differences,
    higher_is_better,
    task_signal,
)
from curate.ablate.tasks import TaskSet  # noqa: E402
from curate.atomic import write_atomic  # noqa: E402

Table = tuple[list[str], list[list[str]]]  # header, rows


def collect_runs(config, layout: AblationLayout, outcomes) -> Runs:
    """variant -> seed -> scored checkpoints, for the runs that reached the last step."""
    runs: Runs = {}
    for outcome in outcomes:
        if outcome.failed:
            continue
        seeds = {}
        for seed in config.seeds:
            rows = sorted(read_evals(layout.evals(outcome.name, seed)), key=lambda r: r["step"])
            if rows and rows[-1]["step"] == config.steps:
                seeds[seed] = rows
        if seeds:
            runs[outcome.name] = seeds
    return runs


def chance_levels(tasks: TaskSet, vocab_size: int) -> dict[str, tuple[float | None, int | None]]:
    """task -> (chance level, items)."""
    found: dict[str, tuple[float | None, int | None]] = {}
    for domain in tasks.perplexity:
        found[f"ppl/{domain}"] = (float(vocab_size), None)
    for name, items in tasks.pairs.items():
        found[f"pairs/{name}"] = (0.5, len(items))
    for name in tasks.config.lm_eval:
        chance = tasks.config.lm_eval_chance.get(name)
        found[f"lm_eval/{name}"] = (chance, tasks.config.lm_eval_limit)
    return found


def sample_cell(sample: dict) -> str:
    if sample["with_replacement"]:
        return f"with replacement: each token x{sample['repeats']:.1f} on average"
    return f"without replacement ({sample['repeats']:.0%} of its tokens)"


def data_table(config, outcomes) -> Table:
    header = ["variant", "documents", "their tokens", "trained tokens", "sample (seed 0)", "status"]
    rows = []
    for o in outcomes:
        first = o.samples[min(o.samples)] if o.samples else None
        status = f"failed at {o.failed['step']}: {o.failed['error']}" if o.failed else "done"
        rows.append(
            [
                o.name,
                f"{first['documents']:,}" if first else "-",
                f"{first['tokens']:,}" if first else "-",
                f"{config.trained_tokens:,}" if not o.failed else "-",
                sample_cell(first) if first else "-",
                status[:160],
            ]
        )
    return header, rows


def fmt(value: float) -> str:
    return f"{value:.3f}" if abs(value) < 10 else f"{value:.1f}"


def score_table(runs: Runs, signals: dict[str, TaskSignal]) -> Table:
    variants = list(runs)
    header = ["task", "better", *variants, "signal"]
    rows = []
    for task, sig in signals.items():
        cells = []
        for variant in variants:
            values = [rows_[-1]["scores"][task] for rows_ in runs[variant].values()]
            spread = f" ± {fmt(statistics.stdev(values))}" if len(values) > 1 else ""
            cells.append(fmt(statistics.fmean(values)) + spread)
        better = "higher" if higher_is_better(task) else "lower"
        rows.append([task, better, *cells, "yes" if sig.signal else "NO: " + ", ".join(sig.flags)])
    return header, rows


def signal_table(signals: dict[str, TaskSignal]) -> Table:
    header = ["task", "chance", "above chance", "monotonic (rho)", "seed spread",
              "variant spread", "variant/seed", "ranking (tau)"]  # fmt: skip
    rows = []
    for task, s in signals.items():
        rows.append(
            [
                task,
                "-" if s.chance is None else fmt(s.chance),
                {True: "yes", False: "no", None: "-"}[s.above_chance],
                "-" if s.monotonicity is None else f"{s.monotonicity:.2f}",
                "-" if s.seed_spread is None else fmt(s.seed_spread),
                "-" if s.variant_spread is None else fmt(s.variant_spread),
                "-" if s.ratio is None else f"{s.ratio:.1f}",
                "-" if s.ranking is None else f"{s.ranking:.2f}",
            ]
        )
    return header, rows


def difference_table(runs: Runs, signals: dict[str, TaskSignal], baseline: str) -> Table:
    others = [v for v in runs if v != baseline]
    header = ["task", *[f"{v} vs {baseline}" for v in others]]
    rows = []
    for task in signals:
        found = {d.variant: d for d in differences(runs, task, baseline)}
        cells = []
        for variant in others:
            d = found[variant]
            verdict = {True: "beyond noise", False: "noise", None: "one seed"}[d.beyond_noise]
            cells.append(f"{d.delta:+.3g} ({d.direction}, {verdict})")
        rows.append([task, *cells])
    return header, rows


def curve_plot(runs: Runs, task: str, path: Path) -> None:
    """Mean over seeds per variant against tokens trained, with the seeds' min-max band."""
    fig, ax = plt.subplots(figsize=(6, 3.5))
    for variant, seeds in runs.items():
        at: dict[int, list[float]] = {}
        for rows in seeds.values():
            for r in rows:
                at.setdefault(r["tokens"], []).append(r["scores"][task])
        tokens, means, lows, highs = sorted(at), [], [], []
        for values in (at[t] for t in tokens):
            means.append(statistics.fmean(values))
            lows.append(min(values))
            highs.append(max(values))
        (line,) = ax.plot(tokens, means, label=variant, marker=".")
        ax.fill_between(tokens, lows, highs, alpha=0.2, color=line.get_color())
    if not higher_is_better(task):
        ax.set_yscale("log")
    ax.set_xlabel("tokens trained")
    ax.set_ylabel(task)
    ax.set_title(f"{task} ({'higher' if higher_is_better(task) else 'lower'} is better)")
    ax.legend(fontsize=7)
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=100)
    plt.close(fig)


def markdown(table: Table) -> str:
    header, rows = table
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(row) + " |" for row in rows]
    return "\n".join(lines)


def html_table(table: Table) -> str:
    header, rows = table
    head = "".join(f"<th>{html.escape(h)}</th>" for h in header)
    body = "".join(
        "<tr>" + "".join(f"<td>{html.escape(c)}</td>" for c in row) + "</tr>" for row in rows
    )
    return f"<table><tr>{head}</tr>{body}</table>"


def write_outputs(config, layout: AblationLayout, tasks: TaskSet, outcomes) -> dict[str, Any]:
    runs = collect_runs(config, layout, outcomes)
    from transformers import AutoTokenizer

    vocab = len(AutoTokenizer.from_pretrained(config.model.tokenizer or layout.tokenizer))
    levels = chance_levels(tasks, vocab)
    signals = {t: task_signal(runs, t, *levels[t]) for t in tasks.names()} if runs else {}
    baseline = next((v.name for v in config.variants if v.name in runs), None)
    sections = [("Data per variant", data_table(config, outcomes))]
    if runs:
        scores = score_table(runs, signals)
        sections += [
            (f"Final scores (mean ± std over {len(config.seeds)} seeds)", scores),
            ("Signal checks (FineTasks)", signal_table(signals)),
            (f"Differences from {baseline}", difference_table(runs, signals, baseline)),
        ]
        for stale in layout.curves.glob("*.png"):  # tasks of an earlier config
            stale.unlink()
        for task in signals:
            curve_plot(runs, task, layout.curves / f"{re.sub(r'[^A-Za-z0-9_.-]', '_', task)}.png")
    title = (
        f"Ablation {config.name}: {config.trained_tokens:,} tokens per run, seeds {config.seeds}"
    )
    md = [f"# {title}"] + [f"## {name}\n\n{markdown(t)}" for name, t in sections]
    write_atomic(layout.table, "\n\n".join(md) + "\n")
    write_html(layout, title, sections, sorted(layout.curves.glob("*.png")))
    results = {
        "name": config.name,
        "trained_tokens": config.trained_tokens,
        "steps": config.steps,
        "seeds": config.seeds,
        "baseline": baseline,
        "variants": {
            o.name: {"documents": o.documents, "samples": o.samples, "failed": o.failed}
            for o in outcomes
        },
        "signals": {t: s.to_dict() for t, s in signals.items()},
        "differences": {t: [d.__dict__ for d in differences(runs, t, baseline)] for t in signals},
        "final": {
            v: {t: [rows[-1]["scores"][t] for rows in seeds.values()] for t in signals}
            for v, seeds in runs.items()
        },
    }
    write_atomic(layout.results, json.dumps(results, indent=2))
    return results


def write_html(layout: AblationLayout, title: str, sections, plots: list[Path]) -> None:
    parts = [f"<h1>{html.escape(title)}</h1>"]
    parts += [f"<h2>{html.escape(name)}</h2>{html_table(t)}" for name, t in sections]
    parts.append("<h2>Learning curves (mean over seeds, band: min to max)</h2>")
    for plot in plots:
        data = base64.b64encode(plot.read_bytes()).decode()
        parts.append(f'<img alt="{html.escape(plot.stem)}" src="data:image/png;base64,{data}">')
    style = "table{border-collapse:collapse}td,th{border:1px solid #ccc;padding:2px 6px}"
    page = f"<html><head><meta charset='utf-8'><style>{style}</style></head><body>"
    write_atomic(layout.report, page + "".join(parts) + "</body></html>")
