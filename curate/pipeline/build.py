"""Turn a pipeline spec (pipelines/*.yaml) into datatrove stages and run them.

A spec names the input, the steps in order (each `- step_name: {params}`), the output and the
executor (see curate.pipeline.executors). Unknown steps, parameters and executor keys are errors
that name the allowed values, raised before any task starts. Every filter gets an exclusion
writer of its own, so every dropped document can be audited; where each goes is
curate.pipeline.layout's (kept/, excluded/<NN>_<step>/, logs/)."""

from __future__ import annotations

import inspect
from collections.abc import Callable
from pathlib import Path
from typing import Any

from datatrove.pipeline.filters import (
    C4QualityFilter,
    FineWebQualityFilter,
    GopherRepetitionFilter,
)
from datatrove.pipeline.writers import JsonlWriter, ParquetWriter

from curate.config import ConfigError, apply_sets, read_yaml
from curate.pipeline import SpecError
from curate.pipeline.dedup import DEDUPS, Stage
from curate.pipeline.heuristics import ISO3, NordicGopherQuality
from curate.pipeline.langid import NordicLanguageFilter
from curate.pipeline.layout import RunLayout
from curate.pipeline.steps import CurateReader, FixEncoding, QualityScorer, ScoreFilter

STEPS = {
    "fix_encoding": FixEncoding,
    "language": NordicLanguageFilter,
    "gopher_quality": NordicGopherQuality,
    "gopher_repetition": GopherRepetitionFilter,
    "c4_quality": C4QualityFilter,
    "fineweb_quality": FineWebQualityFilter,
    "quality_scorer": QualityScorer,
    "score_filter": ScoreFilter,
}
WRITERS = {"jsonl.gz": JsonlWriter, "parquet": ParquetWriter}
SPEC_KEYS = {"name", "input", "steps", "output", "executor"}
DEFAULT_LANGUAGE = "nb"  # datatrove's filters default to English word tokenization


def load_spec(path: str | Path, overrides: list[str] = ()) -> dict[str, Any]:
    try:
        spec = read_yaml(path)
        apply_sets(spec, overrides, f"{path} (--set)")
    except ConfigError as err:
        raise SpecError(str(err)) from err
    unknown = set(spec) - SPEC_KEYS
    if unknown:
        raise SpecError(f"{path}: unknown keys {sorted(unknown)}; allowed: {sorted(SPEC_KEYS)}")
    for key in ("input", "steps", "output"):
        if key not in spec:
            raise SpecError(f"{path}: missing `{key}`")
    for key in ("input", "output"):
        if not isinstance(spec[key], dict) or "path" not in spec[key]:
            raise SpecError(
                f"{path}: `{key}` must be a mapping with a `path` (e.g. --set {key}.path=DIR), "
                f"got {spec[key]!r}"
            )
    output_format = spec["output"].get("format", "jsonl.gz")
    if output_format not in WRITERS:
        raise SpecError(f"output.format {output_format!r}; allowed: {sorted(WRITERS)}")
    return spec


def spec_paths(spec: dict[str, Any]) -> list[tuple[str, str]]:
    """(key, path) for every file-system path a spec names: input, output, bundles."""
    paths = [("input.path", spec["input"]["path"]), ("output.path", spec["output"]["path"])]
    for index, entry in enumerate(spec["steps"], start=1):
        for name, params in entry.items() if isinstance(entry, dict) else []:
            for bundle in (params or {}).get("bundles") or []:
                paths.append((f"step {index} ({name}).bundles", bundle))
    return paths


def confine(spec: dict[str, Any], root: str | Path) -> None:
    """For a spec from someone else: every path must resolve (symlinks and `..` included)
    inside `root`; relative paths count from the current directory."""
    root = Path(root).resolve()
    for key, path in spec_paths(spec):
        resolved = Path(path).resolve()
        if not resolved.is_relative_to(root):
            raise SpecError(f"{key}: {path} resolves to {resolved}, outside the root {root}")


def split_entry(index: int, entry: Any) -> tuple[str, dict]:
    if not isinstance(entry, dict) or len(entry) != 1:
        raise SpecError(f"step {index}: write each step as `- name: {{params}}`, got {entry!r}")
    ((name, params),) = entry.items()
    if name not in STEPS and name not in DEDUPS:
        raise SpecError(
            f"step {index}: unknown step {name!r}; allowed: {sorted([*STEPS, *DEDUPS])}"
        )
    return name, dict(params or {})


