"""Turn a pipeline spec (pipelines/*.yaml, checked and typed by curate.pipeline.spec) into
datatrove stages and run them on its executor's runner (curate.pipeline.executors); `run_filter`
is all of `curate filter`.

Unknown steps, parameters and executor keys are errors that name the allowed values, raised
before any task starts. Every filter gets an exclusion
writer of its own, so every dropped document can be audited; where each goes is
curate.pipeline.layout's (kept/, excluded/<NN>_<step>/, logs/)."""

from __future__ import annotations

import inspect
import logging
import shutil
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from datatrove.pipeline.readers import JsonlReader
from datatrove.pipeline.writers import JsonlWriter, ParquetWriter

from curate.classify.bundle import task_thresholds
from curate.errors import CurateError, InputError
from curate.pipeline import SpecError
from curate.pipeline.clusters import Rehydrate
from curate.pipeline.dedup import Dedup, ExactDedup, MinhashDedup, SemanticDedup, Stage
from curate.pipeline.executors import RunOutcome, make_runner
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
from curate.pipeline.layout import RESTART_HINT, RunLayout
from curate.pipeline.line_clean import LineCleaner
from curate.pipeline.pii import PIIRemover
from curate.pipeline.report import write_report
from curate.pipeline.spec import FilterSpec, parse_spec, path_digest, read_spec
from curate.pipeline.steps import CurateReader, FixEncoding, QualityScorer, ScoreFilter
from curate.pipeline.url_filter import NordicURLFilter
from curate.pipeline.words import words_for
from curate.quiet import datatrove_console
from curate.run_identity import as_recorded, claim

STEPS = {
    "fix_encoding": FixEncoding,
    "clean_lines": LineCleaner,
    "pii": PIIRemover,
    "url_filter": NordicURLFilter,
    "language": NordicLanguageFilter,
    "gopher_quality": NordicGopherQuality,
    "gopher_repetition": GopherRepetition,
    "c4_quality": C4Quality,
    "fineweb_quality": FineWebQuality,
    "quality_scorer": QualityScorer,
    "score_filter": ScoreFilter,
    "rehydrate": Rehydrate,
    "exact_dedup": ExactDedup,
    "minhash_dedup": MinhashDedup,
    "semantic_dedup": SemanticDedup,
}
WRITERS = {"jsonl.gz": JsonlWriter, "parquet": ParquetWriter}
log = logging.getLogger(__name__)
DEFAULT_LANGUAGE = "nb"  # datatrove's filters default to English word tokenization


def step_classes() -> dict[str, type]:
    """Every step a spec may name: the filters, scorers and dedups."""
    return dict(STEPS)


def load_spec(path: str | Path, overrides: list[str] | tuple[str, ...] = ()) -> FilterSpec:
    """The spec at `path` with `--set` overrides, checked and typed (curate.pipeline.spec)."""
    return parse(read_spec(path, overrides), str(path))


def parse(document: dict[str, Any], where: str = "spec") -> FilterSpec:
    """A spec document (a YAML mapping, as `read_spec` gives it), checked and typed."""
    return parse_spec(document, where, set(step_classes()))


def confine(spec: FilterSpec, root: str | Path) -> None:
    """For a spec from someone else: every path it names (input, output, every step's path
    parameters) must resolve (symlinks and `..` included) inside `root`; relative paths count
    from the current directory."""
    root = Path(root).resolve()
    for key, path in spec.paths(step_classes()):
        resolved = Path(path).resolve()
        if not resolved.is_relative_to(root):
            raise SpecError(f"{key}: {path} resolves to {resolved}, outside the root {root}")


def build_step(index: int, name: str, params: dict, layout: RunLayout | None):
    """One configured step; `layout=None` builds it without an exclusion writer. A heuristic
    step with `by_language: {lang: {params}}` becomes one filter per language (see
    build_by_language)."""
    cls = STEPS[name]
    signature = set(inspect.signature(cls.__init__).parameters)
    allowed = signature - {"self", "exclusion_writer"}
    params = dict(params)
    per_language = getattr(cls, "per_language", False)
    by_language = params.pop("by_language", None) if per_language else None
    unknown = set(params) - allowed
    if unknown:
        extra = ["by_language"] if per_language else []
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
        params["language"] = words_for(ISO3.get(language, language))
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


def reader(spec: FilterSpec) -> CurateReader:
    return CurateReader(spec.input_path, source=spec.source, glob_pattern=spec.glob)


def writer(spec: FilterSpec):
    return WRITERS[spec.output_format](output_folder=str(RunLayout.of(spec).kept))


def build_stages(spec: FilterSpec) -> list[Stage]:
    """The pipeline as datatrove stages. Without dedup it is one stage. Each dedup step cuts it:
    the stage before writes the documents that reach the dedup once (layout.reached), the
    dedup's signature and middle stages read them, and the next stage reads them again, drops
    the duplicates and runs the steps after. Every step runs once, with its exclusion writer.
    A step that cannot be built is a SpecError naming the spec's file and the step."""
    try:
        return chain_stages(spec)
    except SpecError as err:
        raise SpecError(f"{spec.where}: {err}") from err


