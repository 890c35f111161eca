"""`curate export` on classifiers that `curate train` did not write, in the shapes published
quality classifiers take: BERT with a one-output regression head (FineWeb-Edu's classifier,
NbAiLab's nb-bert-base regressors) and BERT with a multi-class head (one class per score).
Built here from a config with random weights and the demo encoder's tokenizer."""

import json

import numpy as np
import pytest
import torch
from click.testing import CliRunner
from transformers import AutoTokenizer, BertConfig, BertForSequenceClassification

from curate.classify import QualityClassifier
from curate.classify.config import resolve_model_path
from curate.cli import cli

TEXTS = [
    "Fotosyntese er prosessen der grønne planter lager sukker av karbondioksid og vann.",
    "billig forsikring | beste pris | kjøp nå",
    "Stortinget vedtok lova etter ein lang debatt om skatt og kommuneøkonomi. " * 20,
    "Hei!",
]


def published_model(folder, num_labels):
    """A small BERT classifier saved the way the hub serves one (config, weights, tokenizer)."""
    torch.manual_seed(num_labels)
    labels = {i: str(i) for i in range(num_labels)} if num_labels > 1 else None
    config = BertConfig(
        vocab_size=30522,
        hidden_size=64,
        num_hidden_layers=2,
        num_attention_heads=4,
        intermediate_size=128,
        num_labels=num_labels,
        **({"id2label": labels, "label2id": {v: k for k, v in labels.items()}} if labels else {}),
    )
    model = BertForSequenceClassification(config)
    model.save_pretrained(folder)
    AutoTokenizer.from_pretrained(resolve_model_path("embedded:all-MiniLM-L6-v2")).save_pretrained(
        folder
    )
    return model, AutoTokenizer.from_pretrained(folder)


def torch_scores(model, tok, max_length=128):
    enc = tok(TEXTS, truncation=True, max_length=max_length, padding=True, return_tensors="pt")
    with torch.inference_mode():
        logits = model.eval()(**enc).logits
    if logits.shape[-1] == 1:
        return logits.squeeze(-1).numpy()
    return (logits.softmax(-1) @ torch.arange(logits.shape[-1], dtype=torch.float32)).numpy()


@pytest.mark.parametrize("num_labels", [1, 6], ids=["regression", "multi-class"])
def test_export_a_published_classifier_and_score_with_it(num_labels, tmp_path, repo_root):
    model, tok = published_model(tmp_path / "hub-model", num_labels)
    bundle = tmp_path / "bundle"
    args = ["export", str(tmp_path / "hub-model"), "-o", str(bundle), "--max-length", "128"]
    args += ["--task", "edu", "--threshold", "2.5", "--data", str(repo_root / "data/demo")]
    result = CliRunner().invoke(cli, [*args, "--parity-docs", "40", "--min-agreement", "0"])
    assert result.exit_code == 0, result.output
    spec = json.loads((bundle / "classifier.json").read_text())
    assert spec["task"] == "edu" and spec["threshold"] == 2.5 and spec["scale"] == [0, 5]
    assert spec["head"] == (None if num_labels == 1 else [0.0, 1.0, 2.0, 3.0, 4.0, 5.0])
    assert spec["fused_ops"]["Attention"] == 2
    expected = torch_scores(model, tok)
    for variant in ("fp32", "int8"):
        got = QualityClassifier.load(bundle, variant=variant).score(TEXTS)
        np.testing.assert_allclose(got, expected, atol=1e-4 if variant == "fp32" else 0.05)
    on_torch = QualityClassifier.load(bundle, engine="torch").score(TEXTS)
    np.testing.assert_allclose(on_torch, expected, atol=2e-3)  # fp16-stored weights
    if num_labels > 1:
        assert ((expected >= 0) & (expected <= 5)).all()


def test_a_published_model_needs_task_and_threshold(tmp_path, repo_root):
    published_model(tmp_path / "m", 1)
    args = ["export", str(tmp_path / "m"), "-o", str(tmp_path / "b")]
    result = CliRunner().invoke(cli, [*args, "--data", str(repo_root / "data/demo")])
    assert result.exit_code != 0
    assert "give --task and --threshold" in result.output
    missing = CliRunner().invoke(cli, ["export", str(tmp_path / "nowhere"), "-o", "b"])
    assert missing.exit_code != 0 and "neither a `curate train` folder" in missing.output
