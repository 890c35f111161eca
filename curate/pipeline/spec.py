"""A pipeline spec (pipelines/*.yaml): its one owner. `read_spec` gives the YAML document with
`--set` overrides applied; `parse_spec` checks it once and turns it into a `FilterSpec`, whose
errors name the file, the step and the key. Everything after works on the typed spec.

    name: demo
    input: {path: data/demo, source: auto, glob: null}
    steps:                       # in order, each `- step_name: {params}` (curate.pipeline.build)
      - language: {languages: [nb, nn]}
    output: {path: out/filter/demo, format: jsonl.gz}
    executor:                    # curate.pipeline.executors: a section per executor kind
      type: local
      local: {tasks: 4, workers: 2}

A step declares which of its parameters name files or folders (`path_params`, a class
attribute), so `--root` and the run's identity (run.json) cover every file any step reads.
"""

from __future__ import annotations

import copy
import hashlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from curate.classify.bundle import MANIFEST, sha256_file
from curate.config import ConfigError, apply_sets, read_yaml
from curate.pipeline import SpecError
from curate.pipeline.executors import RUNNERS

SPEC_KEYS = {"name", "input", "steps", "output", "executor"}
INPUT_KEYS = {"path", "source", "glob"}
OUTPUT_FORMATS = ("jsonl.gz", "parquet")


@dataclass(frozen=True)
class StepSpec:
    index: int  # 1-based position in the spec
    name: str
    params: dict[str, Any]

    @property
    def where(self) -> str:
        return f"step {self.index} ({self.name})"


@dataclass
class FilterSpec:
    where: str  # the spec's file, for messages
    name: str
    input_path: str
    source: str
    glob: str | None
    steps: list[StepSpec]
    output_path: str
    output_format: str
    executor_kind: str
    executor_sections: dict[str, dict[str, Any]]
    document: dict[str, Any] = field(repr=False)  # as read (after --set): the run's identity

    def executor_settings(self, kind: str | None = None) -> tuple[str, dict[str, Any]]:
        """(kind, that kind's section) with `kind` overriding the spec's executor.type."""
        kind = kind or self.executor_kind
        if kind not in RUNNERS:
            raise SpecError(f"executor {kind!r} is unknown; available: {list(RUNNERS)}")
        return kind, dict(self.executor_sections.get(kind) or {})

    def paths(self, step_classes: dict[str, type]) -> list[tuple[str, str]]:
        """(key, path) for every file-system path the spec names: input, output and each step's
        declared path parameters."""
        ends = [("input.path", self.input_path), ("output.path", self.output_path)]
        return ends + self.step_paths(step_classes)

    def step_paths(self, step_classes: dict[str, type]) -> list[tuple[str, str]]:
        """(key, path) for every file or folder a step reads (its class's `path_params`)."""
        found = []
        for step in self.steps:
            for param in getattr(step_classes[step.name], "path_params", ()):
                value = step.params.get(param)
                values = [value] if isinstance(value, str) else list(value or [])
                found += [(f"{step.where}.{param}", str(v)) for v in values]
        return found


def read_spec(path: str | Path, overrides: list[str] | tuple[str, ...] = ()) -> dict[str, Any]:
    """The spec document at `path` with `--set` overrides applied (not yet checked)."""
    try:
        document = read_yaml(path)
        apply_sets(document, overrides, f"{path} (--set)")
    except ConfigError as err:
        raise SpecError(str(err)) from err
    return document


def parse_spec(document: dict[str, Any], where: str, step_names: set[str]) -> FilterSpec:
    """Check a spec document once, naming `where` and the key at fault, and type it."""
    unknown = set(document) - SPEC_KEYS
    if unknown:
        raise SpecError(f"{where}: unknown keys {sorted(unknown)}; allowed: {sorted(SPEC_KEYS)}")
    for key in ("input", "steps", "output"):
        if key not in document:
            raise SpecError(f"{where}: missing `{key}`")
    for key in ("input", "output"):
        if not isinstance(document[key], dict) or "path" not in document[key]:
            raise SpecError(
                f"{where}: `{key}` must be a mapping with a `path` (e.g. --set {key}.path=DIR), "
                f"got {document[key]!r}"
            )
    source = document["input"]
    if set(source) - INPUT_KEYS:
        raise SpecError(
            f"{where}: input: unknown keys {sorted(set(source) - INPUT_KEYS)}; "
            f"allowed: {sorted(INPUT_KEYS)}"
        )
    output_format = document["output"].get("format", "jsonl.gz")
    if output_format not in OUTPUT_FORMATS:
        raise SpecError(
            f"{where}: output.format {output_format!r}; allowed: {list(OUTPUT_FORMATS)}"
        )
    if not isinstance(document["steps"], list):
        raise SpecError(f"{where}: `steps` must be a list of `- name: {{params}}`")
    kind, sections = parse_executor(document.get("executor") or {}, where)
    return FilterSpec(
        where=where,
        name=str(document.get("name", "curate")),
        input_path=str(source["path"]),
        source=source.get("source", "auto"),
        glob=source.get("glob"),
        steps=[parse_step(i, e, where, step_names) for i, e in enumerate(document["steps"], 1)],
        output_path=str(document["output"]["path"]),
        output_format=output_format,
        executor_kind=kind,
        executor_sections=sections,
        document=copy.deepcopy(document),
    )


def parse_step(index: int, entry: Any, where: str, step_names: set[str]) -> StepSpec:
    if not isinstance(entry, dict) or len(entry) != 1:
        raise SpecError(
            f"{where}: step {index}: write each step as `- name: {{params}}`, got {entry!r}"
        )
    ((name, params),) = entry.items()
    if name not in step_names:
        raise SpecError(
            f"{where}: step {index}: unknown step {name!r}; allowed: {sorted(step_names)}"
        )
    if params is not None and not isinstance(params, dict):
        raise SpecError(f"{where}: step {index} ({name}): parameters must be a mapping")
    return StepSpec(index, name, dict(params or {}))


def parse_executor(section: Any, where: str) -> tuple[str, dict[str, dict[str, Any]]]:
    if not isinstance(section, dict):
        raise SpecError(f"{where}: `executor` must be a mapping")
    unknown = set(section) - {"type", *RUNNERS}
    if unknown:
        raise SpecError(
            f"{where}: executor: unknown keys {sorted(unknown)}; allowed: {['type', *RUNNERS]}"
        )
    kind = section.get("type", "local")
    if kind not in RUNNERS:
        raise SpecError(f"{where}: executor {kind!r} is unknown; available: {list(RUNNERS)}")
    return kind, {k: dict(section.get(k) or {}) for k in RUNNERS}


def path_digest(path: str | Path) -> str | None:
    """What a step's file is, for the run's identity: a classifier bundle's manifest digest (it
    lists every file's sha256), a file's sha256, or a folder's files' digests hashed together;
    None for a path that does not exist (yet)."""
    path = Path(path)
    if (path / MANIFEST).is_file():
        return sha256_file(path / MANIFEST)
    if path.is_file():
        return sha256_file(path)
    if path.is_dir():
        listing = "\n".join(
            f"{p.relative_to(path)} {sha256_file(p)}"
            for p in sorted(path.rglob("*"))
            if p.is_file()
        )
        return hashlib.sha256(listing.encode()).hexdigest()
    return None
