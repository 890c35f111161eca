"""`curate translate`: SFT rows (`messages`) and DPO rows (`prompt`, `chosen`, `rejected`)
translated into a target language by an LLM, through the annotation runner (cache, resume after
kill, budget and cost totals, retries, fatal errors, batch mode).

Each text of a row (a message's content; the prompt, chosen and rejected replies) is one
request, so roles and turn count survive by construction and a text shared by many rows (a
system prompt) is paid for once. A translation is kept only if it passes every check
(curate.posttrain.translation_checks); a row is written only when all its texts are, else its
reasons go to the failures file. Nothing is dropped silently."""

from __future__ import annotations

import copy
import dataclasses
import json
import logging
import re
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from curate.annotate.backends import Answer
from curate.annotate.cli_support import FAKE_MODEL
from curate.annotate.config import AnnotateConfig
from curate.annotate.prompts import Prompt
from curate.annotate.runner import (
    AnnotationSummary,
    Annotator,
    Budget,
    Group,
    request_key,
    run_requests,
)
from curate.annotate.store import read_jsonl
from curate.annotations import failures_file, records_file
from curate.atomic import write_atomic
from curate.config import load
from curate.documents import Document, ReadReport, text_sha256
from curate.errors import InputError
from curate.lm.rows import TextPath, get_text, read_rows, row_texts, set_text
from curate.package_files import package_file
from curate.posttrain.languages import SOURCES, TARGETS
from curate.posttrain.translation_checks import CheckSettings, translation_problems

logger = logging.getLogger(__name__)


@dataclass
class TranslateSettings:
    """curate/resources/translate/translate.yaml, or the user's copy (--settings)."""

    version: int
    template: str
    generation: dict[str, Any] = field(default_factory=dict)
    max_document_chars: int = 20000
    checks: CheckSettings = field(default_factory=CheckSettings)

    @classmethod
    def load(cls, path: str | Path | None = None, sets=()) -> TranslateSettings:
        return load(cls, path or package_file("translate", "translate.yaml"), sets)

    def prompt(self, source: str, target: str) -> Prompt:
        """The runner's prompt: its task name names the language pair, so each pair has its
        own cache file and cost line."""
        template = self.template.replace("{source}", SOURCES[source])
        template = template.replace("{target}", TARGETS[target])
        return Prompt(f"translate_{source}_{target}", self.version, "en", template, (0, 0))


def parse_translation(text: str) -> tuple[str | None, str | None]:
    """(translation, None) from the JSON answer, or (None, the reason it is unusable)."""
    try:
        data = json.loads(text)
    except json.JSONDecodeError:
        return None, "unparseable answer: not JSON"
    if not isinstance(data, dict) or not isinstance(data.get("translation"), str):
        return None, "unparseable answer: no translation string"
    return data["translation"], None


class Translator(Annotator):
    """The runner's Annotator with a translation as the result: parsed, checked, stored."""

    checks: CheckSettings
    target: str

    def settle(self, group: Group, answer: Answer, attempts: int, **extra) -> None:
        self.account(answer)
        reason = self.answer_problem(answer)
        translation = None
        if reason is None:
            translation, reason = parse_translation(answer.text)
        if reason is None:
            problems = translation_problems(
                group.docs[0].text, translation, self.target, self.checks
            )
            reason = "; ".join(problems) or None
        if reason is not None:
            for d in group.docs:
                self.fail(d, group, reason, attempts=attempts, answer=answer)
            return
        for d in group.docs:
            self.store.add(
                {
                    "id": d.id,
                    "task": self.prompt.task,
                    "cache_key": group.key,
                    "text_sha256": group.text_sha256,
                    "translation": translation,
                    "model": self.config.model,
                    "backend": self.backend.name,
                    "prompt_sha256": self.prompt.sha256,
                    "usage": {
                        "input_tokens": answer.input_tokens,
                        "output_tokens": answer.output_tokens,
                    },  # fmt: skip
                    **extra,
                }
            )
            self.summary.annotated += 1
            self.tick()


