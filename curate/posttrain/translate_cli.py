"""Glue between `curate translate` and the translator: configs, the fake LLM, exit codes."""

from __future__ import annotations

import click

from curate.annotate.cli_support import client_config, fake_server_if
from curate.annotate.runner import AnnotationStopped
from curate.posttrain.translate import TranslateSettings, describe, translate


def run_translate(
    *,
    inputs,
    source,
    target,
    output,
    config_path,
    backend,
    model,
    base_url,
    concurrency,
    rpm,
    max_cost,
    batch,
    fake_llm,
    settings_path,
    sets,
    console,
) -> None:
    settings = TranslateSettings.load(settings_path)
    with fake_server_if(fake_llm, console) as fake_url:
        if fake_url:
            # the stand-in is the source text itself: judged by language and residue, every
            # row would fail, so those two checks are off (and said so) for the fake LLM only
            settings.checks.language = settings.checks.residue = False
            settings.checks.skipped = ["language", "residue (fake LLM: its stand-in is the source)"]
        config = client_config(
            config_path,
            sets,
            fake_url,
            batch,
            backend=backend,
            model=model,
            base_url=base_url,
            concurrency=concurrency,
            requests_per_minute=rpm,
            max_cost_usd=max_cost,
        )
        try:
            result = translate(inputs, source, target, config, output, settings, batch=batch)
        except AnnotationStopped as stop:
            console.print(f"[bold red]translation stopped[/bold red]: {stop}", highlight=False)
            raise click.exceptions.Exit(stop.exit_code) from None
    console.print(describe(result), markup=False, highlight=False)
    if result.summary.not_started and max_cost is not None:
        console.print("[yellow]budget reached[/yellow]: rerun (with a larger --max-cost)")
        raise click.exceptions.Exit(3)
