"""Turn a pipeline spec (pipelines/*.yaml) into a datatrove pipeline and run it.

A spec names the input, the steps in order (each `- step_name: {params}`), the output and the
executor. Unknown steps and unknown parameters are errors that name the allowed values, raised
before any task starts. Every filter gets an exclusion writer of its own, so every dropped
document can be audited: `<output>/excluded/<NN>_<step>/`; kept documents go to
`<output>/kept/`, logs and stats to `<output>/logs/`.

Built so far: the local executor. Slurm and Ray sections are issue #6's remaining work.
"""

from __future__ import annotations

import copy
import inspect
from pathlib import Path
from typing import Any

import yaml
from datatrove.pipeline.writers import JsonlWriter

from curate.pipeline.heuristics import NordicGopherQuality
from curate.pipeline.langid import NordicLanguageFilter
from curate.pipeline.steps import CurateReader, QualityScorer, ScoreFilter

STEPS = {
    "language": NordicLanguageFilter,
    "gopher_quality": NordicGopherQuality,
    "quality_scorer": QualityScorer,
    "score_filter": ScoreFilter,
}
EXECUTORS = ("local",)
SPEC_KEYS = {"name", "input", "steps", "output", "executor"}


class SpecError(ValueError):
    pass


def load_spec(path: str | Path, overrides: list[str] = ()) -> dict[str, Any]:
    spec = yaml.safe_load(Path(path).read_text(encoding="utf-8")) or {}
    for item in overrides:
        key, sep, value = item.partition("=")
        if not sep:
            raise SpecError(f"--set expects key=value, got {item!r}")
        set_dotted(spec, key, yaml.safe_load(value))
    unknown = set(spec) - SPEC_KEYS
    if unknown:
        raise SpecError(f"{path}: unknown keys {sorted(unknown)}; allowed: {sorted(SPEC_KEYS)}")
    for key in ("input", "steps", "output"):
        if key not in spec:
            raise SpecError(f"{path}: missing `{key}`")
    return spec


def set_dotted(spec: dict, dotted: str, value: Any) -> None:
    node = spec
    *parents, last = dotted.split(".")
    for part in parents:
        node = node.setdefault(part, {})
    node[last] = value


def build_step(index: int, entry: Any, output: Path):
    if not isinstance(entry, dict) or len(entry) != 1:
        raise SpecError(f"step {index}: write each step as `- name: {{params}}`, got {entry!r}")
    ((name, params),) = entry.items()
    if name not in STEPS:
        raise SpecError(f"step {index}: unknown step {name!r}; allowed: {sorted(STEPS)}")
    cls = STEPS[name]
    params = dict(params or {})
    allowed = set(inspect.signature(cls.__init__).parameters) - {"self", "exclusion_writer"}
    unknown = set(params) - allowed
    if unknown:
        raise SpecError(
            f"step {index} ({name}): unknown parameters {sorted(unknown)}; "
            f"allowed: {sorted(allowed)}"
        )
    if "exclusion_writer" in inspect.signature(cls.__init__).parameters:
        params["exclusion_writer"] = JsonlWriter(str(output / "excluded" / f"{index:02d}_{name}"))
    try:
        return cls(**params)
    except (TypeError, ValueError, FileNotFoundError) as err:
        raise SpecError(f"step {index} ({name}): {err}") from err


def build_pipeline(spec: dict[str, Any]) -> list:
    output = Path(spec["output"]["path"])
    source = spec["input"]
    pipeline = [
        CurateReader(
            str(source["path"]),
            source=source.get("source", "auto"),
            glob_pattern=source.get("glob"),
        )
    ]
    pipeline += [build_step(i, entry, output) for i, entry in enumerate(spec["steps"], start=1)]
    pipeline.append(JsonlWriter(str(output / "kept")))
    return pipeline


def run_spec(spec: dict[str, Any]) -> Path:
    executor = copy.deepcopy(spec.get("executor") or {"type": "local"})
    kind = executor.pop("type", "local")
    if kind not in EXECUTORS:
        raise SpecError(f"executor {kind!r} is not built yet; available: {EXECUTORS}")
    pipeline = build_pipeline(spec)
    from datatrove.executor import LocalPipelineExecutor

    logs = Path(spec["output"]["path"]) / "logs"
    allowed = {"tasks", "workers"}
    if set(executor) - allowed:
        raise SpecError(
            f"executor: unknown keys {sorted(set(executor) - allowed)}; allowed: {sorted(allowed)}"
        )
    LocalPipelineExecutor(pipeline, logging_dir=str(logs), **executor).run()
    return logs
