"""The web section of benchmarks/quality.py: the classifiers and the shipped specs on the web
test split (real HPLT pages, `../shared/web`, never trained or tuned on), nb and nn separately
(HPLT's language label), judged by the web helper labels (annotations/web) and HPLT's own
inspection flags.

- Each spec, step by step: the share still kept of pages labelled linguistic quality >= 3, of
  pages labelled <= 1, of HPLT-fine and of HPLT-flagged pages.
- The linguistic-quality gate alone on line-cleaned pages (the shipped specs clean lines first):
  the share kept of each label group and HPLT verdict, ROC AUC labelled >= 3 vs <= 1 and HPLT fine
  vs each flag (also on every page no classifier learnt from: the test split and the train and
  validation pages nobody labelled).
- Educational value against the web labels: Spearman, macro-F1, binary F1 at 3, the confusion
  matrix, majority and length baselines (fit on the web train labels).
- Score histograms of web pages against reference prose, per bundle.
- The whole demo spec's docs/s on the web test pages (every step, dedup included).
"""

from __future__ import annotations

import json
import tempfile
import time
from collections import defaultdict
from functools import partial
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
LABELS = ROOT / "annotations" / "web"
LANGS = ("nb", "nn")
FLAGS = ("unnatural", "artifacts", "porn")


def load_labels(task: str) -> dict[str, dict]:
    rows = (json.loads(line) for line in (LABELS / f"{task}.jsonl").open(encoding="utf-8"))
    return {r["id"]: r for r in rows}


def web_documents(web: str | None):
    """Every web page as a crawl holds it (curate.web.page_text) with `metadata['split']`,
    `metadata['lq']`/`['edu']` (helper label or None) and `metadata['verdict']` (HPLT's,
    or None)."""
    from curate.web import hplt_verdict, page_text, web_splits

    splits = web_splits(web)
    lq, edu = load_labels("linguistic_quality"), load_labels("educational_value")
    docs = [d for part in splits.values() for d in part]
    for d in docs:
        d.text = page_text(d)
        d.metadata.pop("segments", None)
        d.metadata["lq"] = lq[d.id]["score"] if d.id in lq else None
        d.metadata["edu"] = edu[d.id]["score"] if d.id in edu else None
        d.metadata["verdict"] = hplt_verdict(d)
    return docs


def label_group(d) -> str | None:
    lq = d.metadata["lq"]
    return None if lq is None else "lq>=3" if lq >= 3 else "lq<=1" if lq <= 1 else "lq=2"


def groups(d) -> list[str]:
    """The keys a page counts under: every page, its label groups (linguistic quality, and
    educational value >= 3) and HPLT verdict, each per language."""
    edu = d.metadata["edu"]
    keys = ["all", label_group(d), "edu>=3" if edu is not None and edu >= 3 else None]
    keys.append(d.metadata["verdict"])
    if d.metadata["verdict"] and d.metadata["verdict"] != "fine":
        keys.append("hplt_flagged")
    return [f"{k}/{d.lang}" for k in keys if k]


def cleaned(texts: list[str]) -> list[str]:
    """The text the classifiers see in the shipped specs: after clean_lines."""
    from curate.pipeline.line_clean import LineCleaner

    cleaner = LineCleaner()
    return [cleaner.clean_text(text)[0] or text for text in texts]


def auc(pos, neg) -> float | None:
    from sklearn.metrics import roc_auc_score

    if len(pos) < 2 or len(neg) < 2:
        return None
    y = np.r_[np.ones(len(pos)), np.zeros(len(neg))]
    return float(roc_auc_score(y, np.r_[pos, neg]))


def gate_results(threshold_for, scores: np.ndarray, docs) -> dict:
    """Keep shares at `threshold_for(language)`, AUCs by label and by HPLT verdict."""
    keep = scores >= np.array([threshold_for(d.lang) for d in docs])
    kept, n = defaultdict(list), {}
    for d, k in zip(docs, keep, strict=True):
        for key in groups(d):
            kept[key].append(bool(k))
    out = {"kept": {k: float(np.mean(v)) for k, v in kept.items()}}
    n = {k: len(v) for k, v in kept.items()}
    out["n"] = n
    out["auc"] = {}
    for lang in LANGS:
        mine = [(d, s) for d, s in zip(docs, scores, strict=True) if d.lang == lang]
        good = [s for d, s in mine if label_group(d) == "lq>=3"]
        bad = [s for d, s in mine if label_group(d) == "lq<=1"]
        out["auc"][f"lq>=3 vs lq<=1/{lang}"] = auc(good, bad)
        fine = [s for d, s in mine if d.metadata["verdict"] == "fine"]
        for flag in FLAGS:
            flagged = [s for d, s in mine if d.metadata["verdict"] == flag]
            out["auc"][f"fine vs {flag}/{lang}"] = auc(fine, flagged)
    return out


