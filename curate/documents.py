"""The Document record and streaming readers/writers for jsonl, jsonl.gz, jsonl.zst and parquet.

Readers never load a whole file: rows are yielded one by one. Every row that cannot become a
Document is recorded in a `ReadReport` with its file and line, so a long run never dies on one
bad row and never drops one silently. With ``strict=True`` the first bad row raises instead.
"""

from __future__ import annotations

import gzip
import hashlib
import io
import json
import logging
import os
import zlib
from collections import Counter
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import zstandard

from curate.atomic import commit, remove, temporary_beside
from curate.document import Document
from curate.errors import CurateError, InputError, MissingInput
from curate.sources import row_to_document

logger = logging.getLogger(__name__)

JSONL_SUFFIXES = (".jsonl", ".json", ".jsonl.gz", ".json.gz", ".jsonl.zst", ".json.zst")
PARQUET_SUFFIXES = (".parquet",)
TEXT_SUFFIXES = (".txt", ".md")
SUPPORTED_SUFFIXES = JSONL_SUFFIXES + PARQUET_SUFFIXES + TEXT_SUFFIXES

DEFAULT_MAX_CHARS = 1_000_000
"""Documents longer than this are set aside as bad rows: a multi-megabyte "document" in a web
crawl is nearly always a dump (a log, a table, a base64 blob), not prose."""

MAX_BAD_EXAMPLES = 1000


@dataclass(frozen=True)
class BadRow:
    path: str
    line: int
    reason: str

    def __str__(self) -> str:
        return f"{self.path}:{self.line}: {self.reason}"


class BadInputError(CurateError, ValueError):
    """Raised in strict mode for the first row that cannot become a Document."""

    def __init__(self, bad: BadRow):
        super().__init__(f"bad input: {bad}")
        self.bad = bad


@dataclass
class ReadReport:
    """What a read saw: rows, documents, and every bad row (counted; the first examples kept)."""

    files: int = 0
    rows: int = 0
    documents: int = 0
    bad_count: int = 0
    bad_reasons: Counter = field(default_factory=Counter)
    bad_examples: list[BadRow] = field(default_factory=list)

    def add_bad(self, bad: BadRow) -> None:
        self.bad_count += 1
        self.bad_reasons[bad.reason.split(":")[0]] += 1
        if len(self.bad_examples) < MAX_BAD_EXAMPLES:
            self.bad_examples.append(bad)
        logger.info("bad input: %s", bad)


def list_input_files(paths: Iterable[str | os.PathLike]) -> list[Path]:
    """Expand directories (recursively) into the supported files they hold, sorted."""
    files: list[Path] = []
    for p in map(Path, paths):
        if p.is_dir():
            files.extend(f for f in sorted(p.rglob("*")) if f.is_file() and has_supported_suffix(f))
        elif p.exists():
            files.append(p)
        else:
            raise MissingInput(f"input not found: {p}")
    return files


def text_sha256(text: str) -> str:
    """The fingerprint annotations use to tie a label to the exact text it judged."""
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def has_supported_suffix(path: Path) -> bool:
    return path.name.endswith(SUPPORTED_SUFFIXES)


def iter_raw_rows(
    path: Path, report: ReadReport, strict: bool = False
) -> Iterator[tuple[int, Any]]:
    """Yield (line number, decoded row) from one file; problems go to `report`.

    Line numbers are 1-based. Parquet rows are numbered like lines; a plain text file is one
    row ``{"text": ..., "id": <file name>}`` at line 1.
    """
    report.files += 1
    name = path.name
    if name.endswith(PARQUET_SUFFIXES):
        yield from _iter_parquet(path, report, strict)
    elif name.endswith(TEXT_SUFFIXES):
        yield from _iter_text_file(path, report, strict)
    elif name.endswith(JSONL_SUFFIXES):
        yield from _iter_jsonl(path, report, strict)
    else:
        _bad(
            report, strict, path, 0, f"unsupported file type: expected one of {SUPPORTED_SUFFIXES}"
        )


