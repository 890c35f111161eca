"""Glue between `curate annotate` and the runner: config resolution, sampling, the fake server."""

from __future__ import annotations

import contextlib
import logging
import os
from pathlib import Path

import click

from curate.annotate.backends import FatalBackendError
from curate.annotate.config import load_config
from curate.annotate.fake_server import FakeLLMServer
from curate.annotate.prompts import TASKS
from curate.annotate.runner import annotate, describe
from curate.annotate.sampling import stratified_sample
from curate.documents import ReadReport, read_documents

logger = logging.getLogger(__name__)
CONFIG_DIR = Path(__file__).resolve().parents[2] / "annotations"
FAKE_KEY_ENV = "CURATE_FAKE_LLM_KEY"
FAKE_MODEL = "fake-llm-heuristic"


def run_annotate(
    *,
    inputs,
    task,
    config_path,
    backend,
    model,
    base_url,
    instruction_language,
    sample,
    seed,
    concurrency,
    rpm,
    fake_llm,
    out_dir,
    console,
) -> None:
    config_path = config_path or CONFIG_DIR / f"{backend or 'gemini'}.yaml"
    overrides = dict(
        backend=backend,
        model=model,
        base_url=base_url,
        instruction_language=instruction_language,
        concurrency=concurrency,
        requests_per_minute=rpm,
    )
    tasks = TASKS if task == "both" else (task,)
    report = ReadReport()
    docs = stratified_sample(read_documents(inputs, report=report), sample, seed)
    if report.bad_count:
        console.print(
            f"[yellow]{report.bad_count} bad input rows set aside[/yellow] "
            f"({dict(report.bad_reasons)}); `curate inspect` lists them"
        )
    with fake_server_if(fake_llm, console) as fake_url:
        if fake_url:
            overrides.update(
                base_url=fake_url,
                model=FAKE_MODEL,
                api_key_env=FAKE_KEY_ENV,
                price_per_million_tokens={"input": 0.0, "output": 0.0},
            )
        try:
            config = load_config(config_path, **overrides)
        except ValueError as err:
            raise click.ClickException(str(err)) from err
        for t in tasks:
            try:
                summary = annotate(docs, t, config, out_dir)
            except FatalBackendError as err:
                raise click.ClickException(f"annotation stopped: {err}") from err
            console.print(describe(summary), markup=False, highlight=False)


@contextlib.contextmanager
def fake_server_if(enabled: bool, console):
    if not enabled:
        yield None
        return
    with FakeLLMServer() as server:
        os.environ.setdefault(FAKE_KEY_ENV, "fake-key")
        console.print(
            f"[bold red]FAKE LLM[/bold red]: local test server at {server.url}; "
            f"scores are text heuristics, not an LLM's (model '{FAKE_MODEL}'). "
            "Set GEMINI_API_KEY and drop CURATE_FAKE_LLM for real annotations."
        )
        yield server.url
