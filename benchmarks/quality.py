"""Judgement on real text: the classifiers and the shipped filter specs on the reference test split
(real nb/nn prose, never trained or tuned on) against damaged copies of the same documents.

For every classifier bundle: ROC AUC of its score, clean vs each damage family, per language
(nb, nn), and the share of each group kept at the bundle's (per-language) threshold. For every
spec: the share of each group that comes out of its steps (a real datatrove run; dedup steps are
left out, since the benchmark holds each document next to its own damaged copies on purpose).
For the educational-value bundle also: macro-F1, Spearman, binary F1 at 3 and the confusion
matrix against the helper labels of the test split, with the majority and length baselines, and
the mean score drop of word-shuffled copies. Writes benchmarks/results/quality.{md,json} and one
score-histogram figure per bundle (benchmarks/results/quality_<task>.png).

    python benchmarks/quality.py [--bundle DIR ...] [--spec pipelines/demo.yaml ...] [--only web]

Ends with a web section (benchmarks/quality_web.py): the same bundles and specs on the web test
split (real HPLT pages, ../shared/web or --web) against the web helper labels and HPLT's flags.

Needs the reference corpus (../shared/reference or $CURATE_REFERENCE). Sources, credited as
their licences ask: NorQuAD (ltgoslo), Norwegian laws (Lovdata, NLOD 2.0), NTREX-128
(Microsoft, CC BY-SA 4.0), LIA Nynorsk (UD, CC BY-SA 4.0).
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
from collections import defaultdict
from pathlib import Path

import numpy as np
from quality_goals import goals_table  # benchmarks/ is on sys.path when run as a script
from spec_steps import run_steps, survival
from tables import write_results

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "benchmarks" / "results"
LANGS = ("nb", "nn")
DEFAULT_BUNDLES = [
    ROOT / "classifiers" / "linguistic_quality" / "bundle",
    ROOT / "classifiers" / "educational_value" / "bundle",
]
JOINT_BUNDLE = ROOT / "classifiers" / "joint" / "bundle"  # both tasks, one encoder (`make joint`)
DEFAULT_SPECS = [
    ROOT / "pipelines" / f"{name}.yaml" for name in ("demo", "ncc", "hplt", "culturax")
]
SEED = 12


def benchmark_documents(reference: str | None):
    """Clean test prose (nb, nn), its damaged copies, and for information the spoken
    transcripts and the other Nordic languages of the test split. Each document's
    metadata['group'] says which."""
    from curate.degrade import FAMILIES, damaged_copies
    from curate.reference import is_prose, reference_splits

    test = reference_splits(reference)["test"]
    clean = [d for d in test if d.lang in LANGS and is_prose(d)]
    donors = [d.text for d in test if d.lang not in LANGS]
    for d in test:
        d.metadata["group"] = (
            "other_language" if d.lang not in LANGS else "clean" if is_prose(d) else "spoken"
        )
    copies = damaged_copies(clean, list(FAMILIES), donors, seed=SEED)
    for d in copies:
        d.metadata["group"] = d.metadata["damage"]
    return [*test, *copies]


def auc(clean_scores, damaged_scores) -> float:
    from sklearn.metrics import roc_auc_score

    y = np.r_[np.ones(len(clean_scores)), np.zeros(len(damaged_scores))]
    return float(roc_auc_score(y, np.r_[clean_scores, damaged_scores]))


def bundle_results(bundle: Path, docs) -> list[dict]:
    """One result per task of the bundle (a bundle of several tasks scores them in one pass)."""
    from curate.classify import QualityClassifier

    clf = QualityClassifier.load(bundle)
    scores = clf.scores([d.text for d in docs])
    joint = len(clf.tasks) > 1
    return [
        {
            **task_results(clf, task, scores[task], docs),
            "name": f"{task} (one pass: {bundle.parent.name}/{bundle.name})" if joint else task,
            "bundle": f"{bundle.parent.name}/{bundle.name}",
        }
        for task in clf.tasks
    ]


def task_results(clf, task: str, scores: np.ndarray, docs) -> dict:
    keep = scores >= np.array([clf.threshold_for(d.lang, task) for d in docs])
    by = defaultdict(list)
    for d, s, k in zip(docs, scores, keep, strict=True):
        by[(d.metadata["group"], d.lang)].append((float(s), bool(k)))
    groups = sorted({g for g, _ in by})
    result = {
        "task": task,
        "thresholds": {lang: clf.threshold_for(lang, task) for lang in LANGS},
        "kept": {},
        "mean_score": {},
        "auc": {},
    }
    for g in groups:
        for lang in (*LANGS, "all"):
            rows = [r for (gg, ll), v in by.items() if gg == g and lang in (ll, "all") for r in v]
            if rows:
                result["kept"][f"{g}/{lang}"] = float(np.mean([k for _, k in rows]))
                result["mean_score"][f"{g}/{lang}"] = float(np.mean([s for s, _ in rows]))
    for g in groups:
        if g in ("clean", "spoken", "other_language"):
            continue
        for lang in LANGS:
            clean = [s for s, _ in by[("clean", lang)]]
            damaged = [s for s, _ in by[(g, lang)]]
            if clean and damaged:
                result["auc"][f"{g}/{lang}"] = auc(clean, damaged)
    result["by_id"] = {d.id: float(x) for d, x in zip(docs, scores, strict=True)}
    result["scale"] = list(clf.scale_of(task))
    result["scores"] = {
        f"{g}": [s for (gg, _), v in by.items() if gg == g for s, _ in v] for g in groups
    }
    return result


def hand_label_results(result: dict, docs, reference: str | None) -> dict | None:
    """The bundle against the helper labels of the test split, with baselines, and the mean drop
    from each original to its word-shuffled copy. Reuses the scores of `bundle_results`: the
    helper-labelled test documents are among the benchmark's documents."""
    from scipy.stats import spearmanr

    from curate.classify.data import load_examples
    from curate.classify.metrics import baselines, evaluate
    from curate.reference import reference_dir

    score, scale = result["by_id"], tuple(result["scale"])
    labels = ROOT / "annotations" / "reference" / f"{result['task']}.jsonl"  # not second/
    examples, _ = load_examples([labels], [reference_dir(reference)], result["task"], scale)
    split = {name: [e for e in examples if e.split == name] for name in ("train", "test")}
    if not split["test"]:
        return None
    y = [e.score for e in split["test"]]
    pred = np.array([score[e.id] for e in split["test"]])
    out = {"n": len(y), "classifier": evaluate(y, pred, scale)}
    out["baselines"] = baselines(
        [e.text for e in split["train"]],
        [e.score for e in split["train"]],
        [e.text for e in split["test"]],
        y,
        scale,
    )
    shuffled = [d for d in docs if d.metadata["group"] == "word_shuffle"]
    drops = {
        d.metadata["original_id"]: score[d.metadata["original_id"]] - score[d.id] for d in shuffled
    }
    if drops:
        out["shuffle_drop"] = float(np.mean(list(drops.values())))
    out["by_language"] = {}
    for lang in LANGS:
        mine = [e for e in split["test"] if e.lang == lang]
        if len(mine) > 2:
            lang_drops = [drops[e.id] for e in mine if e.id in drops]
            out["by_language"][lang] = {
                "n": len(mine),
                "spearman": float(
                    spearmanr([score[e.id] for e in mine], [e.score for e in mine])[0]
                ),
                "shuffle_drop": float(np.mean(lang_drops)) if lang_drops else None,
                "shuffled_n": len(lang_drops),
            }
    return out