def cleaning_results(docs) -> dict:
    """What clean_lines removes, by label group and HPLT verdict: pages changed, characters."""
    from curate.pipeline.line_clean import LineCleaner

    cleaner = LineCleaner()
    changed, removed, total = defaultdict(int), defaultdict(int), defaultdict(int)
    n = defaultdict(int)
    for d in docs:
        _, gone = cleaner.clean_text(d.text)
        chars = sum(len(text) for _, text in gone)
        for key in groups(d):
            n[key] += 1
            changed[key] += bool(gone)
            removed[key] += chars
            total[key] += len(d.text)
    return {
        k: {"n": n[k], "changed": changed[k] / n[k], "chars_removed": removed[k] / total[k]}
        for k in n
    }


def hplt_auc(scores: np.ndarray, docs) -> dict:
    """HPLT fine vs each flag, nb and nn pooled (the flagged pages are few)."""
    fine = [s for d, s in zip(docs, scores, strict=True) if d.metadata["verdict"] == "fine"]
    out = {}
    for flag in FLAGS:
        flagged = [s for d, s in zip(docs, scores, strict=True) if d.metadata["verdict"] == flag]
        out[flag] = {"auc": auc(fine, flagged), "n_fine": len(fine), "n_flagged": len(flagged)}
    return out


def spec_score_filters(spec_path: Path, bundles: dict[str, Path] | None = None) -> dict:
    """task -> the spec's score filter step that judges it (built as the spec builds it);
    `bundles` (task -> bundle) replaces the bundle a step names for that task."""
    from curate.pipeline.spec import read_spec
    from curate.pipeline.steps import ScoreFilter

    out = {}
    for step in read_spec(spec_path)["steps"]:
        if "score_filter" in step:
            params = dict(step["score_filter"])
            params["bundles"] = [
                str(replaced(ROOT / b, bundles or {})) for b in params.get("bundles", [])
            ]
            built = ScoreFilter(**params)
            out |= {task: built for task in built.thresholds}
    return out


def replaced(bundle: Path, bundles: dict[str, Path]) -> Path:
    from curate.classify.bundle import read_manifest

    tasks = read_manifest(bundle).task_names
    return next((bundles[t] for t in tasks if t in bundles), bundle)


def edu_results(scores: dict[str, float], docs, scale) -> dict:
    from curate.classify.metrics import baselines, evaluate

    labelled = [d for d in docs if d.metadata["edu"] is not None]
    train = [d for d in labelled if d.metadata["split"] == "train"]
    out = {}
    for lang in (*LANGS, "all"):
        test = [d for d in labelled if d.metadata["split"] == "test" and lang in (d.lang, "all")]
        y = [d.metadata["edu"] for d in test]
        out[lang] = {
            "classifier": evaluate(y, [scores[d.id] for d in test], scale),
            "baselines": baselines(
                [d.text for d in train],
                [d.metadata["edu"] for d in train],
                [d.text for d in test],
                y,
                scale,
            ),
            "labelled_3_or_more": int(sum(v >= 3 for v in y)),
        }
    return out


def histogram(task: str, web_scores: dict, reference_scores, threshold: dict, path: Path):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, len(web_scores) + 1, figsize=(3.2 * (len(web_scores) + 1), 2.6))
    panels = [("reference clean prose", reference_scores), *web_scores.items()]
    for ax, (name, values) in zip(axes, panels, strict=True):
        ax.hist(np.clip(values, -0.5, 5.5), bins=30, range=(-0.5, 5.5), color="tab:blue")
        for lang, style in zip(LANGS, ("--", ":"), strict=True):
            ax.axvline(threshold[lang], color="black", linestyle=style, label=lang)
        ax.set_title(f"{name} (n={len(values)})", fontsize=8)
    axes[0].legend(fontsize=7, title="threshold", title_fontsize=7)
    fig.suptitle(f"{task}: web test pages (by helper label) against reference prose")
    fig.tight_layout()
    fig.savefig(path, dpi=90)
    plt.close(fig)


