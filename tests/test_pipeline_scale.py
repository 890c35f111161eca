"""The pipeline at scale (#16): dedup that keeps the best copy and records cluster sizes,
rehydration, every step run once, per-language settings."""

import json
from collections import Counter

import pytest
from click.testing import CliRunner
from datatrove.data import Document
from test_filter import write_spec

from curate.cli import cli
from curate.documents import read_documents
from curate.pipeline.build import build_stages, build_step, load_spec
from curate.pipeline.clusters import FINEWEB2_REHYDRATION, Rehydrate


def run_filter(spec):
    result = CliRunner().invoke(cli, ["filter", str(spec), "--set", "executor.local.workers=1"])
    assert result.exit_code == 0, result.output
    return result


def by_id(folder):
    return {d.id: d for d in read_documents([folder])}


def test_dedup_keeps_the_longest_copy_and_counts_every_copy(tmp_path, repo_root):
    steps = [
        {"language": {"languages": ["nb", "nn"]}},
        {"exact_dedup": {"keep": "longest"}},
        {"minhash_dedup": {"language": "nb", "keep": "longest"}},
    ]
    run_filter(write_spec(tmp_path, None, repo_root, steps=steps))
    out = tmp_path / "out"
    kept = by_id(out / "kept")
    exact = by_id(out / "excluded" / "02_exact_dedup")
    near = by_id(out / "excluded" / "03_minhash_dedup")
    reached = len(kept) + len(exact) + len(near)
    assert reached == 627 - len(by_id(out / "excluded" / "01_language"))
    assert exact and near
    # every document that reached dedup is counted once, in the cluster of a kept document
    assert sum(d.metadata["cluster_size"] for d in kept.values()) == reached
    assert max(Counter(d.text for d in kept.values()).values()) == 1
    clusters = {d.metadata["cluster_id"]: d for d in kept.values()}
    assert len(clusters) == len(kept)
    for dropped in near.values():  # the kept copy is never shorter than one it replaced
        winner = clusters[f"03_minhash_dedup-{dropped.metadata['minhash_cluster_id']}"]
        assert len(winner.text) >= len(dropped.text)
        assert winner.metadata["cluster_size"] >= 2
    singles = [d for d in kept.values() if d.metadata["cluster_size"] == 1]
    assert singles and all(d.metadata["cluster_id"] == d.id for d in singles)


def test_best_score_keeps_the_best_scored_copy(tmp_path, repo_root, bundle):
    task = json.loads((bundle[0] / "classifier.json").read_text())["task"]
    steps = [
        {"quality_scorer": {"bundles": [str(bundle[0])], "batch_size": 64}},
        {"minhash_dedup": {"language": "nb", "keep": "best_score"}},
    ]
    run_filter(write_spec(tmp_path, bundle[0], repo_root, steps=steps))
    out = tmp_path / "out"
    kept = by_id(out / "kept")
    clusters = {d.metadata["cluster_id"]: d for d in kept.values()}
    dropped = list(read_documents([out / "excluded" / "02_minhash_dedup"]))
    assert dropped
    for doc in dropped:
        winner = clusters[f"02_minhash_dedup-{doc.metadata['minhash_cluster_id']}"]
        assert winner.metadata[task] >= doc.metadata[task]


def test_best_score_without_a_scorer_before_the_dedup_is_a_spec_error(tmp_path, repo_root):
    spec = write_spec(tmp_path, None, repo_root, steps=[{"exact_dedup": {"keep": "best_score"}}])
    result = CliRunner().invoke(cli, ["filter", str(spec)])
    assert result.exit_code != 0
    assert "step 1 (exact_dedup): keep: best_score needs a quality_scorer" in result.output


