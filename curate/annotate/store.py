"""Append-only annotation output that doubles as the cache: one JSON line per finished document,
flushed per record, so a killed run loses at most the requests in flight. Beside it, the
failures of documents still unannotated, and the running token and cost totals (usage.json)."""

from __future__ import annotations

import json
import logging
import os
from collections import Counter
from pathlib import Path
from typing import Any

from curate.annotations import failures_file, record_line, records_file
from curate.atomic import write_atomic

USAGE_FILE = "usage.json"
USAGE_FIELDS = ("requests", "input_tokens", "output_tokens", "cost_usd")

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
        self.path = records_file(out_dir, task)
        self.failures_path = failures_file(out_dir, task)
        for p in (self.path, self.failures_path):
            repair_tail(p)
        self.first: dict[str, dict[str, Any]] = {}  # cache key -> its first record
        self.ids: set[tuple[str, str]] = set()  # (cache key, document id) already written
        for r in read_jsonl(self.path):
            if "cache_key" in r:
                self.first.setdefault(r["cache_key"], r)
                self.ids.add((r["cache_key"], r["id"]))
        self.failed_runs = self._prune_failures()
        self._out = open(self.path, "a", encoding="utf-8")
        self._failures = open(self.failures_path, "a", encoding="utf-8")

    def _prune_failures(self) -> Counter:
        """Drop failures whose document has since been annotated (a failure that outlived its
        successful retry would mislead); count, per cache key, the runs it failed in."""
        failures = read_jsonl(self.failures_path)
        open_failures = [r for r in failures if r.get("cache_key") not in self.first]
        if len(open_failures) < len(failures):
            lines = "".join(map(record_line, open_failures))
            write_atomic(self.failures_path, lines)
        per_doc = Counter((r.get("cache_key"), r.get("id")) for r in open_failures)
        runs: Counter = Counter()
        for (key, _), n in per_doc.items():
            runs[key] = max(runs[key], n)
        return runs

    def add(self, record: dict[str, Any]) -> None:
        self._write(self._out, record)
        self.first.setdefault(record["cache_key"], record)
        self.ids.add((record["cache_key"], record["id"]))

    def add_failure(self, record: dict[str, Any]) -> None:
        self._write(self._failures, record)

    @staticmethod
    def _write(fh, record: dict[str, Any]) -> None:
        fh.write(record_line(record))
        fh.flush()

    def close(self) -> None:
        self._out.close()
        self._failures.close()


def read_usage(out_dir: Path) -> dict[str, dict[str, float]]:
    """Token and cost totals per task over every run into `out_dir`."""
    path = out_dir / USAGE_FILE
    if not path.exists():
        return {}
    try:
        return json.loads(path.read_text(encoding="utf-8")).get("tasks", {})
    except (json.JSONDecodeError, AttributeError):
        logger.warning("%s: unreadable usage totals; starting them again", path)
        return {}


def add_usage(out_dir: Path, task: str, run: dict[str, float]) -> dict[str, dict[str, float]]:
    """Add one run's totals to `out_dir`/usage.json (atomically) and return all tasks'."""
    tasks = read_usage(out_dir)
    totals = tasks.setdefault(task, dict.fromkeys(USAGE_FIELDS, 0))
    for name in USAGE_FIELDS:
        totals[name] = totals.get(name, 0) + run[name]
    all_tasks = {n: sum(t.get(n, 0) for t in tasks.values()) for n in USAGE_FIELDS}
    out_dir.mkdir(parents=True, exist_ok=True)
    payload = {"tasks": tasks, "all_tasks": all_tasks}
    write_atomic(out_dir / USAGE_FILE, json.dumps(payload, indent=2) + "\n")
    return tasks
