"""Filtering pipelines on datatrove: a reader for every source schema (steps), offline Nordic
language ID (langid), Nordic heuristics (heuristics), dedup stages (dedup), classifier scoring
and thresholds (steps), the spec builder (build) and the executors (executors)."""

from curate.errors import CurateError


class SpecError(CurateError, ValueError):
    """A pipeline spec that cannot run; the message names the key and the allowed values."""
