"""Prompt templates in curate/resources/prompts/<task>.yaml, one per instruction language."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path

import yaml

from curate.package_files import package_file

PROMPTS_DIR = package_file("prompts")
TASKS = ("educational_value", "linguistic_quality")

LANGUAGE_NAMES = {
    "nb": {"nb": "norsk bokmål", "nn": "norsk bokmål"},
    "nn": {"nb": "norsk nynorsk", "nn": "norsk nynorsk"},
    "no": {"nb": "norsk", "nn": "norsk"},
    "sv": {"nb": "svensk", "nn": "svensk"},
    "da": {"nb": "dansk", "nn": "dansk"},
    "fi": {"nb": "finsk", "nn": "finsk"},
    "en": {"nb": "engelsk", "nn": "engelsk"},
    "is": {"nb": "islandsk", "nn": "islandsk"},
}


@dataclass(frozen=True)
class Prompt:
    task: str
    version: int
    instruction_language: str
    template: str
    scale: tuple[int, int]

    @property
    def sha256(self) -> str:
        """Identifies the exact instructions an annotation was made with."""
        raw = f"{self.task}\n{self.version}\n{self.instruction_language}\n{self.template}"
        return hashlib.sha256(raw.encode("utf-8")).hexdigest()

    def render(self, text: str, lang: str | None) -> str:
        names = LANGUAGE_NAMES.get(lang or "", {})
        language = names.get(self.instruction_language, lang or "ukjent språk")
        # str.replace, not str.format: documents are full of braces.
        return self.template.replace("{language}", language).replace("{document}", text)


def load_prompt(
    task: str, instruction_language: str = "nb", prompts_dir: Path | None = None
) -> Prompt:
    path = (prompts_dir or PROMPTS_DIR) / f"{task}.yaml"
    if not path.exists():
        raise ValueError(f"no prompt for task {task!r} (looked for {path}); tasks: {TASKS}")
    spec = yaml.safe_load(path.read_text(encoding="utf-8"))
    templates = spec["templates"]
    if instruction_language not in templates:
        raise ValueError(
            f"{path}: no template for instruction language {instruction_language!r}; "
            f"available: {sorted(templates)}"
        )
    lo, hi = spec.get("scale", [0, 5])
    return Prompt(
        task,
        int(spec["version"]),
        instruction_language,
        templates[instruction_language],
        (int(lo), int(hi)),
    )