def test_every_step_runs_once_across_the_stages(tmp_path, repo_root, bundle):
    steps = [
        {"language": {"languages": ["nb", "nn"]}},
        {"gopher_repetition": {"language": "nb"}},
        {"exact_dedup": {}},
        {"quality_scorer": {"bundles": [str(bundle[0])], "batch_size": 64}},
        {"minhash_dedup": {"language": "nb"}},
        {"score_filter": {"bundles": [str(bundle[0])]}},
    ]
    spec_path = write_spec(tmp_path, bundle[0], repo_root, steps=steps)
    run_filter(spec_path)
    logs = tmp_path / "out" / "logs"
    runs = Counter()
    for stats in logs.glob("stage*/stats.json"):
        for step in json.loads(stats.read_text()):
            runs[step["name"]] += 1
    for name in ("nordic language id", "Gopher Repetition", "quality scorer", "score filter"):
        assert [n for n in runs if name in n], name
        assert all(count == 1 for n, count in runs.items() if name in n), runs
    # each document passed the language step once: its total is the corpus, not a multiple
    stage1 = json.loads((logs / "stage1" / "stats.json").read_text())
    language = next(s for s in stage1 if "language id" in s["name"])
    assert language["stats"]["total"]["total"] == 627
    spec = load_spec(spec_path)
    names = [type(s).__name__ for stage, _ in build_stages(spec) for s in stage]
    assert names.count("NordicLanguageFilter") == 1 and names.count("QualityScorer") == 1


def test_rehydration_repeats_kept_documents_by_cluster_size():
    step = Rehydrate()
    assert [step.copies_for(n) for n in (1, 2, 3, 4, 5, 99, 100, 999, 1000, 5000)] == [
        1, 2, 3, 3, 5, 5, 8, 8, 1, 1,
    ]  # fmt: skip
    assert FINEWEB2_REHYDRATION[100] == 8
    docs = [
        Document(text="a", id="single", metadata={}),
        Document(text="b", id="pair", metadata={"cluster_size": 2}),
        Document(text="c", id="big", metadata={"cluster_size": 7}),
    ]
    out = list(step.run(iter(docs)))
    assert Counter(d.text for d in out) == {"a": 1, "b": 2, "c": 5}
    assert len({d.id for d in out}) == len(out)
    assert [d.metadata.get("rehydrated_copy") for d in out if d.text == "b"] == [None, 1]
    custom = Rehydrate(weights={1: 1, 3: 2})
    assert [custom.copies_for(n) for n in (1, 2, 3, 10)] == [1, 1, 2, 2]
    with pytest.raises(ValueError, match="size 1"):
        Rehydrate(weights={2: 2})


def test_rehydrated_run_reports_documents_once(tmp_path, repo_root):
    steps = [
        {"language": {"languages": ["nb", "nn"]}},
        {"minhash_dedup": {"language": "nb"}},
        {"rehydrate": {}},
    ]
    run_filter(write_spec(tmp_path, None, repo_root, steps=steps))
    out = tmp_path / "out"
    written = list(read_documents([out / "kept"]))
    originals = [d for d in written if not d.metadata.get("rehydrated_copy")]
    expected = sum(Rehydrate().copies_for(d.metadata["cluster_size"]) for d in originals)
    assert len(written) == expected > len(originals)
    page = (out / "report.html").read_text()
    assert f"kept {len(originals):,} " in page and "Rehydration wrote" in page


def test_heuristics_take_thresholds_per_language_with_fineweb2_defaults():
    params = {"language": "nb", "by_language": {"nb": {}, "nn": {"dup_line_frac": 0.5}}}
    step = build_step(1, "gopher_repetition", params, None)
    nb, nn, other = step.filters["nb"], step.filters["nn"], step.filters[None]
    assert nb.dup_line_frac == 0.283 and nb.top_n_grams == [[2, 0.204], [3, 0.175], [4, 0.15]]
    assert nn.dup_line_frac == 0.5 and nn.language.language == "nno"  # the spec's own value wins
    assert other.dup_line_frac == 0.3  # datatrove's default for languages not named
    # a document's identified language picks the filter: 3 of 10 lines repeat a line
    distinct = [
        "Fjordane på Vestlandet vart forma av isbrear gjennom fleire istider.",
        "Breane følgde gamle elvedalar og grov dei djupare og breiare.",
        "Då isen smelta for rundt ti tusen år sidan, steig havet inn i dalane.",
        "Sognefjorden er over to hundre kilometer lang og meir enn tusen meter djup.",
        "Ved munninga ligg det ofte ein terskel av lausmassar frå breen.",
        "Difor er fjordane djupast eit stykke inne i landet.",
    ]
    text = "\n".join(["Ja."] * 4 + distinct)
    verdicts = {
        lang: step.filter(Document(text=text, id=lang, metadata={"lang_id": lang}))
        for lang in ("nb", "nn", "sv")
    }
    assert verdicts == {"nb": (False, "dup_line_frac"), "nn": True, "sv": True}
    quality = build_step(2, "gopher_quality", {"by_language": {"nn": {}}}, None)
    assert quality.filters["nn"].max_avg_word_length == 11  # FineWeb-2's nno value
    assert quality.filters[None].max_avg_word_length == 10
    with pytest.raises(Exception, match="by_language.nn: unknown parameters"):
        build_step(3, "fineweb_quality", {"by_language": {"nn": {"nope": 1}}}, None)


