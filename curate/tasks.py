"""The task registry: every scale curate annotates, trains and filters on, one YAML file each.

A task file (`curate/resources/tasks/<name>.yaml`, or a file in a folder named by the
environment variable CURATE_TASKS, for tasks of one's own without touching the package) holds:

    task: linguistic_quality        # the name; the file's stem
    title: Linguistic quality
    version: 1                      # bump whenever a template changes (it is in the prompt hash)
    scale: [0, 5]
    clean_score: 5                  # `curate synthesize`: trusted clean text's score, or null
    damage_scores: {word_shuffle: 1, ...}   # every damage family: its score, or null
    stand_in: surface_quality       # the offline fake LLM's heuristic for this task
    templates: {nb: "...", nn: "..."}       # the prompt, per instruction language

Everything that lists tasks reads them here: the CLI's choices, the prompts, `synthesize` and its
damage labels, the fake labeller, the filter report and the classifier configs' scale. Adding a
task is one file here plus a classifier config.
"""

from __future__ import annotations

import functools
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from curate.config import ConfigError, read_yaml
from curate.errors import CurateError
from curate.package_files import package_file

TASKS_ENV = "CURATE_TASKS"
# The offline fake LLM's heuristics (curate.annotate.fake_server.STAND_INS; a test checks both
# lists agree), named by a task file's `stand_in`.
STAND_INS = ("surface_quality", "substance")
FIELDS = {
    "task",
    "title",
    "version",
    "scale",
    "clean_score",
    "damage_scores",
    "stand_in",
    "templates",
}


class UnknownTask(CurateError, ValueError):
    """A task name that no task file defines."""


@dataclass(frozen=True)
class Task:
    name: str
    title: str
    version: int
    scale: tuple[int, int]
    templates: dict[str, str]
    clean_score: int | None
    damage_scores: dict[str, int | None]
    stand_in: str
    path: Path

    def damage_score(self, family: str) -> int | None:
        """The score a copy damaged by `family` gets on this scale (None: no label)."""
        return self.damage_scores.get(family)


def task_folders() -> list[Path]:
    """The package's task folder, then the folders in $CURATE_TASKS (os.pathsep-separated)."""
    extra = [Path(p) for p in os.environ.get(TASKS_ENV, "").split(os.pathsep) if p]
    return [package_file("tasks"), *extra]


def read_task(path: Path) -> Task:
    spec: dict[str, Any] = read_yaml(path)
    unknown = set(spec) - FIELDS
    missing = {"task", "version", "scale", "templates"} - set(spec)
    if unknown or missing:
        raise ConfigError(
            f"{path}: unknown keys {sorted(unknown)}, missing keys {sorted(missing)}; "
            f"a task file has {sorted(FIELDS)}"
        )
    if spec.get("stand_in", STAND_INS[0]) not in STAND_INS:
        raise ConfigError(f"{path}: stand_in {spec['stand_in']!r}; allowed: {list(STAND_INS)}")
    if spec["task"] != path.stem:
        raise ConfigError(f"{path}: task {spec['task']!r} must match the file name {path.stem!r}")
    lo, hi = spec["scale"]
    return Task(
        name=spec["task"],
        title=spec.get("title") or spec["task"].replace("_", " ").capitalize(),
        version=int(spec["version"]),
        scale=(int(lo), int(hi)),
        templates=dict(spec["templates"]),
        clean_score=spec.get("clean_score"),
        damage_scores=dict(spec.get("damage_scores") or {}),
        stand_in=spec.get("stand_in", STAND_INS[0]),
        path=path,
    )


@functools.cache
def _registry(folders: tuple[Path, ...]) -> dict[str, Task]:
    found: dict[str, Task] = {}
    for folder in folders:
        for path in sorted(folder.glob("*.yaml")):
            task = read_task(path)
            if task.name in found:
                raise ConfigError(
                    f"{path}: task {task.name!r} is also defined in {found[task.name].path}"
                )
            found[task.name] = task
    return found


def registry() -> dict[str, Task]:
    """name -> Task for every task file, in name order within each folder."""
    return _registry(tuple(task_folders()))


def task_names() -> tuple[str, ...]:
    return tuple(registry())


def get_task(name: str) -> Task:
    try:
        return registry()[name]
    except KeyError:
        raise UnknownTask(
            f"unknown task {name!r}; tasks: {list(task_names())} (a task is a file in "
            f"{package_file('tasks')} or in a folder named by ${TASKS_ENV})"
        ) from None


def is_task(name: str) -> bool:
    return name in registry()


ALL = ("all", "both")  # `--task all` (`both`, its name when there were two tasks)


def selected_tasks(choice: str) -> tuple[str, ...]:
    """The tasks a `--task` choice names: one task, or every task for `all`."""
    return task_names() if choice in ALL else (get_task(choice).name,)
