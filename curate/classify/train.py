"""`curate train`: fit a classifier on annotations, evaluate it, calibrate its threshold, and write
the model, metrics, plots and a model card to one directory."""

from __future__ import annotations

import json
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

from curate.classify.calibrate import (
    choose_threshold,
    per_language_thresholds,
    threshold_effect,
)
from curate.classify.card import write_model_card
from curate.classify.config import ClassifierConfig, resolve_model_path
from curate.classify.data import Example, LabelReport, load_examples, split_examples
from curate.classify.fluency import FLUENCY_FILE, FluencyParams, WordBigramLM, fluency_penalty
from curate.classify.metrics import baselines, evaluate
from curate.classify.model import ScoreDataModule, ScoreRegressor, load_encoder, loss_weights
from curate.classify.model import predict as predict_scores
from curate.classify.plots import confusion_matrix_png, score_distribution_png

logger = logging.getLogger(__name__)


def auto_precision(requested: str) -> str:
    if requested != "auto":
        return requested
    if torch.cuda.is_available() and torch.cuda.is_bf16_supported():
        return "bf16-mixed"
    return "32-true"


def train_classifier(
    config: ClassifierConfig,
    annotations: Iterable[str | os.PathLike],
    corpus: Iterable[str | os.PathLike],
    out_dir: str | os.PathLike,
    resume: bool = False,
    progress: bool = True,
) -> dict[str, Any]:
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    t = config.training
    pl.seed_everything(t.seed, workers=True, verbose=False)
    examples, label_report = load_examples(
        list(annotations), list(corpus), config.task, config.scale
    )
    splits = split_examples(
        examples,
        config.split["validation"],
        config.split["test"],
        int(config.split.get("seed", t.seed)),
    )
    model_path = resolve_model_path(config.base_model)
    _, tokenizer = load_encoder(model_path)
    steps = math.ceil(len(splits["train"]) / t.batch_size) * t.epochs
    total_steps = min(steps, t.max_steps) if t.max_steps > 0 else steps
    weights = loss_weights([e.score for e in splits["train"]], t.class_balance)
    module = ScoreRegressor(model_path, config, weights, total_steps)
    data = ScoreDataModule(splits, tokenizer, config.max_length, t.batch_size)
    # The best epoch keeps weights only; `last.ckpt` keeps optimizer and loop state for resume.
    checkpoint = ModelCheckpoint(
        dirpath=out / "checkpoints",
        filename="best",
        monitor="val_macro_f1",
        mode="max",
        save_top_k=1,
        save_weights_only=True,
        enable_version_counter=False,
    )
    last_checkpoint = ModelCheckpoint(dirpath=out / "checkpoints", save_top_k=0, save_last=True)
    trainer = pl.Trainer(
        max_epochs=t.epochs,
        max_steps=t.max_steps,
        accelerator=t.accelerator,
        devices=t.devices,
        strategy=t.strategy,
        precision=auto_precision(t.precision),
        callbacks=[
            checkpoint,
            last_checkpoint,
            # strict=False: a --max-steps run can end before the first validation
            EarlyStopping("val_macro_f1", mode="max", patience=t.patience, strict=False),
        ],
        logger=CSVLogger(out, name="logs"),
        enable_progress_bar=progress,
        log_every_n_steps=5,
        enable_model_summary=False,
    )
    last = out / "checkpoints" / "last.ckpt"
    ckpt = str(last) if resume and last.exists() else None
    trainer.fit(module, data, ckpt_path=ckpt, weights_only=True)  # never unpickle arbitrary objects
    best = checkpoint.best_model_path or str(last)
    state = torch.load(best, map_location="cpu", weights_only=True)["state_dict"]
    module.load_state_dict(state)
    model_dir = out / "model"
    module.model.save_pretrained(model_dir)  # safetensors
    tokenizer.save_pretrained(model_dir)
    fluency = fit_fluency(config, splits, out) if config.fluency else None
    metrics = assess(module.model.cpu(), tokenizer, config, splits, out, fluency)
    metrics.update(training_record(config, model_path, splits, label_report, trainer, best))
    (out / "metrics.json").write_text(json.dumps(metrics, indent=2, ensure_ascii=False))
    (out / "training_config.yaml").write_text(yaml.safe_dump(config.to_dict(), sort_keys=False))
    write_model_card(out / "README.md", config, metrics)
    return metrics


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
        raise ValueError(f"fluency needs validation examples with score >= {fluent}")
    features = lm.features(
        good, settings["max_words"], settings["window"], settings["window_quantile"]
    )
    return lm, FluencyParams.fit(features, **settings)


def assess(
    model,
    tokenizer,
    config: ClassifierConfig,
    splits: dict[str, list[Example]],
    out: Path,
    fluency: tuple[WordBigramLM, FluencyParams] | None = None,
) -> dict[str, Any]:
    """Test metrics, baselines, threshold calibrated on validation and applied to test, plots.
    With `fluency`, every score is the encoder's minus the fluency penalty, as the bundle's."""
    preds = {}
    for name, part in splits.items():
        if name == "train":
            continue
        texts = [e.text for e in part]
        preds[name] = predict_scores(model, tokenizer, texts, config.max_length)
        if fluency is not None:
            preds[name] += fluency_penalty(*fluency, texts)
    y = {name: [e.score for e in part] for name, part in splits.items()}
    threshold, how = choose_threshold(preds["validation"], y["validation"], config.threshold)
    by_language = per_language_thresholds(
        preds["validation"],
        y["validation"],
        [e.lang for e in splits["validation"]],
        config.threshold,
    )
    test = evaluate(y["test"], preds["test"], config.scale)
    train_texts = [e.text for e in splits["train"]]
    metrics = {
        "task": config.task,
        "scale": list(config.scale),
        "max_length": config.max_length,
        "fluency": None if fluency is None else {**asdict(fluency[1]), "file": FLUENCY_FILE},
        "test": test,
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
    }
    confusion_matrix_png(
        test["confusion_matrix"],
        config.scale,
        f"{config.task}: test split",
        out / "confusion_matrix.png",
    )
    score_distribution_png(
        preds["test"],
        y["test"],
        config.scale,
        threshold,
        f"{config.task}: predicted scores (test)",
        out / "score_distribution.png",
    )
    return metrics


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
