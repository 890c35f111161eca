"""Glue between `curate translate` and the translator: settings, and the fake LLM's checks."""

from __future__ import annotations

from curate.annotate.cli_support import backend_options, llm_command
from curate.errors import BudgetReached
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
    options = backend_options(backend, model, base_url, concurrency, rpm, max_cost)
    with llm_command("translation", fake_llm, console, config_path, sets, batch, **options) as llm:
        config, fake_url = llm
        if fake_url:
            # the stand-in is the source text itself: judged by language and residue, every
            # row would fail, so those two checks are off (and said so) for the fake LLM only
            settings.checks.language = settings.checks.residue = False
            settings.checks.skipped = ["language", "residue (fake LLM: its stand-in is the source)"]
        result = translate(inputs, source, target, config, output, settings, batch=batch)
    console.print(describe(result), markup=False, highlight=False)
    if result.summary.not_started and max_cost is not None:
        raise BudgetReached("budget reached: rerun (with a larger --max-cost)")
