"""One encoder with a head per task: trained jointly, exported as one ONNX model that returns
every task's score, scored in one pass, filtered per task."""

import json
from collections import Counter

import numpy as np
import pytest
import torch
from click.testing import CliRunner
from conftest import tiny_config

from curate.classify import QualityClassifier
from curate.classify.bundle import read_manifest
from curate.classify.config import load_classifier_config, resolve_model_path
from curate.classify.export import export_bundle
from curate.classify.model import ScoreRegressor, load_encoder, predict
from curate.classify.scoring import score_corpus
from curate.classify.train import train_classifier
from curate.cli import cli
from curate.documents import read_documents
from curate.pipeline.steps import ScoreFilter

TASKS = ("educational_value", "linguistic_quality")


def pick(repo_root, task: str, per_score: int) -> list[dict]:
    rows = [
        json.loads(line)
        for line in (repo_root / "annotations" / "seed" / f"{task}.jsonl").read_text().splitlines()
    ]
    picked, per = [], Counter()
    for r in rows:
        if per[r["score"]] < per_score:
            per[r["score"]] += 1
            picked.append(r)
    return picked


@pytest.fixture(scope="module")
def labels(tmp_path_factory, repo_root):
    """8 labels per score for each task: the two tasks share some documents, not all."""
    path = tmp_path_factory.mktemp("joint_labels") / "labels.jsonl"
    rows = pick(repo_root, TASKS[0], 8) + pick(repo_root, TASKS[1], 8)
    path.write_text("\n".join(json.dumps(r) for r in rows) + "\n")
    return path


def joint_configs(repo_root):
    edu = tiny_config(repo_root)  # with its fluency section: a per-task fluency model
    lq = load_classifier_config(
        repo_root / "classifiers" / f"{TASKS[1]}.demo.yaml",
        max_length=32,
        split={"validation": 0.2, "test": 0.2, "seed": 1},
    )
    lq.fluency = None
    return [edu, lq]


@pytest.fixture(scope="module")
def joint(tmp_path_factory, labels, repo_root):
    out = tmp_path_factory.mktemp("joint")
    metrics = train_classifier(
        joint_configs(repo_root), [labels], [repo_root / "data/demo"], out, progress=False
    )
    docs = [d.text for d in read_documents([repo_root / "data/demo"])][:60]
    bundle = out / "bundle"
    spec = export_bundle(out, bundle, docs, min_agreement=0.0)
    return out, metrics, bundle, spec, docs


def test_joint_training_reports_each_task(joint, labels):
    out, metrics, *_ = joint
    assert [m["task"] for m in metrics["tasks"]] == list(TASKS)
    for m in metrics["tasks"]:
        assert m["labels"]["used"] == 48
        assert (out / m["task"] / "confusion_matrix.png").read_bytes()[:4] == b"\x89PNG"
        assert "## Threshold" in (out / m["task"] / "README.md").read_text()
    assert (out / TASKS[0] / "fluency.npz").exists()
    assert not (out / TASKS[1] / "fluency.npz").exists()
    assert "| [educational_value](educational_value/README.md) |" in (out / "README.md").read_text()
    # the encoder has one output per task
    model, _ = load_encoder(str(out / "model"), num_labels=None)
    assert model.config.num_labels == 2


def test_a_document_sits_in_one_split_for_every_task(joint, labels, repo_root):
    from curate.classify.train import task_splits

    splits, _ = task_splits(joint_configs(repo_root), [labels], [repo_root / "data/demo"])
    where = {}
    for task in TASKS:
        for name, part in splits[task].items():
            for e in part:
                assert where.setdefault(e.id, name) == name, (e.id, task)
    shared = {e.id for p in splits[TASKS[0]].values() for e in p} & {
        e.id for p in splits[TASKS[1]].values() for e in p
    }
    assert shared, "the test needs documents labelled for both tasks"


def test_one_bundle_scores_every_task_in_one_pass(joint):
    out, _, bundle, spec, docs = joint
    manifest = read_manifest(bundle)
    assert manifest.format_version == 2 and "task" not in manifest.document
    assert [t.task for t in manifest.tasks] == list(TASKS)
    assert manifest.tasks[0].fluency["file"] == f"{TASKS[0]}/fluency.npz"
    assert f"{TASKS[0]}/fluency.npz" in manifest.sha256
    clf = QualityClassifier.load(bundle, variant="fp32")
    assert clf.tasks == list(TASKS)
    runs = []
    session_run = clf.session.run
    clf._session = type("Counted", (), {"run": lambda _, *a: runs.append(1) or session_run(*a)})()
    scores = clf.scores(docs)
    passes = len(runs)
    # the torch model's two outputs, plus the education task's fluency penalty, each mapped
    # onto its task's label scale
    model, tokenizer = load_encoder(str(out / "model"), num_labels=None)
    reference = predict(model, tokenizer, docs, spec["max_length"])
    assert reference.shape == (len(docs), 2)
    expected_edu = reference[:, 0] + clf.fluency_penalty(docs, TASKS[0])
    expected_edu = clf.side_models(TASKS[0]).calibrate(expected_edu)
    expected_lq = clf.side_models(TASKS[1]).calibrate(reference[:, 1])
    np.testing.assert_allclose(scores[TASKS[0]], expected_edu, atol=1e-4)
    np.testing.assert_allclose(scores[TASKS[1]], expected_lq, atol=1e-4)
    runs.clear()
    clf.score(docs, TASKS[1])
    assert len(runs) == passes  # one task costs what both cost: one encoder pass
    with pytest.raises(ValueError, match="holds tasks"):
        clf.score(docs)
    for task in TASKS:
        assert manifest.tasks[TASKS.index(task)].parity["fp32"]["max_abs_delta"] < 1e-3


