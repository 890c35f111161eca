"""`curate ablate`: for each variant, its documents (a `curate filter` run, cached by the spec's
run identity, or a ready folder); for each seed, a sample at the token budget and a small LM
trained from scratch on it with `curate pretrain`, scored on the held-out tasks every
`eval_every` steps. Everything is resumable: a finished filter run, sample, training run or
scored checkpoint is never redone, and a killed training run continues from its last checkpoint.
A variant that fails is recorded with its error and the others go on."""

from __future__ import annotations

import hashlib
import json
import logging
import shutil
import traceback
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import pytorch_lightning as pl

from curate.ablate.budget import EmptyVariant, Sample, read_sample, sample_documents
from curate.ablate.config import AblationConfig, VariantConfig
from curate.ablate.evaluate import score_model
from curate.ablate.harness import require_harness
from curate.ablate.layout import AblationLayout, append_eval, read_evals
from curate.ablate.tasks import TasksConfig, TaskSet, task_set
from curate.atomic import atomic_path, write_atomic
from curate.errors import CurateError
from curate.run_identity import as_recorded
from curate.run_identity import claim as claim_record

log = logging.getLogger(__name__)
RECORD_VERSION = "1"
VAL_FRACTION = 0.01  # curate pretrain's validation split, taken off the sample's end


class AblationChanged(CurateError, ValueError):
    pass


@dataclass
class VariantOutcome:
    name: str
    documents: str | None = None  # where its documents are (kept/ of a filter run, or ready)
    samples: dict[int, dict] = field(default_factory=dict)  # seed -> Sample.to_dict()
    failed: dict[str, str] | None = None  # {"step": ..., "error": ...}


def identity(config: AblationConfig, tasks: TasksConfig) -> dict[str, Any]:
    """What makes runs comparable: changed, the finished runs would not be."""
    return as_recorded(
        {
            "version": RECORD_VERSION,
            "model": asdict(config.model),
            "training": asdict(config.training),
            "budget_tokens": config.budget_tokens,
            "eval_every": config.eval_every,
            "tasks": asdict(tasks),
        }
    )


def claim(layout: AblationLayout, wanted: dict[str, Any], restart: bool) -> None:
    if restart and layout.root.exists():
        if not layout.record.exists():
            raise AblationChanged(f"{layout.root} holds no curate ablation: not removed")
        shutil.rmtree(layout.root)
    changed = claim_record(layout.record, wanted, "give another output or --restart")
    if changed:
        raise AblationChanged(
            f"{layout.root} holds an ablation with other {', '.join(sorted(changed))}; its runs "
            "would not compare with new ones. Give another output or --restart."
        )


def tokenizer_for(config: AblationConfig, layout: AblationLayout, corpus: list[str]):
    """The shared tokenizer: the configured one, else a BPE tokenizer trained once on the
    unfiltered input (the same for every variant, so perplexities compare)."""
    from transformers import AutoTokenizer

    from curate.lm.tokenizer import corpus_texts, train_tokenizer

    if config.model.tokenizer:
        return AutoTokenizer.from_pretrained(config.model.tokenizer)
    if not (layout.tokenizer / "tokenizer.json").exists():
        log.info("training the shared tokenizer on %s", corpus)
        tokenizer = train_tokenizer(corpus_texts(corpus), config.model.vocab_size)
        with atomic_path(layout.tokenizer) as tmp:
            tokenizer.save_pretrained(tmp)
    return AutoTokenizer.from_pretrained(layout.tokenizer)


def initial_model(config: AblationConfig, layout: AblationLayout, tokenizer, seed: int) -> Path:
    """Random weights for `seed`, written once: every variant starts from the same ones."""
    from curate.lm.export import save_model
    from curate.lm.tokenizer import tiny_llama

    path = layout.init(seed)
    if not (path / "config.json").exists():
        m = config.model
        model = tiny_llama(tokenizer, m.hidden_size, m.layers, m.heads, seed=seed)
        save_model(model, tokenizer, path)
    return path


