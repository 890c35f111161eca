"""`curate train`: fit a classifier on annotations, evaluate it, calibrate its threshold, and write
the model, metrics, plots and a model card to one directory."""

from __future__ import annotations

import logging
import math
import os
from collections import Counter
from collections.abc import Iterable
from dataclasses import asdict
from pathlib import Path
from typing import Any

import numpy as np
import pytorch_lightning as pl
import torch
import yaml
from pytorch_lightning.callbacks import EarlyStopping, ModelCheckpoint
from pytorch_lightning.loggers import CSVLogger

from curate.atomic import write_atomic
from curate.classify.calibrate import (
    choose_threshold,
    per_language_thresholds,
    threshold_effect,
    tradeoff_curves,
)
from curate.classify.card import write_joint_card, write_model_card
from curate.classify.config import ClassifierConfig, resolve_model_path
from curate.classify.data import (
    SPLITS,
    Example,
    LabelReport,
    example_domains,
    load_examples,
    read_annotations,
    split_examples,
)
from curate.classify.fluency import FLUENCY_FILE, FluencyParams, WordBigramLM
from curate.classify.label_scale import fit_label_scale
from curate.classify.layout import (
    CARD,
    CONFUSION_PNG,
    DISTRIBUTION_PNG,
    TRADEOFF_PNG,
    ClassifierRunLayout,
)
from curate.classify.lexical import LEXICAL_FILE, LexicalModel
from curate.classify.metrics import baselines, evaluate
from curate.classify.model import ScoreDataModule, ScoreRegressor, load_encoder, loss_weights
from curate.classify.model import predict as predict_scores
from curate.classify.plots import confusion_matrix_png, score_distribution_png, tradeoff_png
from curate.classify.side import SideModels
from curate.classify.trained import TaskMetrics, write_metrics
from curate.errors import InputError
from curate.fit import fit as fit_resumable

logger = logging.getLogger(__name__)


def auto_precision(requested: str) -> str:
    if requested != "auto":
        return requested
    if torch.cuda.is_available() and torch.cuda.is_bf16_supported():
        return "bf16-mixed"
    return "32-true"


def default_output(configs: list[ClassifierConfig]) -> Path:
    """classifiers/<task> (classifiers/<task>+<task> for a joint model)."""
    return Path("classifiers") / "+".join(c.task for c in configs)


def train_classifier(
    config: ClassifierConfig | list[ClassifierConfig],
    annotations: Iterable[str | os.PathLike],
    corpus: Iterable[str | os.PathLike] = (),
    out_dir: str | os.PathLike | None = None,
    resume: bool = False,
    progress: bool = True,
) -> dict[str, Any]:
    """Train one classifier, or with several configs one encoder with a head per task, trained
    jointly (FineWeb-Edu's and NB-Llama's classifiers are one task each; two tasks in one model
    cost one encoder pass at scoring time). A joint model keeps each task's plots, fluency model
    and card in `<out>/<task>/` and its metrics under `tasks` in metrics.json. Without `corpus`,
    the first config's `corpus`; without `out_dir`, `default_output`."""
    configs = [config] if isinstance(config, ClassifierConfig) else list(config)
    check_joint(configs)
    corpus = list(corpus) or ([configs[0].corpus] if configs[0].corpus else [])
    if not corpus:
        raise InputError("no corpus: pass --corpus or set `corpus` in the config")
    out = Path(out_dir or default_output(configs))
    out.mkdir(parents=True, exist_ok=True)
    first, t = configs[0], configs[0].training
    pl.seed_everything(t.seed, workers=True, verbose=False)
    splits, reports = task_splits(configs, list(annotations), list(corpus))
    tasks = [c.task for c in configs]
    data_splits = {name: labelled(splits, tasks, name) for name in SPLITS}
    model_path = resolve_model_path(first.base_model)
    _, tokenizer = load_encoder(model_path)
    steps = math.ceil(len(data_splits["train"][0]) / t.batch_size) * t.epochs
    total_steps = min(steps, t.max_steps) if t.max_steps > 0 else steps
    weights = [
        loss_weights([e.score for e in splits[c.task]["train"]], t.class_balance) for c in configs
    ]
    module = ScoreRegressor(model_path, configs, weights, total_steps)
    data = ScoreDataModule(data_splits, tokenizer, first.max_length, t.batch_size)
    layout = ClassifierRunLayout(out)
    trainer, best = fit(module, data, t, layout, resume, progress)
    module.restore_inherited_heads()
    model_dir = layout.model
    module.model.save_pretrained(model_dir)  # safetensors
    tokenizer.save_pretrained(model_dir)
    model = module.model.cpu()
    per_task = []
    for column, c in enumerate(configs):
        task_dir = layout.task_dir(c.task, joint=len(configs) > 1)
        task_dir.mkdir(exist_ok=True)
        fluency = fit_fluency(c, splits[c.task], task_dir) if c.fluency else None
        lexical = fit_lexical(c, splits[c.task]["train"], task_dir) if c.lexical else None
        side = SideModels(fluency, lexical, c.lexical.weight if c.lexical else 0.0)
        m = assess(model, tokenizer, c, splits[c.task], task_dir, side, column, len(configs))
        m.update(training_record(c, model_path, splits[c.task], reports[c.task], trainer, best))
        if len(configs) > 1:
            for key in ("fluency", "lexical"):
                m[key] = m[key] and {**m[key], "file": f"{c.task}/{m[key]['file']}"}
            write_model_card(task_dir / CARD, c, m)
        per_task.append(TaskMetrics.from_record(m))
    metrics = write_metrics(out, per_task)
    saved = [c.to_dict() for c in configs]
    config_text = yaml.safe_dump(saved[0] if len(saved) == 1 else {"tasks": saved}, sort_keys=False)
    write_atomic(layout.config, config_text)
    if len(configs) == 1:
        write_model_card(layout.card, first, metrics)
    else:
        write_joint_card(layout.card, configs, metrics)
    return metrics


