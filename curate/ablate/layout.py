"""The folder a `curate ablate` run writes: its one owner.

<output>/ablation.json                what the runs are made of (model, training, budget, tasks)
<output>/tokenizer/                   the one tokenizer every run uses
<output>/init/seed<S>/                seed S's random initial weights (same for every variant)
<output>/tasks/tasks.json             the held-out task items every checkpoint is scored on
<output>/filter/<digest>/             a `curate filter` run, named by its spec's run identity:
                                      variants (or reruns) with the same spec share it
<output>/data/<variant>/seed<S>.jsonl the run's training sample at the token budget
                                      (+ .sample.json: distinct vs drawn documents and tokens)
<output>/runs/<variant>/seed<S>/      the curate pretrain run (checkpoints, summary.json) and
                                      evals.jsonl: one line per scored checkpoint
<output>/failures.json                variants that failed, with the step and the error
<output>/results.json, table.md, report.html, curves/<task>.png
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class AblationLayout:
    root: Path

    @property
    def record(self) -> Path:
        return self.root / "ablation.json"

    @property
    def tokenizer(self) -> Path:
        return self.root / "tokenizer"

    def init(self, seed: int) -> Path:
        return self.root / "init" / f"seed{seed}"

    @property
    def tasks(self) -> Path:
        return self.root / "tasks"

    def filter_run(self, digest: str) -> Path:
        return self.root / "filter" / digest

    def sample(self, variant: str, seed: int) -> Path:
        return self.root / "data" / variant / f"seed{seed}.jsonl"

    def run(self, variant: str, seed: int) -> Path:
        return self.root / "runs" / variant / f"seed{seed}"

    def evals(self, variant: str, seed: int) -> Path:
        return self.run(variant, seed) / "evals.jsonl"

    @property
    def failures(self) -> Path:
        return self.root / "failures.json"

    @property
    def results(self) -> Path:
        return self.root / "results.json"

    @property
    def table(self) -> Path:
        return self.root / "table.md"

    @property
    def report(self) -> Path:
        return self.root / "report.html"

    @property
    def curves(self) -> Path:
        return self.root / "curves"


def read_evals(path: Path) -> list[dict]:
    """The scored checkpoints of a run; a line cut short by a kill is left out (it is scored
    again on resume)."""
    if not path.exists():
        return []
    rows = []
    for line in path.read_text(encoding="utf-8").splitlines():
        try:
            rows.append(json.loads(line))
        except json.JSONDecodeError:
            continue
    return rows


def append_eval(path: Path, row: dict) -> None:
    """One line per checkpoint, flushed to disk before training goes on."""
    path.parent.mkdir(parents=True, exist_ok=True)
    cut = path.exists() and path.stat().st_size and not path.read_bytes().endswith(b"\n")
    with path.open("a", encoding="utf-8") as f:
        f.write(("\n" if cut else "") + json.dumps(row) + "\n")
        f.flush()
        os.fsync(f.fileno())