def spec_document(config: AblationConfig, variant: VariantConfig) -> tuple[str, dict]:
    from curate.config import apply_sets, set_key
    from curate.pipeline.spec import read_spec

    path = variant.spec or config.spec
    document = read_spec(path)
    if config.input:
        document["input"]["path"] = config.input
    if variant.first_steps is not None:
        steps = list(document.get("steps") or [])
        if variant.first_steps > len(steps):
            raise CurateError(
                f"variant {variant.name}: first_steps {variant.first_steps}, but {path} has "
                f"{len(steps)} steps"
            )
        document["steps"] = steps[: variant.first_steps]
    overrides = variant.overrides()
    where = f"variant {variant.name} (set)"
    if isinstance(overrides, dict):
        for key, value in overrides.items():
            set_key(document, key, value, where)
    else:
        apply_sets(document, overrides, where)
    return f"{path} + variant {variant.name}", document


def filter_variant(config: AblationConfig, layout: AblationLayout, variant: VariantConfig) -> Path:
    """The variant's kept documents: a `curate filter` run in filter/<digest of its run
    identity>/, reused when done, resumed by datatrove when it was cut short."""
    from curate.pipeline.build import parse, run_and_report, run_identity
    from curate.pipeline.executors import RUNNERS
    from curate.pipeline.layout import RunLayout

    where, document = spec_document(config, variant)
    spec = parse(document, where)
    kind, settings = spec.executor_settings()
    digest = hashlib.sha256(
        json.dumps(run_identity(spec, settings), sort_keys=True).encode()
    ).hexdigest()[:12]
    folder = layout.filter_run(digest)
    done = folder / ".done"
    if not done.exists():
        document["output"]["path"] = str(folder)
        log.info("variant %s: filtering into %s", variant.name, folder)
        # a queueing executor's run (Slurm) is followed to its end
        finished = run_and_report(parse(document, where), wait=RUNNERS[kind].queues)
        if finished.outcome.state != "done":
            raise CurateError(f"filter run in {folder} ended {finished.outcome.state}")
        done.touch()
    kept = RunLayout.of(folder).kept
    if not any(kept.glob("*")):
        raise EmptyVariant(
            f"the filter kept no documents; where they went: {RunLayout.of(folder).report}"
        )
    return kept


def variant_documents(
    config: AblationConfig, layout: AblationLayout, variant: VariantConfig
) -> list[str]:
    if variant.documents:
        return list(variant.documents)
    return [str(filter_variant(config, layout, variant))]


class CheckpointScorer(pl.Callback):
    """Scores the model on the task set at step 0, every `every` steps and at the last step,
    before the checkpoint of that step is written (Lightning runs checkpoint callbacks last), so
    a resumed run never lacks the score of a step it checkpointed."""

    def __init__(self, tasks: TaskSet, tokenizer, every: int, last: int, window: int, path: Path):
        self.tasks, self.tokenizer, self.every, self.last = tasks, tokenizer, every, last
        self.window, self.path = window, path
        self.scored = {row["step"] for row in read_evals(path)}

    def score(self, trainer: pl.Trainer, module) -> None:
        step = trainer.global_step
        if step in self.scored or not trainer.is_global_zero:
            return
        scores = score_model(module.model, self.tokenizer, self.tasks)
        append_eval(self.path, {"step": step, "tokens": step * self.window, "scores": scores})
        self.scored.add(step)

    def on_train_start(self, trainer, module) -> None:
        if trainer.global_step == 0:
            self.score(trainer, module)

    def on_train_batch_end(self, trainer, module, outputs, batch, batch_idx) -> None:
        step = trainer.global_step
        if step % self.every == 0 or step >= self.last:
            self.score(trainer, module)


def run_seed(
    config: AblationConfig,
    layout: AblationLayout,
    variant: str,
    seed: int,
    init: Path,
    tokenizer,
    tasks: TaskSet,
) -> None:
    """One training run: curate pretrain from the seed's initial weights on the sample,
    resumed from its last checkpoint when one is there; skipped when finished."""
    from curate.lm.config import DataConfig, LMConfig, TrainingConfig
    from curate.lm.layout import LMRunLayout
    from curate.lm.train import run

    out = layout.run(variant, seed)
    scored = {row["step"] for row in read_evals(layout.evals(variant, seed))}
    if LMRunLayout(out).finished() and config.steps in scored:
        return
    t = config.training
    lm = LMConfig(
        stage="pretrain",
        model=str(init),
        output=str(out),
        data=DataConfig(
            train=[str(layout.sample(variant, seed))],
            max_length=t.max_length,
            val_fraction=VAL_FRACTION,
            cache_dir=str(LMRunLayout(out).token_cache),
        ),
        training=TrainingConfig(
            **{k: v for k, v in asdict(t).items() if k != "max_length"},  # max_length: data's
            max_steps=config.steps,
            seed=seed,
            checkpoint_every_n_steps=config.eval_every,
            val_every_n_steps=None,
        ),
    )
    window = t.window_tokens
    scorer = CheckpointScorer(
        tasks, tokenizer, config.eval_every, config.steps, window, layout.evals(variant, seed)
    )
    resume = LMRunLayout(out).last_checkpoint.exists()
    log.info(
        "variant %s seed %d: training %d steps%s",
        variant,
        seed,
        config.steps,
        " (resumed)" if resume else "",
    )
    run(lm, resume=resume, callbacks=[scorer])