def spec_results(spec_path: Path, docs, workdir: Path) -> dict:
    steps, dropped_at, _ = run_steps(spec_path, docs, workdir)
    return survival(
        steps,
        dropped_at,
        docs,
        lambda d: (f"{d.metadata['group']}/{d.lang}", f"{d.metadata['group']}/all"),
    )


def histogram(result: dict, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    groups = sorted(result["scores"], key=lambda g: (g != "clean", g))
    cols = 4
    rows = -(-len(groups) // cols)
    fig, axes = plt.subplots(rows, cols, figsize=(3.2 * cols, 2.2 * rows), sharex=True)
    for ax, g in zip(axes.flat, groups, strict=False):
        scores = np.clip(result["scores"][g], -0.5, 5.5)  # fluency can push below the scale
        ax.hist(scores, bins=30, range=(-0.5, 5.5), color="tab:blue")
        for lang, style in zip(LANGS, ("--", ":"), strict=True):
            ax.axvline(result["thresholds"][lang], color="black", linestyle=style, label=lang)
        ax.set_title(f"{g} (n={len(result['scores'][g])})", fontsize=9)
    for ax in list(axes.flat)[len(groups) :]:
        ax.axis("off")
    axes.flat[0].legend(fontsize=7, title="threshold", title_fontsize=7)
    fig.suptitle(f"{result['task']} scores on the reference test split, by group")
    fig.tight_layout()
    fig.savefig(path, dpi=90)
    plt.close(fig)


def table(bundles: dict, specs: dict, hand: dict) -> list[str]:
    from curate.degrade import FAMILIES

    lines = []
    for task, r in bundles.items():
        lines += [
            f"### {task}: ROC AUC clean vs damaged, and share kept at the threshold "
            f"(nb {r['thresholds']['nb']:.2f}, nn {r['thresholds']['nn']:.2f})",
            "",
            "| group | AUC nb | AUC nn | kept nb | kept nn | mean score nb | mean score nn |",
            "|---|---|---|---|---|---|---|",
        ]
        for g in ["clean", *FAMILIES, "spoken", "other_language"]:
            a = [r["auc"].get(f"{g}/{lang}") for lang in LANGS]
            k = [r["kept"].get(f"{g}/{lang}") for lang in LANGS]
            m = [r["mean_score"].get(f"{g}/{lang}") for lang in LANGS]
            cells = [f"{x:.3f}" if x is not None else "—" for x in a]
            cells += [f"{x:.1%}" if x is not None else "—" for x in k]
            cells += [f"{x:.2f}" if x is not None else "—" for x in m]
            lines.append(f"| {g} | " + " | ".join(cells) + " |")
        lines.append("")
    for name, r in specs.items():
        after = list(next(iter(r["kept_after"].values())))
        lines += [
            f"### spec {name} ({' → '.join(r['steps'])}; dedup and rehydration left out): "
            "share still kept after each filtering step, nb / nn",
            "",
            "| group | n | " + " | ".join(after) + " |",
            "|---" * (len(after) + 2) + "|",
        ]
        for g in ["clean", *FAMILIES, "spoken", "other_language"]:
            cells = []
            for step in after:
                per = [r["kept_after"].get(f"{g}/{lang}", {}).get(step) for lang in LANGS]
                if per == [None, None]:  # other languages: one figure for all of them
                    cells.append(f"{r['kept_after'][f'{g}/all'][step]:.1%} (all)")
                    continue
                cells.append(" / ".join("—" if x is None else f"{x:.1%}" for x in per))
            lines.append(f"| {g} | {r['n'].get(f'{g}/all', 0)} | " + " | ".join(cells) + " |")
        lines.append("")
    for task, h in hand.items():
        c = h["classifier"]
        lines += [
            f"### {task} against the helper labels of the test split (n = {h['n']})",
            "",
            "| model | macro-F1 | Spearman | binary F1 at 3 | MSE |",
            "|---|---|---|---|---|",
        ]
        for name, r in [("classifier", c), *h["baselines"].items()]:
            f1 = r.get("binary_at_threshold", {}).get("3", {}).get("f1")
            lines.append(
                f"| {name} | {r['macro_f1']:.3f} | {r['spearman']:.3f} | "
                f"{'—' if f1 is None else f'{f1:.3f}'} | {r['mse']:.3f} |"
            )
        cm = c["confusion_matrix"]
        lines += ["", "Confusion matrix (rows: helper label 0–5, columns: rounded score 0–5):", ""]
        lines += [
            "| | " + " | ".join(map(str, range(len(cm)))) + " |",
            "|---" * (len(cm) + 1) + "|",
        ]
        lines += [f"| {i} | " + " | ".join(map(str, row)) + " |" for i, row in enumerate(cm)]
        if "shuffle_drop" in h:
            lines += [
                "",
                f"Word-shuffled copies score {h['shuffle_drop']:.2f} below their originals "
                "on average.",
            ]
        for lang, r in h.get("by_language", {}).items():
            drop = r["shuffle_drop"]
            lines.append(
                f"- {lang}: Spearman {r['spearman']:.3f} (n = {r['n']}); word-shuffled copies of "
                + (
                    f"its {r['shuffled_n']} prose documents score {drop:.2f} lower"
                    if drop is not None
                    else "none"
                )
            )
        lines.append("")
    return lines


def one_pass_vs_own(bundles: dict, hand: dict) -> list[str]:
    """Each task of a bundle with a head per task against the task's own bundle: AUC per damage
    family and hand-label figures, side by side (#15's goal: within 0.02)."""
    from curate.degrade import FAMILIES

    lines = []
    for name, joint in bundles.items():
        own = bundles.get(joint["task"])
        if name == joint["task"] or own is None:
            continue
        lines += [
            f"### {joint['task']}: one pass ({joint['bundle']}) vs its own bundle "
            "(goal: within 0.02)",
            "",
            "| measure | own bundle | one pass | Δ |",
            "|---|---|---|---|",
        ]
        pairs = [
            (f"AUC {g} {lang}", own["auc"].get(f"{g}/{lang}"), joint["auc"].get(f"{g}/{lang}"))
            for g in FAMILIES
            for lang in LANGS
        ]
        for measure in ("macro_f1", "spearman"):
            if joint["task"] in hand and name in hand:
                pairs.append(
                    (
                        f"helper labels {measure}",
                        hand[joint["task"]]["classifier"][measure],
                        hand[name]["classifier"][measure],
                    )
                )
        lines += [
            f"| {m} | {a:.3f} | {b:.3f} | {b - a:+.3f} |"
            for m, a, b in pairs
            if a is not None and b is not None
        ]
        lines.append("")
    return lines


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--bundle", action="append", type=Path)
    parser.add_argument("--spec", action="append", type=Path)
    parser.add_argument("--reference", default=None)
    parser.add_argument("--web", default=None, help="the web sample (default: ../shared/web)")
    parser.add_argument("--only", choices=["reference", "web"], help="one section alone")
    parser.add_argument("--out", type=Path, default=RESULTS / "quality")
    args = parser.parse_args()
    from curate.reference import CREDIT, ReferenceMissing
    from curate.web import WebMissing

    try:
        docs = benchmark_documents(args.reference)
    except ReferenceMissing as err:
        sys.exit(f"quality benchmark skipped: {err}")
    args.out.parent.mkdir(parents=True, exist_ok=True)
    defaults = DEFAULT_BUNDLES + ([JOINT_BUNDLE] if JOINT_BUNDLE.exists() else [])
    lines, data = [], {}
    if args.only != "web":
        lines, data = reference_section(
            args.bundle or defaults, args.spec or DEFAULT_SPECS, docs, args
        )
        lines = [
            f"Reference test split: {sum(d.metadata['group'] == 'clean' for d in docs)} clean "
            f"nb/nn prose documents and one damaged copy of each per family. {CREDIT}",
            "",
            *lines,
        ]
    if args.only != "reference":
        from quality_web import web_section

        clean = [d for d in docs if d.metadata["group"] == "clean"]
        try:
            web_lines, data["web"] = web_section(
                args.bundle or DEFAULT_BUNDLES,
                args.spec or DEFAULT_SPECS,
                clean,
                args.out,
                args.web,
            )
            lines += web_lines
        except WebMissing as err:
            lines += [f"Web section skipped: {err}", ""]
    previous = args.out.with_suffix(".json")
    before = json.loads(previous.read_text()) if previous.exists() else None
    if "web" in data:
        lines = [*goals_table(data, before), *lines]
    write_results(args.out, lines, data)


def reference_section(bundle_paths, spec_paths, docs, args) -> tuple[list[str], dict]:
    bundles, hand = {}, {}
    for bundle in bundle_paths:
        for r in bundle_results(bundle, docs):
            bundles[r["name"]] = r
            slug = r["name"].split(" ")[0] + ("_joint" if r["name"] != r["task"] else "")
            histogram(r, args.out.parent / f"{args.out.name}_{slug}.png")
            h = hand_label_results(r, docs, args.reference)
            if h:
                hand[r["name"]] = h
    with tempfile.TemporaryDirectory() as tmp:
        specs = {p.name: spec_results(p, docs, Path(tmp)) for p in spec_paths}
    lines = [*table(bundles, specs, hand), *one_pass_vs_own(bundles, hand)]
    for r in bundles.values():
        r.pop("scores")
        r.pop("by_id")
    return lines, {"bundles": bundles, "specs": specs, "hand_labels": hand}


if __name__ == "__main__":
    main()