def _bad(report: ReadReport, strict: bool, path: Path, line: int, reason: str) -> None:
    bad = BadRow(str(path), line, reason)
    if strict:
        raise BadInputError(bad)
    report.add_bad(bad)


def open_binary(path: Path) -> io.BufferedIOBase:
    if path.name.endswith(".gz"):
        return gzip.open(path, "rb")
    if path.name.endswith(".zst"):
        return io.BufferedReader(zstandard.ZstdDecompressor().stream_reader(open(path, "rb")))
    return open(path, "rb")


def _iter_jsonl(path: Path, report: ReadReport, strict: bool) -> Iterator[tuple[int, Any]]:
    line_no = 0
    try:
        with open_binary(path) as fh:
            for line_no, raw in enumerate(fh, start=1):
                report.rows += 1
                try:
                    line = raw.decode("utf-8")
                except UnicodeDecodeError as err:
                    _bad(report, strict, path, line_no, f"invalid UTF-8: byte {err.start}")
                    continue
                if not line.strip():
                    report.rows -= 1  # blank lines are layout, not rows
                    continue
                try:
                    yield line_no, json.loads(line)
                except json.JSONDecodeError as err:
                    _bad(report, strict, path, line_no, f"not JSON: {err.msg} (column {err.colno})")
    except (EOFError, OSError, zlib.error, zstandard.ZstdError) as err:
        # Truncated or corrupt compressed stream: keep what was read, report where it broke.
        _bad(report, strict, path, line_no + 1, f"corrupt or truncated file: {err}")
        return
    if line_no == 0:
        _bad(report, strict, path, 0, "empty file")


def _iter_parquet(path: Path, report: ReadReport, strict: bool) -> Iterator[tuple[int, Any]]:
    import pyarrow.parquet as pq

    try:
        pf = pq.ParquetFile(path)
    except Exception as err:  # pyarrow raises several types for unreadable files
        _bad(report, strict, path, 0, f"unreadable parquet: {err}")
        return
    if pf.metadata.num_rows == 0:
        _bad(report, strict, path, 0, "empty file")
        return
    row_no = 0
    try:
        for batch in pf.iter_batches(batch_size=1024):
            for row in batch.to_pylist():
                row_no += 1
                report.rows += 1
                yield row_no, row
    except Exception as err:
        _bad(report, strict, path, row_no + 1, f"corrupt parquet: {err}")


def _iter_text_file(path: Path, report: ReadReport, strict: bool) -> Iterator[tuple[int, Any]]:
    data = path.read_bytes()
    report.rows += 1
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as err:
        _bad(report, strict, path, 1, f"invalid UTF-8: byte {err.start}")
        return
    yield 1, {"id": path.stem, "text": text, "source": "plain"}


def validate_text(row: Any, max_chars: int) -> str | None:
    """Return why `row` cannot be a Document, or None when its text is usable."""
    if not isinstance(row, dict):
        return f"row is not an object: got {type(row).__name__}"
    if "text" not in row or row["text"] is None:
        return "missing text"
    text = row["text"]
    if not isinstance(text, str):
        return f"text is not a string: got {type(text).__name__}"
    if not text.strip():
        return "empty text"
    if "\x00" in text:
        return "text contains NUL bytes"
    if len(text) > max_chars:
        return f"document too long: {len(text):,} chars > max {max_chars:,}"
    return None


def read_file_documents(
    path: Path,
    source: str = "auto",
    report: ReadReport | None = None,
    strict: bool = False,
    max_chars: int = DEFAULT_MAX_CHARS,
) -> Iterator[tuple[int, Document]]:
    """(line, Document) for every usable row of one file; every other row goes to `report`."""

    report = report if report is not None else ReadReport()
    for line_no, row in iter_raw_rows(path, report, strict):
        problem = validate_text(row, max_chars)
        if problem is None:
            try:
                doc = row_to_document(row, source, path, line_no)
            except ValueError as err:
                problem = str(err)
        if problem is not None:
            _bad(report, strict, path, line_no, problem)
            continue
        report.documents += 1
        yield line_no, doc


