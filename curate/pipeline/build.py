"""Turn a pipeline spec (pipelines/*.yaml) into datatrove stages and run them.

A spec names the input, the steps in order (each `- step_name: {params}`), the output and the
executor (see curate.pipeline.executors). Unknown steps, parameters and executor keys are errors
that name the allowed values, raised before any task starts. Every filter gets an exclusion
writer of its own, so every dropped document can be audited; where each goes is
curate.pipeline.layout's (kept/, excluded/<NN>_<step>/, logs/)."""

from __future__ import annotations

import inspect
import json
import shutil
from pathlib import Path
from typing import Any

from datatrove.pipeline.readers import JsonlReader
from datatrove.pipeline.writers import JsonlWriter, ParquetWriter

from curate.classify.bundle import MANIFEST, sha256_file, task_thresholds
from curate.config import ConfigError, apply_sets, read_yaml
from curate.documents import write_atomic
from curate.errors import CurateError, InputError
from curate.pipeline import SpecError
from curate.pipeline.clusters import Rehydrate
from curate.pipeline.dedup import DEDUPS, Stage
from curate.pipeline.fineweb2 import fineweb2_defaults
from curate.pipeline.heuristics import (
    ISO3,
    ByLanguage,
    C4Quality,
    FineWebQuality,
    GopherRepetition,
    NordicGopherQuality,
)
from curate.pipeline.langid import NordicLanguageFilter
from curate.pipeline.layout import RunLayout
from curate.pipeline.line_clean import LineCleaner
from curate.pipeline.steps import CurateReader, FixEncoding, QualityScorer, ScoreFilter

