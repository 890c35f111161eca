"""Prompts: a task's templates (curate.tasks), one per instruction language, filled per document."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

from curate.config import ConfigError
from curate.tasks import get_task

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


def load_prompt(task: str, instruction_language: str = "nb") -> Prompt:
    spec = get_task(task)
    if instruction_language not in spec.templates:
        raise ConfigError(
            f"{spec.path}: no template for instruction language {instruction_language!r}; "
            f"available: {sorted(spec.templates)}"
        )
    return Prompt(
        task, spec.version, instruction_language, spec.templates[instruction_language], spec.scale
    )