def check_joint(configs: list[ClassifierConfig]) -> None:
    """Tasks trained together share the encoder, its input length and the training loop."""
    if not configs:
        raise InputError("no classifier config")
    tasks = [c.task for c in configs]
    if len(set(tasks)) < len(tasks):
        raise InputError(f"a task is given twice: {tasks}")
    for c in configs[1:]:
        for key in ("base_model", "max_length"):
            if getattr(c, key) != getattr(configs[0], key):
                raise InputError(
                    f"tasks trained together share {key}: {configs[0].task} has "
                    f"{getattr(configs[0], key)!r}, {c.task} has {getattr(c, key)!r}"
                )


def task_splits(
    configs: list[ClassifierConfig], annotations: list, corpus: list
) -> tuple[dict[str, dict[str, list[Example]]], dict[str, LabelReport]]:
    """Each task's train/validation/test. A document sits in the same split for every task:
    the first task that has it places it, so no task is tested on text the shared encoder
    was trained on."""
    splits, reports, placed = {}, {}, {}
    for c in configs:
        examples, reports[c.task] = load_examples(annotations, corpus, c.task, c.scale)
        for e in examples:
            e.split = e.split or placed.get(e.id)
        # a score too rare among the documents left to split (< 3) cannot be stratified:
        # those documents train, the placed ones already give the score to validation and test
        if placed:
            free = Counter(e.score for e in examples if e.split is None)
            for e in examples:
                if e.split is None and free[e.score] < 3:
                    e.split = "train"
        seed = int(c.split.get("seed", c.training.seed))
        splits[c.task] = split_examples(examples, c.split["validation"], c.split["test"], seed)
        for name, part in splits[c.task].items():
            for e in part:
                placed.setdefault(e.id, name)
    return splits, reports


def labelled(splits: dict[str, dict[str, list[Example]]], tasks: list[str], name: str):
    """One split's documents, each once, with a score per task (NaN where unlabelled)."""
    rows: dict[str, tuple[str, list[float]]] = {}
    for column, task in enumerate(tasks):
        for e in splits[task][name]:
            _, scores = rows.setdefault(e.id, (e.text, [math.nan] * len(tasks)))
            scores[column] = float(e.score)
    return [text for text, _ in rows.values()], [scores for _, scores in rows.values()]