@dataclass
class TranslateResult:
    summary: AnnotationSummary
    rows_in: int = 0
    rows_written: int = 0
    rows_failed: int = 0  # a text failed its request or a check
    rows_pending: int = 0  # texts not requested yet (budget, stop): the next run does them
    bad_rows: int = 0  # unreadable, or neither SFT nor DPO as the LM stage reads them
    failure_reasons: Counter = field(default_factory=Counter)
    output: str = ""
    failures_output: str = ""
    checks_off: list[str] = field(default_factory=list)


@dataclass
class RowPlan:
    where: str
    row: dict
    rid: str
    paths: list[TextPath]
    keys: list[str | None]  # each text's cache key; None: a blank text, kept as it is


def row_id(where: str, row: dict) -> str:
    return str(row.get("id") or where)


def plan_rows(rows, source: str, prompt: Prompt, config: AnnotateConfig, max_chars: int):
    """A plan per usable row, one Document per text to request (id `<row id>#<n>`), a
    failure record per row the LM stage could not read, and the reason per cache key of each
    text too long to send."""
    plans, docs, bad, too_long = [], [], [], {}
    ids: set[str] = set()
    for where, row in rows:
        found = row_texts(row)
        rid = row_id(where, row) if isinstance(row, dict) else where
        if isinstance(found, str) or rid in ids:
            reason = found if isinstance(found, str) else f"repeats the id {rid!r}"
            bad.append({"where": where, "reason": reason})
            continue
        ids.add(rid)
        keys: list[str | None] = []
        for n, path in enumerate(found[1]):
            text = get_text(row, path)
            if not text.strip():
                keys.append(None)
                continue
            keys.append(request_key(config, prompt, text_sha256(text)))
            if len(text) > max_chars:
                too_long[keys[-1]] = f"text longer than max_document_chars ({len(text)} characters)"
                continue
            docs.append(Document(f"{rid}#{n}", text, lang=source, source=where))
        plans.append(RowPlan(where, row, rid, found[1], keys))
    return plans, docs, bad, too_long


def translate(
    inputs: list[str | Path],
    source: str,
    target: str,
    config: AnnotateConfig,
    output: str | Path,
    settings: TranslateSettings | None = None,
    batch: bool = False,
    progress: bool = True,
    budget: Budget | None = None,
) -> TranslateResult:
    """Translate every row of `inputs` into `target`; write the rows whose every text passed
    to `output` (atomically, rebuilt from the cache each run) and the others, with reasons,
    to `<output>.failures.jsonl`. The cache is `<output>.cache/`."""
    if target not in TARGETS:
        raise InputError(f"--to must be one of {sorted(TARGETS)}, got {target!r}")
    if source not in SOURCES or source == target:
        raise InputError(f"--from must be one of {sorted(SOURCES)} other than --to")
    settings = settings or TranslateSettings.load()
    output = Path(output)
    cache = output.with_name(output.name.removesuffix(".jsonl") + ".cache")
    rows, report = read_rows(inputs)
    prompt = settings.prompt(source, target)
    config = translate_config(config, settings)
    plans, docs, bad, too_long = plan_rows(
        rows, source, prompt, config, settings.max_document_chars
    )
    translator = type("BoundTranslator", (Translator,), {"checks": settings.checks,
                                                         "target": target})  # fmt: skip
    if batch:
        from curate.annotate.batch import annotate_batch

        summary = annotate_batch(docs, prompt.task, config, cache, progress, prompt, translator)
    else:
        summary = run_requests(docs, prompt, config, cache, translator, progress, budget)
    result = TranslateResult(summary, rows_in=len(rows) + report.bad_count)
    result.bad_rows = report.bad_count + len(bad)
    result.checks_off = list(settings.checks.skipped)
    bad += unreadable(report)
    # the runner's store repaired both files' tails when it opened them
    records, failures = records_file(cache, prompt.task), failures_file(cache, prompt.task)
    outcome = RowOutcome(read_jsonl(records), read_jsonl(failures), too_long)
    write_rows(plans, bad, outcome, source, target, output, result)
    return result


