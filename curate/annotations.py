"""The annotation record: its one owner. `curate annotate` writes records (annotate/store.py),
`curate agreement` and `curate train` read them, all through this module.

A record is one JSON line: `id`, `text_sha256` (of the text judged), `task`, `score` (int on
the task's scale), `rationale`, `annotator` {`backend`, `model`, `prompt_sha256`}, `usage`
(tokens), `created`, and optionally `split` and `cache_key`. Records of task T live in
`<dir>/T.jsonl` (gz or zst compressed copies read too); `<dir>/T.failures.jsonl` holds failed
requests and is never read as annotations, nor are the JSON files beside them (usage.json,
agreement.json).
"""

from __future__ import annotations

import json
import os
import zlib
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import Any

import zstandard

from curate.documents import list_input_files, open_binary

RECORD_SUFFIXES = (".jsonl", ".jsonl.gz", ".jsonl.zst")
FAILURES_MARK = ".failures."


def records_file(folder: str | os.PathLike, task: str) -> Path:
    return Path(folder) / f"{task}.jsonl"


def failures_file(folder: str | os.PathLike, task: str) -> Path:
    return Path(folder) / f"{task}{FAILURES_MARK}jsonl"


def is_records_file(path: Path) -> bool:
    return path.name.endswith(RECORD_SUFFIXES) and FAILURES_MARK not in path.name


def record_line(record: dict[str, Any]) -> str:
    return json.dumps(record, ensure_ascii=False) + "\n"


def write_records(records: Iterable[dict[str, Any]], path: Path) -> None:
    """Write a whole record file at once, atomically (a reader never sees half of it)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp")
    with open(tmp, "w", encoding="utf-8") as fh:
        fh.writelines(map(record_line, records))
    os.replace(tmp, path)


def iter_records(
    paths: Iterable[str | os.PathLike], on_bad: Callable[[str, str], None]
) -> Iterator[tuple[dict[str, Any], str]]:
    """(record, "file:line") for every record in the record files under `paths`; a line that is
    not a JSON object goes to `on_bad(reason, "file:line")` and the read goes on."""
    for path in filter(is_records_file, list_input_files(paths)):
        n = 0
        try:
            with open_binary(path) as fh:
                for n, raw in enumerate(fh, start=1):
                    if raw.strip():
                        row = parse_line(raw)
                        if isinstance(row, dict):
                            yield row, f"{path}:{n}"
                        else:
                            on_bad(row, f"{path}:{n}")
        except (EOFError, OSError, zlib.error, zstandard.ZstdError) as err:
            on_bad(f"corrupt or truncated file: {err}", f"{path}:{n + 1}")


def parse_line(raw: bytes) -> dict[str, Any] | str:
    """The record on one line, or why it is none."""
    try:
        row = json.loads(raw.decode("utf-8"))
    except UnicodeDecodeError:
        return "not UTF-8"
    except json.JSONDecodeError:
        return "not JSON"
    return row if isinstance(row, dict) else "not an annotation record"
