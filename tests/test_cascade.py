"""The cascade: the side models judge every document, the encoder only those near a threshold.
The band's guarantee on its fitting documents (each side of the decision, each language, any
threshold between grid points), `curate cascade` writing it into a real bundle, and real
`curate filter` runs that use it, turn it off, and run the full model where no threshold
applies."""

import json

import numpy as np
import pytest
import yaml
from click.testing import CliRunner

from curate.classify.bundle import read_manifest
from curate.classify.cascade import (
    ENCODER,
    Band,
    Cascade,
    cross_fitted_margin,
    fit_band,
    fit_cascade,
)
from curate.classify.side import SideModels, SideParts
from curate.cli import cli
from curate.documents import read_documents
from curate.pipeline.build import run_filter


def per_side_agreement(cheap, full, low, high, threshold):
    decided = np.where((cheap >= low) & (cheap < high), full, cheap) >= threshold
    keep = full >= threshold
    return (decided[keep] == keep[keep]).mean(), (decided[~keep] == keep[~keep]).mean()


@pytest.mark.parametrize("threshold", [1.0, 2.5, 3.9])
def test_the_band_meets_the_target_on_each_side_of_the_decision(threshold):
    rng = np.random.default_rng(0)
    full = rng.uniform(0, 5, 4000)
    cheap = full + rng.normal(0, 0.4, len(full))
    below, above, agreement, share, kept = fit_band(cheap, full, threshold, 0.995)
    on_kept, on_dropped = per_side_agreement(
        cheap, full, threshold - below, threshold + above, threshold
    )
    assert on_kept >= 0.995 and on_dropped >= 0.995 and kept == pytest.approx(on_kept)
    assert agreement >= 0.995 and 0 < share < 1
    # a cheap judge that is never wrong needs no encoder; a worse one needs a wider band
    assert fit_band(full, full, threshold, 0.995)[3] == 0
    noisier = fit_band(full + rng.normal(0, 0.8, len(full)), full, threshold, 0.995)
    assert noisier[0] + noisier[1] > below + above


def test_the_margin_chosen_by_cross_fitting_holds_on_texts_the_band_never_saw():
    rng = np.random.default_rng(2)
    grid = [round(float(t), 2) for t in np.arange(0, 5.01, 0.05)]
    full = rng.uniform(0, 5, 1500)
    assert cross_fitted_margin(full, full, grid, 0.995)[0] == 0  # a judge never wrong
    cheap = full + rng.normal(0, 0.5, len(full))
    margin, held_out = cross_fitted_margin(cheap, full, grid, 0.995)
    assert margin > 0 and len(held_out) == len(grid)
    fresh_full = rng.uniform(0, 5, 20000)
    fresh_cheap = fresh_full + rng.normal(0, 0.5, len(fresh_full))

    def share_of_thresholds_meeting_the_target(margin: float) -> float:
        met = []
        for threshold in grid[10:91]:
            below, above, *_ = fit_band(cheap, full, threshold, 0.995)
            low, high = threshold - below - margin, threshold + above + margin
            inside = (fresh_cheap >= low) & (fresh_cheap < high)
            keep = fresh_full >= threshold
            met.append((np.where(inside, keep, fresh_cheap >= threshold) == keep).mean() >= 0.995)
        return float(np.mean(met))

    # a band fitted to exactly the target falls short on new texts about half the time
    assert share_of_thresholds_meeting_the_target(0) < 0.8
    assert share_of_thresholds_meeting_the_target(margin) >= 0.95