def test_language_minimum_per_language():
    params = {"languages": ["nb", "nn"], "min_score": {"nb": 0.99, "nn": 0.0}}
    step = build_step(1, "language", params, None)
    text = (
        "Eg budde i ei lita bygd ved fjorden då eg var ung, og kvar morgon gjekk eg ned til "
        "sjøen for å sjå på båtane som kom inn med fisk."
    )
    doc = Document(text=text, id="nn", metadata={})
    assert step.filter(doc) is True and doc.metadata["lang_id"] == "nn"
    with pytest.raises(Exception, match="min_score has no minimum for \\['nn'\\]"):
        build_step(1, "language", {"languages": ["nb", "nn"], "min_score": {"nb": 0.9}}, None)


def test_a_document_a_step_cannot_judge_is_set_aside_with_its_reason(tmp_path, bundle):
    from curate.pipeline.layout import RunLayout

    good = (
        "Fjordene på Vestlandet ble formet av isbreer gjennom flere istider. Breene fulgte "
        "gamle elvedaler og gravde dem dypere og bredere, slik at dalene fikk den typiske "
        "formen. Da isen smeltet for rundt ti tusen år siden, steg havet inn i de nedgravde "
        "dalene. Sognefjorden er over to hundre kilometer lang og mer enn tusen meter dyp "
        "på det dypeste, og ved munningen ligger det ofte en terskel av løsmasser. Derfor er "
        "fjordene dypest et stykke inne i landet, der isen var tykkest og arbeidet lengst."
    )

    def docs():
        return [
            Document(text=good, id="good", metadata={"lang_id": "nb"}),
            Document(text=None, id="broken", metadata={"lang_id": "nb"}),  # a reader's bug
        ]

    for name, params in [
        ("gopher_quality", {"by_language": {"nb": {}}}),
        ("fineweb_quality", {}),
        ("language", {}),
    ]:
        step = build_step(1, name, params, None)
        batch = docs()
        verdicts = step.filter_batch(batch)
        assert verdicts[0] is True, name
        assert verdicts[1][0] is False and verdicts[1][1].startswith("error: "), name
        assert verdicts[1][1].removeprefix("error: ") in batch[1].metadata["step_error"]
    scorer = build_step(2, "quality_scorer", {"bundles": [str(bundle[0])]}, None)
    scored = list(scorer.run(iter(docs()[:1])))
    task = scorer.classifiers[0].tasks[0]
    # the gate sets aside what it cannot judge, into its exclusion folder, with why
    layout = RunLayout(tmp_path / "out")
    gate = build_step(3, "score_filter", {"bundles": [str(bundle[0])]}, layout)
    odd = Document(text=good, id="odd", metadata={"lang_id": "nb", task: "n/a"})  # from upstream
    passed = list(gate.run(iter([scored[0], odd])))
    assert [d.id for d in passed] == ([] if scored[0].metadata[task] < gate.threshold(task, "nb")
                                      else ["good"])  # fmt: skip
    set_aside = {d.id: d.metadata for d in read_documents([layout.excluded_by(3, "score_filter")])}
    assert set_aside["odd"]["filter_reason"] == "error: TypeError"
    assert gate.stats.stats["dropped_error: TypeError"].total == 1
