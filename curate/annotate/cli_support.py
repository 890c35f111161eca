"""Glue between the commands that talk to an LLM (`curate annotate`, `curate translate`) and the
runner: config resolution, sampling, the fake server, a stopped run as the command's error."""

from __future__ import annotations

import contextlib
import logging
import os
from pathlib import Path

from curate.annotate.backends import BACKENDS, FatalBackendError
from curate.annotate.config import default_config_path, load_config
from curate.annotate.runner import AnnotationStopped, AnnotationSummary, Budget, annotate, describe
from curate.annotate.sampling import stratified_sample
from curate.annotate.store import USAGE_FIELDS
from curate.documents import ReadReport, read_documents
from curate.errors import BudgetReached, CurateError, InputError
from curate.tasks import get_task, selected_tasks

logger = logging.getLogger(__name__)
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
    max_cost=None,
    retry_failed=False,
    annotators=(),
    batch=False,
    sets=(),
) -> None:
    if annotators:
        return run_jury(
            inputs,
            task,
            annotators,
            sample,
            seed,
            out_dir,
            console,
            sets,
            concurrency=concurrency,
            requests_per_minute=rpm,
            max_cost_usd=max_cost,
            max_failed_runs=0 if retry_failed else None,
        )
    tasks = selected_tasks(task)
    docs = read_sample(inputs, sample, seed, console)
    options = backend_options(backend, model, base_url, concurrency, rpm, max_cost)
    options.update(
        instruction_language=instruction_language,
        max_failed_runs=0 if retry_failed else None,
    )
    with llm_command("annotation", fake_llm, console, config_path, sets, batch, **options) as llm:
        config, _ = llm
        annotate_tasks(docs, tasks, config, out_dir, console, batch=batch)


def backend_options(backend, model, base_url, concurrency, rpm, max_cost) -> dict:
    """The command-line options every LLM command shares, as config overrides."""
    return {
        "backend": backend,
        "model": model,
        "base_url": base_url,
        "concurrency": concurrency,
        "requests_per_minute": rpm,
        "max_cost_usd": max_cost,
    }


@contextlib.contextmanager
def llm_command(what: str, fake_llm: bool, console, config_path, sets, batch: bool, **overrides):
    """What every command that talks to an LLM shares: the fake server when asked for, the
    backend config (`client_config`), a stopped run as the command's error (`stops_as_errors`).
    Yields (config, the fake server's address or None)."""
    with fake_server_if(fake_llm, console) as fake_url, stops_as_errors(what):
        yield client_config(config_path, sets, fake_url, batch, **overrides), fake_url


@contextlib.contextmanager
def stops_as_errors(what: str):
    """A run that stopped (no key, a fatal answer, an interrupt) as one `CurateError` line,
    "<what> stopped: <why>", with the stop's exit code."""
    try:
        yield
    except (AnnotationStopped, FatalBackendError) as stop:
        raise CurateError(f"{what} stopped: {stop}", stop.exit_code) from stop


def client_config(config_path, sets, fake_url: str | None, batch: bool, **overrides):
    """The backend config of a command that talks to an LLM: the file (default: the backend's
    own), `--set` items, then the command's options; with the fake server, its address, key
    variable and model, at no cost."""
    if fake_url:
        overrides.update(
            base_url=fake_url,
            model=FAKE_MODEL,
            api_key_env=FAKE_KEY_ENV,
            price_per_million_tokens={"input": 0.0, "output": 0.0},
        )
    path = config_path or default_config_path(overrides.get("backend") or "gemini")
    config = load_config(path, sets, **overrides)
    if batch and not getattr(BACKENDS.get(config.backend), "batch_mode", False):
        batched = sorted(name for name, b in BACKENDS.items() if b.batch_mode)
        raise InputError(f"--batch needs a backend with a batch mode: {', '.join(batched)}")
    return config


def read_sample(inputs, sample, seed, console):
    report = ReadReport()
    docs = stratified_sample(read_documents(inputs, report=report), sample, seed)
    if report.bad_count:
        console.print(
            f"[yellow]{report.bad_count} bad input rows set aside[/yellow] "
            f"({dict(report.bad_reasons)}); `curate inspect` lists them"
        )
    return docs


