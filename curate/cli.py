"""The `curate` command line: one sub-command per stage. Thin: parse, call the stage, print."""

from __future__ import annotations

import json
import logging
import sys

import click
from rich.console import Console
from rich.table import Table

from curate import __version__
from curate.documents import DEFAULT_MAX_CHARS, BadInputError
from curate.sources import SCHEMAS

console = Console()


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="curate")
@click.option("-v", "--verbose", count=True, help="More logging: -v for INFO, -vv for DEBUG.")
def cli(verbose: int) -> None:
    """Build curated training corpora for Nordic languages.

    Stages: inspect a corpus, annotate a sample with an LLM, train and export quality
    classifiers, filter corpora with datatrove, and train a language model on what passed.
    """
    level = [logging.WARNING, logging.INFO, logging.DEBUG][min(verbose, 2)]
    logging.basicConfig(level=level, format="%(asctime)s %(levelname)s %(name)s: %(message)s")


@cli.command()
@click.argument("inputs", nargs=-1, required=True, type=click.Path(exists=True))
@click.option(
    "--source",
    type=click.Choice(SCHEMAS),
    default="auto",
    show_default=True,
    help="Schema of the rows; 'auto' guesses per row from its field names.",
)
@click.option("--strict", is_flag=True, help="Stop with an error at the first bad row.")
@click.option(
    "--max-chars",
    type=int,
    default=DEFAULT_MAX_CHARS,
    show_default=True,
    help="Longer documents are reported as bad rows and set aside.",
)
@click.option(
    "--show-bad",
    type=int,
    default=20,
    show_default=True,
    help="How many bad rows to list (all are counted).",
)
@click.option("--json", "as_json", is_flag=True, help="Print the summary as JSON.")
def inspect(inputs, source, strict, max_chars, show_bad, as_json) -> None:
    """Count documents, languages, sources and lengths in INPUTS, and report bad rows.

    INPUTS are files or directories of .jsonl, .jsonl.gz, .jsonl.zst, .parquet or .txt
    (one document per .txt file). NCC, HPLT v1.2/v2 and CulturaX rows are recognised.
    """
    from curate.corpus_stats import inspect_corpus

    try:
        stats = inspect_corpus(
            inputs, source=source, strict=strict, max_chars=max_chars, progress=not as_json
        )
    except BadInputError as err:
        raise click.ClickException(f"bad input: {err}") from err
    summary = stats.to_dict()
    if as_json:
        click.echo(json.dumps(summary, ensure_ascii=False, indent=2))
        return
    _print_inspect_summary(summary, show_bad)


def _print_inspect_summary(s: dict, show_bad: int) -> None:
    console.print(
        f"[bold]{s['documents']:,}[/bold] documents from {s['rows']:,} rows in "
        f"{s['files']} files; [bold]{s['bad_rows']:,}[/bold] bad rows; "
        f"{s['total_words']:,} words"
    )
    for title, counts in (("language", s["languages"]), ("source", s["sources"])):
        table = Table(title=f"documents per {title}")
        table.add_column(title)
        table.add_column("documents", justify="right")
        table.add_column("share", justify="right")
        for key, n in counts.items():
            table.add_row(key, f"{n:,}", f"{n / max(s['documents'], 1):.1%}")
        console.print(table)
    lengths = Table(title="length percentiles")
    lengths.add_column("unit")
    for p in s["chars"]:
        lengths.add_column(p, justify="right")
    lengths.add_row("chars", *(f"{v:,}" for v in s["chars"].values()))
    lengths.add_row("words", *(f"{v:,}" for v in s["words"].values()))
    console.print(lengths)
    if s["bad_rows"]:
        reasons = ", ".join(f"{k}: {v}" for k, v in s["bad_reasons"].items())
        console.print(f"[yellow]bad rows by reason[/yellow]: {reasons}")
        for line in s["bad_examples"][:show_bad]:
            console.print(f"  {line}", markup=False, highlight=False)


@cli.command()
@click.argument("inputs", nargs=-1, required=True, type=click.Path(exists=True))
@click.option(
    "--task",
    type=click.Choice(["educational_value", "linguistic_quality", "both"]),
    default="both",
    show_default=True,
    help="Which scale to annotate.",
)
@click.option(
    "--config",
    "config_path",
    type=click.Path(exists=True, dir_okay=False),
    help="Annotation config YAML (default: annotations/<backend>.yaml).",
)
@click.option(
    "--backend",
    type=click.Choice(["gemini", "openai"]),
    default=None,
    help="LLM backend; overrides the config.",
)
@click.option("--model", default=None, help="Model name; overrides the config.")
@click.option("--base-url", default=None, help="Endpoint; overrides the config.")
@click.option(
    "--instruction-language",
    type=click.Choice(["nb", "nn"]),
    default=None,
    help="Language the prompt is written in.",
)
@click.option(
    "--sample",
    type=int,
    default=None,
    help="Annotate a seeded sample of N documents, stratified by source and language.",
)
@click.option("--seed", type=int, default=0, show_default=True, help="Sampling seed.")
@click.option("--concurrency", type=int, default=None, help="Requests in flight at once.")
@click.option("--rpm", type=float, default=None, help="Requests-per-minute cap.")
@click.option(
    "--fake-llm",
    is_flag=True,
    envvar="CURATE_FAKE_LLM",
    help="Use the local test server instead of an LLM (also CURATE_FAKE_LLM=1). "
    "Its scores are text heuristics, not an LLM's judgement.",
)
@click.option(
    "-o",
    "--output",
    "out_dir",
    type=click.Path(file_okay=False),
    required=True,
    help="Directory for <task>.jsonl and <task>.failures.jsonl.",
)
def annotate(
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
) -> None:
    """Score documents in INPUTS with an LLM on educational value and/or linguistic quality.

    Resumable: annotations already in OUTPUT (same text, task, prompt, model and generation
    settings) are never requested again, and failed requests are retried on the next run.
    The API key is read from the environment variable named in the config (GEMINI_API_KEY by
    default) and never written anywhere.
    """
    from curate.annotate.cli_support import run_annotate

    run_annotate(
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
    )


def main() -> None:
    cli(prog_name="curate")


if __name__ == "__main__":
    sys.exit(main())
