import json
from collections import Counter
from pathlib import Path

import pytest

from curate.classify.config import LexicalConfig, load_classifier_config
from curate.classify.export import export_bundle
from curate.classify.train import train_classifier
from curate.documents import read_documents
from curate.synthesize import synthesize

TASK = "educational_value"

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="session")
def repo_root() -> Path:
    return ROOT


@pytest.fixture(scope="session")
def small_labels(tmp_path_factory, repo_root):
    """8 seed labels per score: enough to split, small enough to train in seconds."""
    rows = [
        json.loads(line)
        for line in (repo_root / "annotations" / "seed" / f"{TASK}.jsonl").read_text().splitlines()
    ]
    picked, per = [], Counter()
    for r in rows:
        if per[r["score"]] < 8:
            per[r["score"]] += 1
            picked.append(r)
    path = tmp_path_factory.mktemp("labels") / f"{TASK}.jsonl"
    path.write_text("\n".join(json.dumps(r) for r in picked) + "\n")
    return path


def tiny_config(repo_root, **training):
    cfg = load_classifier_config(
        repo_root / "classifiers" / f"{TASK}.demo.yaml",
        max_length=32,
        split={"validation": 0.2, "test": 0.2, "seed": 1},
        training={"epochs": 2, "batch_size": 8, **training},
    )
    return cfg


@pytest.fixture(scope="session")
def trained(tmp_path_factory, small_labels, repo_root):
    out = tmp_path_factory.mktemp("clf")
    metrics = train_classifier(
        tiny_config(repo_root), [small_labels], [repo_root / "data/demo"], out, progress=False
    )
    return out, metrics


@pytest.fixture(scope="session")
def bundle(trained, tmp_path_factory, repo_root):
    model_dir, _ = trained
    docs = [d.text for d in read_documents([repo_root / "data/demo"])][:60]
    out = tmp_path_factory.mktemp("bundles") / "edu"
    spec = export_bundle(model_dir, out, docs, min_agreement=0.0)
    return out, spec, model_dir


def seed_set(repo_root) -> tuple[list[dict], dict[str, str]]:
    rows = [
        json.loads(line)
        for line in (repo_root / "annotations/seed" / f"{TASK}.jsonl").read_text().splitlines()
    ]
    texts = {d.id: d.text for d in read_documents([repo_root / "data/demo"])}
    return [r for r in rows if r["id"] in texts], texts


@pytest.fixture(scope="session")
def lexical_bundle(tmp_path_factory, repo_root):
    """A classifier trained on 20 seed labels per score plus damaged copies of 40 documents."""
    rows, texts = seed_set(repo_root)
    picked, per = [], {}
    for r in rows:
        if per.setdefault(r["score"], 0) < 20:
            per[r["score"]] += 1
            picked.append(r)
    work = tmp_path_factory.mktemp("lexical")
    (work / "labels.jsonl").write_text("\n".join(json.dumps(r) for r in picked) + "\n")
    clean = [d for d in read_documents([repo_root / "data/demo"]) if d.lang in ("nb", "nn")][:40]
    synthesize(clean, work / "damaged", families=["word_shuffle", "spam"], tasks=[TASK])
    config = tiny_config(repo_root)
    config.lexical = LexicalConfig(weight=0.5, min_examples=10)
    out = work / "clf"
    metrics = train_classifier(
        config,
        [work / "labels.jsonl", work / "damaged"],
        [repo_root / "data/demo", work / "damaged"],
        out,
        progress=False,
    )
    docs = [d.text for d in read_documents([repo_root / "data/demo"])][:40]
    bundle = work / "bundle"
    spec = export_bundle(out, bundle, docs, min_agreement=0.0)
    return out, metrics, bundle, spec, docs


@pytest.fixture(scope="session")
def tiny_lm(tmp_path_factory, repo_root):
    from curate.lm.tokenizer import init_tiny

    path = tmp_path_factory.mktemp("lm") / "tiny"
    return init_tiny([repo_root / "data" / "demo"], path, 1024, hidden_size=64, layers=2)
