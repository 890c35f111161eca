import subprocess
import sys
from collections import Counter

import pytest
import yaml
from click.testing import CliRunner

from curate.cli import cli
from curate.documents import read_documents


def write_spec(tmp_path, bundle_dir, repo_root, steps=None, **extra):
    spec = {
        "name": "t",
        "input": {"path": str(repo_root / "data" / "demo")},
        "steps": steps
        if steps is not None
        else [
            {"language": {"languages": ["nb", "nn"]}},
            {"quality_scorer": {"bundles": [str(bundle_dir)]}},
            {"score_filter": {"bundles": [str(bundle_dir)]}},
        ],
        "output": {"path": str(tmp_path / "out")},
        "executor": {"type": "local", "local": {"tasks": 2, "workers": 2}},
        **extra,
    }
    path = tmp_path / "spec.yaml"
    path.write_text(yaml.safe_dump(spec))
    return path


def test_filter_runs_with_two_workers_and_accounts_for_every_document(bundle, tmp_path, repo_root):
    steps = [
        {"language": {"languages": ["nb", "nn"]}},
        {"quality_scorer": {"bundles": [str(bundle[0])]}},
        # chosen on the bundle's trade-off curve: the share of validation documents kept
        {"score_filter": {"bundles": [str(bundle[0])], "domain": "all", "keep_share": 0.4}},
    ]
    spec = write_spec(tmp_path, bundle[0], repo_root, steps)
    cmd = [sys.executable, "-m", "curate.cli", "filter", str(spec)]
    first = subprocess.run(cmd, capture_output=True, text=True, timeout=600)
    assert first.returncode == 0, first.stderr[-2000:]
    out = tmp_path / "out"
    # quiet by default: our two lines; datatrove's chatter goes to logs/console.log
    assert len((first.stdout + first.stderr).splitlines()) == 2, first.stdout + first.stderr
    assert "Launching pipeline" in (out / "logs" / "console.log").read_text()
    kept = list(read_documents([out / "kept"]))
    lang = list(read_documents([out / "excluded" / "01_language"]))
    score = list(read_documents([out / "excluded" / "03_score_filter"]))
    assert len(kept) + len(lang) + len(score) == 627
    assert kept and lang and score
    assert {d.metadata["lang_id"] for d in kept} <= {"nb", "nn"}
    from curate.pipeline.steps import ScoreFilter

    chosen = ScoreFilter([str(bundle[0])], domain="all", keep_share=0.4)
    for doc in kept + score:
        md = doc.metadata
        assert 0 <= md["educational_value"] <= 5 and "educational_value_raw" in md
        assert md["educational_value_threshold"] == chosen.threshold("educational_value", None)
    report = (out / "report.html").read_text()
    # inlined PNGs: steps, source (docs, words), language, one histogram per task (one here),
    # the score filter's trade-off curves with the threshold it applied
    assert report.count("<img src='data:image/png;base64,") == 6
    assert "Retention per language" in report and "educational_value &lt; " in report
    assert "just above and just below the threshold" in report
    assert report.count("<p><b>kept: ") == 4 and report.count("<p><b>dropped: ") == 4
    # rerun: datatrove's completions make it skip both tasks, output unchanged
    again = subprocess.run(cmd, capture_output=True, text=True, timeout=600)
    assert again.returncode == 0
    assert "have already been completed" in (out / "logs" / "console.log").read_text()
    assert len(list(read_documents([out / "kept"]))) == len(kept)


@pytest.mark.parametrize(
    "steps,message",
    [
        (
            [{"langauge": {}}],
            "unknown step 'langauge'; allowed: ['c4_quality', 'clean_lines', 'exact_dedup'",
        ),
        ([{"language": {"min_scor": 0.4}}], "unknown parameters ['min_scor']; allowed:"),
        ([{"quality_scorer": {"bundles": ["/no/such/bundle"]}}], "bundle not found: /no/such"),
        (["language"], "write each step as `- name: {params}`"),
    ],
)
def test_spec_errors_name_the_problem_before_any_task_runs(
    tmp_path, repo_root, bundle, steps, message
):
    spec = write_spec(tmp_path, bundle[0], repo_root, steps=steps)
    result = CliRunner().invoke(cli, ["filter", str(spec)])
    assert result.exit_code != 0 and message in result.output, result.output
    assert not (tmp_path / "out" / "logs").exists()


