import json
import pickle

import pytest
from datatrove.executor import LocalPipelineExecutor
from datatrove.pipeline.writers import JsonlWriter

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
    with pytest.raises(FileNotFoundError, match="classifier bundle not found"):
        QualityScorer([str(tmp_path / "nope")])
    with pytest.raises(ValueError, match="needs bundles or thresholds"):
        ScoreFilter()
