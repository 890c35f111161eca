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

from curate.pipeline.heuristics import ISO3, NordicGopherQuality
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


def split_entry(index: int, entry: Any) -> tuple[str, dict]:
    if not isinstance(entry, dict) or len(entry) != 1:
        raise SpecError(f"step {index}: write each step as `- name: {{params}}`, got {entry!r}")
    ((name, params),) = entry.items()
    if name not in STEPS and name != "minhash_dedup":
        allowed = sorted([*STEPS, "minhash_dedup"])
        raise SpecError(f"step {index}: unknown step {name!r}; allowed: {allowed}")
    return name, dict(params or {})


def build_step(index: int, entry: Any, output: Path | None):
    """One configured step; `output=None` builds it without an exclusion writer."""
    name, params = split_entry(index, entry)
    cls = STEPS[name]
    allowed = set(inspect.signature(cls.__init__).parameters) - {"self", "exclusion_writer"}
    unknown = set(params) - allowed
    if unknown:
        raise SpecError(
            f"step {index} ({name}): unknown parameters {sorted(unknown)}; "
            f"allowed: {sorted(allowed)}"
        )
    if output is not None and "exclusion_writer" in inspect.signature(cls.__init__).parameters:
        params["exclusion_writer"] = JsonlWriter(str(output / "excluded" / f"{index:02d}_{name}"))
    try:
        return cls(**params)
    except (TypeError, ValueError, FileNotFoundError) as err:
        raise SpecError(f"step {index} ({name}): {err}") from err


def reader(spec: dict[str, Any]) -> CurateReader:
    source = spec["input"]
    return CurateReader(
        str(source["path"]), source=source.get("source", "auto"), glob_pattern=source.get("glob")
    )


def minhash_config(index: int, params: dict[str, Any]):
    from datatrove.pipeline.dedup.minhash import MinhashConfig

    language = params.pop("language", "nb")
    allowed = {"n_grams", "num_buckets", "hashes_per_bucket", "seed"}
    if set(params) - allowed:
        raise SpecError(
            f"step {index} (minhash_dedup): unknown parameters "
            f"{sorted(set(params) - allowed)}; allowed: {sorted(allowed | {'language'})}"
        )
    return MinhashConfig(**params), ISO3.get(language, language)


def build_stages(spec: dict[str, Any]) -> list[tuple[list, dict[str, int]]]:
    """The pipeline as datatrove stages: one stage without dedup; with `minhash_dedup`, four
    (signatures, buckets, clusters, filter) as in datatrove's MinHash example. Steps before the
    dedup run in stage 1 and again in stage 4 (deterministically, so document indices match);
    only stage 4 writes their exclusions."""
    output = Path(spec["output"]["path"])
    entries = list(enumerate(spec["steps"], start=1))
    names = [split_entry(i, e)[0] for i, e in entries]
    if names.count("minhash_dedup") > 1:
        raise SpecError("only one minhash_dedup step per spec")
    if "minhash_dedup" not in names:
        steps = [build_step(i, e, output) for i, e in entries]
        return [([reader(spec), *steps, JsonlWriter(str(output / "kept"))], {})]
    from datatrove.pipeline.dedup.minhash import (
        MinhashDedupBuckets,
        MinhashDedupCluster,
        MinhashDedupFilter,
        MinhashDedupSignature,
    )

    cut = names.index("minhash_dedup")
    dedup_index = entries[cut][0]
    config, language = minhash_config(dedup_index, split_entry(*entries[cut])[1])
    work = output / "minhash"
    before = entries[:cut]
    after = entries[cut + 1 :]
    stage1 = [
        reader(spec),
        *(build_step(i, e, None) for i, e in before),
        MinhashDedupSignature(str(work / "signatures"), config=config, language=language),
    ]
    stage2 = [MinhashDedupBuckets(str(work / "signatures"), str(work / "buckets"), config=config)]
    stage3 = [MinhashDedupCluster(str(work / "buckets"), str(work / "remove_ids"), config=config)]
    dedup_writer = JsonlWriter(str(output / "excluded" / f"{dedup_index:02d}_minhash_dedup"))
    stage4 = [
        reader(spec),
        *(build_step(i, e, output) for i, e in before),
        MinhashDedupFilter(str(work / "remove_ids"), exclusion_writer=dedup_writer),
        *(build_step(i, e, output) for i, e in after),
        JsonlWriter(str(output / "kept")),
    ]
    return [
        (stage1, {}),
        (stage2, {"tasks": config.num_buckets}),
        (stage3, {"tasks": 1}),
        (stage4, {}),
    ]


def build_pipeline(spec: dict[str, Any]) -> list:
    return build_stages(spec)[-1][0]


def run_spec(spec: dict[str, Any]) -> Path:
    executor = copy.deepcopy(spec.get("executor") or {"type": "local"})
    kind = executor.pop("type", "local")
    if kind not in EXECUTORS:
        raise SpecError(f"executor {kind!r} is not built yet; available: {EXECUTORS}")
    allowed = {"tasks", "workers"}
    if set(executor) - allowed:
        raise SpecError(
            f"executor: unknown keys {sorted(set(executor) - allowed)}; allowed: {sorted(allowed)}"
        )
    stages = build_stages(spec)
    from datatrove.executor import LocalPipelineExecutor

    logs = Path(spec["output"]["path"]) / "logs"
    previous = None
    for n, (pipeline, fixed) in enumerate(stages, start=1):
        settings = {**executor, **fixed}
        name = "" if len(stages) == 1 else f"stage{n}"
        previous = LocalPipelineExecutor(
            pipeline, logging_dir=str(logs / name), depends=previous, **settings
        )
    previous.run()  # runs the chain: each stage waits for the one it depends on
    return logs if len(stages) == 1 else logs / f"stage{len(stages)}"
