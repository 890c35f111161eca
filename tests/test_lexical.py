"""The lexical model beside the encoder: word and character n-grams of labelled text, fit with
scikit-learn on the training split, blended into the task's score, and scored from the bundle
with numpy alone."""

import json

import numpy as np
import pytest
from conftest import TASK, tiny_config
from scipy.stats import spearmanr

from curate.classify import QualityClassifier
from curate.classify.bundle import BundleError
from curate.classify.config import LexicalConfig
from curate.classify.export import export_bundle
from curate.classify.lexical import LexicalModel, blend
from curate.classify.train import train_classifier
from curate.documents import read_documents
from curate.synthesize import synthesize


def seed_set(repo_root) -> tuple[list[dict], dict[str, str]]:
    rows = [
        json.loads(line)
        for line in (repo_root / "annotations/seed" / f"{TASK}.jsonl").read_text().splitlines()
    ]
    texts = {d.id: d.text for d in read_documents([repo_root / "data/demo"])}
    return [r for r in rows if r["id"] in texts], texts


def test_lexical_model_ranks_documents_it_never_saw_and_survives_saving(tmp_path, repo_root):
    rows, texts = seed_set(repo_root)
    train, held_out = rows[:320], rows[320:]
    model = LexicalModel.fit([texts[r["id"]] for r in train], [r["score"] for r in train])
    predicted = model.predict([texts[r["id"]] for r in held_out])
    assert spearmanr(predicted, [r["score"] for r in held_out])[0] > 0.5
    model.save(tmp_path / "lexical.npz")
    again = LexicalModel.load(tmp_path / "lexical.npz")
    assert np.allclose(again.predict([texts[r["id"]] for r in held_out]), predicted, atol=1e-5)
    assert again.examples == 0 and model.examples == len(train)


@pytest.fixture(scope="module")
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


def test_training_fits_the_lexical_model_on_labelled_text_not_on_damaged_copies(lexical_bundle):
    out, metrics, *_ = lexical_bundle
    assert (out / "lexical.npz").exists()
    train = metrics["splits"]["train"]["n"]
    damaged_in_train = train - metrics["lexical"]["examples"]
    assert metrics["lexical"]["weight"] == 0.5
    # every damaged copy sits in the train split (their originals have no fixed split), and
    # the lexical model saw none of them: 80 copies, 120 labels of which about 60% train
    assert damaged_in_train > 0 and metrics["lexical"]["examples"] < 120


def test_the_bundle_scores_the_encoder_blended_with_the_lexical_model(lexical_bundle):
    _, _, bundle, spec, docs = lexical_bundle
    assert spec["lexical"]["file"] == "lexical.npz" and "lexical.npz" in spec["sha256"]
    clf = QualityClassifier.load(bundle, variant="fp32")
    lexical = LexicalModel.load(bundle / "lexical.npz").predict(docs)
    expected = blend(clf.encoder_score(docs), lexical, 0.5) + clf.fluency_penalty(docs)
    scores, raw = clf.scores_and_raw(docs)[spec["task"]]
    assert np.allclose(raw, expected, atol=1e-4)  # the raw score, before the label-scale map
    assert np.allclose(scores, clf.side_models().calibrate(expected), atol=1e-4)
    # the blend moves the score: the lexical model is in use, not just carried
    assert np.abs(raw - clf.encoder_score(docs)).max() > 0.05
    # the torch reference went through the same blend: fp32 ONNX agrees with it closely
    assert spec["parity"]["fp32"]["max_abs_delta"] < 1e-3


def test_a_changed_lexical_file_is_refused(lexical_bundle, tmp_path):
    import shutil

    _, _, bundle, *_ = lexical_bundle
    copy = tmp_path / "bundle"
    shutil.copytree(bundle, copy)
    model = LexicalModel.load(copy / "lexical.npz")
    model.coef[:] = 0
    model.save(copy / "lexical.npz")
    with pytest.raises(BundleError, match="lexical.npz"):
        QualityClassifier.load(copy)


def test_without_enough_labelled_text_the_classifier_trains_without_it(trained):
    """The demo config asks for a lexical model of the reference hand labels; the shared tiny
    classifier is trained on seed labels only, so it has none (and a warning says so)."""
    out, metrics = trained
    assert metrics["lexical"] is None and not (out / "lexical.npz").exists()
