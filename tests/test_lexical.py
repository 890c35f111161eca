"""The lexical model beside the encoder: word and character n-grams of labelled text, fit with
scikit-learn on the training split, blended into the task's score, and scored from the bundle
with numpy alone."""

import numpy as np
import pytest
from conftest import seed_set
from scipy.stats import spearmanr

from curate.classify import QualityClassifier
from curate.classify.bundle import BundleError
from curate.classify.lexical import LexicalModel, blend


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
