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
from curate.annotate.runner import AnnotationSummary, Annotator, Budget, Group, run_requests
from curate.annotate.store import read_jsonl
from curate.config import load
from curate.documents import Document, ReadReport, iter_raw_rows, list_input_files, write_atomic
from curate.errors import InputError, MissingInput
from curate.package_files import package_file
from curate.posttrain.translation_checks import CheckSettings, translation_problems

logger = logging.getLogger(__name__)
TARGETS = {"fi": "Finnish", "nb": "Norwegian Bokmål", "nn": "Norwegian Nynorsk",
           "sv": "Swedish", "da": "Danish"}  # fmt: skip
SOURCES = {"en": "English", **TARGETS, "de": "German", "is": "Icelandic"}
Path_ = tuple[Any, ...]  # where a text sits in a row: ("messages", 2, "content"), ("chosen",)


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


def row_texts(row: Any) -> tuple[str, list[Path_]] | str:
    """(kind, where each text sits) for an SFT or DPO row, or the reason it is neither."""
    if not isinstance(row, dict):
        return "not a JSON object"
    if "messages" in row:
        messages = row["messages"]
        if not isinstance(messages, list) or not messages:
            return "messages is not a non-empty list"
        for m in messages:
            if not isinstance(m, dict) or not isinstance(m.get("content"), str):
                return "a message without text content"
        return "sft", [("messages", i, "content") for i in range(len(messages))]
    if all(k in row for k in ("prompt", "chosen", "rejected")):
        if not isinstance(row["chosen"], str) or not isinstance(row["rejected"], str):
            return "chosen and rejected must be strings"
        prompt = row["prompt"]
        if isinstance(prompt, str):
            paths: list[Path_] = [("prompt",)]
        elif isinstance(prompt, list) and all(
            isinstance(m, dict) and isinstance(m.get("content"), str) for m in prompt
        ):
            paths = [("prompt", i, "content") for i in range(len(prompt))]
        else:
            return "prompt is neither text nor a list of messages"
        return "dpo", [*paths, ("chosen",), ("rejected",)]
    return "neither an SFT row (messages) nor a DPO row (prompt, chosen, rejected)"


def get_at(row: dict, path: Path_) -> Any:
    for key in path:
        row = row[key]
    return row


def set_at(row: dict, path: Path_, value: str) -> None:
    for key in path[:-1]:
        row = row[key]
    row[path[-1]] = value


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
    rows_failed: int = 0
    rows_pending: int = 0  # texts not requested yet (budget, stop): the next run does them
    bad_rows: int = 0
    failure_reasons: Counter = field(default_factory=Counter)
    output: str = ""
    failures_output: str = ""
    checks_off: list[str] = field(default_factory=list)


def read_rows(inputs: list[str | Path]) -> tuple[list[tuple[str, Any]], ReadReport]:
    files = list_input_files(inputs)
    if not files:
        raise MissingInput(f"no input files under {[str(p) for p in inputs]}")
    report = ReadReport()
    rows = [(f"{f}:{n}", row) for f in files for n, row in iter_raw_rows(f, report)]
    return rows, report


def row_id(where: str, row: dict) -> str:
    return str(row.get("id") or where)


def plan_texts(rows, source: str) -> tuple[list[Document], dict[str, list[Path_]], dict]:
    """One Document per text to translate (id `<row id>#<n>`), the paths per row, and the
    rows that are neither SFT nor DPO with their reason."""
    docs, paths, bad = [], {}, {}
    for where, row in rows:
        found = row_texts(row)
        if isinstance(found, str):
            bad[where] = found
            continue
        rid = row_id(where, row)
        if rid in paths:
            bad[where] = f"repeats the id {rid!r} of an earlier row"
            continue
        paths[rid] = found[1]
        for n, path in enumerate(found[1]):
            docs.append(Document(f"{rid}#{n}", get_at(row, path), lang=source, source=where))
    return docs, paths, bad


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
    docs, paths, bad = plan_texts(rows, source)
    prompt = settings.prompt(source, target)
    config = translate_config(config, settings)
    too_long = [d for d in docs if len(d.text) > settings.max_document_chars]
    docs = [d for d in docs if len(d.text) <= settings.max_document_chars]
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
    write_rows(rows, paths, bad, too_long, cache, prompt, target, output, result)
    return result


def translate_config(config: AnnotateConfig, settings: TranslateSettings) -> AnnotateConfig:
    generation = {**config.generation, **settings.generation}
    return dataclasses.replace(
        config,
        generation=generation,
        response_schema="translation",
        max_document_chars=settings.max_document_chars,
    )


def write_rows(rows, paths, bad, too_long, cache, prompt, target, output, result) -> None:
    """Rows whose every text has a translation, in input order; the others with reasons."""
    done = {r["id"]: r for r in read_jsonl(cache / f"{prompt.task}.jsonl")}
    failed: dict[str, str] = {}
    for r in read_jsonl(cache / f"{prompt.task}.failures.jsonl"):
        if r["id"] not in done:
            failed[r["id"]] = r["reason"]
    for d in too_long:
        failed[d.id] = f"text longer than max_document_chars ({len(d.text)} characters)"
    written, failures = [], []
    for where, row in rows:
        if where in bad:
            failures.append({"where": where, "reason": bad[where]})
            continue
        rid = row_id(where, row)
        texts = [f"{rid}#{n}" for n in range(len(paths[rid]))]
        reasons = {t: failed[t] for t in texts if t in failed}
        missing = [t for t in texts if t not in done and t not in reasons]
        if reasons:
            failures.append({"id": rid, "where": where, "reasons": reasons})
            for reason in reasons.values():
                result.failure_reasons.update(reason_kinds(reason))
            continue
        if missing:
            result.rows_pending += 1
            continue
        written.append(translated_row(row, rid, paths[rid], [done[t] for t in texts], target))
    result.rows_written, result.rows_failed = len(written), len(failures)
    output.parent.mkdir(parents=True, exist_ok=True)
    lines = "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in written)
    write_atomic(output, lines)
    failures_path = output.with_name(output.name.removesuffix(".jsonl") + ".failures.jsonl")
    write_atomic(failures_path, "".join(json.dumps(f, ensure_ascii=False) + "\n" for f in failures))
    result.output, result.failures_output = str(output), str(failures_path)


def reason_kinds(reason: str) -> list[str]:
    """ "length ratio 3.10 outside bounds; language: en, not nb" -> its kinds, for counting."""
    return [re.sub(r" [\d.]+%?", "", part.split(":")[0]) for part in reason.split("; ")]


def translated_row(row: dict, rid: str, paths: list[Path_], records: list[dict], target: str):
    out = copy.deepcopy(row)
    for path, record in zip(paths, records, strict=True):
        set_at(out, path, record["translation"])
    out["id"] = f"{rid}-{target}"
    out["lang"] = target
    out["translation"] = {
        "source_id": rid,
        "source_lang": records[0]["task"].split("_")[1],
        "model": records[0]["model"],
        "stand_in": records[0]["model"] == FAKE_MODEL,
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
