"""The `curate` command line: one sub-command per stage. Each command parses its options, calls
its stage's module and prints the outcome; decisions live in the stage modules. Errors a user
can fix (curate.errors.CurateError) are caught once, in CurateGroup, and printed as one line; any
other exception is a bug and keeps its traceback."""

from __future__ import annotations

import importlib
import itertools
import json
import logging
import sys
from pathlib import Path

import click
from rich.console import Console
from rich.table import Table

from curate import __version__
from curate.annotate.config import backend_names
from curate.degrade import FAMILIES as FAMILY_NAMES
from curate.documents import DEFAULT_MAX_CHARS
from curate.errors import CurateError
from curate.extras import require_extra
from curate.pipeline.executors import EXECUTORS
from curate.posttrain.languages import SOURCES, TARGETS
from curate.sources import SCHEMAS
from curate.tasks import ALL, task_names

console = Console(soft_wrap=True)  # no hard wraps in logs and pipes


def known_tasks() -> list[str]:
    """The registered tasks, for the options' choices; a broken task file (one in
    $CURATE_TASKS, say) stops every command with its one-line reason."""
    try:
        return list(task_names())
    except CurateError as err:
        raise SystemExit(f"Error: {err}") from None


class CurateGroup(click.Group):
    """The one place where errors a user can fix (`CurateError`) become one line and the
    error's exit code; with -v the traceback is logged too. Other exceptions are bugs and keep
    their traceback."""

    def invoke(self, ctx: click.Context):
        try:
            return super().invoke(ctx)
        except CurateError as err:
            if (ctx.obj or {}).get("verbose"):
                logging.getLogger("curate").exception("curate error")
            one_line = click.ClickException(str(err))
            one_line.exit_code = err.exit_code
            raise one_line from err


@click.group(cls=CurateGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="curate")
@click.option(
    "-v",
    "--verbose",
    count=True,
    help="Show library output (transformers, Lightning, datatrove, warnings) and INFO logs; "
    "-vv for DEBUG. Without it: one line or one progress bar per step.",
)
@click.pass_context
def cli(ctx: click.Context, verbose: int) -> None:
    """Build curated training corpora for Nordic languages.

    Stages: inspect a corpus, annotate a sample with an LLM, train and export quality
    classifiers, filter corpora with datatrove, and train a language model on what passed.
    """
    from curate.quiet import configure

    ctx.obj = {"verbose": verbose}
    configure(verbose)


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

    stats = inspect_corpus(
        inputs, source=source, strict=strict, max_chars=max_chars, progress=not as_json
    )
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


# --task of the commands that work on annotations of one task or all (curate.tasks)
task_or_all = click.option(
    "--task",
    type=click.Choice([*known_tasks(), *ALL]),
    default="all",
    show_default=True,
    help="Which task (scale), or all of them ('both' is the same as 'all').",
)


ANNOTATE_CONFIG = "curate.annotate.config:AnnotateConfig"
CLASSIFIER_CONFIG = "curate.classify.config:ClassifierConfig"
LM_CONFIG = "curate.lm.config:LMConfig"
MIX_CONFIG = "curate.posttrain.mix:MixConfig"
ABLATION_CONFIG = "curate.ablate.config:AblationConfig"


def config_class(name: str) -> type:
    """ "module:Class" -> the class, imported when a help text needs it (the CLI starts fast)."""
    module, _, cls = name.partition(":")
    return getattr(importlib.import_module(module), cls)


