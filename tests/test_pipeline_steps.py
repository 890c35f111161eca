import json
import pickle

import pytest
from datatrove.executor import LocalPipelineExecutor
from datatrove.pipeline.writers import JsonlWriter

from curate.classify.bundle import BundleError
from curate.documents import read_documents
from curate.pipeline.steps import CurateReader, QualityScorer, ScoreFilter


def run_pipeline(bundle_dir, data, out, workers=1):
    pipeline = [
        CurateReader(str(data)),
        QualityScorer([str(bundle_dir)], batch_size=64),
        ScoreFilter([str(bundle_dir)], exclusion_writer=JsonlWriter(str(out / "excluded"))),
        JsonlWriter(str(out / "kept")),
    ]
    LocalPipelineExecutor(pipeline, tasks=3, workers=workers, logging_dir=str(out / "logs")).run()


def test_reader_scorer_and_filter_account_for_every_row(bundle, tmp_path, repo_root):
    bundle_dir, spec, _ = bundle
    run_pipeline(bundle_dir, repo_root / "data" / "demo", tmp_path)
    kept = list(read_documents([tmp_path / "kept"]))
    excluded = list(read_documents([tmp_path / "excluded"]))
    assert len(kept) + len(excluded) == 627  # 630 rows - 3 bad rows
    assert kept and excluded
    t = spec["threshold"]
    assert all(d.metadata["educational_value"] >= t for d in kept)
    assert all(
        d.metadata["educational_value"] < t
        and d.metadata["filter_reason"].startswith("educational_value ")
        for d in excluded
    )
    # the reason as fields, unrounded: what a user's own analysis reads
    assert all(
        d.metadata["score_drop"]
        == {"task": "educational_value", "score": d.metadata["educational_value"], "threshold": t}
        for d in excluded
    )
    assert {d.lang for d in kept + excluded} >= {"nb", "nn", "sv"}
    stats = json.loads((tmp_path / "logs" / "stats.json").read_text())
    reader = next(s for s in stats if "curate reader" in s["name"])
    assert total(reader["stats"]["bad_rows"]) == 3
    assert total(reader["stats"]["bad_rows: missing text"]) == 1
    scorer = next(s for s in stats if "quality scorer" in s["name"])
    assert total(scorer["stats"]["scored"]) == 627


def total(stat):
    return stat["total"] if isinstance(stat, dict) else stat


def test_steps_pickle_without_sessions_and_fail_early_on_missing_bundles(bundle, tmp_path):
    scorer = QualityScorer([str(bundle[0])])
    assert scorer.classifiers  # loaded once
    clone = pickle.loads(pickle.dumps(scorer))
    assert clone._classifiers is None
    with pytest.raises(BundleError, match="classifier bundle not found"):
        QualityScorer([str(tmp_path / "nope")])
    with pytest.raises(ValueError, match="needs bundles or thresholds"):
        ScoreFilter()


def test_language_filter_keeps_norwegian_and_tags_everything(tmp_path, repo_root):
    from curate.pipeline.langid import NordicLanguageFilter

    pipeline = [
        CurateReader(str(repo_root / "data" / "demo")),
        NordicLanguageFilter(["nb", "nn"], exclusion_writer=JsonlWriter(str(tmp_path / "other"))),
        JsonlWriter(str(tmp_path / "norwegian")),
    ]
    LocalPipelineExecutor(pipeline, tasks=2, workers=1, logging_dir=str(tmp_path / "logs")).run()
    kept = list(read_documents([tmp_path / "norwegian"]))
    other = list(read_documents([tmp_path / "other"]))
    assert len(kept) + len(other) == 627
    assert {d.metadata["lang_id"] for d in kept} == {"nb", "nn"}
    assert all(d.metadata["filter_reason"].startswith("language") for d in other)
    swedish = [d for d in kept + other if d.lang == "sv" and d.source == "hplt"]
    assert swedish and sum(d.metadata["lang_id"] == "sv" for d in swedish) / len(swedish) > 0.8
    lid = NordicLanguageFilter()
    nynorsk = "Skogen bind store mengder karbon. Når eit tre veks, tek det opp karbondioksid."
    bokmal = "Skogen binder store mengder karbon. Når et tre vokser, tar det opp karbondioksid."
    assert lid.identify(nynorsk)[0] == "nn" and lid.identify(bokmal)[0] == "nb"
    assert pickle.loads(pickle.dumps(lid))._identifier is None
