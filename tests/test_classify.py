import json

import numpy as np
import pytest
import torch
from click.testing import CliRunner
from conftest import tiny_config
from safetensors.torch import load_file

from curate.classify.calibrate import choose_threshold, threshold_effect
from curate.classify.config import ThresholdConfig, load_classifier_config, resolve_model_path
from curate.classify.data import load_examples, split_examples
from curate.classify.model import loss_weights
from curate.classify.train import train_classifier
from curate.cli import cli

TASK = "educational_value"


def test_training_writes_model_metrics_plots_and_card(trained):
    out, metrics = trained
    for name in (
        "metrics.json",
        "confusion_matrix.png",
        "score_distribution.png",
        "threshold_curves.png",
        "README.md",
        "model/model.safetensors",
        "model/tokenizer.json",
        "checkpoints/last.ckpt",
    ):
        assert (out / name).exists(), name
    saved = json.loads((out / "metrics.json").read_text())
    assert saved["task"] == TASK and saved["labels"]["used"] == 48
    assert set(saved["baselines_test"]) == {"majority_class", "length_only"}
    assert len(saved["test"]["confusion_matrix"]) == 6
    assert set(saved["test"]["binary_at_threshold"]) == {"1", "2", "3", "4", "5"}
    assert 0 <= saved["threshold"]["test"]["keep_rate"] <= 1
    assert saved["label_scale"]["raw"] and saved["curves"]["all"]["all"]["n"] > 0
    assert "mse" in saved["test_raw"]  # the raw score's figures beside the calibrated ones
    card = (out / "README.md").read_text()
    assert "| majority class |" in card and "## Threshold" in card
    assert "thresholds as a trade-off" in card and "threshold_curves.png" in card
    assert (out / "confusion_matrix.png").read_bytes()[:4] == b"\x89PNG"


def test_evaluate_cli_reports_on_labelled_data(trained, small_labels, repo_root):
    out, _ = trained
    result = CliRunner().invoke(
        cli,
        [
            "evaluate",
            str(out),
            str(repo_root / "data/demo"),
            "--annotations",
            str(small_labels),
            "--json",
        ],
    )
    assert result.exit_code == 0, result.output
    m = json.loads(result.stdout)
    assert m["n"] == 48 and 0 <= m["macro_f1"] <= 1 and m["task"] == TASK


def test_frozen_encoder_stays_frozen(tmp_path, small_labels, repo_root):
    train_classifier(
        tiny_config(repo_root, freeze_encoder=True, epochs=1),
        [small_labels],
        [repo_root / "data/demo"],
        tmp_path,
        progress=False,
    )
    after = load_file(tmp_path / "model" / "model.safetensors")
    before = load_file(f"{resolve_model_path('embedded:all-MiniLM-L6-v2')}/model.safetensors")
    encoder = [
        k
        for k in after
        if k.startswith("bert.") and not k.startswith("bert.pooler") and "position_ids" not in k
    ]
    assert len(encoder) > 50
    for key in encoder:
        assert torch.equal(after[key], before[key.removeprefix("bert.")]), key
    head_before = torch.zeros_like(after["classifier.weight"])
    assert not torch.equal(after["classifier.weight"], head_before)


def test_resume_continues_from_the_last_checkpoint(tmp_path, small_labels, repo_root):
    first = train_classifier(
        tiny_config(repo_root, epochs=1),
        [small_labels],
        [repo_root / "data/demo"],
        tmp_path,
        progress=False,
    )
    resumed = train_classifier(
        tiny_config(repo_root, epochs=2),
        [small_labels],
        [repo_root / "data/demo"],
        tmp_path,
        resume=True,
        progress=False,
    )
    steps = first["training"]["global_steps"]
    assert steps > 0 and resumed["training"]["global_steps"] == 2 * steps
    assert resumed["training"]["epochs_run"] == 2


def test_threshold_hits_a_keep_rate_target():
    pred = np.linspace(0, 5, 201)
    t, _ = choose_threshold(pred, pred.round(), ThresholdConfig("keep_rate", 0.25))
    assert threshold_effect(pred, pred.round(), t, 3)["keep_rate"] == pytest.approx(0.25, abs=0.01)


