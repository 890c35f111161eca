"""The annotation record: its one owner. Every writer (`curate annotate`'s runner, `curate
synthesize`, the jury's consensus, tools/hand_labels.py) builds an `AnnotationRecord`, and every
reader (`curate train`, `curate agreement`) gets them from `iter_records`.

A record is one JSON line: `id`, `text_sha256` (of the text judged), `task`, `score` (int on
the task's scale), `rationale`, `annotator` {`backend`, `model`, `prompt_sha256`}, `usage`
(tokens), `created`, and optionally `split` and `cache_key`. Records of task T live in
`<dir>/T.jsonl` (gz or zst compressed copies read too); `<dir>/T.failures.jsonl` holds failed
requests and is never read as annotations, nor are the JSON files beside them (usage.json,
agreement.json).
"""

from __future__ import annotations

import datetime as dt
import json
import os
import zlib
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import zstandard

from curate.atomic import atomic_path
from curate.documents import list_input_files, open_binary

RECORD_SUFFIXES = (".jsonl", ".jsonl.gz", ".jsonl.zst")
FAILURES_MARK = ".failures."


def now() -> str:
    return dt.datetime.now(dt.UTC).isoformat(timespec="seconds")


@dataclass
class AnnotationRecord:
    """One label. `score` is checked against the task's scale by whoever reads it (a record
    with a bad score is counted and set aside there, never dropped silently). `extra` holds
    what some writers add (finish_reason, parsed_by, cache_key, flags, ...), kept as written."""

    id: str
    task: str
    score: Any
    text_sha256: str | None = None
    rationale: str = ""
    annotator: dict[str, Any] = field(default_factory=dict)
    usage: dict[str, int] | None = None
    lang: str | None = None
    source: str | None = None
    created: str = field(default_factory=now)
    split: str | None = None
    extra: dict[str, Any] = field(default_factory=dict)

    KEYS = ("id", "text_sha256", "task", "score", "rationale", "annotator", "usage")
    ABOUT = ("lang", "source")  # the document judged; null where unknown

    def to_dict(self) -> dict[str, Any]:
        row = {k: getattr(self, k) for k in (*self.KEYS, *self.ABOUT)}
        row |= self.extra
        row["created"] = self.created
        if self.split is not None:
            row["split"] = self.split
        return row

    @classmethod
    def from_dict(cls, row: dict[str, Any]) -> AnnotationRecord:
        """A record from a JSON line; KeyError names a missing id, task or score."""
        known = {*cls.KEYS, *cls.ABOUT, "created", "split"}
        values = {k: row[k] for k in known if k in row}
        for key in ("id", "task", "score"):
            if key not in values:
                raise KeyError(key)
        values["id"] = str(values["id"])
        values["annotator"] = values.get("annotator") or {}
        return cls(**values, extra={k: v for k, v in row.items() if k not in known})


def records_file(folder: str | os.PathLike, task: str) -> Path:
    return Path(folder) / f"{task}.jsonl"


def failures_file(folder: str | os.PathLike, task: str) -> Path:
    return Path(folder) / f"{task}{FAILURES_MARK}jsonl"


def is_records_file(path: Path) -> bool:
    return path.name.endswith(RECORD_SUFFIXES) and FAILURES_MARK not in path.name


def record_line(record: AnnotationRecord | dict[str, Any]) -> str:
    row = record.to_dict() if isinstance(record, AnnotationRecord) else record
    return json.dumps(row, ensure_ascii=False) + "\n"


def write_records(records: Iterable[AnnotationRecord], path: Path) -> None:
    """Write a whole record file at once, atomically (a reader never sees half of it)."""
    with atomic_path(path) as tmp, open(tmp, "w", encoding="utf-8") as fh:
        fh.writelines(map(record_line, records))


def iter_records(
    paths: Iterable[str | os.PathLike], on_bad: Callable[[str, str], None]
) -> Iterator[tuple[AnnotationRecord, str]]:
    """(record, "file:line") for every record in the record files under `paths`; a line that is
    not a record (not JSON, no id, task or score) goes to `on_bad(reason, "file:line")` and the
    read goes on."""
    for path in filter(is_records_file, list_input_files(paths)):
        n = 0
        try:
            with open_binary(path) as fh:
                for n, raw in enumerate(fh, start=1):
                    if raw.strip():
                        row = parse_line(raw)
                        if row is None:
                            continue
                        if isinstance(row, AnnotationRecord):
                            yield row, f"{path}:{n}"
                        else:
                            on_bad(row, f"{path}:{n}")
        except (EOFError, OSError, zlib.error, zstandard.ZstdError) as err:
            on_bad(f"corrupt or truncated file: {err}", f"{path}:{n + 1}")


def parse_line(raw: bytes) -> AnnotationRecord | str | None:
    """The record on one line, or why it is none; None for a row with no `task` at all, which
    is no annotation (`curate synthesize` keeps its documents beside its records)."""
    try:
        row = json.loads(raw.decode("utf-8"))
    except UnicodeDecodeError:
        return "not UTF-8"
    except json.JSONDecodeError:
        return "not JSON"
    if not isinstance(row, dict):
        return "not an annotation record"
    if "task" not in row:
        return None
    try:
        return AnnotationRecord.from_dict(row)
    except KeyError as err:
        return f"not an annotation record: no {err.args[0]}"
