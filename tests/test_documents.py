import gzip
import json
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import zstandard

from curate.documents import (
    BadInputError,
    Document,
    DocumentWriter,
    ReadReport,
    read_documents,
    write_documents,
)

DOCS = [
    Document(
        id="a",
        text="Fotosyntese skjer i bladene.",
        lang="nb",
        source="test",
        metadata={"url": "https://eksempel.no/a", "score": 3.5},
    ),
    Document(id="b", text="Plantane lagar sukker.", lang="nn", source="test", metadata={}),
    Document(id="c", text="Emoji 🌲 og høyre-til-venstre: שלום", lang=None, source=None),
]


@pytest.mark.parametrize("suffix", [".jsonl", ".jsonl.gz", ".jsonl.zst", ".parquet"])
def test_write_then_read_round_trips(tmp_path: Path, suffix: str):
    path = tmp_path / f"docs{suffix}"
    assert write_documents(DOCS, path) == 3
    report = ReadReport()
    back = list(read_documents([path], report=report))
    assert back == DOCS
    assert (report.rows, report.documents, report.bad_count) == (3, 3, 0)
    assert [p.name for p in tmp_path.iterdir()] == [path.name]  # no temp file left


def test_writer_leaves_nothing_when_interrupted(tmp_path: Path):
    path = tmp_path / "out.jsonl"
    with pytest.raises(RuntimeError):
        with DocumentWriter(path) as writer:
            writer.write(DOCS[0])
            raise RuntimeError("killed")
    assert list(tmp_path.iterdir()) == []


def test_plain_text_file_is_one_document(tmp_path: Path):
    (tmp_path / "notat.txt").write_text("Ein heil tekst.\nTo linjer.\n", encoding="utf-8")
    (doc,) = read_documents([tmp_path])
    assert doc.id == "notat" and doc.text.startswith("Ein heil tekst.") and doc.source == "plain"


def test_directories_are_read_recursively_and_sorted(tmp_path: Path):
    write_documents(DOCS[:1], tmp_path / "b" / "x.jsonl")
    write_documents(DOCS[1:2], tmp_path / "a" / "y.jsonl.gz")
    (tmp_path / "README").write_text("not a corpus file")
    assert [d.id for d in read_documents([tmp_path])] == ["b", "a"]


def bad_jsonl(tmp_path: Path) -> Path:
    lines = [
        json.dumps({"id": "ok1", "text": "God tekst."}).encode(),
        b'{"id": "broken", "text": "avkuttet',
        json.dumps({"id": "notext"}).encode(),
        json.dumps({"id": "nulltext", "text": None}).encode(),
        json.dumps({"id": "number", "text": 42}).encode(),
        json.dumps({"id": "blank", "text": "   \n "}).encode(),
        b'{"id": "latin1", "text": "bl\xe5b\xe6r"}',
        json.dumps(["a", "list"]).encode(),
        json.dumps({"id": "nul", "text": "a\x00b"}).encode(),
        json.dumps({"id": "huge", "text": "x" * 5_000_000}).encode(),
        b"",
        json.dumps({"id": "ok2", "text": "Enda en god tekst."}).encode(),
    ]
    path = tmp_path / "bad.jsonl"
    path.write_bytes(b"\n".join(lines) + b"\n")
    return path


def test_every_kind_of_bad_row_is_counted_with_file_and_line(tmp_path: Path):
    path = bad_jsonl(tmp_path)
    report = ReadReport()
    docs = list(read_documents([path], report=report))
    assert [d.id for d in docs] == ["ok1", "ok2"]
    found = {b.line: b.reason for b in report.bad_examples}
    assert found[2].startswith("not JSON")
    assert found[3] == "missing text"
    assert found[4] == "missing text"
    assert found[5] == "text is not a string: got int"
    assert found[6] == "empty text"
    assert found[7].startswith("invalid UTF-8")
    assert found[8] == "row is not an object: got list"
    assert found[9] == "text contains NUL bytes"
    assert found[10] == "document too long: 5,000,000 chars > max 1,000,000"
    assert all(b.path == str(path) for b in report.bad_examples)
    # nothing vanishes: every row is a document or a counted bad row (blank line 11 is layout)
    assert report.rows == 11 == report.documents + report.bad_count


def test_max_chars_is_configurable(tmp_path: Path):
    path = bad_jsonl(tmp_path)
    report = ReadReport()
    ids = [d.id for d in read_documents([path], report=report, max_chars=10_000_000)]
    assert "huge" in ids


def test_strict_mode_stops_at_first_bad_row_naming_file_and_line(tmp_path: Path):
    path = bad_jsonl(tmp_path)
    with pytest.raises(BadInputError, match=r"bad\.jsonl:2: not JSON"):
        list(read_documents([path], strict=True))


def test_empty_file_is_reported(tmp_path: Path):
    for name in ("empty.jsonl", "empty.jsonl.gz"):
        path = tmp_path / name
        path.write_bytes(gzip.compress(b"") if name.endswith(".gz") else b"")
    report = ReadReport()
    assert list(read_documents([tmp_path], report=report)) == []
    assert [(Path(b.path).name, b.line, b.reason) for b in report.bad_examples] == [
        ("empty.jsonl", 0, "empty file"),
        ("empty.jsonl.gz", 0, "empty file"),
    ]


def test_truncated_gzip_keeps_rows_before_the_break(tmp_path: Path):
    rows = b"".join(
        json.dumps({"id": str(i), "text": f"tekst nummer {i} " * 50}).encode() + b"\n"
        for i in range(2000)
    )
    data = gzip.compress(rows)
    path = tmp_path / "cut.jsonl.gz"
    path.write_bytes(data[: len(data) // 2])
    report = ReadReport()
    docs = list(read_documents([path], report=report))
    assert 0 < len(docs) < 2000
    (bad,) = report.bad_examples
    assert bad.reason.startswith("corrupt or truncated file")
    assert bad.line == len(docs) + 1 or bad.line == len(docs) + 2


def test_corrupt_zstd_is_reported(tmp_path: Path):
    data = zstandard.ZstdCompressor().compress(b'{"id": "1", "text": "hei"}\n' * 1000)
    path = tmp_path / "cut.jsonl.zst"
    path.write_bytes(data[:-8] + b"\x00" * 8)
    report = ReadReport()
    list(read_documents([path], report=report))
    assert report.bad_count == 1
    assert report.bad_examples[0].reason.startswith("corrupt or truncated file")


def test_parquet_without_text_column_counts_every_row(tmp_path: Path):
    path = tmp_path / "notext.parquet"
    pq.write_table(pa.table({"id": ["1", "2"], "content": ["a", "b"]}), path)
    report = ReadReport()
    assert list(read_documents([path], report=report)) == []
    assert report.bad_count == 2 and set(report.bad_reasons) == {"missing text"}


def test_unreadable_parquet_is_reported(tmp_path: Path):
    path = tmp_path / "junk.parquet"
    path.write_bytes(b"PAR1 this is not parquet")
    report = ReadReport()
    assert list(read_documents([path], report=report)) == []
    assert report.bad_examples[0].reason.startswith("unreadable parquet")


def test_missing_input_is_a_clear_error(tmp_path: Path):
    with pytest.raises(FileNotFoundError, match="nowhere.jsonl"):
        list(read_documents([tmp_path / "nowhere.jsonl"]))


def test_writer_rejects_unknown_suffix(tmp_path: Path):
    with pytest.raises(ValueError, match="unsupported output type"):
        DocumentWriter(tmp_path / "out.csv")
