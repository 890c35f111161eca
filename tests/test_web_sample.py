"""The real web sample (../shared/web): its committed split and the hand labels on it."""

import json
from collections import Counter

import pytest

from curate.classify.data import load_examples
from curate.web import (
    WebMissing,
    hplt_verdict,
    load_web,
    load_web_split,
    make_web_split,
    stratum,
    web_dir,
)


def web_or_skip():
    try:
        return load_web()
    except WebMissing as err:
        pytest.skip(f"web sample absent: {err}")


def test_web_split_is_committed_complete_stratified_and_rebuilds_from_its_seed():
    docs = web_or_skip()
    committed = load_web_split()
    assert set(committed) == {d.id for d in docs}
    assert make_web_split(docs) == committed
    for key, members in Counter(stratum(d) for d in docs).items():
        if members >= 50:  # each release x language x whole/excerpt x verdict stratum
            tests = sum(committed[d.id] == "test" for d in docs if stratum(d) == key)
            assert abs(tests / members - 0.2) < 0.02, key
    flagged = [d for d in docs if hplt_verdict(d) == "unnatural"]
    assert sum(committed[d.id] == "test" for d in flagged) >= 5  # not left to chance


def test_web_labels_cover_every_norwegian_page_respect_the_split_and_match_the_pages(repo_root):
    docs = web_or_skip()
    committed = load_web_split()
    for task in ("educational_value", "linguistic_quality"):
        path = repo_root / "annotations" / "web" / f"{task}.jsonl"
        records = [json.loads(line) for line in path.open()]
        # every nb/nn page of the sample, once
        norwegian = {d.id for d in docs if d.lang in ("nb", "nn")}
        assert sorted(r["id"] for r in records) == sorted(norwegian)
        # written by labelling helpers (LLM agents): a model's labels, named as such
        assert all(r["annotator"]["backend"] == "helper" for r in records)
        assert all(r["annotator"]["model"] and r["annotator"]["labeller"] for r in records)
        assert all(r["split"] == committed[r["id"]] for r in records)
        examples, report = load_examples([path], [web_dir()], task, (0, 5))
        assert report.used == len(records), report.examples  # every label finds its page's text
        second = [json.loads(line) for line in (path.parent / "second" / path.name).open()]
        assert len({r["id"] for r in second}) >= 350
        first = {r["id"]: r["annotator"]["labeller"] for r in records}
        assert all(r["annotator"]["labeller"] != first[r["id"]] for r in second)


def test_page_text_joins_excerpts_without_markers_or_cut_words():
    from curate.documents import Document
    from curate.web import page_text

    v3 = Document(
        id="p",
        text="Første linje. Andre setni\n... (900 chars skipped) ...\nrdet slutter. Midt i.\n...",
        metadata={
            "release": "v3.0",
            "segments": [
                "Første linje. Andre setni",
                " \nrdet slutter. Midt i. Kutte",
                "t. Slutt.",
            ],
        },
    )
    assert page_text(v3) == "Første linje.\nMidt i.\nSlutt."
    v2 = Document(
        id="q",
        text="x",
        metadata={"release": "v2.0", "segments": ["ord. Hele setningen her. Kut", "o. Siste. Ku"]},
    )
    assert page_text(v2) == "Hele setningen her.\nSiste."
    whole = Document(id="w", text="Hel side.", metadata={"release": "v2.0", "whole": True})
    assert page_text(whole) == "Hel side."
