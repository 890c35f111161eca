"""The model card (README.md) written beside a trained classifier."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from curate.classify.config import ClassifierConfig, trained_tasks
from curate.classify.layout import CARD, CONFUSION_PNG, DISTRIBUTION_PNG, TRADEOFF_PNG


def side_models(m: dict[str, Any]) -> str:
    """What the score adds to the encoder's, as card lines."""
    lines = ""
    if m.get("lexical"):
        lex = m["lexical"]
        lines += (
            f"\n- Score blended with a lexical model (ridge over hashed word and character "
            f"n-grams, `{lex['file']}`, fit on {lex['examples']} training documents): "
            f"weight {lex['weight']}."
        )
    if m.get("fluency"):
        lines += (
            f"\n- Score lowered by a fluency penalty (word-bigram LM, `{m['fluency']['file']}`) "
            "for text far less fluent than the validation split's good text."
        )
    return lines


def curve_rows(curves: dict[str, Any], points=(0.05, 0.10, 0.15, 0.30, 0.50)) -> str:
    """The curves' threshold, precision and recall where they keep a few round shares."""
    from curate.classify.calibrate import choose_on_curve

    rows = []
    for domain, by_lang in curves.items():
        if domain == "all" and len(curves) > 1:  # the domains' own curves say more
            continue
        for lang, curve in by_lang.items():
            for share in points:
                t, point, _ = choose_on_curve(curve, "keep_share", share)
                rows.append(
                    f"| {domain} | {lang} | {share:.0%} | {t:.2f} | {point['precision']:.2f} | "
                    f"{point['recall']:.2f} |"
                )
    return "\n".join(rows)


def label_scale_section(m: dict[str, Any]) -> str:
    """Where the score stands on the label scale, and what each threshold keeps per domain."""
    if not m.get("label_scale") or not m.get("curves"):
        return ""
    raw = m.get("test_raw", {})
    positive = m["threshold"]["positive_label"]
    return f"""
## Scores on the label scale, thresholds as a trade-off
The raw score (encoder, lexical blend, fluency penalty) is mapped onto the label scale by a
monotone map fitted on the validation split (centred isotonic regression, each calibration
domain weighted alike; `label_scale` in `classifier.json`), so a 3 means the guidelines' 3.
Test MSE {m["test"]["mse"]:.3f} (raw score: {raw.get("mse", float("nan")):.3f}), ranking
unchanged (Spearman {m["test"]["spearman"]:.3f}).

What a threshold keeps on the validation split, per calibration domain (edited prose, web
pages) and language, with precision and recall at score >= {positive} (the whole curves are in
`classifier.json` under `curves`; a spec's `score_filter` chooses on them by `threshold`,
`keep_share`, `min_precision` or `min_recall` with a `domain`):

| domain | language | share kept | threshold | precision | recall |
| --- | --- | --- | --- | --- | --- |
{curve_rows(m["curves"])}

![threshold curves]({TRADEOFF_PNG})
"""


