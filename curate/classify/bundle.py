"""The classifier bundle's manifest, `classifier.json`: its one owner. Export writes it through
`write_manifest`; the runtime, the datatrove steps and the benchmarks read it through
`read_manifest`, which checks the format version once for all of them.

Fields: format_version, task, scale, threshold (+ threshold_policy, thresholds_by_language),
max_length, fluency, lexical, base_model, inputs (ONNX input names), fused_ops, metrics, parity,
int8_fp32_nodes and sha256 (file -> digest, paths relative to the bundle).

A bundle of several tasks (one encoder pass, one output column per task; format 2) has no
top-level task: `tasks` lists, in output-column order, each task's task, scale, threshold,
threshold_policy, thresholds_by_language, fluency, lexical, metrics and parity. `task_specs` gives
every bundle's tasks in that one shape; single-task bundles stay format 1, readable by the
curate that wrote them before.
"""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path
from typing import Any

from curate.errors import CurateError

MANIFEST = "classifier.json"
FORMAT_VERSION = 2  # the newest this curate reads; 1 = single-task, 2 = several tasks
TASK_FIELDS = (
    "task",
    "scale",
    "threshold",
    "threshold_policy",
    "thresholds_by_language",
    "fluency",
    "lexical",
    "metrics",
    "head",
    "parity",
)


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


def read_manifest(path: str | os.PathLike) -> dict[str, Any]:
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
    return spec


def write_manifest(path: Path, spec: dict[str, Any]) -> None:
    """Write `spec` as the manifest of the bundle being built at `path`, stamping its format
    version (2 only where it holds several tasks)."""
    spec["format_version"] = 2 if "tasks" in spec else 1
    (path / MANIFEST).write_text(json.dumps(spec, indent=2), encoding="utf-8")


def file_digests(path: Path, names: list[str]) -> dict[str, str]:
    """name -> sha256 for each of `names` that exists in the bundle at `path`."""
    return {n: sha256_file(path / n) for n in names if (path / n).exists()}


def verify_files(path: Path, spec: dict[str, Any]) -> None:
    """Every file the manifest lists is present and unchanged."""
    for name, expected in spec.get("sha256", {}).items():
        file = path / name
        if not file.exists():
            raise BundleError(f"{path}: {name} is missing")
        if sha256_file(file) != expected:
            raise BundleError(
                f"{path}: {name} does not match its sha256 in {MANIFEST} (modified or corrupt)"
            )


def task_specs(spec: dict[str, Any]) -> list[dict[str, Any]]:
    """The bundle's tasks in output-column order, each with the TASK_FIELDS it has."""
    if "tasks" in spec:
        return list(spec["tasks"])
    return [{k: spec[k] for k in TASK_FIELDS if k in spec}]


def language_thresholds(task: dict[str, Any]) -> dict[str | None, float]:
    """{language: threshold} of one task; the `None` key is its single threshold, the one for
    any language it has no calibrated threshold for."""
    by_language = {k: float(v) for k, v in task.get("thresholds_by_language", {}).items()}
    return {None: float(task["threshold"]), **by_language}


def task_thresholds(path: str | os.PathLike) -> dict[str, dict[str | None, float]]:
    """task -> {language: threshold} for every task of the bundle at `path`."""
    return {t["task"]: language_thresholds(t) for t in task_specs(read_manifest(path))}