def build_step(index: int, name: str, params: dict, layout: RunLayout | None):
    """One configured step; `layout=None` builds it without an exclusion writer."""
    cls = STEPS[name]
    signature = set(inspect.signature(cls.__init__).parameters)
    allowed = signature - {"self", "exclusion_writer"}
    unknown = set(params) - allowed
    if unknown:
        raise SpecError(
            f"step {index} ({name}): unknown parameters {sorted(unknown)}; "
            f"allowed: {sorted(allowed)}"
        )
    params = dict(params)
    if "language" in signature:
        language = params.get("language", DEFAULT_LANGUAGE)
        params["language"] = ISO3.get(language, language)
    if layout is not None and "exclusion_writer" in signature:
        params["exclusion_writer"] = JsonlWriter(output_folder=str(layout.excluded_by(index, name)))
    try:
        return cls(**params)
    except (TypeError, ValueError, FileNotFoundError) as err:
        raise SpecError(f"step {index} ({name}): {err}") from err


def reader(spec: dict[str, Any]) -> CurateReader:
    source = spec["input"]
    return CurateReader(
        str(source["path"]), source=source.get("source", "auto"), glob_pattern=source.get("glob")
    )


def writer(spec: dict[str, Any]):
    kept = RunLayout.of(spec).kept
    return WRITERS[spec["output"].get("format", "jsonl.gz")](output_folder=str(kept))


def build_stages(spec: dict[str, Any]) -> list[Stage]:
    """The pipeline as datatrove stages. Without dedup it is one stage. Each dedup step adds its
    signature stage (reader + the steps before it) and its middle stages; the last stage runs
    every step, drops duplicates and writes. Only the last stage writes exclusions."""
    layout = RunLayout.of(spec)
    entries = [(i, *split_entry(i, e)) for i, e in enumerate(spec["steps"], start=1)]
    factories: list[Callable[[RunLayout | None], Any]] = []  # a fresh step per stage
    stages: list[Stage] = []
    for index, name, params in entries:
        if name in DEDUPS:
            dedup = DEDUPS[name](name, index, params, layout.dedup(index, name))
            stages.append(([reader(spec), *(f(None) for f in factories), dedup.signature()], {}))
            stages.extend(dedup.middle())
            factories.append(
                lambda into, d=dedup, i=index, n=name: d.filter(
                    None if into is None else JsonlWriter(output_folder=str(into.excluded_by(i, n)))
                )
            )
        else:
            build_step(index, name, params, None)  # validate now, before any stage runs
            factories.append(lambda into, i=index, n=name, p=params: build_step(i, n, p, into))
    final = [reader(spec), *(f(layout) for f in factories), writer(spec)]
    return [*stages, (final, {})]


def build_pipeline(spec: dict[str, Any]) -> list:
    return build_stages(spec)[-1][0]


def run_spec(spec: dict[str, Any], executor: str | None = None, dry_run: bool = False) -> Path:
    """Runs (or, for Slurm, submits) every stage; returns the last stage's logging folder.
    Local and Ray runs end with merged stats over every task ever run, per stage."""
    from curate.pipeline import executors

    kind, settings = executors.executor_settings(spec, executor)
    if dry_run and kind != "slurm":
        raise SpecError("--dry-run is for --executor slurm (it writes the sbatch scripts)")
    stages = build_stages(spec)
    layout = RunLayout.of(spec)
    last = executors.chain(kind, settings, stages, layout, spec.get("name", "curate"))
    if kind == "slurm":
        scripts: list = []
        if dry_run:
            with executors.capture_sbatch(scripts):
                last.run()
            return executors.write_dry_run(scripts, layout.slurm_dry_run)
        last.run()
        return layout.logs
    if kind == "ray":
        with executors.ray_session(settings):
            last.run()
    else:
        last.run()  # runs the chain: each stage waits for the one it depends on
    for n in range(1, len(stages) + 1):
        executors.merge_stats(layout.stage_logs(n, len(stages)))
    return layout.stage_logs(len(stages), len(stages))
