"""Append-only annotation output that doubles as the cache: one JSON line per finished document,
flushed per record, so a killed run loses at most the requests in flight."""

from __future__ import annotations

import json
import logging
import os
from pathlib import Path
from typing import Any

logger = logging.getLogger(__name__)


def repair_tail(path: Path) -> None:
    """Cut a half-written last line (the process was killed mid-write) so appends stay valid."""
    if not path.exists() or path.stat().st_size == 0:
        return
    with open(path, "rb+") as fh:
        fh.seek(-1, os.SEEK_END)
        if fh.read(1) == b"\n":
            return
        fh.seek(0)
        cut = fh.read().rfind(b"\n") + 1
        fh.truncate(cut)
    logger.warning("%s: removed a partial last record left by an interrupted run", path)


def read_jsonl(path: Path) -> list[dict[str, Any]]:
    if not path.exists():
        return []
    rows = []
    with open(path, encoding="utf-8") as fh:
        for n, line in enumerate(fh, start=1):
            if line.strip():
                try:
                    rows.append(json.loads(line))
                except json.JSONDecodeError:
                    logger.warning("%s:%d: unreadable record skipped", path, n)
    return rows


class AnnotationStore:
    def __init__(self, out_dir: Path, task: str):
        out_dir.mkdir(parents=True, exist_ok=True)
        self.path = out_dir / f"{task}.jsonl"
        self.failures_path = out_dir / f"{task}.failures.jsonl"
        for p in (self.path, self.failures_path):
            repair_tail(p)
        self.first: dict[str, dict[str, Any]] = {}  # cache key -> its first record
        self.ids: set[tuple[str, str]] = set()  # (cache key, document id) already written
        for r in read_jsonl(self.path):
            if "cache_key" in r:
                self.first.setdefault(r["cache_key"], r)
                self.ids.add((r["cache_key"], r["id"]))
        self._out = open(self.path, "a", encoding="utf-8")
        self._failures = open(self.failures_path, "a", encoding="utf-8")

    def add(self, record: dict[str, Any]) -> None:
        self._write(self._out, record)
        self.first.setdefault(record["cache_key"], record)
        self.ids.add((record["cache_key"], record["id"]))

    def add_failure(self, record: dict[str, Any]) -> None:
        self._write(self._failures, record)

    @staticmethod
    def _write(fh, record: dict[str, Any]) -> None:
        fh.write(json.dumps(record, ensure_ascii=False) + "\n")
        fh.flush()

    def close(self) -> None:
        self._out.close()
        self._failures.close()
