"""Filtering pipelines on datatrove: the spec format (spec), a reader for every source schema,
classifier scoring and thresholds (steps), line cleaning (line_clean), offline Nordic language ID
(langid), Nordic heuristics (heuristics, fineweb2), dedup stages (dedup, clusters), the builder
that turns a spec into stages and runs them (build), one runner per executor kind (executors)
and the run folder (layout)."""

from curate.errors import CurateError


class SpecError(CurateError, ValueError):
    """A pipeline spec that cannot run; the message names the key and the allowed values."""