def fit(module, data, t, layout: ClassifierRunLayout, resume: bool, progress: bool):
    """Lightning's loop; returns the trainer and the best checkpoint's path, whose weights are
    loaded into `module`."""
    # The best epoch keeps weights only; `last.ckpt` keeps optimizer and loop state for resume.
    checkpoint = ModelCheckpoint(
        dirpath=layout.checkpoints,
        filename="best",
        monitor="val_macro_f1",
        mode="max",
        save_top_k=1,
        save_weights_only=True,
        enable_version_counter=False,
    )
    keep_last = ModelCheckpoint(dirpath=layout.checkpoints, save_top_k=0, save_last=True)
    trainer = pl.Trainer(
        max_epochs=t.epochs,
        max_steps=t.max_steps,
        accelerator=t.accelerator,
        devices=t.devices,
        strategy=t.strategy,
        precision=auto_precision(t.precision),
        callbacks=[
            checkpoint,
            keep_last,
            # strict=False: a --max-steps run can end before the first validation
            EarlyStopping("val_macro_f1", mode="max", patience=t.patience, strict=False),
        ],
        logger=CSVLogger(layout.root, name=layout.LOGS),
        enable_progress_bar=progress,
        log_every_n_steps=5,
        enable_model_summary=False,
    )
    fit_resumable(trainer, module, data, layout, resume)
    best = checkpoint.best_model_path or str(layout.last_checkpoint)
    state = torch.load(best, map_location="cpu", weights_only=True)["state_dict"]
    module.load_state_dict(state)
    return trainer, best


def fit_fluency(
    config: ClassifierConfig, splits: dict[str, list[Example]], out: Path
) -> tuple[WordBigramLM, FluencyParams]:
    """The fluency LM of the training split's fluent text (score >= fluency.min_score, by
    default the threshold's positive_label), standardised on the validation split's fluent text
    (text the LM has not seen, as in use)."""
    settings = asdict(config.fluency)
    fluent = settings.pop("min_score")
    if fluent is None:
        fluent = config.threshold.positive_label
    lm = WordBigramLM.fit(e.text for e in splits["train"] if e.score >= fluent)
    lm.save(out / FLUENCY_FILE)
    good = [e.text for e in splits["validation"] if e.score >= fluent]
    if len(good) < 2:
        raise InputError(f"fluency needs validation examples with score >= {fluent}")
    features = lm.features(
        good, settings["max_words"], settings["window"], settings["window_quantile"]
    )
    return lm, FluencyParams.fit(features, **settings)


def fit_lexical(config: ClassifierConfig, train: list[Example], out: Path) -> LexicalModel | None:
    """The lexical model of the training split's examples from `lexical.annotations` (all when
    empty), damaged copies left out; None, with a warning, where fewer than
    `lexical.min_examples` are left (the demo trained without the reference corpus)."""
    settings = config.lexical
    chosen = None
    if settings.annotations:
        chosen = set(read_annotations(settings.annotations, config.task, LabelReport()))
    examples = [e for e in train if not e.damage and (chosen is None or e.id in chosen)]
    if len(examples) < settings.min_examples:
        logger.warning(
            "%s: no lexical model: %d training examples from %s (at least %d needed)",
            config.task,
            len(examples),
            settings.annotations or "the annotations",
            settings.min_examples,
        )
        return None
    logger.info("%s: lexical model fit on %d training examples", config.task, len(examples))
    lexical = LexicalModel.fit(
        [e.text for e in examples],
        [e.score for e in examples],
        settings.alpha,
        settings.max_chars,
        settings.char_ngrams,
    )
    lexical.save(out / LEXICAL_FILE)
    return lexical


