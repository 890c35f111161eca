"""Learning curve on the web labels: each classifier trained again with 25% and 50% of the web
train pages' labels (validation and test pages unchanged, every other input as `make train`
gives it), exported, and judged on the web test split (never trained or tuned on) as
benchmarks/quality.py judges it; 100% is the shipped bundle (`make train export`: same config,
labels and seed). What it shows: whether more web labels would still pay, or the encoder is
what holds the figures back.

    python benchmarks/learning_curve.py [--task educational_value] [--fraction 0.25 ...]
    python benchmarks/learning_curve.py --lexical-only   # seconds: the side model alone

`--lexical-only` trains only what learns from the labels' words, the task's lexical model (a
ridge over word and character n-grams, the larger part of the educational-value score), on the
same subsamples, maps it onto the label scale on validation as training does, and judges it
on the same test pages: not the shipped classifier, but the part of it that more labels feed
most directly, at a cost that fits any machine.

Needs ../shared/web and ../shared/reference, and `make train export` first (its synthetic
labels in out/ and the bundles). Writes benchmarks/results/learning_curve.{md,json}. About 45
minutes per educational-value run and 40 per linguistic-quality run on 2 CPU cores.
"""

from __future__ import annotations

import argparse
import json
import random
import sys
import tempfile
from functools import partial
from pathlib import Path

import numpy as np
from quality_goals import LANGS
from quality_web import spec_score_filters, web_documents
from tables import write_results

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "benchmarks" / "results"
TASKS = ("educational_value", "linguistic_quality")


def inputs(task: str, web_labels: Path, out: Path, reference: Path, web: Path):
    """(annotations, corpora) as the Makefile's TRAIN_INPUTS give them, with `web_labels`."""
    annotations = [ROOT / "annotations" / "seed", web_labels]
    corpora = [ROOT / "data" / "demo", web]
    if task == "educational_value":
        annotations += [ROOT / "annotations" / "reference" / f"{task}.jsonl", out / "synthetic_edu"]
        corpora += [reference, out / "synthetic_edu"]
    else:
        annotations.append(out / "synthetic")
        corpora.append(out / "synthetic")
    return annotations, corpora


def subsample(task: str, fraction: float, folder: Path, seed: int = 0) -> tuple[Path, int]:
    """The web labels with `fraction` of the train split's pages (per language), the rest whole."""
    rows = [json.loads(line) for line in (ROOT / "annotations" / "web" / f"{task}.jsonl").open()]
    rng = random.Random(seed)
    train = [r for r in rows if r["split"] == "train"]
    kept = []
    for lang in sorted({r["lang"] or "" for r in train}):
        mine = [r for r in train if (r["lang"] or "") == lang]
        kept += rng.sample(mine, round(fraction * len(mine)))
    chosen = [r for r in rows if r["split"] != "train"] + kept
    path = folder / f"{task}.jsonl"
    path.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in chosen))
    return path, len(kept)


def train_and_export(task, fraction, out, reference, web, workdir: Path) -> tuple[Path, int]:
    from curate.classify.config import load_classifier_config
    from curate.classify.export import export_bundle
    from curate.classify.train import train_classifier
    from curate.documents import read_documents

    labels = workdir / f"labels_{fraction}"
    labels.mkdir(parents=True)
    path, n = subsample(task, fraction, labels)
    config = load_classifier_config(ROOT / "classifiers" / f"{task}.demo.yaml")
    annotations, corpora = inputs(task, path, out, reference, web)
    model = workdir / f"{task}_{fraction}"
    train_classifier(config, annotations, corpora, model, progress=False)
    texts = [d.text for d in read_documents([ROOT / "data" / "demo"])][:300]
    export_bundle(model, model / "bundle", texts, min_agreement=0.0)
    return model / "bundle", n


def judge(task: str, bundle: Path, docs) -> dict:
    """Web test figures per language at the demo spec's threshold for `task`: the shares kept
    as benchmarks/quality.py's gate figures count them, and for educational value the label
    agreement of the scores."""
    from quality_web import cleaned, gate_results

    from curate.classify import QualityClassifier

    test = [d for d in docs if d.metadata["split"] == "test" and d.lang in LANGS]
    scores = QualityClassifier.load(bundle).score(cleaned([d.text for d in test]), task)
    step = spec_score_filters(ROOT / "pipelines" / "demo.yaml", {task: bundle})[task]
    kept = gate_results(partial(step.threshold, task), scores, test)["kept"]
    edu = task == "educational_value"
    if edu:
        by_id = {d.id: float(x) for d, x in zip(test, scores, strict=True)}
        agreement = judge_scores(task, by_id, docs)
    out = {}
    for lang in LANGS:
        out[lang] = {"kept": kept.get(f"all/{lang}")}
        if edu:
            out[lang] |= {**agreement[lang], "kept_of_3": kept.get(f"edu>=3/{lang}")}
        else:
            bad = kept.get(f"lq<=1/{lang}")
            out[lang] |= {
                "kept_of_3": kept.get(f"lq>=3/{lang}"),
                "dropped_of_1": None if bad is None else 1 - bad,
            }
    return out