def write_model_card(path: Path, config: ClassifierConfig, m: dict[str, Any]) -> None:
    t, test, th = config.training, m["test"], m["threshold"]
    rows = [("this classifier", test)] + [
        (name.replace("_", " "), b) for name, b in m["baselines_test"].items()
    ]
    table = "\n".join(
        f"| {name} | {r['macro_f1']:.3f} | {r['mse']:.3f} | {r['spearman']:.3f} | "
        f"{r['accuracy']:.3f} |"
        for name, r in rows
    )
    per_class = "\n".join(
        f"| {label} | {v['precision']:.2f} | {v['recall']:.2f} | {v['f1-score']:.2f} | "
        f"{int(v['support'])} |"
        for label, v in test["classification_report"].items()
        if label.isdigit()
    )
    binary = "\n".join(
        f"| >= {k} | {v['precision']:.2f} | {v['recall']:.2f} | {v['f1']:.2f} | {v['kept']:.1%} |"
        for k, v in test["binary_at_threshold"].items()
    )
    per_language = "".join(
        f"\n- {lang}: >= **{v['value']:.3f}** ({v['chosen_by']}, on {lang} validation documents)"
        + (f"; on {lang} test it keeps {v['test']['keep_rate']:.1%}" if "test" in v else "")
        for lang, v in th.get("by_language", {}).items()
    )
    per_language_intro = "Per language (the filter applies the document's language's threshold):"
    splits = ", ".join(f"{k} {v['n']}" for k, v in m["splits"].items())
    skipped = ", ".join(f"{k}: {v}" for k, v in m["labels"]["skipped"].items()) or "none"
    text = f"""# {config.task} classifier

Scores a document's **{config.task.replace("_", " ")}** on {config.scale[0]}–{config.scale[1]}
(a regression head; round and clip for the integer score).

## Data
- {m["labels"]["used"]} labelled documents used of {m["labels"]["annotations"]} annotations
  (skipped: {skipped}).
- Split (the reference corpus's committed split where a label names one, else stratified by
  score): {splits}. Score counts per split are in `metrics.json`.

## Model and training
- Base encoder: `{config.base_model}`, max length {config.max_length} tokens,
  {"frozen encoder (head only)" if t.freeze_encoder else "full fine-tuning"}.
- AdamW, lr {t.learning_rate} (head {t.head_learning_rate}), weight decay {t.weight_decay},
  linear schedule with {t.warmup_ratio:.0%} warmup, batch {t.batch_size}, up to {t.epochs}
  epochs with early stopping (patience {t.patience}) on validation macro-F1;
  loss weights per score: `{t.class_balance}`; seed {t.seed}.{side_models(m)}
- Ran {m["training"]["epochs_run"]} epochs, {m["training"]["global_steps"]} steps; best
  validation macro-F1 {m["training"]["best_val_macro_f1"]}.

## Evaluation (test split, n = {test["n"]})

| model | macro-F1 | MSE | Spearman | accuracy |
| --- | --- | --- | --- | --- |
{table}

Per class:

| score | precision | recall | F1 | support |
| --- | --- | --- | --- | --- |
{per_class}

Binary, kept when the rounded score is at least k:

| k | precision | recall | F1 | kept |
| --- | --- | --- | --- | --- |
{binary}

![confusion matrix]({CONFUSION_PNG}) ![score distribution]({DISTRIBUTION_PNG})

## Threshold
Keep a document when its score is >= **{th["value"]:.3f}** ({th["chosen_by"]}).
On validation it keeps {th["validation"]["keep_rate"]:.1%} with precision
{th["validation"]["precision"]:.2f} and recall {th["validation"]["recall"]:.2f} for
score >= {th["positive_label"]}; on test it keeps {th["test"]["keep_rate"]:.1%} with precision
{th["test"]["precision"]:.2f} and recall {th["test"]["recall"]:.2f}.
{per_language_intro if per_language else ""}{per_language}

{label_scale_section(m)}
## Limitations
- The labels are only as good as their annotator (hand labels or an LLM's, see the data
  section); a small test split gives wide error bars on every figure above.
- The encoder truncates at {config.max_length} tokens: only the start of a long document is
  scored.
- Trained on the languages present in the labelled set; scores on other languages are not
  meaningful.
"""
    path.write_text(text, encoding="utf-8")


def write_joint_card(path: Path, configs: list[ClassifierConfig], m: dict[str, Any]) -> None:
    """The card of a model with a head per task: what the tasks share, and a row per task
    linking its own card (`<task>/README.md`)."""
    t = configs[0].training
    rows = "\n".join(
        f"| [{task['task']}]({task['task']}/{CARD}) | {task['test']['macro_f1']:.3f} | "
        f"{task['test']['spearman']:.3f} | {task['threshold']['value']:.3f} |"
        for task in m["tasks"]
    )
    text = f"""# Quality classifier: {", ".join(c.task for c in configs)}

One encoder (`{configs[0].base_model}`, max length {configs[0].max_length} tokens) with a
regression output per task, {how_trained(configs)}; early stopping on the mean of the tasks'
validation macro-F1. Scoring every task costs one encoder pass. Training: lr
{t.learning_rate} (head {t.head_learning_rate}), batch {t.batch_size}, up to {t.epochs} epochs; ran
{m["training"]["epochs_run"]} epochs, {m["training"]["global_steps"]} steps.

| task (its card) | test macro-F1 | test Spearman | threshold |
| --- | --- | --- | --- |
{rows}
"""
    path.write_text(text, encoding="utf-8")


def how_trained(configs: list[ClassifierConfig]) -> str:
    inherited = [c.task for c in configs if c.task in trained_tasks(configs[0].base_model)]
    if configs[0].training.freeze_encoder and inherited:
        return (
            f"on the frozen encoder of a trained classifier ({', '.join(inherited)}: its head "
            "and scores, exactly; the other tasks: heads learnt on its features, each task's "
            "MSE over the documents labelled for it)"
        )
    return (
        "trained jointly: each task's MSE over the documents labelled for it, averaged over tasks"
    )
