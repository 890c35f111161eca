"""Run the stages of a built pipeline on datatrove's executors: one small runner per kind that
owns checking its settings, preparing, running, waiting and (Slurm) the dry run.

- local: processes on this machine;
- slurm: one sbatch array job per stage, chained with afterok;
- ray: a running cluster, or a local Ray instance started here.

One spec holds a section per executor:

    executor:
      type: local                # default; `curate filter --executor` overrides it
      local: {tasks: 4, workers: 2}
      slurm: {tasks: 64, partition: cpu, time: "04:00:00", cpus_per_task: 2, mem_per_cpu_gb: 4}
      ray: {tasks: 8, cpus_per_task: 1, mem_per_cpu_gb: 2, address: auto}

Keys are the executors' own constructor arguments and are checked before anything starts. On
Slurm, jobs find the Python environment that submitted them (`env_command` defaults to putting
its bin/ first on PATH), and a job whose dependency failed is cancelled by Slurm
(`kill-on-invalid-dep`), never left pending; `wait` follows a run to its end and names the
stages and tasks that did not complete. Adding a kind is one Runner subclass in RUNNERS."""

from __future__ import annotations

import contextlib
import inspect
import json
import logging
import os
import re
import shlex
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar

from datatrove.utils.stats import PipelineStats

from curate.atomic import atomic_path
from curate.errors import CurateError
from curate.pipeline import SpecError
from curate.pipeline.layout import RunLayout

MANAGED = {"pipeline", "depends", "logging_dir", "skip_completed", "self"}
log = logging.getLogger(__name__)


class RunFailed(CurateError, RuntimeError):
    """Some tasks of a run did not complete."""


@dataclass
class RunOutcome:
    """How a run ended: `done` (stats merged in `logs`), `submitted` (Slurm jobs queued) or
    `dry_run` (`logs` is the submit script)."""

    state: str
    logs: Path


class Runner:
    """Runs a chain of stages (each depends on the one before) on one kind of executor."""

    kind: ClassVar[str]
    extra_keys: ClassVar[set[str]] = set()  # ours, not the executor's
    # A queueing runner returns once its jobs are submitted (the run goes on without us), unless
    # asked to wait; it can also write its job scripts without submitting them (--dry-run).
    queues: ClassVar[bool] = False

    def __init__(self, settings: dict[str, Any]):
        self.settings = self.checked(settings)

    @staticmethod
    def executor_class() -> type:
        raise NotImplementedError

    def checked(self, settings: dict[str, Any]) -> dict[str, Any]:
        allowed = set(inspect.signature(self.executor_class().__init__).parameters) - MANAGED
        allowed |= self.extra_keys
        if set(settings) - allowed:
            raise SpecError(
                f"executor.{self.kind}: unknown keys {sorted(set(settings) - allowed)}; "
                f"allowed: {sorted(allowed)}"
            )
        return dict(settings)

    def stage_settings(self, n: int, name: str, fixed: dict[str, Any]) -> dict[str, Any]:
        settings = {k: v for k, v in self.settings.items() if k not in self.extra_keys}
        per_stage = {**settings, **fixed}
        if "tasks" in fixed and "workers" in settings:
            per_stage["workers"] = min(settings["workers"], fixed["tasks"])
        return per_stage

    def chain(self, stages: list, layout: RunLayout, name: str) -> list:
        """One executor per stage, each depending on the previous; running the last runs all."""
        cls = self.executor_class()
        executors: list = []
        for n, (pipeline, fixed) in enumerate(stages, start=1):
            executors.append(
                cls(
                    pipeline=pipeline,
                    logging_dir=str(layout.stage_logs(n, len(stages))),
                    depends=executors[-1] if executors else None,
                    **self.stage_settings(n, name, fixed),
                )
            )
        return executors

    def check_mode(self, dry_run: bool, wait: bool) -> None:
        """Refuse what this kind cannot do; `run_spec` asks before anything is built or
        claimed."""
        if self.queues:
            return
        queueing = " or ".join(f"--executor {k}" for k, r in RUNNERS.items() if r.queues)
        if dry_run:
            raise SpecError(f"--dry-run is for {queueing} (it writes the job scripts)")
        if wait:
            raise SpecError(f"--wait is for {queueing} ({self.kind} runs always wait)")

    def run(
        self, stages: list, layout: RunLayout, name: str, dry_run: bool = False, wait: bool = False
    ) -> RunOutcome:
        with self.session():
            self.chain(stages, layout, name)[-1].run()  # each stage waits for the one before
        return RunOutcome("done", merge_all_stats(layout, len(stages)))

    @contextlib.contextmanager
    def session(self) -> Iterator[None]:
        yield


class LocalRunner(Runner):
    kind = "local"

    @staticmethod
    def executor_class() -> type:
        from datatrove.executor import LocalPipelineExecutor

        return LocalPipelineExecutor