def assess(
    model,
    tokenizer,
    config: ClassifierConfig,
    splits: dict[str, list[Example]],
    out: Path,
    side: SideModels | None = None,
    column: int = 0,
    columns: int = 1,
) -> dict[str, Any]:
    """Test metrics, baselines, threshold calibrated on validation and applied to test, plots.
    With `side`, every score is the encoder's blended with the lexical model's and lowered by
    the fluency penalty, as the bundle's. `column` is the task's output among the model's
    `columns`."""
    side = side or SideModels()
    raw = {}
    for name, part in splits.items():
        if name == "train":
            continue
        texts = [e.text for e in part]
        scores = predict_scores(model, tokenizer, texts, config.max_length)
        raw[name] = side.raw(scores.reshape(len(texts), columns)[:, column].copy(), texts)
    y = {name: [e.score for e in part] for name, part in splits.items()}
    domains = example_domains(splits["validation"])
    side.label_scale = fit_label_scale(
        raw["validation"], y["validation"], config.scale, domain_weights(domains)
    )
    preds = {name: side.calibrate(scores) for name, scores in raw.items()}
    threshold, how = choose_threshold(preds["validation"], y["validation"], config.threshold)
    by_language = per_language_thresholds(
        preds["validation"],
        y["validation"],
        [e.lang for e in splits["validation"]],
        config.threshold,
    )
    test = evaluate(y["test"], preds["test"], config.scale)
    raw_test = evaluate(y["test"], raw["test"], config.scale)
    train_texts = [e.text for e in splits["train"]]
    metrics = {
        "task": config.task,
        "scale": list(config.scale),
        "max_length": config.max_length,
        **side.record(config.lexical.alpha if config.lexical else None),
        "test": test,
        "test_raw": {k: raw_test[k] for k in ("mse", "spearman", "macro_f1")},
        "validation": {
            k: v
            for k, v in evaluate(y["validation"], preds["validation"], config.scale).items()
            if k in ("macro_f1", "mse", "spearman", "accuracy")
        },
        "baselines_test": baselines(
            train_texts, y["train"], [e.text for e in splits["test"]], y["test"], config.scale
        ),
        "threshold": {
            "value": threshold,
            "policy": config.threshold.policy,
            "target": config.threshold.value,
            "chosen_by": how,
            "positive_label": config.threshold.positive_label,
            "validation": threshold_effect(
                preds["validation"], y["validation"], threshold, config.threshold.positive_label
            ),
            "test": threshold_effect(
                preds["test"], y["test"], threshold, config.threshold.positive_label
            ),
            "by_language": {
                lang: language_threshold_record(lang, t, why, preds, y, splits, config)
                for lang, (t, why) in by_language.items()
            },
        },
        "curves": tradeoff_curves(
            preds["validation"],
            y["validation"],
            [e.lang for e in splits["validation"]],
            domains,
            config.threshold.positive_label,
            config.threshold.per_language,
        ),
    }
    confusion_matrix_png(
        test["confusion_matrix"],
        config.scale,
        f"{config.task}: test split",
        out / CONFUSION_PNG,
    )
    score_distribution_png(
        preds["test"],
        y["test"],
        config.scale,
        threshold,
        f"{config.task}: predicted scores (test)",
        out / DISTRIBUTION_PNG,
    )
    tradeoff_png(metrics["curves"], threshold, config.task, out / TRADEOFF_PNG)
    return metrics


def domain_weights(domains: list[str | None]) -> np.ndarray:
    """Each domain (edited prose, web, the rest) weighs the same in the label-scale fit: the
    web's few hundred validation pages must not be outvoted by thousands of damaged copies."""
    counts = Counter(domains)
    return np.array([len(domains) / (len(counts) * counts[d]) for d in domains])


def language_threshold_record(lang, threshold, how, preds, y, splits, config) -> dict[str, Any]:
    """A per-language threshold and what it does on that language's validation and test."""
    record: dict[str, Any] = {"value": threshold, "chosen_by": how}
    for name in ("validation", "test"):
        mine = np.array([e.lang == lang for e in splits[name]])
        if mine.any():
            record[name] = threshold_effect(
                preds[name][mine],
                np.asarray(y[name])[mine],
                threshold,
                config.threshold.positive_label,
            )
    return record


def training_record(
    config, model_path, splits, label_report: LabelReport, trainer, best: str
) -> dict[str, Any]:
    return {
        "base_model": config.base_model,
        "base_model_path": model_path,
        "splits": {
            name: {"n": len(part), "scores": dict(sorted(Counter(e.score for e in part).items()))}
            for name, part in splits.items()
        },
        "labels": {
            "annotations": label_report.annotations,
            "used": label_report.used,
            "skipped": dict(label_report.skipped),
            "skipped_examples": label_report.examples[:20],
        },
        "training": {
            "epochs_run": trainer.current_epoch,
            "global_steps": trainer.global_step,
            "best_checkpoint": Path(best).name,
            "best_val_macro_f1": best_score(trainer),
        },
    }


def best_score(trainer) -> float | None:
    scores = [
        cb.best_model_score
        for cb in trainer.checkpoint_callbacks
        if cb.monitor == "val_macro_f1" and cb.best_model_score is not None
    ]
    return float(scores[0]) if scores else None