def unreadable(report: ReadReport) -> list[dict]:
    """Failure records for lines that are not JSON rows (the first examples, and a count)."""
    records = [{"where": f"{b.path}:{b.line}", "reason": b.reason} for b in report.bad_examples]
    if report.bad_count > len(records):
        records.append({"unreadable_rows_not_listed": report.bad_count - len(records),
                        "reasons": dict(report.bad_reasons)})  # fmt: skip
    return records


class RowOutcome:
    """What the cache holds per text (by cache key): a translation or a failure reason."""

    def __init__(self, records: list[dict], failures: list[dict], too_long: dict[str, str]):
        self.done = {r["cache_key"]: r for r in records if "cache_key" in r}
        self.failed = {
            r["cache_key"]: r["reason"] for r in failures if r.get("cache_key") not in self.done
        }
        self.failed.update(too_long)


def translate_config(config: AnnotateConfig, settings: TranslateSettings) -> AnnotateConfig:
    generation = {**config.generation, **settings.generation}
    return dataclasses.replace(
        config,
        generation=generation,
        response_schema="translation",
        max_document_chars=settings.max_document_chars,
    )


def write_rows(plans, bad, outcome: RowOutcome, source, target, output: Path, result) -> None:
    """Rows whose every text has a translation under its current cache key, in input order;
    the others with the reason of each text that failed; rows still pending are counted."""
    written, failures = [], list(bad)
    for plan in plans:
        reasons = {
            f"{plan.rid}#{n}": outcome.failed[k]
            for n, k in enumerate(plan.keys)
            if k is not None and k in outcome.failed
        }
        if reasons:
            failures.append({"id": plan.rid, "where": plan.where, "reasons": reasons})
            result.rows_failed += 1
            for reason in reasons.values():
                result.failure_reasons.update(reason_kinds(reason))
        elif any(k is not None and k not in outcome.done for k in plan.keys):
            result.rows_pending += 1
        else:
            written.append(translated_row(plan, outcome.done, source, target))
    result.rows_written = len(written)
    output.parent.mkdir(parents=True, exist_ok=True)
    write_atomic(output, "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in written))
    failures_path = output.with_name(output.name.removesuffix(".jsonl") + ".failures.jsonl")
    write_atomic(failures_path, "".join(json.dumps(f, ensure_ascii=False) + "\n" for f in failures))
    result.output, result.failures_output = str(output), str(failures_path)


def reason_kinds(reason: str) -> list[str]:
    """ "length ratio 3.10 outside bounds; language: en, not nb" -> its kinds, for counting."""
    return [re.sub(r" [\d.]+%?", "", part.split(":")[0]) for part in reason.split("; ")]


def translated_row(plan: RowPlan, done: dict[str, dict], source: str, target: str) -> dict:
    out = copy.deepcopy(plan.row)
    records = [done[k] for k in plan.keys if k is not None]
    for path, key in zip(plan.paths, plan.keys, strict=True):
        if key is not None:
            set_text(out, path, done[key]["translation"])
    out["id"] = f"{plan.rid}-{target}"
    out["lang"] = target
    model = records[0]["model"] if records else None
    out["translation"] = {
        "source_id": plan.rid,
        "source_lang": source,
        "model": model,
        "stand_in": model == FAKE_MODEL,
    }
    return out


def describe(result: TranslateResult) -> str:
    s = result.summary
    lines = [
        f"{result.rows_in} rows: {result.rows_written} translated -> {result.output}, "
        f"{result.rows_failed} failed -> {result.failures_output}, "
        f"{result.rows_pending} not finished (the next run continues), "
        f"{result.bad_rows} neither SFT nor DPO (in the failures file)",
        f"  texts: {s.selected} to translate, {s.cached} from the cache, {s.annotated} "
        f"translated now, {s.failed} failed; {s.requests} requests ({s.retries} retries), "
        f"cost ${s.cost_usd:.4f}",
    ]
    if result.failure_reasons:
        reasons = ", ".join(f"{k}: {v}" for k, v in result.failure_reasons.most_common())
        lines.append(f"  failed texts by reason: {reasons}")
    if result.checks_off:
        lines.append(f"  checks off: {', '.join(result.checks_off)}")
    return "\n".join(lines)
