import hashlib
import json
from collections import Counter

from click.testing import CliRunner

from curate.cli import cli
from curate.documents import read_documents


def run_inspect(*args):
    return CliRunner().invoke(cli, ["inspect", *args])


def test_inspect_demo_corpus_reports_counts_and_bad_rows(repo_root):
    result = run_inspect(str(repo_root / "data" / "demo"), "--json")
    assert result.exit_code == 0, result.output
    summary = json.loads(result.output)
    manifest = (repo_root / "data" / "demo_manifest.jsonl").read_text().splitlines()
    assert summary["documents"] == len(manifest) >= 600
    assert summary["bad_rows"] == 3
    assert summary["rows"] == summary["documents"] + summary["bad_rows"]
    assert all(":" in line and "hplt_v1.2_nb.jsonl.zst" in line for line in summary["bad_examples"])
    assert {"nb", "nn", "sv", "da", "fi", "en"} <= set(summary["languages"])
    assert set(summary["sources"]) == {"ncc", "hplt", "culturax", "plain"}
    assert summary["words"]["p5"] < 20 and summary["words"]["p100"] > 2000


def test_inspect_prints_a_readable_summary(repo_root):
    result = run_inspect(str(repo_root / "data" / "demo"))
    assert result.exit_code == 0
    assert "documents per language" in result.output and "length percentiles" in result.output
    assert "hplt_v1.2_nb.jsonl.zst:12: missing text" in result.output


def test_inspect_strict_fails_naming_file_and_line(repo_root):
    result = run_inspect(str(repo_root / "data" / "demo"), "--strict")
    assert result.exit_code != 0
    assert "hplt_v1.2_nb.jsonl.zst:11: not JSON" in result.output


def test_seed_annotations_match_the_corpus(repo_root):
    docs = {d.id: d for d in read_documents([repo_root / "data" / "demo"])}
    for task in ("educational_value", "linguistic_quality"):
        rows = [
            json.loads(line)
            for line in (repo_root / "annotations" / "seed" / f"{task}.jsonl")
            .read_text()
            .splitlines()
        ]
        assert len(rows) >= 400
        assert len({r["id"] for r in rows}) == len(rows)
        for r in rows:
            doc = docs[r["id"]]
            assert r["text_sha256"] == hashlib.sha256(doc.text.encode()).hexdigest()
            assert r["task"] == task and r["annotator"]["backend"] == "hand"
        per_score = Counter(r["score"] for r in rows)
        assert sorted(per_score) == [0, 1, 2, 3, 4, 5]
        assert min(per_score.values()) >= 25, per_score


def test_cli_version_and_help():
    runner = CliRunner()
    assert "curate, version" in runner.invoke(cli, ["--version"]).output
    assert "inspect" in runner.invoke(cli, ["--help"]).output