def spec_throughput(spec_path: Path, docs, workdir: Path) -> dict:
    """The whole spec, dedup included, on `docs`: wall-clock docs/s of the run."""
    from spec_steps import local_spec

    from curate.pipeline.build import run_spec

    spec = local_spec(spec_path, docs, workdir / f"{spec_path.stem}_whole", whole=True)
    start = time.perf_counter()
    run_spec(spec)
    seconds = time.perf_counter() - start
    return {"documents": len(docs), "seconds": seconds, "docs_per_s": len(docs) / seconds}


def web_section(bundles: list[Path], specs: list[Path], reference_clean, out: Path, web=None):
    """Everything above; returns (markdown lines, raw figures)."""
    from spec_steps import run_steps, survival

    from curate.classify import QualityClassifier

    docs = web_documents(web)
    test = [d for d in docs if d.metadata["split"] == "test"]
    web_test = [d for d in test if d.lang in LANGS]
    unseen = [
        d
        for d in docs
        if d.lang in LANGS and (d.metadata["split"] == "test" or d.metadata["lq"] is None)
    ]
    texts = cleaned([d.text for d in unseen])
    index = {d.id: i for i, d in enumerate(unseen)}
    data: dict = {"bundles": {}, "specs": {}, "cleaning": cleaning_results(web_test)}
    filters = spec_score_filters(ROOT / "pipelines" / "demo.yaml")
    for bundle in bundles:
        clf = QualityClassifier.load(bundle)
        scores = clf.scores(texts)
        raw = clf.scores([d.text for d in web_test])
        ref = clf.scores([d.text for d in reference_clean])
        for task in clf.tasks:
            s = np.asarray(scores[task])
            test_scores = s[[index[d.id] for d in web_test]]
            own = partial(clf.threshold_for, task=task)
            entry = {
                "bundle": f"{bundle.parent.name}/{bundle.name}",
                "thresholds": {lang: clf.threshold_for(lang, task) for lang in LANGS},
                "gate": gate_results(own, test_scores, web_test),
                "gate_uncleaned": gate_results(own, np.asarray(raw[task]), web_test),
                "hplt_auc_test": hplt_auc(test_scores, web_test),
                "hplt_auc_unseen": hplt_auc(s, unseen),
            }
            if task in filters:  # the threshold the demo spec chooses on the bundle's curves
                step = filters[task]
                entry["spec_thresholds"] = {lang: step.threshold(task, lang) for lang in LANGS}
                entry["spec_choice"] = step.choices.get(task)
                entry["spec_gate"] = gate_results(
                    partial(step.threshold, task), test_scores, web_test
                )
            if task == "educational_value":
                by_id = {d.id: float(x) for d, x in zip(web_test, test_scores, strict=True)}
                entry["hand_labels"] = edu_results(by_id, docs, clf.scale_of(task))
            panels = {
                g: [x for d, x in zip(web_test, test_scores, strict=True) if label_group(d) == g]
                for g in ("lq>=3", "lq=2", "lq<=1")
            }
            figure = out.parent / f"{out.name}_web_{task}.png"
            histogram(task, panels, np.asarray(ref[task]), entry["thresholds"], figure)
            data["bundles"][task] = entry
    with tempfile.TemporaryDirectory() as tmp:
        for spec in specs:
            steps, dropped_at, _ = run_steps(spec, test, Path(tmp))
            data["specs"][spec.name] = survival(steps, dropped_at, test, groups)
        demo = ROOT / "pipelines" / "demo.yaml"
        data["throughput"] = spec_throughput(demo, test, Path(tmp))
    return web_table(data), data


def pct(x) -> str:
    return "—" if x is None else f"{x:.1%}"


def num(x) -> str:
    return "—" if x is None else f"{x:.3f}"


