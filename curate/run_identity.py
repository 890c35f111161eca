"""A run folder's identity record: what a long run is made of (run.json of a filter run,
ablation.json of an ablation). The first run writes it; every rerun into the folder compares
itself with it, so resuming never mixes two runs' results. Each owner says what goes in and
words its own refusal."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from curate.atomic import write_atomic
from curate.errors import CurateError


def as_recorded(identity: dict[str, Any]) -> dict[str, Any]:
    """`identity` as it reads back from its JSON record (tuples as lists, keys as strings)."""
    return json.loads(json.dumps(identity))


def read_record(record: Path, restart_hint: str) -> dict[str, Any]:
    """The record ({} when there is none yet); an unreadable one is an error naming it."""
    if not record.exists():
        return {}
    try:
        return json.loads(record.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as err:
        raise CurateError(
            f"{record} is not readable JSON ({err}): cannot tell which run {record.parent} "
            f"holds; {restart_hint}"
        ) from err


def claim(record: Path, identity: dict[str, Any], restart_hint: str) -> list[str]:
    """The keys of `identity` that differ from the run already recorded in `record` ([] when
    they agree); where there is none yet, `identity` is written (atomically) and [] returned."""
    before = read_record(record, restart_hint)
    if before:
        return [key for key in identity if before.get(key) != identity[key]]
    write_atomic(record, json.dumps(identity, indent=2, ensure_ascii=False))
    return []