STEPS = {
    "fix_encoding": FixEncoding,
    "clean_lines": LineCleaner,
    "language": NordicLanguageFilter,
    "gopher_quality": NordicGopherQuality,
    "gopher_repetition": GopherRepetition,
    "c4_quality": C4Quality,
    "fineweb_quality": FineWebQuality,
    "quality_scorer": QualityScorer,
    "score_filter": ScoreFilter,
    "rehydrate": Rehydrate,
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


PER_LANGUAGE_STEPS = {"gopher_repetition", "gopher_quality", "fineweb_quality", "c4_quality"}


def build_step(index: int, name: str, params: dict, layout: RunLayout | None):
    """One configured step; `layout=None` builds it without an exclusion writer. A heuristic
    step with `by_language: {lang: {params}}` becomes one filter per language (see
    build_by_language)."""
    cls = STEPS[name]
    signature = set(inspect.signature(cls.__init__).parameters)
    allowed = signature - {"self", "exclusion_writer"}
    params = dict(params)
    by_language = params.pop("by_language", None) if name in PER_LANGUAGE_STEPS else None
    unknown = set(params) - allowed
    if unknown:
        extra = ["by_language"] if name in PER_LANGUAGE_STEPS else []
        raise SpecError(
            f"step {index} ({name}): unknown parameters {sorted(unknown)}; "
            f"allowed: {sorted([*allowed, *extra])}"
        )
    exclusion = None
    if layout is not None and "exclusion_writer" in signature:
        exclusion = JsonlWriter(output_folder=str(layout.excluded_by(index, name)))
    try:
        if by_language is not None:
            return build_by_language(cls, params, by_language, allowed, exclusion)
        kwargs = language_params(params, signature)
        if "exclusion_writer" in signature:
            kwargs["exclusion_writer"] = exclusion
        return cls(**kwargs)
    except (TypeError, ValueError, FileNotFoundError) as err:
        raise SpecError(f"step {index} ({name}): {err}") from err


def language_params(params: dict, signature: set[str], language: str | None = None) -> dict:
    """datatrove's filters take ISO 639-3 codes for their word tokenizer; specs write nb, nn."""
    params = dict(params)
    if "language" in signature:
        language = language or params.get("language", DEFAULT_LANGUAGE)
        params["language"] = ISO3.get(language, language)
    if language and "languages" in signature:  # NordicGopherQuality's stop-word languages
        params["languages"] = [language]
    return params


def build_by_language(cls, common: dict, by_language: dict, allowed: set, exclusion):
    """One filter per language named in `by_language`: FineWeb-2's published values for that
    language (curate.pipeline.fineweb2), then the step's own parameters, then the language's
    own; documents in other languages get the step's own parameters alone."""
    if not isinstance(by_language, dict):
        raise InputError(f"by_language must map a language to parameters, got {by_language!r}")
    signature = allowed | {"self"}
    filters = {None: cls(**language_params(common, signature))}
    for lang, own in by_language.items():
        own = dict(own or {})
        unknown = set(own) - allowed
        if unknown:
            raise InputError(f"by_language.{lang}: unknown parameters {sorted(unknown)}")
        merged = {**fineweb2_defaults(lang, allowed), **common, **own}
        filters[lang] = cls(**language_params(merged, signature, lang))
    return ByLanguage(filters, exclusion_writer=exclusion)


def reader(spec: dict[str, Any]) -> CurateReader:
    source = spec["input"]
    return CurateReader(
        str(source["path"]), source=source.get("source", "auto"), glob_pattern=source.get("glob")
    )


def writer(spec: dict[str, Any]):
    kept = RunLayout.of(spec).kept
    return WRITERS[spec["output"].get("format", "jsonl.gz")](output_folder=str(kept))


def build_stages(spec: dict[str, Any]) -> list[Stage]:
    """The pipeline as datatrove stages. Without dedup it is one stage. Each dedup step cuts it:
    the stage before writes the documents that reach the dedup once (layout.reached), the
    dedup's signature and middle stages read them, and the next stage reads them again, drops
    the duplicates and runs the steps after. Every step runs once, with its exclusion writer."""
    layout = RunLayout.of(spec)
    entries = [(i, *split_entry(i, e)) for i, e in enumerate(spec["steps"], start=1)]
    stages: list[Stage] = []
    current: list = [reader(spec)]
    scored: list[str] = []  # tasks scored before a dedup, for `keep: best_score`
    for index, name, params in entries:
        if name in DEDUPS:
            dedup = DEDUPS[name](name, index, params, layout.dedup(index, name), scored)
            reached = layout.reached(index, name)
            stages.append(([*current, JsonlWriter(output_folder=str(reached))], {}))
            stages.append(([reached_reader(reached), *dedup.signature()], {}))
            stages.extend(dedup.middle())
            excluded = JsonlWriter(output_folder=str(layout.excluded_by(index, name)))
            current = [reached_reader(reached), *dedup.filter(excluded)]
        else:
            step = build_step(index, name, params, layout)
            if name == "quality_scorer":
                scored.extend(t for b in step.bundles for t in task_thresholds(b))
            current.append(step)
    return [*stages, ([*current, writer(spec)], {})]


def reached_reader(folder: Path) -> JsonlReader:
    """Reads back what a stage wrote for the next: text, id and metadata as they were."""
    return JsonlReader(data_folder=str(folder), add_file_path=False)


def build_pipeline(spec: dict[str, Any]) -> list:
    return build_stages(spec)[-1][0]


def run_spec(
    spec: dict[str, Any], executor: str | None = None, dry_run: bool = False, wait: bool = False
) -> Path:
    """Runs (or, for Slurm, submits) every stage; returns the last stage's logging folder.
    Local and Ray runs end with merged stats over every task ever run, per stage. A Slurm run
    with `wait` follows the jobs to their end and raises RunFailed naming the failed stages."""
    from curate.pipeline import executors

    kind, settings = executors.executor_settings(spec, executor)
    if dry_run and kind != "slurm":
        raise SpecError("--dry-run is for --executor slurm (it writes the sbatch scripts)")
    if wait and kind != "slurm":
        raise SpecError("--wait is for --executor slurm (local and Ray runs always wait)")
    stages = build_stages(spec)
    layout = RunLayout.of(spec)
    claim_output(layout, run_identity(spec, settings))
    chained = executors.chain(kind, settings, stages, layout, spec.get("name", "curate"))
    last = chained[-1]
    if kind == "slurm":
        scripts: list = []
        if dry_run:
            with executors.capture_sbatch(scripts):
                last.run()
            return executors.write_dry_run(scripts, layout.slurm_dry_run)
        last.run()
        if wait:
            failures = executors.wait_for_slurm(chained)
            if failures:
                raise RunFailed("\n".join(failures))
            for n in range(1, len(stages) + 1):
                executors.merge_stats(layout.stage_logs(n, len(stages)))
            return layout.stage_logs(len(stages), len(stages))
        return layout.logs
    if kind == "ray":
        with executors.ray_session(settings):
            last.run()
    else:
        last.run()  # runs the chain: each stage waits for the one it depends on
    for n in range(1, len(stages) + 1):
        executors.merge_stats(layout.stage_logs(n, len(stages)))
    return layout.stage_logs(len(stages), len(stages))


class RunFailed(CurateError, RuntimeError):
    """Some tasks of a run did not complete."""


def run_identity(spec: dict[str, Any], settings: dict[str, Any]) -> dict[str, Any]:
    """What a run is made of: its input, steps and task count, and the manifest digest of every
    classifier bundle it uses (a retrained bundle at the same path is a different run)."""
    bundles = {
        path: sha256_file(Path(path) / MANIFEST)
        for key, path in spec_paths(spec)
        if key.endswith(".bundles") and (Path(path) / MANIFEST).is_file()
    }
    identity = {
        "input": spec["input"],
        "steps": spec["steps"],
        "tasks": settings.get("tasks", 1),
        "bundles": bundles,
    }
    return json.loads(json.dumps(identity))  # as it reads back from run.json


def claim_output(layout: RunLayout, identity: dict[str, Any]) -> None:
    """datatrove resumes a run by skipping the tasks its logs mark complete, so a rerun into a
    folder that holds a different run would keep that run's results; refuse it, naming what
    differs. The first run writes run.json (atomically)."""
    before = layout.read_record()
    if before:
        changed = [key for key in identity if before.get(key) != identity[key]]
        if changed:
            raise SpecError(
                f"{layout.root} holds a run made from other {' and '.join(changed)}; rerunning "
                "into it would only finish that run's missing tasks and keep its results. Give "
                "another output (--set output.path=...) or start over (`curate filter "
                "--restart`)."
            )
        return
    layout.root.mkdir(parents=True, exist_ok=True)
    write_atomic(layout.run_record, json.dumps(identity, indent=2, ensure_ascii=False))


def remove_run(layout: RunLayout) -> None:
    """Delete a previous run's folder, only if it holds one (run.json or logs/)."""
    if not layout.root.exists():
        return
    if not layout.holds_a_run():
        raise SpecError(f"{layout.root} holds no curate run (no run.json, no logs/): not removed")
    shutil.rmtree(layout.root)