def web_table(data: dict) -> list[str]:
    from curate.web import CREDIT

    lines = [
        "## Web pages (web test split: HPLT nb / nn, helper-labelled; " + CREDIT + ")",
        "",
    ]
    keys = ["lq>=3", "lq=2", "lq<=1", "fine", *FLAGS, "hplt_flagged"]
    lines += [
        "### clean_lines on the web test pages: pages changed, characters removed, nb / nn",
        "",
        "| pages | n nb / nn | pages changed | characters removed |",
        "|---|---|---|---|",
    ]
    c = data["cleaning"]
    for k in keys:
        rows = [c.get(f"{k}/{lang}") for lang in LANGS]
        if rows == [None, None]:
            continue
        cells = [
            " / ".join(pct(r and r[key]) for r in rows) for key in ("changed", "chars_removed")
        ]
        name = k if k.startswith("lq") else f"HPLT {k}"
        n = " / ".join(str(r["n"] if r else 0) for r in rows)
        lines.append(f"| {name} | {n} | " + " | ".join(cells) + " |")
    lines.append("")
    for task, r in data["bundles"].items():
        g = r["gate"]
        lines += [
            f"### {task} ({r['bundle']}) alone on line-cleaned pages: share kept at its threshold "
            f"(nb {r['thresholds']['nb']:.2f}, nn {r['thresholds']['nn']:.2f})",
            "",
            "| pages | n nb | n nn | kept nb | kept nn | uncleaned: kept nb | kept nn |",
            "|---|---|---|---|---|---|---|",
        ]
        raw = r["gate_uncleaned"]
        for k in keys:
            n = [g["n"].get(f"{k}/{lang}") for lang in LANGS]
            if n == [None, None]:
                continue
            kept = [g["kept"].get(f"{k}/{lang}") for lang in LANGS]
            kept += [raw["kept"].get(f"{k}/{lang}") for lang in LANGS]
            name = k if k.startswith("lq") else f"HPLT {k}"
            lines.append(
                f"| {name} | {n[0] or 0} | {n[1] or 0} | " + " | ".join(map(pct, kept)) + " |"
            )
        lines += ["", "| ROC AUC | nb | nn |", "|---|---|---|"]
        for pair in ("lq>=3 vs lq<=1", *(f"fine vs {f}" for f in FLAGS)):
            cells = [num(g["auc"].get(f"{pair}/{lang}")) for lang in LANGS]
            lines.append(f"| {pair} | " + " | ".join(cells) + " |")
        lines += [
            "",
            "| HPLT fine vs flag, nb and nn pooled | test split | every page never trained on |",
        ]
        lines.append("|---|---|---|")
        for flag in FLAGS:
            a, b = r["hplt_auc_test"][flag], r["hplt_auc_unseen"][flag]
            lines.append(
                f"| {flag} | {num(a['auc'])} (n {a['n_fine']} / {a['n_flagged']}) | "
                f"{num(b['auc'])} (n {b['n_fine']} / {b['n_flagged']}) |"
            )
        lines.append("")
        for lang, h in r.get("hand_labels", {}).items():
            c = h["classifier"]
            lines += [
                f"#### {task} against the web helper labels, {lang} (n = {c['n']}, "
                f"{h['labelled_3_or_more']} labelled >= 3)",
                "",
                "| model | macro-F1 | Spearman | binary F1 at 3 | MSE |",
                "|---|---|---|---|---|",
            ]
            for name, m in [("classifier", c), *h["baselines"].items()]:
                f1 = m.get("binary_at_threshold", {}).get("3", {}).get("f1")
                lines.append(
                    f"| {name} | {m['macro_f1']:.3f} | {num(m['spearman'])} | {num(f1)} | "
                    f"{m['mse']:.3f} |"
                )
            if lang == "all":
                cm = c["confusion_matrix"]
                lines += [
                    "",
                    "Confusion matrix (rows: helper label 0–5, columns: rounded score):",
                    "",
                ]
                lines += ["| | " + " | ".join(map(str, range(len(cm)))) + " |"]
                lines += ["|---" * (len(cm) + 1) + "|"]
                lines += [
                    f"| {i} | " + " | ".join(map(str, row)) + " |" for i, row in enumerate(cm)
                ]
            lines.append("")
    for name, r in data["specs"].items():
        after = list(next(iter(r["kept_after"].values())))
        lines += [
            f"### spec {name} on the web test split (dedup left out): share still kept after "
            "each step, nb / nn",
            "",
            "| pages | n nb / nn | " + " | ".join(after) + " |",
            "|---" * (len(after) + 2) + "|",
        ]
        for k in keys:
            n = [r["n"].get(f"{k}/{lang}", 0) for lang in LANGS]
            if not any(n):
                continue
            cells = [
                " / ".join(pct(r["kept_after"].get(f"{k}/{lang}", {}).get(step)) for lang in LANGS)
                for step in after
            ]
            name = k if k.startswith("lq") else f"HPLT {k}"
            lines.append(f"| {name} | {n[0]} / {n[1]} | " + " | ".join(cells) + " |")
        lines.append("")
    t = data["throughput"]
    lines += [
        f"The whole demo spec (every step, dedup included, one task) on the {t['documents']} web "
        f"test pages (nb, nn, da, sv): {t['seconds']:.1f} s, {t['docs_per_s']:.1f} docs/s.",
        "",
    ]
    return lines
