"""The classifier bundle's manifest, `classifier.json`: its one owner. Export writes it through
`write_manifest`; the runtime, the datatrove steps and the benchmarks read it through
`read_manifest`, which checks the format version once for all of them.

Fields: format_version, task, scale, threshold (+ threshold_policy, thresholds_by_language),
max_length, fluency, lexical, label_scale (raw score -> label scale; thresholds are on the label
scale where it is present), cascade (curate.classify.cascade), curves (threshold -> share kept,
precision, recall per calibration domain and language, on validation), base_model, inputs
(ONNX input names), fused_ops, metrics, parity, int8_fp32_nodes and sha256 (file -> digest,
paths relative to the bundle).

A bundle of several tasks (one encoder pass, one output column per task; format 2) has no
top-level task: `tasks` lists, in output-column order, each task's task, scale, threshold,
threshold_policy, thresholds_by_language, fluency, lexical, label_scale, curves, metrics and
parity. `task_specs` gives
every bundle's tasks in that one shape; single-task bundles stay format 1, readable by the
curate that wrote them before. `read_manifest` gives either format as one typed `Manifest`
whose `tasks` is always a list of `TaskSpec`.
"""

from __future__ import annotations

import hashlib
import json
import os
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Any

from curate.atomic import write_atomic
from curate.errors import CurateError

MANIFEST = "classifier.json"
FORMAT_VERSION = 2  # the newest this curate reads; 1 = single-task, 2 = several tasks


class BundleError(CurateError, ValueError):
    """The bundle is missing, tampered with, or from a newer curate."""


def sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def is_bundle(path: str | os.PathLike) -> bool:
    return (Path(path) / MANIFEST).is_file()


@dataclass(frozen=True)
class TaskSpec:
    """One task of a bundle: its output column's name, scale, thresholds and side models."""

    task: str
    scale: tuple[int, int]
    threshold: float
    threshold_policy: str | None = None
    thresholds_by_language: dict[str, float] = field(default_factory=dict)
    fluency: dict[str, Any] | None = None
    lexical: dict[str, Any] | None = None
    metrics: dict[str, Any] | None = None
    head: list[float] | None = None
    parity: dict[str, Any] | None = None
    label_scale: dict[str, Any] | None = None  # curate.classify.label_scale; None: raw scores
    curves: dict[str, Any] | None = None  # {domain: {language: trade-off curve}} (validation)
    cascade: dict[str, Any] | None = None  # curate.classify.cascade; None: encoder for all

    def language_thresholds(self) -> dict[str | None, float]:
        """{language: threshold}; the `None` key is the task's single threshold, the one for
        any language it has no calibrated threshold for."""
        by_language = {k: float(v) for k, v in self.thresholds_by_language.items()}
        return {None: float(self.threshold), **by_language}


@dataclass(frozen=True)
class Manifest:
    """A bundle's classifier.json, either format, typed; `document` is the JSON as stored."""

    path: Path
    format_version: int
    tasks: list[TaskSpec]
    max_length: int
    inputs: list[str]
    sha256: dict[str, str]
    head: list[float] | None
    document: dict[str, Any]

    @property
    def task_names(self) -> list[str]:
        return [t.task for t in self.tasks]

    def task(self, name: str | None = None) -> TaskSpec:
        """The task called `name`; it may be left out when there is only one."""
        if name is None:
            if len(self.tasks) > 1:
                raise BundleError(f"{self.path} holds tasks {self.task_names}: name one (task=...)")
            return self.tasks[0]
        for spec in self.tasks:
            if spec.task == name:
                return spec
        raise BundleError(f"{self.path} has no task {name!r}; it has {self.task_names}")


TASK_FIELDS = tuple(f.name for f in fields(TaskSpec))  # a task's keys in a stored manifest


def task_spec(stored: dict[str, Any]) -> TaskSpec:
    given = {k: v for k, v in stored.items() if k in TASK_FIELDS and v is not None}
    lo, hi = given["scale"]
    return TaskSpec(**{**given, "scale": (int(lo), int(hi))})