def test_overrides_and_executor_errors(tmp_path, repo_root, bundle):
    spec = write_spec(tmp_path, bundle[0], repo_root)
    runner = CliRunner()
    result = runner.invoke(cli, ["filter", str(spec), "--set", "executor.type=k8s"])
    assert "executor 'k8s' is unknown; available: ['local', 'slurm', 'ray']" in result.output
    result = runner.invoke(cli, ["filter", str(spec), "--set", "executr=1"])
    assert "unknown keys ['executr']" in result.output
    result = runner.invoke(cli, ["filter", str(spec), "--set", "executor.local.wrokers=1"])
    assert "executor.local: unknown keys ['wrokers']; allowed:" in result.output
    assert "'workers'" in result.output
    result = runner.invoke(cli, ["filter", str(spec), "--set", "output=elsewhere"])
    assert result.exit_code != 0 and "--set output.path=DIR" in result.output, result.output
    result = runner.invoke(cli, ["filter", str(spec), "--executor", "slurm", "--dry-run"])
    assert "executor.slurm needs `partition` and `time`" in result.output
    result = runner.invoke(cli, ["filter", str(spec), "--dry-run"])
    assert "--dry-run is for --executor slurm" in result.output
    assert not (tmp_path / "out" / "logs").exists()
    assert not (tmp_path / "out" / "run.json").exists()  # a refused run claims nothing


def test_nordic_gopher_keeps_norwegian_prose_that_english_defaults_drop():
    from datatrove.data import Document
    from datatrove.pipeline.filters import GopherQualityFilter

    from curate.pipeline.heuristics import NordicGopherQuality

    text = (
        "Fjordene på Vestlandet ble formet av isbreer gjennom flere istider. Breene fulgte "
        "gamle elvedaler og gravde dem dypere og bredere, slik at dalene fikk den typiske "
        "formen. Da isen smeltet for rundt ti tusen år siden, steg havet inn i de nedgravde "
        "dalene. Sognefjorden er over to hundre kilometer lang og mer enn tusen meter dyp "
        "på det dypeste, og ved munningen ligger det ofte en terskel av løsmasser."
    )
    spam = " | ".join(["billig forsikring oslo", "beste pris 2024", "kjøp nå"] * 10)
    nordic, english = NordicGopherQuality(), GopherQualityFilter(language="nob")
    assert nordic.filter(Document(text=text, id="a")) is True
    assert english.filter(Document(text=text, id="a")) == (False, "gopher_enough_stop_words")
    assert nordic.filter(Document(text=spam, id="b")) is not True
    with pytest.raises(ValueError, match="no stop words for \\['xx'\\]"):
        NordicGopherQuality(languages=["xx"])


def test_minhash_dedup_removes_duplicates_in_four_chained_stages(tmp_path, repo_root, bundle):
    import json

    steps = [{"language": {"languages": ["nb", "nn"]}}, {"minhash_dedup": {"language": "nb"}}]
    spec = write_spec(tmp_path, bundle[0], repo_root, steps=steps)
    result = CliRunner().invoke(cli, ["filter", str(spec), "--set", "executor.local.workers=1"])
    assert result.exit_code == 0, result.output
    out = tmp_path / "out"
    kept = list(read_documents([out / "kept"]))
    lang = list(read_documents([out / "excluded" / "01_language"]))
    dups = list(read_documents([out / "excluded" / "02_minhash_dedup"]))
    assert len(kept) + len(lang) + len(dups) == 627
    manifest = [
        json.loads(line)
        for line in (repo_root / "data" / "demo_manifest.jsonl").read_text().splitlines()
    ]
    texts = Counter(d.text for d in kept)
    assert max(texts.values()) == 1  # no exact duplicate survives
    recipes = Counter(next(m["recipe"] for m in manifest if m["id"] == d.id) for d in dups)
    assert len(dups) >= 20 and recipes["exact_duplicate"] + recipes["clean"] > 0