def needed_tokens(config: AblationConfig) -> int:
    """Tokens a sample must hold: the budget's full windows, the validation split curate
    pretrain takes off the end, and a block of slack for the last, partly filled block."""
    blocks = config.trained_tokens // config.training.max_length
    return int((blocks / (1 - VAL_FRACTION) + 2) * config.training.max_length)


def current_sample(
    layout: AblationLayout, variant: str, seed: int, sources: list[str]
) -> Sample | None:
    """The sample drawn before, unless the variant now draws from other documents (its spec
    or folders changed under the same name): then that sample and its run are discarded."""
    sample = read_sample(layout.sample(variant, seed))
    if sample is None or sample.sources == sources:
        return sample
    log.warning(
        "variant %s now draws from %s, not %s: its seed %d is drawn and trained again",
        variant,
        sources,
        sample.sources,
        seed,
    )
    layout.sample(variant, seed).unlink()
    shutil.rmtree(layout.run(variant, seed), ignore_errors=True)
    return None


def run_variant(
    config: AblationConfig, layout: AblationLayout, variant: VariantConfig, shared: dict
) -> VariantOutcome:
    outcome = VariantOutcome(variant.name)
    step = "filter"
    try:
        sources = variant_documents(config, layout, variant)
        outcome.documents = sources[0]
        for seed in config.seeds:
            step = f"sample (seed {seed})"
            target = layout.sample(variant.name, seed)
            sample = current_sample(layout, variant.name, seed, sources) or sample_documents(
                sources, shared["tokenizer"], needed_tokens(config), seed, target
            )
            outcome.samples[seed] = sample.to_dict()
            step = f"train (seed {seed})"
            run_seed(
                config,
                layout,
                variant.name,
                seed,
                shared["init"][seed],
                shared["tokenizer"],
                shared["tasks"],
            )
    except CurateError as err:  # one variant's bad input never ends the ablation
        log.error("variant %s failed at %s: %s", variant.name, step, err)
        outcome.failed = {"step": step, "error": f"{type(err).__name__}: {err}"}
    except Exception as err:  # nor does a bug, but it keeps its traceback (log and results)
        log.exception("variant %s failed at %s (a bug, not the input): %s", variant.name, step, err)
        outcome.failed = {
            "step": step,
            "error": f"{type(err).__name__}: {err}",
            "traceback": traceback.format_exc(),
        }
    return outcome


def tokenizer_corpus(config: AblationConfig) -> list[str]:
    """What the shared tokenizer learns from: the spec's input, else the ready folders."""
    from curate.pipeline.spec import read_spec

    if config.input or config.spec:
        return [config.input or str(read_spec(config.spec)["input"]["path"])]
    return [p for v in config.variants for p in (v.documents or [])]


def run_ablation(config: AblationConfig, restart: bool = False) -> dict[str, Any]:
    """Every variant and seed, then the analysis and the report; returns the results."""
    from curate.ablate.report import write_outputs

    layout = AblationLayout(Path(config.output))
    tasks_config = TasksConfig.from_dict(config.tasks)
    require_harness(tasks_config)
    claim(layout, identity(config, tasks_config), restart)
    tasks = task_set(layout.tasks, tasks_config)
    tokenizer = tokenizer_for(config, layout, tokenizer_corpus(config))
    shared = {
        "tokenizer": tokenizer,
        "tasks": tasks,
        "init": {s: initial_model(config, layout, tokenizer, s) for s in config.seeds},
    }
    outcomes = [run_variant(config, layout, v, shared) for v in config.variants]
    failures = {o.name: o.failed for o in outcomes if o.failed}
    write_atomic(layout.failures, json.dumps(failures, indent=2))
    return write_outputs(config, layout, tasks, outcomes)