def lexical_run(task: str, fraction: float, reference: Path, web: Path, docs) -> tuple:
    """The task's lexical model alone on `fraction` of the web train labels (see the doc)."""
    from quality_web import cleaned

    from curate.classify.config import load_classifier_config
    from curate.classify.data import load_examples
    from curate.classify.label_scale import fit_label_scale
    from curate.classify.lexical import LexicalModel

    config = load_classifier_config(ROOT / "classifiers" / f"{task}.demo.yaml")
    with tempfile.TemporaryDirectory() as tmp:
        path, n = subsample(task, fraction, Path(tmp))
        annotations = [path] + (
            [ROOT / "annotations" / "reference" / f"{task}.jsonl"]
            if task != "linguistic_quality"
            else []
        )
        examples, _ = load_examples(annotations, [web, reference], task, config.scale)
    part = {s: [e for e in examples if e.split == s] for s in ("train", "validation")}
    lex = config.lexical
    model = LexicalModel.fit(
        [e.text for e in part["train"]],
        [e.score for e in part["train"]],
        lex.alpha,
        lex.max_chars,
        lex.char_ngrams,
    )
    val = part["validation"]
    scale = fit_label_scale(
        model.predict([e.text for e in val]), [e.score for e in val], config.scale
    )
    test = [d for d in docs if d.metadata["split"] == "test" and d.lang in LANGS]
    scores = scale.apply(model.predict(cleaned([d.text for d in test])))
    return {d.id: float(s) for d, s in zip(test, scores, strict=True)}, n


def judge_scores(task: str, by_id: dict, docs) -> dict:
    """Label-agreement figures of scores alone (no threshold), per language."""
    from curate.classify.metrics import evaluate

    out = {}
    column = "edu" if task == "educational_value" else "lq"
    for lang in LANGS:
        test = [
            d for d in docs if d.id in by_id and d.lang == lang and d.metadata[column] is not None
        ]
        y = np.array([d.metadata[column] for d in test])
        s = np.array([by_id[d.id] for d in test])
        c = evaluate(y.tolist(), s, (0, 5))
        out[lang] = {
            "f1_at_3": c["binary_at_threshold"]["3"]["f1"],
            "spearman": c["spearman"],
            "mse": c["mse"],
        }
    return out


COLUMNS = {  # key -> header; shares print as percentages
    "f1_at_3": "binary F1 at 3",
    "spearman": "Spearman",
    "mse": "MSE",
    "kept": "kept",
    "kept_of_3": "labelled >= 3 kept",
    "dropped_of_1": "labelled <= 1 dropped",
}
FULL_KEYS = {
    "educational_value": ("f1_at_3", "spearman", "mse", "kept", "kept_of_3"),
    "linguistic_quality": ("kept", "kept_of_3", "dropped_of_1"),
}
FULL_TITLE = (
    "## Learning curve on the web labels (web test split; thresholds as pipelines/demo.yaml "
    "chooses them)"
)
LEXICAL_TITLE = (
    "## Learning curve of the lexical model alone (web test split, scores on the label scale; "
    "not the shipped classifier: its side model that learns the labels' words)"
)


def table(title: str, results: dict, keys_of) -> list[str]:
    """One table per task: a row per share of the web labels, nb / nn in each cell."""
    lines = [title, ""]
    for task, runs in results.items():
        keys = keys_of(task)
        lines += [
            f"### {task}, nb / nn",
            "",
            "| web labels | train pages | " + " | ".join(COLUMNS[k] for k in keys) + " |",
            "|---|---" + "|---" * len(keys) + "|",
        ]
        for fraction, r in sorted(runs.items(), key=lambda kv: float(kv[0])):
            cells = []
            for key in keys:
                pair = [r["figures"][lang][key] for lang in LANGS]
                percent = key.startswith(("kept", "dropped"))
                cells.append(" / ".join(f"{v:.1%}" if percent else f"{v:.3f}" for v in pair))
            lines.append(
                f"| {float(fraction):.0%} | {r['train_pages']} | " + " | ".join(cells) + " |"
            )
        lines.append("")
    return lines


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--task", action="append", choices=TASKS)
    parser.add_argument("--fraction", action="append", type=float)
    parser.add_argument("--out-dir", type=Path, default=ROOT / "out", help="make's OUT")
    parser.add_argument("--reference", type=Path, default=ROOT.parent / "shared" / "reference")
    parser.add_argument("--web", type=Path, default=ROOT.parent / "shared" / "web")
    parser.add_argument("--out", type=Path, default=RESULTS / "learning_curve")
    parser.add_argument("--lexical-only", action="store_true", help="the lexical model alone")
    args = parser.parse_args()
    from curate.web import WebMissing

    try:
        docs = web_documents(str(args.web))
    except WebMissing as err:
        sys.exit(f"learning curve skipped: {err}")
    results = {}
    if args.lexical_only:
        for task in args.task or TASKS:
            runs = {}
            for fraction in args.fraction or (0.25, 0.5, 1.0):
                by_id, n = lexical_run(task, fraction, args.reference, args.web, docs)
                runs[str(fraction)] = {"train_pages": n, "figures": judge_scores(task, by_id, docs)}
            results[task] = runs
        lines = table(LEXICAL_TITLE, results, lambda task: ("f1_at_3", "spearman", "mse"))
        write_results(args.out.with_name(args.out.name + "_lexical"), lines, results)
        return
    with tempfile.TemporaryDirectory() as tmp:
        for task in args.task or TASKS:
            shipped = ROOT / "classifiers" / task / "bundle"
            full = sum(
                json.loads(line)["split"] == "train"
                for line in (ROOT / "annotations" / "web" / f"{task}.jsonl").open()
            )
            runs = {"1.0": {"train_pages": full, "figures": judge(task, shipped, docs)}}
            for fraction in args.fraction or (0.25, 0.5):
                bundle, n = train_and_export(
                    task, fraction, args.out_dir, args.reference, args.web, Path(tmp)
                )
                runs[str(fraction)] = {"train_pages": n, "figures": judge(task, bundle, docs)}
            results[task] = runs
    write_results(args.out, table(FULL_TITLE, results, FULL_KEYS.get), results)


if __name__ == "__main__":
    main()
