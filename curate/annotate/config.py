"""Annotation configs (YAML; the defaults ship in curate/resources/annotate/) with CLI
overrides; unknown keys are errors."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar

from curate.config import load
from curate.errors import InputError
from curate.package_files import package_file


def backend_names() -> tuple[str, ...]:
    """Backends by the default config each ships: curate/resources/annotate/<name>.yaml."""
    return tuple(sorted(p.stem for p in package_file("annotate").glob("*.yaml")))


@dataclass
class AnnotateConfig:
    backend: str = "gemini"  # an annotation backend (curate.annotate.backends)
    model: str = "gemini-2.5-flash"  # the model name the backend's API takes
    api_key_env: str = "GEMINI_API_KEY"  # the environment variable holding the key (never logged)
    base_url: str | None = None  # the endpoint (an OpenAI-compatible server's /v1; null: default)
    api_version: str = "v1beta"  # Gemini's API version
    instruction_language: str = "nb"  # the prompt's language (each task file has templates)
    concurrency: int = 32  # requests in flight at once
    requests_per_minute: float = 900  # the client's own rate cap
    timeout_s: float = 60  # per request
    max_attempts: int = 6  # per request, retries of rate limits, 5xx and dropped connections
    backoff_initial_s: float = 1.0
    backoff_max_s: float = 60.0
    retry_after_max_s: float = 300.0  # a server asking for longer waits this long, then retries
    max_failed_runs: int = 3  # a document that failed in this many runs is not re-paid for
    max_cost_usd: float | None = None  # stop before this run's cost would exceed it
    RENAMED: ClassVar[dict[str, str]] = {"batch_size": "batch_job_documents"}
    batch_job_documents: int = 1000  # per Gemini batch job (inline requests: 20 MB at most)
    batch_poll_s: float = 30.0
    batch_max_wait_s: float = 86400.0  # then stop polling; a rerun polls on
    batch_price_factor: float = 0.5  # Gemini bills batch tokens at half the online price
    max_document_chars: int = 12000
    response_format: str = "json_schema"
    response_schema: str = "score"  # curate.annotate.backends.SCHEMAS: score, translation
    generation: dict[str, Any] = field(
        default_factory=lambda: {"temperature": 0.0, "max_output_tokens": 512}
    )
    safety_settings: list[dict[str, str]] = field(default_factory=list)
    price_per_million_tokens: dict[str, float] = field(
        default_factory=lambda: {"input": 0.0, "output": 0.0}
    )

    def __post_init__(self) -> None:
        if self.backend not in backend_names():
            raise InputError(f"backend must be one of {backend_names()}, got {self.backend!r}")
        if self.concurrency < 1 or self.requests_per_minute <= 0 or self.max_attempts < 1:
            raise InputError("concurrency, requests_per_minute and max_attempts must be positive")

    def generation_key(self) -> str:
        """What, besides text, prompt and model, changes an answer: part of the cache key."""
        return json.dumps(self.generation, sort_keys=True)

    def cost(self, input_tokens: int, output_tokens: int) -> float:
        price = self.price_per_million_tokens
        return (input_tokens * price.get("input", 0) + output_tokens * price.get("output", 0)) / 1e6


def default_config_path(backend: str) -> Path:
    """The shipped config of a backend: `gemini` or `openai`."""
    return package_file("annotate", f"{backend}.yaml")


def load_config(
    path: str | Path | None = None, sets: Iterable[str] = (), **overrides: Any
) -> AnnotateConfig:
    """Read a YAML config, apply `--set key=value` items, then overrides (None: not given)."""
    return load(AnnotateConfig, path, sets, **overrides)


def cache_key(text_sha256: str, task: str, prompt_sha256: str, model: str, generation: str) -> str:
    raw = "\x1f".join([text_sha256, task, prompt_sha256, model, generation])
    return hashlib.sha256(raw.encode("utf-8")).hexdigest()
