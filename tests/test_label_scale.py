"""Scores on the label scale and thresholds chosen on trade-off curves (#34)."""

import json
import shutil

import numpy as np
import pytest

from curate.classify import QualityClassifier
from curate.classify.calibrate import choose_on_curve, curve_for, tradeoff_curve, tradeoff_curves
from curate.classify.label_scale import LabelScale, fit_label_scale
from curate.errors import InputError
from curate.pipeline.steps import ScoreFilter


def noisy_labels(n=600, seed=0):
    rng = np.random.default_rng(seed)
    labels = rng.integers(0, 6, n)
    raw = 4.0 * labels - 12 + rng.normal(0, 4, n)  # a raw score far off the scale
    return raw, labels


def test_label_scale_is_monotone_on_the_scale_and_fits_the_labels():
    raw, labels = noisy_labels()
    scale = fit_label_scale(raw, labels, (0, 5))
    calibrated = scale.apply(raw)
    assert calibrated.min() >= 0 and calibrated.max() <= 5
    grid = np.linspace(raw.min() - 50, raw.max() + 50, 2000)
    assert np.all(np.diff(scale.apply(grid)) >= 0)
    inside = grid[(grid > scale.raw[0]) & (grid < scale.raw[-1])]
    assert np.all(np.diff(scale.apply(inside)) > 0)  # the ranking survives between the knots
    assert np.mean((calibrated - labels) ** 2) < 0.1 * np.mean((raw - labels) ** 2)
    assert np.mean((calibrated - labels) ** 2) < np.var(labels)  # beats predicting the mean
    stored = json.loads(json.dumps(scale.to_dict()))
    again = LabelScale.from_dict(stored, (0, 5))
    assert np.allclose(again.apply(raw), calibrated, atol=1e-4)


def test_domain_weights_let_a_small_domain_count():
    rng = np.random.default_rng(1)
    big = rng.normal(0, 1, 2000)  # raw near 0 means 0 in the big domain ...
    small = rng.normal(0, 1, 100)  # ... and 4 in the small one
    raw, labels = np.r_[big, small], np.r_[np.zeros(2000), np.full(100, 4)]
    plain = fit_label_scale(raw, labels, (0, 5)).apply(np.array([0.0]))[0]
    weights = np.r_[np.full(2000, 0.5 * 2100 / 2000), np.full(100, 0.5 * 2100 / 100)]
    weighted = fit_label_scale(raw, labels, (0, 5), weights).apply(np.array([0.0]))[0]
    assert plain < 0.5 < 1.5 < weighted


def curve_of(scores, labels):
    return tradeoff_curve(np.asarray(scores, float), np.asarray(labels), positive_label=3)


def test_choosing_on_a_curve_by_share_precision_recall_and_value():
    scores = [0.5, 1.0, 1.5, 2.0, 2.5, 3.0, 3.5, 4.0, 4.5, 5.0]
    labels = [0, 0, 1, 3, 1, 2, 3, 4, 3, 5]
    curve = curve_of(scores, labels)
    t, point, _ = choose_on_curve(curve, "keep_share", 0.3)
    assert t == 4.0 and point["keep_share"] == 0.3 and point["precision"] == 1.0
    t, point, _ = choose_on_curve(curve, "min_precision", 0.75)  # the most kept at 75%
    assert t == 3.0 and point["precision"] == 0.8  # at 2.0 and 2.5: 5/7 and 4/6
    t, point, _ = choose_on_curve(curve, "min_recall", 1.0)  # every positive kept
    assert t == 2.0 and point["recall"] == 1.0
    t, point, _ = choose_on_curve(curve, "threshold", 3)
    assert t == 3.0 and point["keep_share"] == 0.5
    with pytest.raises(InputError, match="keep_share"):
        choose_on_curve(curve, "top", 1)


def test_curves_per_domain_and_language_fall_back_to_the_pooled_one():
    raw, labels = noisy_labels(400)
    langs = np.array(["nb", "nn"] * 200)
    domains = ["web"] * 300 + ["edited"] * 100
    labels = labels.copy()
    labels[(langs == "nn") & (np.arange(400) < 300)] = 0  # no nn positives on the web
    curves = tradeoff_curves(raw, labels, langs, domains, 3, ["nb", "nn"])
    assert set(curves) == {"all", "web", "edited"}
    assert curves["web"]["nb"]["n"] == 150 and curves["web"]["nn"]["positives"] == 0
    assert curve_for(curves, "web", "nb")[1] == "nb"
    assert curve_for(curves, "web", "nn")[1] == "all"  # too few positives of its own ...
    assert curve_for(curves, "web", "nn", "keep_share")[1] == "nn"  # ... enough pages to share
    with pytest.raises(InputError, match="domain 'forum'"):
        curve_for(curves, "forum", "nb")


def test_bundle_scores_on_the_label_scale_with_the_raw_score_beside(bundle):
    path, spec, _ = bundle
    clf = QualityClassifier.load(path)
    assert spec["label_scale"]["raw"] and "all" in spec["curves"]
    texts = ["Fotosyntesen gjør lys om til kjemisk energi i plantene.", "kjøp billig nå!!!"] * 3
    both = clf.scores_and_raw(texts)["educational_value"]
    scale = LabelScale.from_dict(spec["label_scale"], (0, 5))
    assert np.allclose(both[0], scale.apply(both[1]), atol=1e-5)
    assert np.allclose(clf.score(texts), both[0])
    assert ((both[0] >= 0) & (both[0] <= 5)).all()


def test_a_bundle_from_before_the_label_scale_still_loads_and_scores_raw(bundle, tmp_path):
    path, spec, _ = bundle
    old = tmp_path / "old"
    shutil.copytree(path, old)
    manifest = json.loads((old / "classifier.json").read_text())
    del manifest["label_scale"], manifest["curves"]
    (old / "classifier.json").write_text(json.dumps(manifest))
    texts = ["Fotosyntesen gjør lys om til kjemisk energi i plantene.", "kjøp billig nå!!!"]
    raw = QualityClassifier.load(path).scores_and_raw(texts)["educational_value"][1]
    assert np.allclose(QualityClassifier.load(old).score(texts), raw, atol=1e-5)
    with pytest.raises(InputError, match="no trade-off curves"):
        ScoreFilter([str(old)], domain="all", keep_share=0.1)
    assert ScoreFilter([str(old)], threshold=2.5).threshold("educational_value", "nb") == 2.5


def test_score_filter_chooses_per_language_on_the_bundle_curves(bundle):
    path, spec, _ = bundle
    step = ScoreFilter([str(path)], domain="all", keep_share=0.5)
    curve = spec["curves"]["all"]["all"]
    expected, point, _ = choose_on_curve(curve, "keep_share", 0.5)
    assert step.threshold("educational_value", None) == expected
    assert step.threshold("educational_value", "sv") == expected  # no curve: the pooled one
    choice = step.choices["educational_value"]
    assert choice["by"] == "keep_share" and choice["languages"]["all"]["keep_share"] >= 0.5
    with pytest.raises(InputError, match="domain"):
        ScoreFilter([str(path)], keep_share=0.5)
    with pytest.raises(InputError, match="one of"):
        ScoreFilter([str(path)], domain="all", keep_share=0.5, min_recall=0.9)
    with pytest.raises(InputError, match="no calibration domain 'web'"):
        ScoreFilter([str(path)], domain="web", min_recall=0.9)
