"""`metrics.json`, the record `curate train` leaves beside model/: its one owner. Training writes
it through `write_metrics`; export, evaluate, the config resolver and the CLI read it through
`read_metrics`, which gives every model's tasks as a list of `TaskMetrics`.

On disk it keeps its two shapes for the readers that exist: a one-task model's metrics flat at
the top; a model with a head per task has what the tasks share (SHARED) at the top and each
task's figures under `tasks`, in output-column order.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from typing import Any

from curate.atomic import write_atomic
from curate.classify.layout import METRICS, ClassifierRunLayout
from curate.errors import InputError

SHARED = ("max_length", "base_model", "base_model_path", "training")
HEADLINE = ("macro_f1", "mse", "spearman", "accuracy")


@dataclass
class TaskMetrics:
    """One task's record as `curate train` writes it: what other stages read, typed; the whole
    record (per-split figures, baselines, label counts: the card's) in `record`."""

    task: str
    scale: tuple[int, int]
    threshold: float  # the keep threshold on the label scale
    threshold_policy: str  # how it was chosen
    positive_label: int  # scores >= this count as kept in the threshold's figures
    thresholds_by_language: dict[str, float]
    test: dict[str, Any]  # curate.classify.metrics.evaluate on the test split
    fluency: dict[str, Any] | None = None
    lexical: dict[str, Any] | None = None
    label_scale: dict[str, Any] | None = None
    curves: dict[str, Any] | None = None
    record: dict[str, Any] = field(default_factory=dict, repr=False)

    @classmethod
    def from_record(cls, record: dict[str, Any]) -> TaskMetrics:
        threshold = record["threshold"]
        return cls(
            task=record["task"],
            scale=(int(record["scale"][0]), int(record["scale"][1])),
            threshold=float(threshold["value"]),
            threshold_policy=threshold["chosen_by"],
            positive_label=int(threshold["positive_label"]),
            thresholds_by_language={
                lang: float(t["value"]) for lang, t in threshold.get("by_language", {}).items()
            },
            test=record["test"],
            fluency=record.get("fluency"),
            lexical=record.get("lexical"),
            label_scale=record.get("label_scale"),
            curves=record.get("curves"),
            record=record,
        )

    @property
    def headline(self) -> dict[str, float]:
        """The test figures a bundle carries and a summary shows."""
        return {k: self.test[k] for k in HEADLINE}


@dataclass
class TrainedMetrics:
    """A trained classifier's metrics: what its tasks share, and each task's own figures."""

    shared: dict[str, Any]
    tasks: list[TaskMetrics] = field(default_factory=list)

    @property
    def task_names(self) -> list[str]:
        return [t.task for t in self.tasks]

    @property
    def max_length(self) -> int:
        return int(self.shared["max_length"])


def task_metrics_of(record: dict[str, Any]) -> list[dict[str, Any]]:
    """Each task's record, from metrics.json in either shape."""
    return list(record["tasks"]) if "tasks" in record else [record]


def parse_metrics(record: dict[str, Any]) -> TrainedMetrics:
    shared = {k: record[k] for k in SHARED if k in record}
    if "max_length" not in shared:
        raise KeyError("max_length")
    tasks = [
        TaskMetrics.from_record({k: v for k, v in t.items() if k not in SHARED})
        for t in task_metrics_of(record)
    ]
    if not tasks:
        raise KeyError("task")
    return TrainedMetrics(shared, tasks)


def read_metrics(folder: str | os.PathLike) -> TrainedMetrics:
    path = ClassifierRunLayout.of(folder).metrics
    try:
        return parse_metrics(json.loads(path.read_text(encoding="utf-8")))
    except FileNotFoundError:
        raise InputError(f"{folder} is not a trained classifier: no {METRICS}") from None
    except (ValueError, KeyError, TypeError, AttributeError) as err:
        raise InputError(
            f"{path}: not the {METRICS} `curate train` writes ({err}); train it again"
        ) from err


def metrics_record(per_task: list[TaskMetrics]) -> dict[str, Any]:
    """The on-disk form: one task's record as it is; several tasks' shared keys at the top
    and each task's own under `tasks`."""
    records = [m.record for m in per_task]
    if len(records) == 1:
        return records[0]
    return {
        **{k: records[0][k] for k in SHARED},
        "tasks": [{k: v for k, v in r.items() if k not in SHARED} for r in records],
    }


def write_metrics(folder: str | os.PathLike, per_task: list[TaskMetrics]) -> dict[str, Any]:
    record = metrics_record(per_task)
    write_atomic(
        ClassifierRunLayout.of(folder).metrics, json.dumps(record, indent=2, ensure_ascii=False)
    )
    return record


def is_trained(folder: str | os.PathLike) -> bool:
    """A folder `curate train` wrote: metrics.json beside model/."""
    return ClassifierRunLayout.of(folder).is_trained()
