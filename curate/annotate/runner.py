"""The annotation runner: sample, render, request concurrently within rate limits, retry with
backoff, parse, store. Every document ends as exactly one annotation or one failure record."""

from __future__ import annotations

import asyncio
import logging
import random
import time
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

from tqdm import tqdm

from curate.annotate.backends import (
    Answer,
    Backend,
    FatalBackendError,
    RequestFailed,
    RetryableError,
    make_backend,
)
from curate.annotate.config import AnnotateConfig, cache_key
from curate.annotate.parse import parse_answer
from curate.annotate.prompts import Prompt, load_prompt
from curate.annotate.store import USAGE_FIELDS, AnnotationStore, add_usage
from curate.annotations import AnnotationRecord
from curate.documents import Document, text_sha256
from curate.errors import CurateError

logger = logging.getLogger(__name__)


@dataclass
class AnnotationSummary:
    task: str
    selected: int = 0
    cached: int = 0
    annotated: int = 0
    failed: int = 0
    requests: int = 0
    retries: int = 0
    input_tokens: int = 0
    output_tokens: int = 0
    cost_usd: float = 0.0
    seconds: float = 0.0
    not_started: int = 0  # left for the next run (budget reached, or the run was stopped)
    given_up: int = 0  # failed in max_failed_runs runs already: not requested again
    duplicate_ids: int = 0
    failure_reasons: Counter = field(default_factory=Counter)
    parsed_by: Counter = field(default_factory=Counter)
    output: str = ""
    failures_output: str = ""
    all_runs: dict = field(default_factory=dict)  # usage.json totals after this run

    @property
    def requests_per_s(self) -> float:
        return self.requests / self.seconds if self.seconds else 0.0


class AnnotationStopped(CurateError):
    """The run stopped before its end (fatal backend error, interrupt); `summary` says what
    was done, `exit_code` what the command should return."""

    def __init__(self, reason: str, summary: AnnotationSummary, exit_code: int = 1):
        super().__init__(reason, exit_code)
        self.summary = summary


class Budget:
    """A cost cap shared by every task of one command: a request starts only if what is spent,
    what requests in flight may cost and what it may cost stay within `max_usd`."""

    def __init__(self, max_usd: float | None):
        self.max_usd, self.spent, self.reserved = max_usd, 0.0, 0.0
        self.refused = False

    def reserve(self, estimate: float) -> bool:
        if self.max_usd is not None and self.spent + self.reserved + estimate > self.max_usd:
            self.refused = True
            return False
        self.reserved += estimate
        return True

    def settle(self, estimate: float, actual: float) -> None:
        self.reserved -= estimate
        self.spent += actual


@dataclass
class Group:
    """Documents that share one text, so one cache key and one request."""

    key: str
    text_sha256: str
    docs: list[Document]


class RateLimiter:
    """Spaces request starts at least 60/rpm seconds apart (a smooth requests-per-minute cap)."""

    def __init__(self, requests_per_minute: float):
        self.interval = 60.0 / requests_per_minute
        self._next = 0.0
        self._lock = asyncio.Lock()

    async def wait(self) -> None:
        async with self._lock:
            now = time.monotonic()
            start = max(now, self._next)
            self._next = start + self.interval
        if start > now:
            await asyncio.sleep(start - now)


def request_key(config: AnnotateConfig, prompt: Prompt, text_sha256: str) -> str:
    """The cache key of one text's request: text, task, prompt, model, generation settings."""
    return cache_key(text_sha256, prompt.task, prompt.sha256, config.model, config.generation_key())


