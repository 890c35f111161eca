"""The folder a `curate filter` run writes: its one owner. The pipeline builder writes into it,
the report and the CLI read it, and nothing else spells these names.

    <output>/kept/                     documents that passed every step
    <output>/excluded/<NN>_<step>/     documents dropped by step NN, with metadata.filter_reason
    <output>/reached/<NN>_<step>/      documents that reached dedup step NN, written once
    <output>/dedup/<NN>_<step>/        dedup signatures and clusters of step NN
    <output>/logs/[stage<N>/]          datatrove logs, completions and stats per stage
    <output>/logs/.../stats.json       stats merged over every task ever run
    <output>/logs/console.log          datatrove's console output (without -v)
    <output>/report.html               `curate report`
    <output>/run.json                  what the run is made of (input, steps, tasks, bundles)

A document dropped by a score threshold carries `metadata["score_drop"]`: {task, score,
threshold}, unrounded; every judged document carries `metadata["<task>_threshold"]`. A document
a step could not judge (the step raised) is dropped with `filter_reason` "error: <type>" and
`metadata["step_error"]` holding the message.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from curate.run_identity import read_record

SCORE_DROP = "score_drop"
STEP_ERROR = "step_error"  # why a step could not judge or score a document


RESTART_HINT = "start over with `curate filter --restart` or give another output"


@dataclass(frozen=True)
class RunLayout:
    root: Path

    @classmethod
    def of(cls, spec_or_path: Any) -> RunLayout:
        """The layout of a spec's output (a FilterSpec's `output_path`) or of a run folder."""
        return cls(Path(getattr(spec_or_path, "output_path", spec_or_path)))

    @property
    def kept(self) -> Path:
        return self.root / "kept"

    @property
    def excluded(self) -> Path:
        return self.root / "excluded"

    def excluded_by(self, index: int, step: str) -> Path:
        return self.excluded / f"{index:02d}_{step}"

    def reached(self, index: int, step: str) -> Path:
        """The documents that reached step NN (a dedup): the stages after it read them."""
        return self.root / "reached" / f"{index:02d}_{step}"

    def dedup(self, index: int, step: str) -> Path:
        return self.root / "dedup" / f"{index:02d}_{step}"

    @property
    def logs(self) -> Path:
        return self.root / "logs"

    def stage_logs(self, n: int, count: int) -> Path:
        """A one-stage run logs into logs/ itself; a chained run into logs/stage<N>/."""
        return self.logs if count == 1 else self.logs / f"stage{n}"

    @property
    def console_log(self) -> Path:
        """datatrove's console output of `curate filter` without -v."""
        return self.logs / "console.log"

    @property
    def slurm_dry_run(self) -> Path:
        return self.logs / "slurm_dry_run"

    @property
    def report(self) -> Path:
        return self.root / "report.html"

    @property
    def run_record(self) -> Path:
        """What the run in this folder is made of; a rerun resumes only the same run."""
        return self.root / "run.json"

    def read_record(self) -> dict:
        """run.json as written ({} when there is none yet)."""
        return read_record(self.run_record, RESTART_HINT)

    def holds_a_run(self) -> bool:
        return self.run_record.exists() or self.logs.exists()

    def groups(self) -> dict[str, Path]:
        """Where documents ended: "kept" and each step's exclusion folder, by folder name."""
        found = {"kept": self.kept}
        found.update({p.name: p for p in sorted(self.excluded.glob("*")) if p.is_dir()})
        return found
