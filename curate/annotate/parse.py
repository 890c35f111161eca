"""Turn an LLM's answer text into (score, rationale), or say why it cannot. Never raises: an
answer that cannot be read is a reason, so one bad answer never ends a run."""

from __future__ import annotations

import json
import math
import re
from dataclasses import dataclass

_SCORE_RE = re.compile(r'"?(?:score|poeng|poengsum)"?\s*[:=]\s*"?(-?\d+(?:\.\d+)?)', re.IGNORECASE)
_RATIONALE_RE = re.compile(r'"?rationale"?\s*[:=]\s*"((?:[^"\\]|\\.)*)', re.IGNORECASE)


@dataclass
class Parsed:
    score: int | None
    rationale: str
    method: str  # json | regex
    error: str | None = None


def parse_answer(text: str | None, scale: tuple[int, int]) -> Parsed:
    if not text or not text.strip():
        return Parsed(None, "", "none", "empty answer")
    score, rationale, method = _from_json(text)
    if score is None:
        matches = _SCORE_RE.findall(text)
        if not matches:
            return Parsed(None, "", "none", f"unparseable answer: {text[:200]!r}")
        # prose that weighs several scores ends with its verdict: the last one counts
        score, method = matches[-1], "regex"
        rat = _RATIONALE_RE.search(text)
        rationale = rat.group(1) if rat else ""
    value = as_number(score)
    if value is None:
        return Parsed(None, str(rationale), method, f"score is not a finite number: {score!r}")
    if value != int(value) or not scale[0] <= value <= scale[1]:
        return Parsed(None, str(rationale), method, f"score out of range {scale}: {score!r}")
    return Parsed(int(value), str(rationale), method)


def as_number(score: object) -> float | None:
    """A finite number, or None: booleans, NaN, infinities ("nan", 1e999) are not scores."""
    if isinstance(score, bool):
        return None
    try:
        value = float(score)  # type: ignore[arg-type]
    except (TypeError, ValueError, OverflowError):
        return None
    return value if math.isfinite(value) else None


def _from_json(text: str):
    cleaned = text.strip().removeprefix("```json").removeprefix("```").removesuffix("```").strip()
    try:
        data = json.loads(cleaned)
    except json.JSONDecodeError:
        return None, "", "none"
    if isinstance(data, dict) and "score" in data:
        return data["score"], data.get("rationale", ""), "json"
    return None, "", "none"