def test_threshold_hits_a_minimum_precision_and_keeps_the_most():
    rng = np.random.default_rng(0)
    y = rng.integers(0, 6, 2000)
    pred = y + rng.normal(0, 1.0, 2000)  # noisy: precision rises with the threshold
    t, how = choose_threshold(pred, y, ThresholdConfig("min_precision", 0.9, 3))
    eff = threshold_effect(pred, y, t, 3)
    assert eff["precision"] >= 0.9 and "precision >= 90%" in how
    lower = threshold_effect(pred, y, t - 0.05, 3)
    assert lower["precision"] < 0.9 or lower["keep_rate"] == eff["keep_rate"]
    assert choose_threshold(pred, y, ThresholdConfig("fixed", 2.5))[0] == 2.5


def test_unreachable_precision_says_so():
    t, how = choose_threshold([0.1, 0.2], [0, 0], ThresholdConfig("min_precision", 0.9, 3))
    assert t == 0.2 and "no threshold reaches" in how


def test_bad_annotations_are_counted_not_fatal(tmp_path, repo_root):
    seed = [
        json.loads(line)
        for line in (repo_root / "annotations/seed" / f"{TASK}.jsonl").read_text().splitlines()
    ][:30]
    rows = seed + [
        {**seed[0], "score": 9},  # duplicate id, out of range: later wins
        {**seed[1], "id": "no-such-document"},
        {**seed[2], "id": seed[3]["id"], "text_sha256": "0" * 64},
        {**seed[4], "task": "linguistic_quality"},  # other task: ignored
    ]
    path = tmp_path / "labels.jsonl"
    path.write_text("\n".join(json.dumps(r) for r in rows) + "\nnot json\n")
    examples, report = load_examples([path], [repo_root / "data/demo"], TASK, (0, 5))
    assert report.skipped == {
        "not JSON": 1,
        "duplicate id (the later annotation is used)": 2,
        "score 9 outside the scale (0, 5)": 1,
        "document not found in the corpus": 1,
        "the document's text changed since it was annotated": 1,
    }
    assert len(examples) == 28 and all(str(path) in e for e in report.examples[:1])


def test_splits_need_enough_examples_per_score(repo_root):
    from curate.classify.data import Example

    few = [Example(str(i), "t", i % 2) for i in range(20)] + [Example("x", "t", 5)]
    with pytest.raises(ValueError, match=r"fewer than 3 examples.*\{5: 1\}"):
        split_examples(few, 0.2, 0.2, 0)
    with pytest.raises(ValueError, match="no annotations for task"):
        load_examples([repo_root / "data/demo/plain"], [repo_root / "data/demo"], TASK, (0, 5))


def test_loss_weights_favour_rare_scores():
    w = loss_weights([0] * 90 + [5] * 10, "sqrt")
    assert w[5] == pytest.approx(3 * w[0]) and loss_weights([0, 5], "none") == {0: 1.0, 5: 1.0}


def test_config_typos_are_named(tmp_path):
    bad = tmp_path / "c.yaml"
    bad.write_text("task: x\nbase_model: y\ntraining: {epoch: 3}\n")
    with pytest.raises(ValueError, match=r"c.yaml.training: unknown keys \['epoch'\]; allowed"):
        load_classifier_config(bad)


def test_annotation_records_read_compressed_and_never_from_failure_files(tmp_path):
    """The one record reader (curate.annotations) behind `curate train`: gz and zst record
    files count, failure records and usage.json never do, bad lines are named by file:line."""
    import gzip

    import zstandard

    from curate.annotations import record_line
    from curate.classify.data import LabelReport, read_annotations

    def rec(i, score=3):
        return record_line({"id": f"d{i}", "task": "educational_value", "score": score})

    (tmp_path / "a.jsonl.gz").write_bytes(gzip.compress((rec(1) + rec(2)).encode()))
    (tmp_path / "b.jsonl.zst").write_bytes(zstandard.compress((rec(3) + "{oops\n").encode()))
    (tmp_path / "educational_value.failures.jsonl").write_text(rec(4))
    (tmp_path / "usage.json").write_text('{"tasks": {}}')
    report = LabelReport()
    found = read_annotations([tmp_path], "educational_value", report)
    assert sorted(found) == ["d1", "d2", "d3"]
    assert report.skipped["not JSON"] == 1
    assert report.examples == [f"{tmp_path / 'b.jsonl.zst'}:2: not JSON"]
