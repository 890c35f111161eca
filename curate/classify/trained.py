"""`metrics.json`, the record `curate train` leaves beside model/: its one owner. Training writes
it through `write_metrics`; export, evaluate, the config resolver and the CLI read it through
`read_metrics`, which gives every model's tasks as a list.

On disk it keeps its two shapes for the readers that exist: a one-task model's metrics flat at
the top; a model with a head per task has what the tasks share (SHARED) at the top and each
task's figures under `tasks`, in output-column order.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from curate.atomic import write_atomic
from curate.errors import InputError

METRICS = "metrics.json"
SHARED = ("max_length", "base_model", "base_model_path", "training")


@dataclass
class TrainedMetrics:
    """A trained classifier's metrics: what its tasks share, and each task's own figures."""

    shared: dict[str, Any]
    tasks: list[dict[str, Any]] = field(default_factory=list)

    @property
    def task_names(self) -> list[str]:
        return [t["task"] for t in self.tasks]

    @property
    def max_length(self) -> int:
        return int(self.shared["max_length"])


def task_metrics_of(record: dict[str, Any]) -> list[dict[str, Any]]:
    """Each task's metrics, from metrics.json in either shape."""
    return list(record["tasks"]) if "tasks" in record else [record]


def parse_metrics(record: dict[str, Any]) -> TrainedMetrics:
    shared = {k: record[k] for k in SHARED if k in record}
    tasks = [{k: v for k, v in t.items() if k not in SHARED} for t in task_metrics_of(record)]
    if not tasks or any("task" not in t for t in tasks) or "max_length" not in shared:
        raise KeyError("task or max_length")
    return TrainedMetrics(shared, tasks)


def read_metrics(folder: str | os.PathLike) -> TrainedMetrics:
    path = Path(folder) / METRICS
    try:
        return parse_metrics(json.loads(path.read_text(encoding="utf-8")))
    except FileNotFoundError:
        raise InputError(f"{folder} is not a trained classifier: no {METRICS}") from None
    except (ValueError, KeyError, TypeError, AttributeError) as err:
        raise InputError(
            f"{path}: not the {METRICS} `curate train` writes ({err}); train it again"
        ) from err


def metrics_record(per_task: list[dict[str, Any]]) -> dict[str, Any]:
    """The on-disk form: one task's metrics as they are; several tasks' shared keys at the top
    and each task's own under `tasks`."""
    if len(per_task) == 1:
        return per_task[0]
    return {
        **{k: per_task[0][k] for k in SHARED},
        "tasks": [{k: v for k, v in m.items() if k not in SHARED} for m in per_task],
    }


def write_metrics(folder: str | os.PathLike, per_task: list[dict[str, Any]]) -> dict[str, Any]:
    record = metrics_record(per_task)
    write_atomic(Path(folder) / METRICS, json.dumps(record, indent=2, ensure_ascii=False))
    return record


def is_trained(folder: str | os.PathLike) -> bool:
    """A folder `curate train` wrote: metrics.json beside model/."""
    return (Path(folder) / METRICS).is_file() and (Path(folder) / "model").is_dir()