class RayRunner(Runner):
    kind = "ray"
    extra_keys = {"address", "num_cpus"}  # for ray.init; the rest go to the executor

    @staticmethod
    def executor_class() -> type:
        from datatrove.executor.ray import RayPipelineExecutor

        return RayPipelineExecutor

    @contextlib.contextmanager
    def session(self) -> Iterator[None]:
        import ray

        if ray.is_initialized():
            yield
            return
        if self.settings.get("address"):
            ray.init(address=self.settings["address"])
        else:
            ray.init(num_cpus=self.settings.get("num_cpus"), include_dashboard=False)
        try:
            yield
        finally:
            ray.shutdown()


class SlurmRunner(Runner):
    kind = "slurm"
    queues = True

    @staticmethod
    def executor_class() -> type:
        from datatrove.executor import SlurmPipelineExecutor

        return SlurmPipelineExecutor

    def checked(self, settings: dict[str, Any]) -> dict[str, Any]:
        settings = super().checked(settings)
        if not {"partition", "time"} <= set(settings):
            raise SpecError("executor.slurm needs `partition` and `time`")
        settings.setdefault("env_command", this_environment())
        settings["sbatch_args"] = {"kill-on-invalid-dep": "yes", **settings.get("sbatch_args", {})}
        return settings

    def stage_settings(self, n: int, name: str, fixed: dict[str, Any]) -> dict[str, Any]:
        return {"job_name": f"{name}_stage{n}", **super().stage_settings(n, name, fixed)}

    def run(
        self, stages: list, layout: RunLayout, name: str, dry_run: bool = False, wait: bool = False
    ) -> RunOutcome:
        chained = self.chain(stages, layout, name)
        if dry_run:
            scripts: list = []
            with capture_sbatch(scripts):
                chained[-1].run()
            return RunOutcome("dry_run", write_dry_run(scripts, layout.slurm_dry_run))
        chained[-1].run()
        if not wait:
            return RunOutcome("submitted", layout.logs)
        failures = wait_for_slurm(chained)
        if failures:
            raise RunFailed("the run did not complete:\n" + "\n".join(failures))
        return RunOutcome("done", merge_all_stats(layout, len(stages)))


RUNNERS: dict[str, type[Runner]] = {r.kind: r for r in (LocalRunner, SlurmRunner, RayRunner)}
EXECUTORS = tuple(RUNNERS)


def make_runner(kind: str, settings: dict[str, Any]) -> Runner:
    if kind not in RUNNERS:
        raise SpecError(f"executor {kind!r} is unknown; available: {list(RUNNERS)}")
    return RUNNERS[kind](settings)


def this_environment() -> str:
    """The shell line that gives a Slurm job this Python environment: its bin/ (where
    datatrove's launch_pickled_pipeline and merge_stats are) first on PATH."""
    return f"export PATH={shlex.quote(str(Path(sys.executable).parent))}:$PATH"


def merge_all_stats(layout: RunLayout, stages: int) -> Path:
    """Merged stats of every stage; returns the last stage's logging folder."""
    for n in range(1, stages + 1):
        merge_stats(layout.stage_logs(n, stages))
    return layout.stage_logs(stages, stages)


def slurm_states(job_names: list[str]) -> dict[str, str]:
    """{job id: state} of the jobs with these names that squeue still lists (the stages and
    datatrove's merge-stats jobs, which carry their stage's name)."""
    out = subprocess.run(
        ["squeue", "-h", "-n", ",".join(job_names), "-o", "%F %T %r"],
        capture_output=True,
        text=True,
    )
    states = {}
    for line in out.stdout.splitlines():
        job, state, reason = line.split(maxsplit=2)
        states[job] = state if reason in ("None", "") else f"{state} ({reason})"
    return states


def wait_for_slurm(executors: list, poll_s: float = 2.0) -> list[str]:
    """Waits until no job of the run is queued or running; returns a line per stage whose
    tasks did not all complete (empty when the run succeeded)."""
    names = sorted({e.job_name for e in executors})
    seen: dict[str, str] = {}
    while states := slurm_states(names):
        if states != seen:
            log.info("slurm: %s", ", ".join(f"{j} {s}" for j, s in sorted(states.items())))
            seen = states
        time.sleep(poll_s)
    failures = []
    for n, executor in enumerate(executors, start=1):
        missing = executor.get_incomplete_ranks()
        if missing:
            logs = executor.slurm_logs_folder
            failures.append(
                f"stage {n} (job {executor.job_id}): {len(missing)} of {executor.tasks} tasks "
                f"did not complete (ranks {missing[:10]}); logs: {logs}"
            )
    return failures


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
    with atomic_path(path) as tmp, tmp.open("w") as out:
        merged.save_to_disk(out)
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
        # datatrove writes a merge-stats job's dependency into its script; a placeholder id
        # there cannot be filled in, so it moves to the command line like the others
        moved = re.findall(r"^#SBATCH (--dependency=\S*JOB\d+\S*)\n", contents, re.M)
        contents = re.sub(r"^#SBATCH --dependency=\S*JOB\d+\S*\n", "", contents, flags=re.M)
        args = [*args, *moved]
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