def test_a_threshold_between_grid_points_keeps_the_agreement_in_every_language():
    rng = np.random.default_rng(1)
    n = 3000
    lexical = rng.uniform(0, 5, n)
    encoder = lexical + rng.normal(0, 0.6, n)
    side = SideModels(weight=0.5)  # score = half encoder, half lexical; no label-scale map
    parts = SideParts(lexical=lexical.astype(np.float32))
    langs = ["nb"] * 1500 + ["nn"] * 1400 + ["da"] * 100
    cascade = fit_cascade(side, parts, encoder, langs, (0, 5), 0.995)
    assert set(cascade.bands) == {"all", "nb", "nn", "da"}
    again = Cascade.from_dict(json.loads(json.dumps(cascade.to_dict())))
    assert again == cascade  # what classifier.json stores reads back whole
    full = side.combine(encoder, parts)
    cheap = side.combine(cascade.slope * lexical + cascade.intercept, parts)
    for threshold in (1.234, 2.5, 3.871):
        for lang in ("nb", "nn", "sv"):  # sv has no band of its own: the pooled one
            mine = np.array([x == lang for x in langs]) if lang != "sv" else np.ones(n, bool)
            low, high, _ = cascade.band(lang, threshold)
            on_kept, on_dropped = per_side_agreement(cheap[mine], full[mine], low, high, threshold)
            assert on_kept >= 0.995 and on_dropped >= 0.995, (lang, threshold)


def filter_spec(tmp_path, bundle, scorer: dict, judge: bool = True) -> dict:
    steps = [{"quality_scorer": {"bundles": [str(bundle)], **scorer}}]
    if judge:
        steps.append({"score_filter": {"bundles": [str(bundle)]}})
    return {
        "name": "cascade",
        "input": {"path": "data/demo"},
        "steps": steps,
        "output": {"path": str(tmp_path)},
        "executor": {"type": "local", "local": {"tasks": 1, "workers": 1}},
    }


def run(tmp_path, spec) -> tuple[dict, list]:
    tmp_path.mkdir()
    (tmp_path / "spec.yaml").write_text(yaml.safe_dump(spec))
    run_filter(tmp_path / "spec.yaml")
    kept = {d.id: d for d in read_documents([tmp_path / "kept"])}
    stats = json.loads((tmp_path / "logs" / "stats.json").read_text())  # one stage
    scorer = next(s for s in stats if "quality scorer" in s["name"])["stats"]
    return kept, {k: v["total"] if isinstance(v, dict) else v for k, v in scorer.items()}


def test_curate_cascade_fits_the_bundle_and_the_filter_judges_with_it(
    lexical_bundle, tmp_path, repo_root, monkeypatch
):
    monkeypatch.chdir(repo_root)
    bundle = tmp_path / "bundle"
    import shutil

    shutil.copytree(lexical_bundle[2], bundle)
    result = CliRunner().invoke(cli, ["cascade", str(bundle), "--corpus", "data/demo"])
    assert result.exit_code == 0, result.output
    task = read_manifest(bundle).task()
    cascade = Cascade.from_dict(task.cascade)
    assert cascade.target == 0.995 and cascade.fitted_on["texts"] == 627
    assert {"all", "nb"} <= set(cascade.bands)

    full, _ = run(tmp_path / "full", filter_spec(tmp_path / "full", bundle, {"cascade": False}))
    cheap, counts = run(tmp_path / "cheap", filter_spec(tmp_path / "cheap", bundle, {}))
    name = task.task
    judges = [d.metadata[f"{name}_judge"] for d in cheap.values()]
    assert all(f"{name}_judge" not in d.metadata for d in full.values())
    by_cheap, by_encoder = counts.get(f"{name} cheap", 0), counts.get(f"{name} encoder", 0)
    assert by_cheap + by_encoder == counts["scored"] == 627
    assert by_cheap > 0 and by_encoder > 0  # both paths judged, and the stats say so
    assert sum(v for k, v in counts.items() if k.startswith(f"{name} encoder: ")) == by_encoder
    assert judges.count(ENCODER) <= by_encoder
    # the documents it fitted on: the kept set is the full model's, give or take the target
    assert len(set(full) ^ set(cheap)) <= 0.005 * 627 + 1

    # no step judges the scores (as for `curate mix`): the encoder scores every document
    _, counts = run(tmp_path / "all", filter_spec(tmp_path / "all", bundle, {}, judge=False))
    assert counts.get(f"{name} encoder") == 627 and not counts.get(f"{name} cheap")


