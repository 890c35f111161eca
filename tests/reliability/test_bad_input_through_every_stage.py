"""One generated bad corpus through inspect, score and filter: every input row is accounted for
as a document (kept or excluded) or as a reported bad row; nothing crashes the run."""

import json
import sys
from pathlib import Path

import pytest
import yaml
from click.testing import CliRunner

from curate.cli import cli
from curate.documents import read_documents

sys.path.insert(0, str(Path(__file__).parent))
from badcorpus import write_bad_corpus  # noqa: E402


@pytest.fixture(scope="module")
def bad(tmp_path_factory):
    return write_bad_corpus(tmp_path_factory.mktemp("bad") / "corpus")


def test_inspect_counts_every_row(bad):
    result = CliRunner().invoke(cli, ["inspect", str(bad.folder), "--json"])
    assert result.exit_code == 0, result.output
    summary = json.loads(result.stdout)
    assert summary["documents"] == bad.documents and summary["bad_rows"] == bad.bad_rows


def test_score_writes_every_document_and_reports_every_bad_row(bad, bundle, tmp_path):
    out = tmp_path / "scored.jsonl.gz"
    args = ["score", str(bad.folder), "--model", str(bundle[0]), "-o", str(out)]
    result = CliRunner().invoke(cli, args)
    assert result.exit_code == 0, result.output
    scored = list(read_documents([out]))
    assert len(scored) == bad.documents
    assert all("educational_value" in d.metadata for d in scored)
    assert f"{bad.bad_rows} bad rows set aside" in result.stdout


def test_filter_kept_plus_excluded_plus_bad_equals_input(bad, tmp_path):
    spec = {
        "input": {"path": str(bad.folder)},
        "steps": [{"language": {"languages": ["nb", "nn"]}}, {"exact_dedup": {}}],
        "output": {"path": str(tmp_path / "out")},
        "executor": {"local": {"tasks": 2, "workers": 2}},
    }
    (tmp_path / "spec.yaml").write_text(yaml.safe_dump(spec))
    result = CliRunner().invoke(cli, ["filter", str(tmp_path / "spec.yaml")])
    assert result.exit_code == 0, result.output
    out = tmp_path / "out"
    kept = list(read_documents([out / "kept"]))
    excluded = list(read_documents([out / "excluded"]))
    stats = json.loads((out / "logs" / "stage1" / "stats.json").read_text())  # the reader
    reader = next(s for s in stats if "curate reader" in s["name"])["stats"]
    assert len(kept) + len(excluded) == bad.documents
    assert reader["bad_rows"]["total"] == bad.bad_rows
    where = {d.id: d.metadata["lang_id"] for d in kept + excluded if d.id.startswith("odd")}
    # Arabic and Hebrew are not forced into a Nordic label; emoji alone has no language;
    # Norwegian with a Hebrew word in it is still Norwegian
    assert where == {"odd0": "other", "odd1": "other", "odd2": "und", "odd3": "nb"}
    assert "odd3" in {d.id for d in kept}
