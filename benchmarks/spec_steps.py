"""A shipped filter spec run on labelled benchmark documents, step by step: which step dropped
each document, and the share of each group still kept after each step. Shared by
benchmarks/quality.py (reference test split) and benchmarks/quality_web.py (web test split)."""

from __future__ import annotations

from collections import defaultdict
from pathlib import Path


def local_spec(spec_path: Path, docs, out: Path, whole: bool = False):
    """The spec on `docs` (written under `out`), one local task; without `whole`, dedup and
    rehydration left out: the benchmark's documents are one copy each."""
    from curate.documents import write_documents
    from curate.pipeline.build import STEPS, parse
    from curate.pipeline.clusters import Rehydrate
    from curate.pipeline.dedup import Dedup
    from curate.pipeline.spec import read_spec

    write_documents(docs, out / "input" / "docs.jsonl.gz")
    spec = read_spec(spec_path)
    spec["input"] = {"path": str(out / "input"), "source": "curate"}
    spec["output"] = {"path": str(out / "output"), "format": "jsonl.gz"}
    if not whole:
        one_copy = (Dedup, Rehydrate)
        spec["steps"] = [s for s in spec["steps"] if not issubclass(STEPS[next(iter(s))], one_copy)]
    spec["executor"] = {"type": "local", "local": {"tasks": 1, "workers": 1}}
    return parse(spec, str(spec_path))


def run_steps(spec_path: Path, docs, workdir: Path) -> tuple[list[str], dict[str, int], set]:
    """Runs the spec's steps (see local_spec) on `docs` with datatrove: (step names, id -> the
    1-based position of the step that dropped it, ids kept). Every document is accounted for."""
    from curate.documents import read_documents
    from curate.pipeline.build import run_spec
    from curate.pipeline.layout import RunLayout

    spec = local_spec(spec_path, docs, workdir / spec_path.stem)
    run_spec(spec)
    layout = RunLayout.of(spec)
    kept_ids = {d.id for d in read_documents([layout.kept])}
    dropped_at = {}
    for step_dir in sorted(layout.excluded.glob("*")):
        for d in read_documents([step_dir]):
            dropped_at[d.id] = int(step_dir.name.split("_", 1)[0])
    assert all(d.id in kept_ids or d.id in dropped_at for d in docs), "documents went missing"
    return [s.name for s in spec.steps], dropped_at, kept_ids


def survival(steps: list[str], dropped_at: dict, docs, keys_of) -> dict:
    """For every group key of `keys_of(doc)`: its size, and the share of its documents still
    kept after each step that dropped any (and after the last)."""
    filters = sorted(set(dropped_at.values()) | {len(steps)})
    total = defaultdict(int)
    survived = defaultdict(lambda: defaultdict(int))  # key -> step -> documents past it
    for d in docs:
        for key in keys_of(d):
            total[key] += 1
            for step in filters:
                survived[key][step] += dropped_at.get(d.id, len(steps) + 1) > step
    return {
        "steps": steps,
        "n": dict(total),
        "kept_after": {
            k: {f"{i:02d}_{steps[i - 1]}": survived[k][i] / total[k] for i in filters}
            for k in total
        },
        "kept": {k: survived[k][len(steps)] / total[k] for k in total},
    }