def test_a_bundle_without_a_cascade_scores_every_document_with_its_encoder(bundle, tmp_path):
    kept, counts = run(tmp_path / "plain", filter_spec(tmp_path / "plain", bundle[0], {}))
    task = read_manifest(bundle[0]).task().task
    assert counts.get(f"{task} encoder") == counts["scored"] and not counts.get(f"{task} cheap")


def test_cascade_refuses_an_empty_corpus_and_a_bundle_without_a_lexical_model(
    lexical_bundle, tmp_path
):
    import shutil

    from curate.classify.bundle import update_task

    bundle = tmp_path / "bundle"
    shutil.copytree(lexical_bundle[2], bundle)
    empty = tmp_path / "empty.jsonl"
    empty.write_text("")
    result = CliRunner().invoke(cli, ["cascade", str(bundle), "--corpus", str(empty)])
    assert result.exit_code != 0 and "no documents" in result.output
    assert read_manifest(bundle).task().cascade is None  # nothing written

    docs = tmp_path / "docs.jsonl"
    docs.write_text(json.dumps({"id": "a", "text": "Ein tekst om fjell.", "lang": "nn"}) + "\n")
    update_task(bundle, read_manifest(bundle).task().task, lexical=None)
    result = CliRunner().invoke(cli, ["cascade", str(bundle), "--corpus", str(docs)])
    assert result.exit_code == 1 and "lexical model" in result.output
    assert "Traceback" not in result.output


def test_documents_the_encoder_judges_score_exactly_as_the_full_model(lexical_bundle, tmp_path):
    import shutil

    from curate.classify import QualityClassifier
    from curate.classify.cascade import fit_bundle, judged_scores

    bundle = tmp_path / "bundle"
    shutil.copytree(lexical_bundle[2], bundle)
    docs = lexical_bundle[4]  # 40 demo texts
    fit_bundle(QualityClassifier.load(bundle), docs, ["nb"] * len(docs))
    clf = QualityClassifier.load(bundle)  # again: with the cascade it wrote
    task = clf.tasks[0]
    texts = [*docs, "", "   "]  # empty texts too
    everywhere = {task: [[Band(-1e9, 1e9, -1e9)]] * len(texts)}  # every document inside its band
    (judged,) = judged_scores([clf], texts, lambda c: everywhere)
    scores, raw, by_encoder = judged[task]
    full_scores, full_raw = clf.scores_and_raw(texts)[task]
    assert by_encoder.all()
    assert np.allclose(scores, full_scores, atol=1e-6) and np.allclose(raw, full_raw, atol=1e-6)


def test_a_later_bundles_encoder_skips_what_an_earlier_encoder_drops(lexical_bundle, tmp_path):
    """Two bundles, every document inside both bands: the second encoder runs only on the
    documents the first one keeps; their decision is the same as with both encoders."""
    import shutil

    from curate.classify import QualityClassifier
    from curate.classify.cascade import fit_bundle, judged_scores

    bundle = tmp_path / "bundle"
    shutil.copytree(lexical_bundle[2], bundle)
    texts = lexical_bundle[4]
    fit_bundle(QualityClassifier.load(bundle), texts, ["nb"] * len(texts))
    first, second = QualityClassifier.load(bundle), QualityClassifier.load(bundle)
    task = first.tasks[0]
    full = first.scores(texts)[task]
    cut = float(np.median(full))
    bands = {id(first): Band(-1e9, 1e9, cut), id(second): Band(-1e9, 1e9, -1e9)}
    judged = judged_scores([first, second], texts, lambda c: {task: [[bands[id(c)]]] * len(texts)})
    kept_by_first = full >= cut
    assert judged[0][task][2].all()  # the first encoder judged everything
    assert (judged[1][task][2] == kept_by_first).all() and 0 < kept_by_first.sum() < len(texts)
    # int8 quantises each batch's activations on the fly: the same batch, the same scores
    alone = second.scores([t for t, k in zip(texts, kept_by_first, strict=True) if k])[task]
    assert np.allclose(judged[1][task][0][kept_by_first], alone, atol=1e-6)