def run_jury(
    inputs, task, annotators, sample, seed, out_dir, console, sets=(), **overrides
) -> None:
    """Each annotator config annotates the same sample into OUTPUT/<config name>/ under one
    budget; then agreement and consensus into OUTPUT/consensus/."""
    tasks = selected_tasks(task)
    docs = read_sample(inputs, sample, seed, console)
    out = Path(out_dir)
    runs = []
    for path in annotators:
        config = load_config(path, sets, **overrides)
        runs.append((config, out / Path(path).stem))
    budget = Budget(runs[0][0].max_cost_usd)
    for config, member_dir in runs:
        console.print(f"annotator {member_dir.name}: {config.backend} {config.model}")
        with stops_as_errors("annotation"):
            annotate_tasks(docs, tasks, config, member_dir, console, budget)
    run_agreement([d for _, d in runs], task, None, out / "consensus", console)


def run_agreement(dirs, task, max_spread, out_dir: Path, console) -> None:
    import json

    from curate.annotate.jury import (
        agreement,
        consensus,
        describe_agreement,
        load_panel,
        plot_confusions,
        write_consensus,
    )

    results = {}
    for t in selected_tasks(task):
        panel = load_panel(dirs, t)
        scale = get_task(t).scale
        results[t] = agreement(panel, scale)
        records, dropped = consensus(panel, t, max_spread)
        path = write_consensus(records, out_dir, t)
        plot_confusions(panel, scale, out_dir / f"agreement_{t}.png", t)
        results[t]["consensus"] = {"records": len(records), "dropped_for_spread": dropped}
        console.print(describe_agreement(results[t], t), markup=False, highlight=False)
        console.print(
            f"  consensus (median): {len(records)} labels -> {path}"
            + (f"; {dropped} left out, spread > {max_spread}" if dropped else ""),
            markup=False,
            highlight=False,
        )
    (out_dir / "agreement.json").write_text(json.dumps(results, indent=2) + "\n")


def annotate_tasks(
    docs, tasks, config, out_dir, console, budget: Budget | None = None, batch: bool = False
) -> None:
    """Every task in turn under one budget; whatever ends the command, what was done and what
    it cost is printed, per task and summed."""
    from curate.annotate.batch import annotate_batch

    budget = budget or Budget(config.max_cost_usd)
    summaries: list[AnnotationSummary] = []
    try:
        for t in tasks:
            try:
                if batch:
                    summaries.append(annotate_batch(docs, t, config, out_dir))
                else:
                    summaries.append(annotate(docs, t, config, out_dir, budget=budget))
            except AnnotationStopped as stop:
                summaries.append(stop.summary)
                raise
            finally:
                if summaries:
                    console.print(describe(summaries[-1]), markup=False, highlight=False)
    except AnnotationStopped:
        print_totals(summaries, console)
        raise
    print_totals(summaries, console)
    if budget.refused:
        raise BudgetReached(
            f"budget reached: stopped before this run's cost would exceed "
            f"${config.max_cost_usd:.2f}; rerun (with a larger --max-cost) to continue"
        )


def print_totals(summaries: list[AnnotationSummary], console) -> None:
    if len(summaries) < 2:
        return
    run = {n: sum(getattr(s, n) for s in summaries) for n in USAGE_FIELDS}
    console.print(
        f"all tasks, this run: {run['requests']} requests, tokens in {run['input_tokens']:,} "
        f"out {run['output_tokens']:,}, cost ${run['cost_usd']:.4f}",
        markup=False,
        highlight=False,
    )


@contextlib.contextmanager
def fake_server_if(enabled: bool, console):
    if not enabled:
        yield None
        return
    from curate.annotate.fake_server import FakeLLMServer  # a test double: only on --fake-llm

    with FakeLLMServer() as server:
        os.environ.setdefault(FAKE_KEY_ENV, "fake-key")
        console.print(
            f"[bold red]FAKE LLM[/bold red]: local test server at {server.url}; "
            f"scores are text heuristics, not an LLM's (model '{FAKE_MODEL}'). "
            "Set GEMINI_API_KEY and drop CURATE_FAKE_LLM for real annotations."
        )
        yield server.url