def parse_manifest(path: Path, document: dict[str, Any]) -> Manifest:
    try:
        tasks = [task_spec(t) for t in task_specs(document)]
        return Manifest(
            path=path,
            format_version=int(document["format_version"]),
            tasks=tasks,
            max_length=int(document["max_length"]),
            inputs=list(document.get("inputs", [])),
            sha256=dict(document.get("sha256", {})),
            head=document.get("head"),
            document=document,
        )
    except (KeyError, TypeError, ValueError, IndexError) as err:
        raise BundleError(f"{path / MANIFEST}: not a classifier manifest ({err!r})") from err


def read_manifest(path: str | os.PathLike) -> Manifest:
    """The manifest of the bundle at `path`, refused when absent, unreadable or newer."""
    path = Path(path)
    if not path.exists():
        raise BundleError(f"classifier bundle not found: {path}")
    if not is_bundle(path):
        raise BundleError(f"{path} is not a classifier bundle: no {MANIFEST}")
    try:
        spec = json.loads((path / MANIFEST).read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as err:
        raise BundleError(f"{path / MANIFEST}: not valid JSON ({err})") from err
    version = spec.get("format_version") if isinstance(spec, dict) else None
    if not isinstance(version, int) or version > FORMAT_VERSION:
        raise BundleError(
            f"{path}: bundle format {version!r} is newer than this curate "
            f"supports ({FORMAT_VERSION}); upgrade curate"
        )
    return parse_manifest(path, spec)


def task_record(task: TaskSpec) -> dict[str, Any]:
    """A task as a manifest stores it."""
    return {**asdict(task), "scale": list(task.scale)}


def manifest_document(tasks: list[TaskSpec], shared: dict[str, Any]) -> dict[str, Any]:
    """The stored form of a bundle of `tasks` whose other fields are `shared` (max_length,
    base_model, inputs, fused_ops, sha256, ...): one task's fields at the top level (format 1,
    for the curate that wrote them before), several tasks under `tasks` (format 2)."""
    if len(tasks) == 1:
        return {**shared, **task_record(tasks[0]), "format_version": 1}
    return {**shared, "tasks": [task_record(t) for t in tasks], "format_version": 2}


def write_manifest(path: Path, tasks: list[TaskSpec], shared: dict[str, Any]) -> dict[str, Any]:
    """Write the manifest of the bundle being built at `path` (inside the export's atomic
    folder); returns it as stored."""
    document = manifest_document(tasks, shared)
    (path / MANIFEST).write_text(json.dumps(document, indent=2), encoding="utf-8")
    return document


def update_task(path: str | os.PathLike, task: str, **fields: Any) -> None:
    """Set `fields` of one task in the manifest of the finished bundle at `path`, atomically
    (the manifest is not among the digests it lists)."""

    manifest = read_manifest(path)
    manifest.task(task)  # refused when absent
    document = dict(manifest.document)
    targets = document["tasks"] if "tasks" in document else [document]
    for stored in targets:
        if stored.get("task", task) == task:
            stored.update(fields)
    write_atomic(Path(path) / MANIFEST, json.dumps(document, indent=2))


def file_digests(path: Path, names: list[str]) -> dict[str, str]:
    """name -> sha256 for each of `names` that exists in the bundle at `path`."""
    return {n: sha256_file(path / n) for n in names if (path / n).exists()}


def verify_files(path: Path, manifest: Manifest) -> None:
    """Every file the manifest lists is present and unchanged."""
    for name, expected in manifest.sha256.items():
        file = path / name
        if not file.exists():
            raise BundleError(f"{path}: {name} is missing")
        if sha256_file(file) != expected:
            raise BundleError(
                f"{path}: {name} does not match its sha256 in {MANIFEST} (modified or corrupt)"
            )


def task_specs(spec: dict[str, Any]) -> list[dict[str, Any]]:
    """A stored manifest's tasks in output-column order, each with the TASK_FIELDS it has (the
    one-task format's top level, or its `tasks`)."""
    if "tasks" in spec:
        return list(spec["tasks"])
    return [{k: spec[k] for k in TASK_FIELDS if k in spec}]


def task_thresholds(path: str | os.PathLike) -> dict[str, dict[str | None, float]]:
    """task -> {language: threshold} for every task of the bundle at `path`."""
    return {t.task: t.language_thresholds() for t in read_manifest(path).tasks}