def chain_stages(spec: FilterSpec) -> list[Stage]:
    layout = RunLayout.of(spec)
    stages: list[Stage] = []
    current: list = [reader(spec)]
    scored: list[str] = []  # tasks scored before a dedup, for `keep: best_score`
    embedded = False  # a quality_scorer before writes text vectors (for semantic_dedup)
    scorers: list[QualityScorer] = []
    for index, name, params in ((s.index, s.name, s.params) for s in spec.steps):
        step = build_step(index, name, params, layout)
        if isinstance(step, Dedup):
            if step.needs_embeddings and not embedded:
                raise SpecError(
                    f"step {index} ({name}) compares the texts' vectors: put a quality_scorer "
                    "with `embeddings: true` before it"
                )
            step.bind(name, index, layout.dedup(index, name), scored)
            reached = layout.reached(index, name)
            stages.append(([*current, JsonlWriter(output_folder=str(reached))], {}))
            stages.append(([reached_reader(reached), *step.signature()], {}))
            stages.extend(step.middle())
            excluded = JsonlWriter(output_folder=str(layout.excluded_by(index, name)))
            current = [reached_reader(reached), *step.filter(excluded)]
            continue
        if isinstance(step, QualityScorer):
            scorers.append(step)
            scored.extend(t for b in step.bundles for t in task_thresholds(b))
            embedded = embedded or step.embeddings
        if isinstance(step, ScoreFilter):  # the cascade's bands sit around its thresholds
            for scorer in scorers:
                scorer.decided_by(step.thresholds)
        current.append(step)
    return [*stages, ([*current, writer(spec)], {})]


def reached_reader(folder: Path) -> JsonlReader:
    """Reads back what a stage wrote for the next: text, id and metadata as they were."""
    return JsonlReader(data_folder=str(folder), add_file_path=False)


def build_pipeline(spec: FilterSpec) -> list:
    return build_stages(spec)[-1][0]


def run_spec(
    spec: FilterSpec, executor: str | None = None, dry_run: bool = False, wait: bool = False
) -> RunOutcome:
    """Runs (or, for Slurm, submits) every stage on the spec's executor (or `executor`). Local
    and Ray runs end with merged stats over every task ever run, per stage; a Slurm run with
    `wait` follows the jobs to their end and raises RunFailed naming the failed stages."""
    kind, settings = spec.executor_settings(executor)
    runner = make_runner(kind, settings)
    runner.check_mode(dry_run, wait)
    stages = build_stages(spec)
    layout = RunLayout.of(spec)
    claim_output(layout, run_identity(spec, runner.settings))
    return runner.run(stages, layout, spec.name, dry_run=dry_run, wait=wait)


def run_identity(spec: FilterSpec, settings: dict[str, Any]) -> dict[str, Any]:
    """What a run is made of: its input, steps and task count, and the digest of every file a
    step reads (a retrained bundle at the same path is a different run). Recorded in run.json
    under `bundles`, the name it had when bundles were the only such files."""
    files = {
        path: digest for _, path in spec.step_paths(step_classes()) if (digest := path_digest(path))
    }
    identity = {
        "input": spec.document["input"],
        "steps": spec.document["steps"],
        "tasks": settings.get("tasks", 1),
        "bundles": files,
    }
    return as_recorded(identity)


def claim_output(layout: RunLayout, identity: dict[str, Any]) -> None:
    """datatrove resumes a run by skipping the tasks its logs mark complete, so a rerun into a
    folder that holds a different run would keep that run's results; refuse it, naming what
    differs. The first run writes run.json (atomically)."""
    changed = claim(layout.run_record, identity, RESTART_HINT)
    if changed:
        named = ["bundles (files its steps read)" if key == "bundles" else key for key in changed]
        raise SpecError(
            f"{layout.root} holds a run made from other {' and '.join(named)}; rerunning into it "
            "would only finish that run's missing tasks and keep its results. Give another "
            "output (--set output.path=...) or start over (`curate filter --restart`)."
        )


def remove_run(layout: RunLayout) -> None:
    """Delete a previous run's folder, only if it holds one (run.json or logs/)."""
    if not layout.root.exists():
        return
    if not layout.holds_a_run():
        raise SpecError(f"{layout.root} holds no curate run (no run.json, no logs/): not removed")
    shutil.rmtree(layout.root)


@dataclass
class FilterRun:
    """A finished `curate filter`: the spec it ran, how it ended, and its report (done runs)."""

    spec: FilterSpec
    outcome: RunOutcome
    report: Path | None

    @property
    def layout(self) -> RunLayout:
        return RunLayout.of(self.spec)


def run_filter(
    spec_path: str | Path,
    sets: list[str] | tuple[str, ...] = (),
    executor: str | None = None,
    dry_run: bool = False,
    wait: bool = False,
    root: str | Path | None = None,
    restart: bool = False,
    verbose: int = 0,
    say: Callable[[str], None] = log.info,
) -> FilterRun:
    """`curate filter`: the spec checked (and confined to `root`), a previous run removed on
    `restart`, the run on its executor with datatrove's console output in the run's
    console.log (unless `verbose`), and the report of a finished run."""
    spec = load_spec(spec_path, sets)
    if root:
        confine(spec, root)
    if restart:
        remove_run(RunLayout.of(spec))
    return run_and_report(spec, executor, dry_run, wait, verbose, say)


def run_and_report(
    spec: FilterSpec,
    executor: str | None = None,
    dry_run: bool = False,
    wait: bool = False,
    verbose: int = 0,
    say: Callable[[str], None] = log.info,
) -> FilterRun:
    """A checked spec run on its executor, datatrove's console output in the run's console.log
    (unless `verbose`), and the report of a finished run."""
    layout = RunLayout.of(spec)
    if not verbose and not dry_run:
        say(f"filtering ({len(spec.steps)} steps); datatrove's output: {layout.console_log}")
    try:
        with datatrove_console(layout.console_log, verbose):
            outcome = run_spec(spec, executor=executor, dry_run=dry_run, wait=wait)
    except CurateError:
        raise
    except Exception:
        say(f"filter failed; datatrove's output is in {layout.console_log}")
        raise
    report = write_report(layout.root) if outcome.state == "done" else None
    return FilterRun(spec, outcome, report)
