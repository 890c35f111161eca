import gzip
import json
import random

import ftfy
import pytest
from click.testing import CliRunner

from curate.classify.data import load_examples, split_examples
from curate.cli import cli
from curate.degrade import FAMILIES, damaged_copies, degrade, mojibake
from curate.documents import Document, read_documents
from curate.reference import (
    ReferenceMissing,
    load_reference,
    load_split,
    make_split,
    reference_dir,
    split_group,
)
from curate.tasks import get_task

TEXT = (
    "Fotosyntesen er prosessen der grønne planter bruker energien i sollys til å lage sukker. "
    "Reaksjonen foregår i kloroplastene, der klorofyll fanger opp lyset.\n"
    "Oksygenet slipper ut gjennom spalteåpningene på undersiden av bladet. Nesten alt oksygenet "
    "vi puster inn, er dannet på denne måten."
)
DONOR = "Fotosyntesen är den process där gröna växter använder solljus. Det sker i bladen."


def reference_or_skip():
    try:
        return reference_dir()
    except ReferenceMissing as err:
        pytest.skip(f"reference corpus absent: {err}")


@pytest.mark.parametrize("family", sorted(FAMILIES))
def test_every_damage_family_changes_the_text_the_same_way_each_time(family):
    first = degrade(TEXT, family, random.Random(3), [DONOR])
    again = degrade(TEXT, family, random.Random(3), [DONOR])
    assert first == again
    assert first != TEXT and first.strip()
    assert get_task("linguistic_quality").damage_score(family) is not None


def test_word_shuffle_keeps_the_words_and_mojibake_is_what_ftfy_repairs():
    shuffled = degrade(TEXT, "word_shuffle", random.Random(1))
    assert sorted(shuffled.split()) == sorted(TEXT.split())
    broken = mojibake(TEXT, random.Random(0))
    assert "Ã¸" in broken and "ø" not in broken
    assert ftfy.fix_text(broken) == TEXT


def test_language_mix_needs_donors_and_unknown_families_are_named():
    with pytest.raises(ValueError, match="donor"):
        degrade(TEXT, "language_mix", random.Random(0), [])
    with pytest.raises(ValueError, match="unknown damage family 'typo'.*word_shuffle"):
        degrade(TEXT, "typo", random.Random(0))


def test_damaged_copies_name_their_family_and_original():
    doc = Document("a", TEXT, "nb", "x", {"split": "train"})
    copies = damaged_copies([doc], ["word_shuffle", "spam"], seed=1)
    assert [c.id for c in copies] == ["a#word_shuffle", "a#spam"]
    assert all(c.metadata["original_id"] == "a" and c.metadata["split"] == "train" for c in copies)


def test_synthesize_writes_labels_that_train_reads_with_the_split_of_their_original(tmp_path):
    clean = tmp_path / "clean.jsonl"
    rows = [
        {"id": f"d{i}", "text": TEXT, "lang": "nb", "metadata": {"split": s}}
        for i, s in enumerate(["train"] * 4 + ["validation"] * 2 + ["test"] * 2)
    ]
    clean.write_text("\n".join(json.dumps(r, ensure_ascii=False) for r in rows) + "\n")
    donors = tmp_path / "donors.jsonl"
    donors.write_text(json.dumps({"id": "s", "text": DONOR, "lang": "sv"}) + "\n")
    out = tmp_path / "synthetic"
    result = CliRunner().invoke(
        cli,
        ["synthesize", str(clean), "--donors", str(donors), "-o", str(out), "--copies", "3"],
    )
    assert result.exit_code == 0, result.output
    assert "8 clean documents, 24 damaged copies" in result.output
    records = [json.loads(line) for line in (out / "linguistic_quality.jsonl").open()]
    assert len(records) == 32
    assert {r["annotator"]["backend"] for r in records} == {"synthetic"}
    examples, report = load_examples([out], [out], "linguistic_quality", (0, 5))
    assert report.used == 32 and not report.skipped
    splits = split_examples(examples, 0.2, 0.2, 0)
    assert {len(v) for v in splits.values()} == {16, 8}
    for name, part in splits.items():
        assert all(e.split == name for e in part)
        assert sum(e.score == 5 for e in part) == len(part) // 4  # one clean per three copies
    # the label carries the split: read against the clean source (no split in its metadata,
    # some texts changed), every label keeps its split and finds its text in the other corpus
    assert {r["split"] for r in records} == {"train", "validation", "test"}
    source = tmp_path / "source.jsonl"
    bare = [
        {**r, "metadata": {}, "text": r["text"] + (" endret" if i < 3 else "")}
        for i, r in enumerate(rows)
    ]
    source.write_text("\n".join(json.dumps(r, ensure_ascii=False) for r in bare) + "\n")
    again, report = load_examples([out], [source, out], "linguistic_quality", (0, 5))
    assert report.used == 32 and not report.skipped
    assert sorted((e.id, e.split) for e in again) == sorted((e.id, e.split) for e in examples)


def test_synthesize_refuses_both_or_neither_source(tmp_path):
    result = CliRunner().invoke(cli, ["synthesize", "-o", str(tmp_path)])
    assert result.exit_code == 2 and "not both and not neither" in result.output


def test_reference_split_is_committed_complete_and_keeps_translations_together():
    reference_or_skip()
    docs = load_reference()
    committed = load_split()
    assert set(committed) == {d.id for d in docs}
    assert make_split(docs) == committed  # the split rebuilds exactly from its seed
    groups: dict[str, set[str]] = {}
    for d in docs:
        groups.setdefault(split_group(d), set()).add(committed[d.id])
    assert all(len(splits) == 1 for splits in groups.values())
    ntrex_nb = [d for d in docs if d.source == "ntrex" and d.lang == "nb"]
    test_share = sum(committed[d.id] == "test" for d in ntrex_nb) / len(ntrex_nb)
    assert 0.15 < test_share < 0.25


def test_helper_labels_are_on_reference_documents_and_respect_the_split(repo_root):
    reference_or_skip()
    committed = load_split()
    texts = {d.id: d.text for d in load_reference()}
    for task in ("educational_value", "linguistic_quality"):
        path = repo_root / "annotations" / "reference" / f"{task}.jsonl"
        records = [json.loads(line) for line in path.open()]
        assert len(records) >= 400
        # written by labelling helpers (LLM agents): a model's labels, named as such
        assert all(r["annotator"]["backend"] == "helper" for r in records)
        assert all(r["annotator"]["model"] and r["annotator"]["labeller"] for r in records)
        assert all(r["split"] == committed[r["id"]] for r in records)
        examples, report = load_examples([path], [reference_dir()], task, (0, 5))
        assert report.used == len(records), report.examples
        assert all(texts[e.id] == e.text for e in examples)


def test_reference_corpus_reads_as_curate_documents():
    folder = reference_or_skip()
    with gzip.open(next(folder.glob("*.jsonl.gz")), "rt") as fh:
        first = json.loads(fh.readline())
    doc = next(iter(read_documents([next(folder.glob("*.jsonl.gz"))])))
    assert doc.id == first["id"] and doc.lang in {"nb", "nn", "sv", "da", "fi"}