class ConfigCommand(click.Command):
    """A command that reads a config: its --help ends with every key a --set can reach, with
    its note and default (curate.config_notes, from the config's own fields)."""

    def __init__(self, *args, config: str, **kwargs):
        super().__init__(*args, **kwargs)
        self.config = config

    def format_epilog(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        super().format_epilog(ctx, formatter)
        from curate.config_notes import config_keys

        rows = [
            (key, f"{note} ({default})" if note else default)
            for key, note, default in config_keys(config_class(self.config))
        ]
        with formatter.section("Config keys (--set KEY=VALUE; defaults before the config file)"):
            formatter.write_dl(rows)


class ConfigOption(click.Option):
    """An option that overrides one config key; without a help of its own, its help is the
    key's note, read from the config's fields when --help is shown."""

    def __init__(self, *args, config: str, key: str, **kwargs):
        super().__init__(*args, **kwargs)
        self.config, self.key = config, key

    def get_help_record(self, ctx: click.Context):
        if self.help is None:
            from curate.config_notes import key_note

            note = key_note(config_class(self.config), self.key)
            self.help = f"Overrides the config's {self.key}" + (f": {note}." if note else ".")
        return super().get_help_record(ctx)


def config_option(*decls: str, config: str, key: str, **kwargs):
    return click.option(*decls, cls=ConfigOption, config=config, key=key, default=None, **kwargs)


def set_option(what: str, example: str):
    """`--set KEY=VALUE` (repeatable), the same on every command that reads a config."""
    return click.option(
        "--set",
        "sets",
        multiple=True,
        metavar="KEY=VALUE",
        help=f"Override a {what} value by dotted key (repeatable; values are YAML), "
        f"e.g. --set {example}.",
    )


def llm_options(what: str, fake_help: str, batch_help: str):
    """The options of every command that talks to an LLM through curate.annotate's backends."""
    options = [
        click.option(
            "--config",
            "config_path",
            type=click.Path(exists=True, dir_okay=False),
            help="Backend config YAML (default: the backend's own, "
            "curate/resources/annotate/<backend>.yaml).",
        ),
        config_option(
            "--backend", type=click.Choice(backend_names()), config=ANNOTATE_CONFIG, key="backend"
        ),
        config_option("--model", config=ANNOTATE_CONFIG, key="model"),
        config_option("--base-url", config=ANNOTATE_CONFIG, key="base_url"),
        config_option("--concurrency", type=int, config=ANNOTATE_CONFIG, key="concurrency"),
        config_option("--rpm", type=float, config=ANNOTATE_CONFIG, key="requests_per_minute"),
        config_option(
            "--max-cost",
            type=float,
            config=ANNOTATE_CONFIG,
            key="max_cost_usd",
            help=f"Stop before this run's cost (USD, at the config's prices) would exceed this; "
            f"exit code 3, and a rerun continues where it stopped. {what} already paid for "
            "is never requested again.",
        ),
        click.option(
            "--batch", is_flag=True, help=f"Gemini Batch mode: half the price. {batch_help}"
        ),
        click.option(
            "--fake-llm",
            is_flag=True,
            envvar="CURATE_FAKE_LLM",
            help=f"Use the local test server instead of an LLM (also CURATE_FAKE_LLM=1). "
            f"{fake_help}",
        ),
    ]

    def apply(command):
        for option in reversed(options):
            command = option(command)
        return command

    return apply


@cli.command(cls=ConfigCommand, config=ANNOTATE_CONFIG)
@click.argument("inputs", nargs=-1, required=True, type=click.Path(exists=True))
@task_or_all
@llm_options(
    "Annotation",
    fake_help="Its scores are text heuristics, not an LLM's judgement.",
    batch_help="Submits jobs, records their names in OUTPUT/<task>.batch_jobs.json and polls "
    "them (batch_max_wait_s); a rerun polls the same jobs and never submits a document twice.",
)
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
@click.option(
    "--annotator",
    "annotators",
    multiple=True,
    type=click.Path(exists=True, dir_okay=False),
    help="A jury: annotate with each of these configs (repeatable), each into OUTPUT/<config "
    "name>/, then write agreement statistics and median consensus labels to "
    "OUTPUT/consensus/ (see `curate agreement`).",
)
@click.option(
    "--retry-failed",
    is_flag=True,
    help="Request again documents that already failed in max_failed_runs runs (default 3).",
)
@click.option(
    "-o",
    "--output",
    "out_dir",
    type=click.Path(file_okay=False),
    required=True,
    help="Directory for <task>.jsonl and <task>.failures.jsonl.",
)
@set_option("config", "generation.temperature=0.2")
def annotate(**options) -> None:
    """Score documents in INPUTS with an LLM on educational value and/or linguistic quality.

    Resumable: annotations already in OUTPUT (same text, task, prompt, model and generation
    settings) are never requested again, and failed requests are retried on the next run
    (up to max_failed_runs runs). Token and cost totals of every run are kept in
    OUTPUT/usage.json and printed at the end, also when a run is stopped. Exit codes: 1 for a
    fatal condition (rejected key, unknown model, daily quota used up), 3 when --max-cost
    stopped the run, 130 when interrupted. The API key is read from the environment variable
    named in the config (GEMINI_API_KEY by default) and never written anywhere.
    """
    require_extra("annotate")
    from curate.annotate.cli_support import run_annotate

    run_annotate(console=console, **options)


@cli.command("agreement")
@click.argument("dirs", nargs=-1, required=True, type=click.Path(exists=True, file_okay=False))
@task_or_all
@click.option(
    "--max-spread",
    type=float,
    default=None,
    help="Leave out of the consensus documents whose annotators' scores spread more than this.",
)
@click.option(
    "-o",
    "--output",
    "out_dir",
    type=click.Path(file_okay=False),
    required=True,
    help="Directory for agreement.json, agreement_<task>.png and consensus <task>.jsonl.",
)
def agreement_cmd(dirs, task, max_spread, out_dir) -> None:
    """How far the annotators in DIRS (one directory of annotations each) agree: Spearman,
    quadratic-weighted kappa and exact agreement per pair, Krippendorff's alpha (ordinal)
    overall, a confusion plot per pair; and median consensus labels that `curate train`
    accepts (records with annotator.backend 'jury')."""
    require_extra("annotate")
    from curate.annotate.cli_support import run_agreement

    run_agreement([Path(d) for d in dirs], task, max_spread, Path(out_dir), console)


@cli.command(cls=ConfigCommand, config=CLASSIFIER_CONFIG)
@click.option(
    "--config",
    "config_paths",
    required=True,
    multiple=True,
    type=click.Path(exists=True, dir_okay=False),
    help="Classifier config, e.g. classifiers/educational_value.demo.yaml. Repeat it to train "
    "one encoder with a head per task (same base_model and max_length; the first config's "
    "training section; --set applies to every config).",
)
@click.option(
    "--annotations",
    multiple=True,
    required=True,
    type=click.Path(exists=True),
    help="Annotation files or directories (repeatable); rows of other tasks are ignored.",
)
@click.option(
    "--corpus",
    multiple=True,
    type=click.Path(exists=True),
    help="Documents the annotations refer to (repeatable; default: the config's corpus).",
)
@click.option(
    "-o",
    "--output",
    "out_dir",
    type=click.Path(file_okay=False),
    help="Output directory (default: classifiers/<task>/).",
)
@click.option("--resume", is_flag=True, help="Continue from OUTPUT/checkpoints/last.ckpt.")
@config_option("--epochs", type=int, config=CLASSIFIER_CONFIG, key="training.epochs")
@config_option("--max-steps", type=int, config=CLASSIFIER_CONFIG, key="training.max_steps")
@config_option("--devices", config=CLASSIFIER_CONFIG, key="training.devices")
@set_option("config", "training.learning_rate=3e-5")
def train(config_paths, annotations, corpus, out_dir, resume, epochs, max_steps, devices, sets):
    """Train a quality classifier on annotations: an encoder with a regression head (MSE on the
    score), evaluated on a held-out split against majority-class and length-only baselines,
    with a keep threshold calibrated on the validation split. Writes model/ (safetensors),
    metrics.json, confusion_matrix.png, score_distribution.png and a model card README.md.

    With several --config, one encoder learns every task (a head each; a document sits in the
    same split for all of them), and scoring them all costs one encoder pass: each task's
    plots, fluency model and card go to OUTPUT/<task>/.

    \b
    --set base_model=classifiers/linguistic_quality starts from a classifier this command
    trained: its encoder, and its head for its own task (make joint does this); with
    --set training.freeze_encoder=true only the other tasks' heads learn and its task keeps
    its scores exactly."""
    require_extra("train")
    from curate.classify.config import load_classifier_config
    from curate.classify.train import default_output, train_classifier
    from curate.classify.trained import parse_metrics

    training = {
        k: v
        for k, v in (("epochs", epochs), ("max_steps", max_steps), ("devices", devices))
        if v is not None
    }
    configs = [load_classifier_config(p, sets, training=training) for p in config_paths]
    out_dir = out_dir or default_output(configs)
    metrics = train_classifier(configs, annotations, corpus, out_dir, resume=resume)
    for task in parse_metrics(metrics).tasks:
        effect, baselines = task.record["threshold"]["test"], task.record["baselines_test"]
        policy = task.threshold_policy
        _print_metrics(task.task, "the test split", task.test, effect, policy, baselines)
    console.print(f"model, metrics, plots and model card in {out_dir}/")


def _print_metrics(
    task: str,
    where: str,
    figures: dict,
    effect: dict,
    policy: str | None = None,
    baselines: dict | None = None,
) -> None:
    """A classifier's figures on labelled documents (beside its baselines, where there are any)
    and what its threshold keeps of them: `train` and `evaluate` print the same."""
    from curate.classify.trained import HEADLINE

    table = Table(title=f"{task} on {where} (n = {figures['n']})")
    for col in ("model", "macro-F1", "MSE", "Spearman", "accuracy"):
        table.add_column(col)
    for name, row in [("classifier", figures), *(baselines or {}).items()]:
        table.add_row(name, *(f"{row[k]:.3f}" for k in HEADLINE))
    console.print(table)
    chosen = f" ({policy})" if policy else ""
    console.print(
        f"threshold {effect['threshold']:.3f}{chosen}: keeps {effect['keep_rate']:.1%} of them, "
        f"precision {effect['precision']:.2f}, recall {effect['recall']:.2f}"
    )


@cli.command()
@click.argument("inputs", nargs=-1, type=click.Path(exists=True))
@click.option(
    "-o",
    "--output",
    "out_dir",
    required=True,
    type=click.Path(file_okay=False),
    help="Folder for documents.jsonl.gz and one <task>.jsonl of annotation records per task.",
)
@click.option(
    "--donors",
    multiple=True,
    type=click.Path(exists=True),
    help="Documents in other languages, for the language_mix damage (repeatable).",
)
@click.option(
    "--reference",
    "reference",
    is_flag=True,
    help="Use the reference corpus (../shared/reference or $CURATE_REFERENCE): its nb/nn prose "
    "of the train and validation splits as clean text (split kept in metadata), its sv/da/fi "
    "documents of those splits as donors. The test split is never touched.",
)
@click.option(
    "--family",
    "families",
    multiple=True,
    type=click.Choice(sorted(FAMILY_NAMES)),
    help="Damage families to use (repeatable; default: all).",
)
@click.option("--copies", default=2, show_default=True, help="Damaged copies per clean document.")
@click.option(
    "--task",
    "tasks",
    multiple=True,
    type=click.Choice(known_tasks()),
    help="Tasks to label (repeatable; default: linguistic_quality). Each task file says the "
    "score of each damage family and of clean text (curate.tasks).",
)
@click.option(
    "--clean-score",
    type=int,
    default=None,
    help="Score of the clean documents [default: each task's clean_score; tasks without one "
    "leave clean text unlabelled].",
)
@click.option(
    "--weight",
    "weights",
    multiple=True,
    metavar="FAMILY=W",
    help="Pick FAMILY W times as often as the others (default 1; repeatable), e.g. "
    "word_shuffle=3 for the damage a classifier finds hardest.",
)
@click.option("--seed", default=0, show_default=True, help="Seed for damage and family choice.")
def synthesize(
    inputs, out_dir, donors, reference, families, copies, tasks, clean_score, weights, seed
):
    """Labelled training data without an LLM: clean text you trust (INPUTS) is labelled good,
    and damaged copies of it (word order scrambled, OCR noise, mojibake, boilerplate, keyword
    spam, fragments, other-language sentences, repetition, leftover markup) get the score the
    guidelines give that damage (annotations/guidelines.md). Writes a corpus and annotation
    records that `curate train --corpus OUT --annotations OUT` reads."""
    from curate.documents import read_documents
    from curate.reference import training_text
    from curate.synthesize import synthesize as run

    if bool(inputs) == reference:
        raise click.UsageError("give clean INPUTS or --reference, not both and not neither")
    if reference:
        clean, donor_texts = training_text()
    else:
        clean = list(read_documents(inputs))
        donor_texts = [d.text for d in read_documents(donors)] if donors else []
    try:
        weight_of = {k: float(v) for k, _, v in (w.partition("=") for w in weights)}
    except ValueError as err:
        raise click.ClickException(f"--weight expects FAMILY=NUMBER: {err}") from err
    summary = run(
        clean,
        out_dir,
        donor_texts,
        families or tuple(FAMILY_NAMES),
        copies,
        tasks or ("linguistic_quality",),
        clean_score,
        seed,
        weight_of,
    )
    labels = "; ".join(f"{t}: {dict(sorted(c.items()))}" for t, c in summary["labels"].items())
    console.print(
        f"{summary['clean']} clean documents, {summary['damaged']} damaged copies -> "
        f"{out_dir}/documents.jsonl.gz; labels by score: {labels}"
    )


@cli.command("evaluate")
@click.argument("model_dir", type=click.Path(exists=True, file_okay=False))
@click.argument("data", nargs=-1, required=True, type=click.Path(exists=True))
@click.option(
    "--annotations",
    multiple=True,
    required=True,
    type=click.Path(exists=True),
    help="Labels to evaluate against (repeatable).",
)
@click.option("--json", "as_json", is_flag=True, help="Print all metrics as JSON.")
def evaluate_cmd(model_dir, data, annotations, as_json) -> None:
    """Evaluate the classifier in MODEL_DIR (written by `curate train`) on the labelled
    documents in DATA."""
    require_extra("train")
    from curate.classify.evaluate import evaluate_classifier

    results = evaluate_classifier(model_dir, annotations, data)
    if as_json:
        click.echo(json.dumps(results[0] if len(results) == 1 else results, indent=2))
        return
    for m in results:
        _print_metrics(m["task"], "the labelled documents", m, m["threshold"])


@cli.command("export")
@click.argument("model_dir", metavar="MODEL")
@click.option(
    "-o",
    "--output",
    "out_dir",
    required=True,
    type=click.Path(file_okay=False),
    help="Bundle directory to write (replaced atomically).",
)
@click.option(
    "--data",
    multiple=True,
    type=click.Path(exists=True),
    default=("data/demo",),
    show_default=True,
    help="Documents for the parity check (repeatable).",
)
@click.option(
    "--parity-docs",
    type=int,
    default=300,
    show_default=True,
    help="How many documents (seeded sample) the parity check scores.",
)
@click.option(
    "--min-agreement",
    type=float,
    default=0.99,
    show_default=True,
    help="Refuse the bundle when int8 keep/drop agreement with torch is lower.",
)
@click.option(
    "--max-length",
    type=int,
    default=None,
    help="Token limit for scoring (default: the one the model was trained with).",
)
@click.option(
    "--torch-copy/--no-torch-copy",
    default=True,
    show_default=True,
    help="Also write the encoder as fp16 safetensors in torch/, for `curate score --device cuda`.",
)
@click.option(
    "--int8-down-projections/--fp32-down-projections",
    default=True,
    show_default=True,
    help="Quantise the feed-forward down-projections too, after SmoothQuant evens out their "
    "outlier activations (calibrated on other documents of --data than the parity check's): "
    "the int8 encoder runs 1.3-1.4x faster at 128 tokens. --fp32-down-projections keeps them "
    "fp32, as bundles before 2026-12 did (docs/classify.md).",
)
@click.option("--task", default=None, help="Published models: the score's name (metadata key).")
@click.option(
    "--scale",
    nargs=2,
    type=int,
    default=None,
    help="Published models: the score's range, e.g. --scale 0 5 [default: the classes' "
    "labels, or 0 5 for a regression head].",
)
@click.option("--threshold", type=float, default=None, help="Published models: keep threshold.")
def export_cmd(
    model_dir,
    out_dir,
    data,
    parity_docs,
    min_agreement,
    max_length,
    torch_copy,
    int8_down_projections,
    **published,
):
    """Export the classifier MODEL to an ONNX bundle: fused fp32 and int8 models, tokenizer,
    classifier.json (task, scale, threshold, sha256 of each file, parity figures), a model
    card and an fp16 torch copy. Runs with onnxruntime + tokenizers alone.

    MODEL is a folder written by `curate train`, or any transformers sequence-classification
    model (a folder or a hub id): a regression head (FineWeb-Edu's classifier, NbAiLab's
    nb-bert-base regressors) scores directly; a multi-class head scores the expected class
    value. For those give --task and --threshold (or set them in the model's config.json)."""
    require_extra("train")
    from curate.classify.bundle import read_manifest
    from curate.classify.export import CALIBRATION_DOCS, export_bundle, parity_sample

    sample = parity_sample(data, parity_docs + CALIBRATION_DOCS)
    texts, calibration = sample[:parity_docs], sample[parity_docs:]
    export_bundle(
        model_dir,
        out_dir,
        texts,
        min_agreement,
        max_length,
        torch_copy,
        int8_down_projections=int8_down_projections,
        calibration=calibration or None,
        **published,
    )
    manifest = read_manifest(out_dir)
    tasks = manifest.tasks
    for task, variant in itertools.product(tasks, ("fp32", "int8")):
        p = (task.parity or {})[variant]
        console.print(
            f"{task.task + ' ' if len(tasks) > 1 else ''}{variant}: max |Δ| "
            f"{p['max_abs_delta']:.4f}, mean |Δ| {p['mean_abs_delta']:.4f}, keep/drop "
            f"agreement {p['keep_agreement']:.2%} on {p['n']} documents"
        )
    console.print(f"fused: {manifest.document['fused_ops']}; bundle written to {out_dir}/")


@cli.command("cascade")
@click.argument("bundle", type=click.Path(exists=True, file_okay=False))
@click.option(
    "--corpus",
    "corpora",
    multiple=True,
    required=True,
    type=click.Path(exists=True),
    help="Documents like the ones the specs will filter, no labels needed (repeatable): the "
    "validation pages of your crawl, never the test pages you measure on. Each document's "
    "`lang` picks its language's band.",
)
@click.option(
    "--target",
    type=float,
    default=0.995,
    show_default=True,
    help="Share of the documents the full model keeps, and of those it drops, whose "
    "decision the cascade must match, per language and threshold, on these documents.",
)
def cascade_cmd(bundle, corpora, target):
    """Fit the cascade of BUNDLE and write it into its classifier.json: the lexical and fluency
    models judge every document, the encoder only those whose cheap score falls in a band
    around the threshold a score_filter applies (about a millisecond a document against
    twelve). The band is fitted per language and per threshold on the label scale so that
    keep/drop decisions match the full model's on --target of the documents; the agreement and
    the share reaching the encoder at each threshold travel in the bundle. A quality_scorer
    step uses it unless its spec says `cascade: false` (docs/filter.md)."""
    from curate.classify.bundle import read_manifest
    from curate.classify.cascade import fit_bundle
    from curate.classify.runtime import QualityClassifier
    from curate.documents import read_documents

    docs = list(read_documents(corpora))
    if not docs:
        raise click.UsageError(f"no documents in {', '.join(corpora)}")
    texts, langs = [d.text for d in docs], [d.lang for d in docs]
    fitted = fit_bundle(QualityClassifier.load(bundle), texts, langs, target, corpus=list(corpora))
    manifest = read_manifest(bundle)
    table = Table(
        "task", "language", "threshold", "agreement", "of kept", "held out", "margin", "encoder"
    )
    for task, cascade in fitted.items():
        for lang, threshold in manifest.task(task).language_thresholds().items():
            point = cascade.point(lang, threshold)
            table.add_row(
                task,
                f"{lang or 'other'} ({point['language']})",
                f"{threshold:.3f}",
                f"{point['agreement']:.2%}",
                f"{point['kept']:.2%}",
                f"{point['held_out']:.2%}",
                f"{point['margin']:.2f}",
                f"{point['encoder']:.1%}",
            )
    console.print(table)
    console.print(
        f"cascade fitted on {len(docs):,} documents, written to {bundle}/classifier.json; "
        "agreement and of kept: on the fitting documents; held out: five-fold cross-fitted, "
        "with the margin (label points on each side of the band) chosen by it; encoder: the "
        "share of the fitting documents the encoder judges"
    )


@cli.command()
@click.argument("inputs", nargs=-1, required=True, type=click.Path(exists=True))
@click.option(
    "--model",
    "models",
    multiple=True,
    required=True,
    type=click.Path(exists=True, file_okay=False),
    help="Classifier bundle (repeatable: one score per bundle's task).",
)
@click.option(
    "-o",
    "--output",
    required=True,
    type=click.Path(dir_okay=False),
    help="Output file: .jsonl, .jsonl.gz, .jsonl.zst or .parquet.",
)
@click.option(
    "--variant",
    type=click.Choice(["int8", "fp32"]),
    default="int8",
    show_default=True,
    help="Which ONNX model of the bundle to run.",
)
@click.option("--threads", type=int, default=None, help="onnxruntime intra-op threads.")
@click.option(
    "--device",
    type=click.Choice(["auto", "cpu", "cuda"]),
    default="auto",
    show_default=True,
    help="cpu: onnxruntime (--variant). cuda: the bundle's torch copy in half precision "
    "(needs torch with CUDA), else onnxruntime-gpu. auto: cuda where a GPU is visible.",
)
@click.option(
    "--batch-tokens",
    type=int,
    default=None,
    help="Token budget per batch (documents are length-sorted first) "
    "[default: 4096 on cpu, 131072 on cuda].",
)
@click.option(
    "--chunking",
    type=click.Choice(["first", "mean", "max"]),
    default="first",
    show_default=True,
    help="Long documents: score the first max_length tokens, or "
    "overlapping windows aggregated by mean or max.",
)
def score(inputs, models, output, variant, threads, device, batch_tokens, chunking) -> None:
    """Add classifier scores to every document in INPUTS: metadata[<task>] (float) and
    metadata[<task>_int] (rounded, clipped). Needs onnxruntime and tokenizers only."""
    from curate.classify.runtime import QualityClassifier
    from curate.classify.scoring import score_corpus

    classifiers = [
        QualityClassifier.load(
            m,
            variant=variant,
            intra_op_num_threads=threads,
            batch_tokens=batch_tokens,
            chunking=chunking,
            device=device,
        )
        for m in models
    ]
    summary, report = score_corpus(classifiers, inputs, output)
    kept = ", ".join(f"{task} >= threshold: {n:,}" for task, n in summary.kept.items())
    console.print(
        f"scored {summary.documents:,} documents in {summary.seconds:.1f}s "
        f"({summary.docs_per_s:,.0f} docs/s); {kept}; {summary.bad_rows} bad rows set "
        f"aside; written to {output}"
    )


@cli.command("filter")
@click.argument("spec_path", metavar="SPEC", type=click.Path(exists=True, dir_okay=False))
@click.option(
    "--executor",
    type=click.Choice(EXECUTORS),
    default=None,
    help="Where to run; overrides the spec's executor.type. Each uses the spec's section of "
    "the same name (local: tasks, workers; slurm: partition, time, cpus_per_task, ...; ray: "
    "tasks, cpus_per_task, address).",
)
@click.option(
    "--dry-run",
    is_flag=True,
    help="Slurm only: write the sbatch scripts and a submit.sh under OUTPUT/logs/slurm_dry_run "
    "instead of calling sbatch.",
)
@click.option(
    "--wait",
    is_flag=True,
    help="Slurm only: after submitting, follow the jobs to their end, merge the stats and exit "
    "non-zero naming the stages and tasks that failed (jobs that depend on a failed one are "
    "cancelled by Slurm, never left pending).",
)
@set_option("spec", "executor.local.workers=1")
@click.option(
    "--root",
    type=click.Path(file_okay=False),
    default=None,
    help="Refuse to run if any path in the spec (input, output, any file a step reads) "
    "resolves outside this folder: use it for specs written by someone else.",
)
@click.option(
    "--restart",
    is_flag=True,
    help="Remove the output folder's previous run (its kept, excluded and logs) and start over.",
)
def filter_cmd(spec_path, executor, dry_run, wait, sets, root, restart) -> None:
    """Run the datatrove pipeline described by SPEC (pipelines/*.yaml): read, identify
    language, apply heuristics, deduplicate, score, threshold, write kept and excluded documents
    and an HTML report. A rerun of the same spec with the same bundles skips finished tasks
    (datatrove's completions) and the merged stats cover every task ever run; a rerun into an
    output that holds a run of another spec or other bundles is refused (--restart)."""
    from curate.pipeline.build import run_filter

    run = run_filter(
        spec_path,
        sets,
        executor=executor,
        dry_run=dry_run,
        wait=wait,
        root=root,
        restart=restart,
        verbose=click.get_current_context().obj["verbose"],
        say=console.print,
    )
    layout, outcome = run.layout, run.outcome
    if outcome.state == "dry_run":
        console.print(f"sbatch scripts written; submit them with: bash {outcome.logs}")
    elif outcome.state == "submitted":
        console.print(
            f"submitted; logs and stats will be under {layout.logs} (rerun with --wait to "
            "follow the jobs; a rerun skips completed tasks)"
        )
    else:
        console.print(
            f"kept: {layout.kept}; excluded per step: {layout.excluded}; "
            f"stats: {outcome.logs / 'stats.json'}; report: {run.report}"
        )


@cli.command("init-tiny-lm")
@click.option(
    "--corpus",
    "corpus",
    multiple=True,
    default=["data/demo"],
    show_default=True,
    type=click.Path(exists=True),
    help="Files or folders to train the byte-level BPE tokenizer on.",
)
@click.option("-o", "--output", default="models/tiny-llama", show_default=True, type=click.Path())
@click.option("--vocab-size", default=4096, show_default=True, type=int)
@click.option("--hidden-size", default=128, show_default=True, type=int)
@click.option("--layers", default=4, show_default=True, type=int)
def init_tiny_lm(corpus, output, vocab_size, hidden_size, layers) -> None:
    """Build the demo causal LM: a byte-level BPE tokenizer trained on CORPUS with Llama 3's
    special tokens and a {% generation %}-tagged chat template, and a tiny Llama with random
    weights. Real runs pass --model <hub id or path> to pretrain/sft/dpo instead."""
    require_extra("lm")
    from curate.lm.tokenizer import init_tiny

    path = init_tiny(list(corpus), output, vocab_size, hidden_size=hidden_size, layers=layers)
    console.print(f"tiny Llama and tokenizer written to {path}")


@cli.command("translate", cls=ConfigCommand, config=ANNOTATE_CONFIG)
@click.argument("inputs", nargs=-1, required=True, type=click.Path(exists=True))
@click.option(
    "--to",
    "target",
    required=True,
    type=click.Choice(sorted(TARGETS)),
    help="Language to translate into.",
)
@click.option(
    "--from",
    "source",
    type=click.Choice(sorted(SOURCES)),
    default="en",
    show_default=True,
    help="Source language.",
)
@click.option(
    "-o",
    "--output",
    required=True,
    type=click.Path(dir_okay=False),
    help="Translated rows (jsonl); beside it <name>.failures.jsonl and the cache <name>.cache/.",
)
@llm_options(
    "Translation",
    fake_help="Its 'translation' is the source text, marked stand_in on every row; the "
    "language and residue checks are off.",
    batch_help="A rerun polls the same jobs and never submits a text twice.",
)
@click.option(
    "--settings",
    "settings_path",
    type=click.Path(exists=True, dir_okay=False),
    help="Prompt and check settings (default: curate/resources/translate/translate.yaml).",
)
@set_option("backend config", "generation.temperature=0.2")
def translate_cmd(**options) -> None:
    """Translate SFT rows ({"messages": [...]}) and DPO rows ({"prompt", "chosen",
    "rejected"}) in INPUTS with an LLM, as Poro-34B-chat and Poro 2 built their Finnish data.

    Each text of a row is one request (roles and turns are kept by construction); every
    translation is checked (code blocks, inline code, lists, headings, placeholders, markup
    and URLs kept; the target language identified; length ratio; no untranslated residue; no
    refusal) and a row is written only when all its texts pass. Failures go, with their
    reasons, to <output>.failures.jsonl. Resumable like `curate annotate`: finished texts are
    never requested again, and costs add up in <output>.cache/usage.json.
    """
    require_extra("annotate")
    from curate.posttrain.translate_cli import run_translate

    run_translate(console=console, **options)


@cli.command("mix", cls=ConfigCommand, config=MIX_CONFIG)
@click.argument("config_path", metavar="CONFIG", type=click.Path(exists=True, dir_okay=False))
@click.option("-o", "--output", default=None, help="Output folder; overrides the config.")
@set_option("mix config", "clusterclip.clusters=10")
def mix_cmd(config_path, output, sets) -> None:
    """Build a training mixture from the datasets in CONFIG (YAML; lm/mix.demo.yaml shows
    every key), as Ahma-3B-Instruct mixed its SFT data.

    Per-dataset upsampling (2.8: every row twice, then 80% of them once more, drawn without
    replacement), prompt dedup across datasets, a seeded eval split taken before upsampling,
    and as options ClusterClip sampling (embeddings, KMeans, draws balanced across clusters,
    each row at most `clip` times; upsampling then sets the mixture's size only) and a
    length curriculum (four length bins, rising, a share of short rows throughout; train with
    data.shuffle: false to keep the order, and data.val: the eval file). Writes
    OUTPUT/train.jsonl, eval.jsonl, mix_table.md/.json and, with ClusterClip,
    cluster_sizes.png. SFT, DPO and plain-text ({"text"}) rows are all accepted.
    """
    from curate.posttrain.mix import MixConfig, cluster_markdown, mix, table_markdown, write_mix

    config = MixConfig.load(config_path, sets, output=output)
    if config.clusterclip is not None:
        require_extra("lm")  # ClusterClip's KMeans is scikit-learn's
    result = mix(config)
    files = write_mix(result, config)
    console.print(table_markdown(result.table), markup=False, highlight=False)
    if result.clusterclip is not None:
        console.print(cluster_markdown(result.clusterclip), markup=False, highlight=False)
    console.print(
        f"{len(result.train):,} train rows, {len(result.eval):,} eval rows; "
        + ", ".join(files.values()),
        markup=False,
        highlight=False,
    )


def lm_command(stage: str):
    @click.option(
        "--config",
        "config_path",
        required=True,
        type=click.Path(exists=True, dir_okay=False),
        help="LM config (lm/*.yaml).",
    )
    @config_option("--model", config=LM_CONFIG, key="model")
    @config_option("-o", "--output", config=LM_CONFIG, key="output")
    @click.option("--resume", is_flag=True, help="Continue from OUTPUT/checkpoints/last.ckpt.")
    @config_option("--max-steps", type=int, config=LM_CONFIG, key="training.max_steps")
    @config_option("--devices", config=LM_CONFIG, key="training.devices")
    @config_option("--precision", config=LM_CONFIG, key="training.precision")
    @set_option("config", "training.batch_size=4")
    def command(config_path, model, output, resume, max_steps, devices, precision, sets) -> None:
        require_extra("lm")
        from curate.lm.config import LMConfig
        from curate.lm.train import run

        config = LMConfig.for_stage(
            stage,
            config_path,
            sets,
            model=model,
            output=output,
            **{
                "training.max_steps": max_steps,
                "training.devices": devices,
                "training.precision": precision,
            },
        )
        summary = run(config, resume=resume)
        metrics = ", ".join(f"{k} {v:.4g}" for k, v in sorted(summary["metrics"].items()))
        console.print(
            f"{stage}: {summary['steps']} steps; {metrics}; "
            f"{summary['train_tokens_per_s'] or 0:,.0f} tokens/s; model: {summary.get('model_dir')}"
        )

    return command


PRETRAIN_HELP = """Continued pretraining: tokenize the corpus once (cached), pack documents
into blocks with per-document position ids (no attention across documents), train with AdamW,
warmup + decay, clipping and loss normalised by target tokens; save_pretrained at the end."""
SFT_HELP = """Supervised fine-tuning on chat data (jsonl of `messages`): loss on assistant
tokens only, from the chat template's {% generation %} marks; fails if the template marks none."""
DPO_HELP = """Direct preference optimisation on (prompt, chosen, rejected) rows: sigmoid loss with
beta, reference log-probs computed once from the starting model; logs reward margins and
preference accuracy."""
for _stage, _help in (("pretrain", PRETRAIN_HELP), ("sft", SFT_HELP), ("dpo", DPO_HELP)):
    cli.command(_stage, help=_help, cls=ConfigCommand, config=LM_CONFIG)(lm_command(_stage))


@cli.command("ablate", cls=ConfigCommand, config=ABLATION_CONFIG)
@click.argument("config_path", metavar="CONFIG", type=click.Path(exists=True, dir_okay=False))
@click.option("-o", "--output", default=None, help="Output folder; overrides the config's.")
@set_option("config", "seeds=[0,1,2]")
@click.option(
    "--restart",
    is_flag=True,
    help="Remove the output's previous ablation (filter runs, samples, runs) and start over.",
)
def ablate_cmd(config_path, output, sets, restart) -> None:
    """Train a small LM from scratch on each variant of CONFIG (lm/ablate.*.yaml): a filter spec
    with overrides, or a ready folder of documents. Every variant gets the same token budget
    (sampled with replacement where it has fewer tokens, as the table says) and every seed; each
    run is scored every `eval_every` steps on held-out tasks (perplexity per domain, minimal
    pairs, lm-evaluation-harness tasks when named and installed). Writes table.md, results.json,
    curves/ and report.html, with signal checks per task and each variant's difference from the
    first, beyond the seeds' noise or not. A rerun continues where a killed one stopped; a
    variant that fails is reported (exit code 1) and the others go on."""
    require_extra("lm")
    from curate.ablate.config import AblationConfig
    from curate.ablate.runner import run_ablation

    config = AblationConfig.load(config_path, sets, output=output)
    results = run_ablation(config, restart=restart)
    out = Path(config.output)
    console.print(f"ablation: {out / 'table.md'}, {out / 'report.html'}")
    failed = {n: v["failed"] for n, v in results["variants"].items() if v["failed"]}
    for name, why in failed.items():
        console.print(f"[red]variant {name} failed at {why['step']}: {why['error']}[/red]")
    if failed:
        sys.exit(1)


@cli.command()
@click.argument("out_dir", metavar="OUTPUT", type=click.Path(exists=True, file_okay=False))
def report(out_dir) -> None:
    """Write OUTPUT/report.html for a `curate filter` output folder: kept and dropped per step,
    retention per source and language, score histograms with thresholds, text samples."""
    from curate.pipeline.report import write_report

    console.print(f"report: {write_report(out_dir)}")


def main() -> None:
    cli(prog_name="curate")


if __name__ == "__main__":
    sys.exit(main())