def test_score_and_filter_use_every_task_of_the_bundle(joint, tmp_path, repo_root):
    _, _, bundle, *_ = joint
    clf = QualityClassifier.load(bundle)
    out = tmp_path / "s.jsonl"
    summary, _ = score_corpus([clf], [repo_root / "data/demo"], out, progress=False)
    assert set(summary.kept) == set(TASKS)
    doc = next(iter(read_documents([out])))
    assert {*TASKS, *(f"{t}_int" for t in TASKS)} <= set(doc.metadata)
    gate = ScoreFilter(bundles=[str(bundle)], tasks=[TASKS[1]])
    assert list(gate.thresholds) == [TASKS[1]]
    assert list(ScoreFilter(bundles=[str(bundle)]).thresholds) == list(TASKS)
    with pytest.raises(ValueError, match="in none of"):
        ScoreFilter(bundles=[str(bundle)], tasks=["toxicity"])


def test_cli_trains_jointly_and_evaluates_each_task(joint, labels, repo_root, tmp_path):
    out, *_ = joint
    result = CliRunner().invoke(
        cli,
        ["evaluate", str(out), str(repo_root / "data/demo"), "--annotations", str(labels)],
    )
    assert result.exit_code == 0, result.output
    assert all(f"{t} on the labelled documents (n = 48)" in result.output for t in TASKS)
    lq = repo_root / "classifiers" / f"{TASKS[1]}.demo.yaml"
    args = ["train", "--config", str(repo_root / "classifiers" / f"{TASKS[0]}.demo.yaml")]
    args += ["--annotations", str(labels), "-o", str(tmp_path / "x"), "--max-steps", "1"]
    shorter = tmp_path / "lq64.yaml"
    shorter.write_text(lq.read_text().replace("max_length: 128", "max_length: 64"))
    refused = CliRunner().invoke(cli, [*args, "--config", str(shorter)])
    assert refused.exit_code != 0 and "share max_length" in refused.output
    # --set reaches every config
    ran = CliRunner().invoke(
        cli, [*args, "--config", str(shorter), "--set", "max_length=64", "--set", "fluency=null"]
    )
    assert ran.exit_code == 0, ran.output
    for task in TASKS:
        assert f"{task} on the test split" in ran.output


def test_a_trained_classifier_lends_its_frozen_encoder_and_head(joint, labels, repo_root):
    """FineWeb-Edu's frozen encoder, with a classifier `curate train` wrote as the base: its
    task keeps its scores exactly, the other task gets a head of its own on the same pass."""
    out, *_ = joint
    docs = [d.text for d in read_documents([repo_root / "data/demo"])][:40]
    lq_alone = out.parent / "lq_alone"
    train_classifier(joint_configs(repo_root)[1], [labels], [repo_root / "data/demo"], lq_alone)
    configs = joint_configs(repo_root)
    for c in configs:
        c.base_model = str(lq_alone)
        c.training.freeze_encoder = True
    shared = out.parent / "on_lq"
    metrics = train_classifier(configs, [labels], [repo_root / "data/demo"], shared)
    assert [m["task"] for m in metrics["tasks"]] == list(TASKS)
    card = (shared / "README.md").read_text()
    assert "(linguistic_quality: its head and scores, exactly;" in card

    base_model, tokenizer = load_encoder(str(lq_alone / "model"), num_labels=None)
    model, _ = load_encoder(str(shared / "model"), num_labels=None)
    alone = predict(base_model, tokenizer, docs, 32)
    both = predict(model, tokenizer, docs, 32)
    np.testing.assert_allclose(both[:, 1], alone, atol=1e-5)
    assert np.std(both[:, 0]) > 1e-3  # the educational-value head learnt something of its own
    assert not np.allclose(both[:, 0], alone, atol=1e-2)
    encoder = dict(model.base_model.named_parameters())
    for name, weight in base_model.base_model.named_parameters():
        assert torch.equal(weight, encoder[name]), name

    # without freezing, the whole model fine-tunes from the base: before any step, the inherited
    # task scores what the base classifier scores (`make joint` starts this way)
    for c in configs:
        c.training.freeze_encoder = False
    warm = ScoreRegressor(resolve_model_path(str(lq_alone)), configs, [{}, {}], total_steps=1)
    start = predict(warm.model, tokenizer, docs, 32)
    np.testing.assert_allclose(start[:, 1], alone, atol=1e-5)