class Annotator:
    def __init__(
        self,
        config: AnnotateConfig,
        prompt: Prompt,
        backend: Backend,
        store: AnnotationStore,
        summary: AnnotationSummary,
        progress: tqdm,
        budget: Budget | None = None,
    ):
        self.config, self.prompt, self.backend = config, prompt, backend
        self.store, self.summary, self.progress = store, summary, progress
        self.budget = budget or Budget(config.max_cost_usd)
        self.limiter = RateLimiter(config.requests_per_minute)
        self.slots = asyncio.Semaphore(config.concurrency)  # requests in flight
        self.rng = random.Random()

    def key(self, sha: str) -> str:
        return request_key(self.config, self.prompt, sha)

    async def worker(self, queue: asyncio.Queue) -> None:
        while True:
            group = await queue.get()
            try:
                await self.annotate_group(group)
            finally:
                queue.task_done()

    def estimate_cost(self, prompt: str) -> float:
        """An upper bound for one attempt: ~3 characters per input token (Norwegian runs ~4),
        the whole output and thinking budget."""
        gen = self.config.generation
        output = int(gen.get("max_output_tokens", 512)) + int(gen.get("thinking_budget") or 0)
        return self.config.cost(len(prompt) // 3 + 1, output)

    async def annotate_group(self, group: Group) -> None:
        """One request for documents that share a text (duplicates are paid for once)."""
        doc = group.docs[0]
        text = doc.text[: self.config.max_document_chars]
        prompt = self.prompt.render(text, doc.lang)
        estimate = self.estimate_cost(prompt) * self.config.max_attempts
        if not self.budget.reserve(estimate):
            return  # counted as not started; the next run does it
        answer = None
        try:
            answer, attempts = await self.request_with_retries(prompt)
        except (RetryableError, RequestFailed) as err:
            for d in group.docs:
                self.fail(d, group, str(err), attempts=getattr(err, "attempts", 1))
            return
        finally:
            self.budget.settle(estimate, self.cost_of(answer))
        self.settle(group, answer, attempts)

    def settle(self, group: Group, answer: Answer, attempts: int, **extra) -> None:
        """An answer, online or from a batch job, ends as each document's annotation record
        (with `extra` fields) or failure record."""
        self.account(answer)
        reason = self.answer_problem(answer)
        if reason is None:
            parsed = parse_answer(answer.text, self.prompt.scale)
            reason = parsed.error
        if reason is not None:
            for d in group.docs:
                self.fail(d, group, reason, attempts=attempts, answer=answer)
            return
        self.summary.parsed_by[parsed.method] += 1
        truncated = len(group.docs[0].text) > self.config.max_document_chars
        for d in group.docs:
            record = self.record(
                d, group, parsed.score, parsed.rationale, parsed.method, answer, truncated
            )
            self.store.add({**record, **extra})
            self.summary.annotated += 1
            self.tick()

    async def request_with_retries(self, prompt: str) -> tuple[Answer, int]:
        cfg = self.config
        for attempt in range(1, cfg.max_attempts + 1):
            try:
                async with self.slots:  # held only while a request is in flight, not in backoff
                    await self.limiter.wait()
                    self.summary.requests += 1
                    answer = await asyncio.wait_for(self.backend.generate(prompt), cfg.timeout_s)
                return answer, attempt
            except TimeoutError:
                err: Exception = RetryableError(f"timeout after {cfg.timeout_s}s")
            except RetryableError as e:
                err = e
            except RequestFailed as e:
                e.attempts = attempt
                raise
            if attempt == cfg.max_attempts:
                final = RetryableError(f"{err} (gave up after {attempt} attempts)")
                final.attempts = attempt
                raise final from None
            self.summary.retries += 1
            await asyncio.sleep(self.backoff(attempt, err.retry_after))
        raise AssertionError("unreachable")

    def backoff(self, attempt: int, retry_after: float | None) -> float:
        """The server's retryDelay when it sends one (at most retry_after_max_s), else
        exponential backoff, with jitter."""
        cfg = self.config
        if retry_after is not None:
            retry_after = min(retry_after, cfg.retry_after_max_s)
            return retry_after + self.rng.uniform(0, 0.1 * retry_after + 0.05)
        ceiling = min(cfg.backoff_max_s, cfg.backoff_initial_s * 2 ** (attempt - 1))
        return self.rng.uniform(ceiling / 2, ceiling)

    @staticmethod
    def answer_problem(answer: Answer) -> str | None:
        if answer.block_reason:
            return f"prompt blocked: {answer.block_reason}"
        if answer.blocked:
            return f"answer blocked: finishReason {answer.finish_reason}"
        if answer.truncated:
            return f"answer truncated: finishReason {answer.finish_reason}"
        if answer.text is None:
            return f"no answer text (finishReason {answer.finish_reason})"
        return None

    def cost_of(self, answer: Answer | None) -> float:
        if answer is None:
            return 0.0
        return self.config.cost(answer.input_tokens, answer.output_tokens + answer.thinking_tokens)

    def account(self, answer: Answer) -> None:
        s = self.summary
        s.input_tokens += answer.input_tokens
        s.output_tokens += answer.output_tokens + answer.thinking_tokens
        s.cost_usd = self.config.cost(s.input_tokens, s.output_tokens)

    def record(
        self,
        doc: Document,
        group: Group,
        score: int,
        rationale: str,
        method: str,
        answer: Answer,
        truncated: bool,
    ) -> dict:
        return AnnotationRecord(
            id=doc.id,
            task=self.prompt.task,
            score=score,
            text_sha256=group.text_sha256,
            rationale=rationale,
            annotator={
                "backend": self.backend.name,
                "model": self.config.model,
                "prompt_sha256": self.prompt.sha256,
                "prompt_version": self.prompt.version,
                "instruction_language": self.prompt.instruction_language,
            },
            usage={
                "input_tokens": answer.input_tokens,
                "output_tokens": answer.output_tokens,
                "thinking_tokens": answer.thinking_tokens,
            },
            lang=doc.lang,
            source=doc.source,
            extra={
                "finish_reason": answer.finish_reason,
                "parsed_by": method,
                "document_truncated": truncated,
                "cache_key": group.key,
            },
        ).to_dict()

    def fail(
        self, doc: Document, group: Group, reason: str, attempts: int, answer: Answer | None = None
    ) -> None:
        self.store.add_failure(
            {
                "id": doc.id,
                "text_sha256": group.text_sha256,
                "task": self.prompt.task,
                "reason": reason,
                "attempts": attempts,
                "finish_reason": answer.finish_reason if answer else None,
                "answer_text": (answer.text or "")[:500] if answer else None,
                "model": self.config.model,
                "cache_key": group.key,
                "created": datetime.now(UTC).isoformat(timespec="seconds"),
            }
        )
        self.summary.failed += 1
        self.summary.failure_reasons[reason.split(":")[0]] += 1
        self.tick()

    def tick(self) -> None:
        s = self.summary
        self.progress.update(1)
        self.progress.set_postfix(
            cost=f"${s.cost_usd:.4f}", failed=s.failed, retries=s.retries, refresh=False
        )


def plan(
    docs: list[Document], annotator: Annotator, store: AnnotationStore, summary: AnnotationSummary
) -> list[Group]:
    """Group documents by cache key (each text hashed once); finished keys are not requested
    again. A document whose text was annotated under another id gets a copy, for free."""
    groups: dict[str, Group] = {}
    for doc in docs:
        sha = text_sha256(doc.text)
        key = annotator.key(sha)
        groups.setdefault(key, Group(key, sha, [])).docs.append(doc)
    todo = []
    limit = annotator.config.max_failed_runs
    for key, group in groups.items():
        if key not in store.first and limit and store.failed_runs[key] >= limit:
            summary.given_up += len(group.docs)
            continue
        if key not in store.first:
            todo.append(group)
            continue
        summary.cached += len(group.docs)
        for doc in group.docs:
            if (key, doc.id) not in store.ids:
                first = store.first[key]
                store.add(
                    {
                        **first,
                        "id": doc.id,
                        "lang": doc.lang,
                        "source": doc.source,
                        "copied_from": first["id"],
                    }
                )
    return todo


async def _run(groups: list[Group], annotator: Annotator, concurrency: int) -> None:
    queue: asyncio.Queue = asyncio.Queue()
    for group in groups:
        queue.put_nowait(group)
    workers = [asyncio.create_task(annotator.worker(queue)) for _ in range(concurrency)]
    try:
        done_waiting = asyncio.create_task(queue.join())
        # A worker only ends by raising (FatalBackendError): stop everything then.
        await asyncio.wait([done_waiting, *workers], return_when=asyncio.FIRST_COMPLETED)
        for w in workers:
            if w.done() and not w.cancelled() and w.exception() is not None:
                raise w.exception()
    finally:
        for w in workers:
            w.cancel()
        await asyncio.gather(*workers, return_exceptions=True)
        await annotator.backend.aclose()


def unique_ids(docs: Iterable[Document], summary: AnnotationSummary) -> list[Document]:
    """The first document of each id: a repeated id would give two records for one id."""
    seen: set[str] = set()
    unique = []
    for doc in docs:
        if doc.id in seen:
            summary.duplicate_ids += 1
            continue
        seen.add(doc.id)
        unique.append(doc)
    if summary.duplicate_ids:
        logger.warning(
            "%d documents repeat an id already seen: only the first of each is annotated",
            summary.duplicate_ids,
        )
    return unique


def annotate(
    docs: Iterable[Document],
    task: str,
    config: AnnotateConfig,
    out_dir: str | Path,
    progress: bool = True,
    budget: Budget | None = None,
) -> AnnotationSummary:
    """Annotate `docs` for `task`, skipping those already in `out_dir` (the cache). Raises
    AnnotationStopped (with the summary so far) when a fatal error or an interrupt ends it;
    documents a `budget` leaves out are counted in `not_started` for the next run."""
    prompt = load_prompt(task, config.instruction_language)
    return run_requests(docs, prompt, config, out_dir, Annotator, progress, budget)


def run_requests(
    docs: Iterable[Document],
    prompt: Prompt,
    config: AnnotateConfig,
    out_dir: str | Path,
    annotator_class: type[Annotator] = Annotator,
    progress: bool = True,
    budget: Budget | None = None,
) -> AnnotationSummary:
    """One request per distinct text of `docs` with `prompt`, cached in `out_dir` under the
    prompt's task name; `annotator_class` turns each answer into a record or a failure."""
    task = prompt.task
    store = AnnotationStore(Path(out_dir), task)
    summary = AnnotationSummary(
        task=task, output=str(store.path), failures_output=str(store.failures_path)
    )
    docs = unique_ids(docs, summary)
    summary.selected = len(docs)
    backend = make_backend(config)
    bar = tqdm(total=len(docs), desc=task, unit=" docs", disable=not progress)
    annotator = annotator_class(config, prompt, backend, store, summary, bar, budget)
    todo = plan(docs, annotator, store, summary)
    bar.update(summary.cached + summary.given_up)
    start = time.monotonic()
    try:
        # Twice as many workers as request slots: while some back off, others keep slots busy.
        asyncio.run(_run(todo, annotator, min(2 * config.concurrency, max(len(todo), 1))))
    except FatalBackendError as err:
        raise AnnotationStopped(str(err), summary, exit_code=1) from None
    except KeyboardInterrupt:
        raise AnnotationStopped("interrupted", summary, exit_code=130) from None
    finally:
        summary.seconds = time.monotonic() - start
        unfinished = summary.selected - summary.cached - summary.given_up
        summary.not_started = max(unfinished - summary.annotated - summary.failed, 0)
        bar.close()
        store.close()
        run = {name: getattr(summary, name) for name in USAGE_FIELDS}
        summary.all_runs = add_usage(Path(out_dir), task, run)
    return summary


def describe(summary: AnnotationSummary) -> str:
    s = summary
    lines = [
        f"{s.task}: {s.selected} selected, {s.cached} already annotated (not re-requested), "
        f"{s.annotated} annotated, {s.failed} failed",
        f"  {s.requests} requests ({s.retries} retries) in {s.seconds:.1f}s = "
        f"{s.requests_per_s:.1f} req/s; tokens in {s.input_tokens:,} out {s.output_tokens:,}; "
        f"cost ${s.cost_usd:.4f}",
        f"  annotations: {s.output}",
    ]
    if s.failed:
        reasons = ", ".join(f"{k}: {v}" for k, v in s.failure_reasons.most_common())
        lines.append(f"  failures (retried on the next run): {s.failures_output} [{reasons}]")
    if s.not_started:
        lines.append(
            f"  {s.not_started} not finished: not started, or in a batch job still running "
            "(the next run does or collects them)"
        )
    if s.given_up:
        lines.append(
            f"  {s.given_up} not requested: they failed in max_failed_runs runs already "
            "(raise max_failed_runs, or --retry-failed, to pay for them again)"
        )
    if s.duplicate_ids:
        lines.append(f"  {s.duplicate_ids} input rows repeated an id: annotated once")
    if s.all_runs:
        done = s.all_runs.get(s.task, {})
        lines.append(
            f"  all runs into this output: {int(done.get('requests', 0))} requests, "
            f"cost ${done.get('cost_usd', 0):.4f}"
        )
    if s.parsed_by.get("regex"):
        lines.append(f"  {s.parsed_by['regex']} answers were not valid JSON; score read by regex")
    return "\n".join(lines)
