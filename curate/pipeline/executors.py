"""Run the stages of a built pipeline on datatrove's executors: local (processes on this
machine), Slurm (one sbatch array job per stage, chained with afterok) or Ray (a running cluster,
or a local Ray instance started here). One spec holds a section per executor:

    executor:
      type: local                # default; `curate filter --executor` overrides it
      local: {tasks: 4, workers: 2}
      slurm: {tasks: 64, partition: cpu, time: "04:00:00", cpus_per_task: 2, mem_per_cpu_gb: 4}
      ray: {tasks: 8, cpus_per_task: 1, mem_per_cpu_gb: 2, address: auto}

Keys are the executors' own constructor arguments and are checked before anything starts."""

from __future__ import annotations

import contextlib
import inspect
import json
import os
import shlex
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from datatrove.utils.stats import PipelineStats

from curate.pipeline import SpecError
from curate.pipeline.layout import RunLayout

EXECUTORS = ("local", "slurm", "ray")
MANAGED = {"pipeline", "depends", "logging_dir", "skip_completed", "self"}
RAY_INIT_KEYS = {"address", "num_cpus"}  # ours, for ray.init; the rest go to the executor


def executor_class(kind: str):
    if kind == "local":
        from datatrove.executor import LocalPipelineExecutor

        return LocalPipelineExecutor
    if kind == "slurm":
        from datatrove.executor import SlurmPipelineExecutor

        return SlurmPipelineExecutor
    if kind == "ray":
        from datatrove.executor.ray import RayPipelineExecutor

        return RayPipelineExecutor
    raise ValueError(f"unknown executor {kind!r}; available: {list(EXECUTORS)}")


def executor_settings(spec: dict[str, Any], kind: str | None = None) -> tuple[str, dict]:
    section = spec.get("executor") or {}
    kind = kind or section.get("type", "local")
    if kind not in EXECUTORS:
        raise SpecError(f"executor {kind!r} is unknown; available: {list(EXECUTORS)}")
    unknown = set(section) - {"type", *EXECUTORS}
    if unknown:
        raise SpecError(
            f"executor: unknown keys {sorted(unknown)}; allowed: {['type', *EXECUTORS]}"
        )
    settings = dict(section.get(kind) or {})
    allowed = set(inspect.signature(executor_class(kind).__init__).parameters) - MANAGED
    if kind == "ray":
        allowed |= RAY_INIT_KEYS
    if set(settings) - allowed:
        raise SpecError(
            f"executor.{kind}: unknown keys {sorted(set(settings) - allowed)}; "
            f"allowed: {sorted(allowed)}"
        )
    if kind == "slurm" and not {"partition", "time"} <= set(settings):
        raise SpecError("executor.slurm needs `partition` and `time`")
    return kind, settings


def chain(kind: str, settings: dict, stages: list, layout: RunLayout, name: str):
    """One executor per stage, each depending on the previous; returns the last."""
    cls = executor_class(kind)
    settings = {k: v for k, v in settings.items() if k not in RAY_INIT_KEYS}
    previous = None
    for n, (pipeline, fixed) in enumerate(stages, start=1):
        per_stage = {**settings, **fixed}
        if kind == "slurm":
            per_stage.setdefault("job_name", f"{name}_stage{n}")
        if "tasks" in fixed and "workers" in settings:
            per_stage["workers"] = min(settings["workers"], fixed["tasks"])
        previous = cls(
            pipeline=pipeline,
            logging_dir=str(layout.stage_logs(n, len(stages))),
            depends=previous,
            **per_stage,
        )
    return previous


@contextlib.contextmanager
def ray_session(settings: dict) -> Iterator[None]:
    import ray

    if ray.is_initialized():
        yield
        return
    if settings.get("address"):
        ray.init(address=settings["address"])
    else:
        ray.init(num_cpus=settings.get("num_cpus"), include_dashboard=False)
    try:
        yield
    finally:
        ray.shutdown()


def merge_stats(logs: Path) -> Path | None:
    """Sum the per-task stats of every task ever run into stats.json. datatrove's own stats.json
    covers only the tasks run by the last invocation, so after a resume it undercounts."""
    files = sorted((logs / "stats").glob("*.json"))
    if not files:
        return None
    merged = sum(
        (PipelineStats.from_json(json.loads(f.read_text())) for f in files), start=PipelineStats()
    )
    path = logs / "stats.json"
    tmp = path.with_suffix(".json.tmp")
    with tmp.open("w") as out:
        merged.save_to_disk(out)
    tmp.replace(path)
    return path


FAKE_SBATCH = """#!{python}
import json, pathlib, sys
folder = pathlib.Path({folder!r})
n = len(list(folder.glob("*.json"))) + 1
*args, script = sys.argv[1:]
record = {{"args": args, "contents": pathlib.Path(script).read_text()}}
(folder / f"{{n:04d}}.json").write_text(json.dumps(record))
print(f"Submitted batch job JOB{{n}}")
"""


@contextlib.contextmanager
def capture_sbatch(scripts: list[tuple[str, list[str]]]) -> Iterator[None]:
    """Dry run: an `sbatch` of our own first on PATH records each script and argument list
    datatrove submits and answers with placeholder job ids (JOB1, JOB2, ...). datatrove calls
    the `sbatch` program and reads the id from its output (its documented job_id_retriever),
    so nothing inside datatrove is replaced."""
    with tempfile.TemporaryDirectory(prefix="curate-sbatch-") as tmp:
        folder = Path(tmp)
        fake = folder / "bin" / "sbatch"
        fake.parent.mkdir()
        fake.write_text(FAKE_SBATCH.format(python=sys.executable, folder=str(folder)))
        fake.chmod(0o755)
        path = os.environ.get("PATH", "")
        os.environ["PATH"] = f"{fake.parent}{os.pathsep}{path}"
        try:
            yield
        finally:
            os.environ["PATH"] = path
            for record in sorted(folder.glob("*.json")):
                data = json.loads(record.read_text())
                scripts.append((data["contents"], data["args"]))


def write_dry_run(scripts: list[tuple[str, list[str]]], folder: Path) -> Path:
    """One .sbatch file per job plus submit.sh, which submits them in order and threads the
    real job ids through the --dependency flags."""
    folder.mkdir(parents=True, exist_ok=True)
    lines = ["#!/bin/bash", "# written by `curate filter --executor slurm --dry-run`", "set -e"]
    for n, (contents, args) in enumerate(scripts, start=1):
        script = folder / f"job{n}.sbatch"
        script.write_text(contents)
        args = [
            a.replace("afterok:JOB", "afterok:$JOB").replace("afterany:JOB", "afterany:$JOB")
            for a in args
        ]
        quoted = " ".join(a if "$JOB" in a else shlex.quote(a) for a in args)
        lines.append(f'JOB{n}=$(sbatch --parsable {quoted} "{script}")')
        lines.append(f'echo "submitted {script.name} as $JOB{n}"')
    submit = folder / "submit.sh"
    submit.write_text("\n".join(lines) + "\n")
    submit.chmod(0o755)
    return submit