def read_documents(
    paths: Iterable[str | os.PathLike],
    source: str = "auto",
    report: ReadReport | None = None,
    strict: bool = False,
    max_chars: int = DEFAULT_MAX_CHARS,
) -> Iterator[Document]:
    """Stream Documents from files or directories, mapping each source schema onto Document."""
    report = report if report is not None else ReadReport()
    for path in list_input_files(paths):
        for _, doc in read_file_documents(path, source, report, strict, max_chars):
            yield doc


class DocumentWriter:
    """Write Documents atomically: to a temporary file beside the target, renamed on close.

    The format follows the suffix: .jsonl, .jsonl.gz, .jsonl.zst or .parquet. A writer that is
    not closed cleanly (an exception inside ``with``) leaves no partial output behind.
    """

    def __init__(self, path: str | os.PathLike, parquet_batch: int = 1000):
        self.path = Path(path)
        if not self.path.name.endswith(JSONL_SUFFIXES + PARQUET_SUFFIXES):
            raise InputError(f"{self.path}: unsupported output type {SUPPORTED_SUFFIXES[:-2]}")
        self._tmp = temporary_beside(self.path)
        self._parquet = self.path.name.endswith(PARQUET_SUFFIXES)
        self._batch: list[dict] = []
        self._parquet_batch = parquet_batch
        self._pq_writer = None
        self._fh = None if self._parquet else self._open_text()
        self.count = 0

    def _open_text(self):
        if self.path.name.endswith(".gz"):
            return gzip.open(self._tmp, "wt", encoding="utf-8")
        if self.path.name.endswith(".zst"):
            raw = open(self._tmp, "wb")
            return io.TextIOWrapper(zstandard.ZstdCompressor().stream_writer(raw), encoding="utf-8")
        return open(self._tmp, "w", encoding="utf-8")

    def write(self, doc: Document | dict) -> None:
        row = doc.to_dict() if isinstance(doc, Document) else doc
        self.count += 1
        if self._parquet:
            self._batch.append(row)
            if len(self._batch) >= self._parquet_batch:
                self._flush_parquet()
        else:
            self._fh.write(json.dumps(row, ensure_ascii=False) + "\n")

    def _flush_parquet(self) -> None:
        import pyarrow as pa
        import pyarrow.parquet as pq

        if not self._batch:
            return
        rows = [
            {**r, "metadata": json.dumps(r.get("metadata") or {}, ensure_ascii=False)}
            if "metadata" in r
            else r
            for r in self._batch
        ]
        table = pa.Table.from_pylist(rows)
        if self._pq_writer is None:
            self._pq_writer = pq.ParquetWriter(self._tmp, table.schema)
        self._pq_writer.write_table(table.cast(self._pq_writer.schema))
        self._batch = []

    def close(self) -> None:
        if self._parquet:
            self._flush_parquet()
            if self._pq_writer is None:  # no rows: still write a valid, empty file
                import pyarrow as pa
                import pyarrow.parquet as pq

                pq.write_table(
                    pa.table({"id": pa.array([], pa.string()), "text": pa.array([], pa.string())}),
                    self._tmp,
                )
            else:
                self._pq_writer.close()
        else:
            self._fh.close()
        commit(self._tmp, self.path)

    def abort(self) -> None:
        if self._fh is not None:
            self._fh.close()
        if self._pq_writer is not None:
            self._pq_writer.close()
        remove(self._tmp)

    def __enter__(self) -> DocumentWriter:
        return self

    def __exit__(self, exc_type, exc, tb) -> None:
        if exc_type is None:
            self.close()
        else:
            self.abort()


def write_documents(docs: Iterable[Document | dict], path: str | os.PathLike) -> int:
    """Write all `docs` to `path` atomically; returns how many were written."""
    with DocumentWriter(path) as writer:
        for doc in docs:
            writer.write(doc)
    return writer.count
