"""Gemini Batch mode (`curate annotate --batch`): the same annotations at half the price, for
jobs that may take hours (https://ai.google.dev/gemini-api/docs/batch-mode).

Requests go to google-genai's `batches.create` as inlined requests, in jobs of at most
`batch_size` documents (the API takes up to 20 MB inline); each request carries its cache key
as metadata. Job names are written to `<out>/<task>.batch_jobs.json` the moment a job is
created, so a restarted process polls the jobs it already paid for instead of submitting them
again. A finished job's answers go through the same checks and parser as online answers and
end as annotation records (`mode: batch`) or failure records, exactly as online.
"""

from __future__ import annotations

import dataclasses
import json
import logging
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tqdm import tqdm

from curate.annotate.backends import (
    TRANSPORT_ERRORS,
    FatalBackendError,
    GeminiBackend,
    RetryableError,
    gemini_answer,
    gemini_error,
)
from curate.annotate.config import AnnotateConfig
from curate.annotate.prompts import Prompt, load_prompt
from curate.annotate.runner import (
    AnnotationStopped,
    AnnotationSummary,
    Annotator,
    Group,
    plan,
    unique_ids,
)
from curate.annotate.store import USAGE_FIELDS, AnnotationStore, add_usage
from curate.atomic import write_atomic
from curate.documents import Document

logger = logging.getLogger(__name__)
FINISHED = {"JOB_STATE_SUCCEEDED", "JOB_STATE_FAILED", "JOB_STATE_CANCELLED", "JOB_STATE_EXPIRED"}


@dataclass
class JobBook:
    """The batch jobs of one task in one output directory, persisted atomically."""

    path: Path
    jobs: list[dict[str, Any]]

    @classmethod
    def open(cls, out_dir: Path, task: str) -> JobBook:
        path = out_dir / f"{task}.batch_jobs.json"
        jobs = json.loads(path.read_text(encoding="utf-8")) if path.exists() else []
        return cls(path, jobs)

    def save(self) -> None:
        write_atomic(self.path, json.dumps(self.jobs, indent=1) + "\n")

    def open_jobs(self) -> list[dict[str, Any]]:
        return [j for j in self.jobs if not j.get("collected")]

    def keys_in_flight(self) -> set[str]:
        return {k for j in self.open_jobs() for k in j["keys"]}


class BatchRun:
    def __init__(
        self,
        config: AnnotateConfig,
        prompt: Prompt,
        out_dir: Path,
        bar: tqdm,
        annotator_class: type[Annotator] = Annotator,
    ):
        # batch tokens are billed at a fraction (half) of the online price
        prices = {
            k: v * config.batch_price_factor for k, v in config.price_per_million_tokens.items()
        }
        config = dataclasses.replace(config, price_per_million_tokens=prices)
        task = prompt.task
        self.config, self.task, self.out, self.prompt = config, task, out_dir, prompt
        self.store = AnnotationStore(out_dir, task)
        self.summary = AnnotationSummary(
            task=task, output=str(self.store.path), failures_output=str(self.store.failures_path)
        )
        self.backend = GeminiBackend(config)
        self.client = self.backend.client
        # Annotator supplies cache keys, answer checks and record shapes shared with online mode
        self.annotator = annotator_class(
            config, self.prompt, self.backend, self.store, self.summary, bar
        )
        self.book = JobBook.open(out_dir, task)

    def submit(self, groups: list[Group]) -> None:
        in_flight = self.book.keys_in_flight()
        todo = [g for g in groups if g.key not in in_flight]
        for start in range(0, len(todo), self.config.batch_job_documents):
            chunk = todo[start : start + self.config.batch_job_documents]
            requests = [self.request(g) for g in chunk]
            job = self.call(
                self.client.batches.create,
                model=self.config.model,
                src=requests,
                config={"display_name": f"curate-{self.task}-{len(self.book.jobs)}"},
            )
            self.book.jobs.append(
                {"name": job.name, "keys": [g.key for g in chunk], "submitted": time.time()}
            )
            self.book.save()  # before anything else: a crash now must not resubmit this job
            self.summary.requests += len(chunk)
            logger.info("submitted batch job %s with %d requests", job.name, len(chunk))

    def request(self, group: Group) -> dict[str, Any]:
        doc = group.docs[0]
        text = doc.text[: self.config.max_document_chars]
        return {
            "contents": self.prompt.render(text, doc.lang),
            "config": self.backend.request_config,
            "metadata": {"key": group.key},
        }

    def call(self, method, **kwargs):
        """One SDK call; transport trouble is retried by the next poll, fatal errors stop."""
        from google.genai import errors

        try:
            return method(**kwargs)
        except errors.APIError as err:
            raise gemini_error(err) from None
        except TRANSPORT_ERRORS as err:
            raise RetryableError(f"connection error: {type(err).__name__}") from None

    def poll(self, groups: dict[str, Group], deadline: float) -> None:
        """Until every job is collected or `deadline` (monotonic seconds) passes."""
        while self.book.open_jobs():
            for job in self.book.open_jobs():
                try:
                    state = self.call(self.client.batches.get, name=job["name"])
                except RetryableError as err:
                    logger.warning("batch job %s: %s; polling again", job["name"], err)
                    continue
                job["state"] = _state(state)
                if job["state"] in FINISHED:
                    self.collect(job, state, groups)
                    job["collected"] = True
                    self.book.save()
            if not self.book.open_jobs() or time.monotonic() >= deadline:
                break
            time.sleep(self.config.batch_poll_s)

    def collect(self, job: dict[str, Any], state: Any, groups: dict[str, Group]) -> None:
        answered = set()
        if job["state"] == "JOB_STATE_SUCCEEDED" and state.dest is not None:
            for item in state.dest.inlined_responses or []:
                key = (item.metadata or {}).get("key")
                if key not in groups or key in answered:
                    continue
                answered.add(key)
                self.finish(groups[key], item)
        for key in job["keys"]:
            if key in groups and key not in answered:
                for d in groups[key].docs:
                    self.annotator.fail(d, groups[key], f"batch job ended {job['state']}", 1)

    def finish(self, group: Group, item: Any) -> None:
        if item.error is not None or item.response is None:
            reason = f"batch item error: {getattr(item.error, 'message', None) or item.error}"
            for d in group.docs:
                self.annotator.fail(d, group, reason, 1)
            return
        self.annotator.settle(group, gemini_answer(item.response), 1, mode="batch")


def _state(job: Any) -> str:
    return getattr(job.state, "value", None) or str(job.state)


def annotate_batch(
    docs: list[Document],
    task: str,
    config: AnnotateConfig,
    out_dir: str | Path,
    progress: bool = True,
    prompt: Prompt | None = None,
    annotator_class: type[Annotator] = Annotator,
) -> AnnotationSummary:
    """Submit what is neither annotated nor in a job already, then poll every open job until
    all are collected or `batch_max_wait_s` passes (a rerun polls on: nothing is submitted
    twice). The summary's `not_started` counts documents whose job is still running."""
    prompt = prompt or load_prompt(task, config.instruction_language)
    bar = tqdm(total=len(docs), desc=f"batch {task}", unit=" docs", disable=not progress)
    run = BatchRun(config, prompt, Path(out_dir), bar, annotator_class)
    s = run.summary
    docs = unique_ids(docs, s)
    s.selected = len(docs)
    groups = plan(docs, run.annotator, run.store, s)
    bar.update(s.cached + s.given_up)
    start = time.monotonic()
    try:
        run.submit(groups)
        run.poll({g.key: g for g in groups}, start + config.batch_max_wait_s)
    except FatalBackendError as err:
        raise AnnotationStopped(str(err), s, exit_code=1) from None
    except RetryableError as err:  # submission failed: nothing was paid for; rerun
        raise AnnotationStopped(f"batch submission failed: {err}", s, exit_code=1) from None
    except KeyboardInterrupt:
        raise AnnotationStopped("interrupted (jobs keep running; rerun)", s, 130) from None
    finally:
        s.seconds = time.monotonic() - start
        in_flight = run.book.keys_in_flight()
        s.not_started = sum(len(g.docs) for g in groups if g.key in in_flight)
        bar.close()
        run.store.close()
        run.client.close()
        s.all_runs = add_usage(Path(out_dir), task, {n: getattr(s, n) for n in USAGE_FIELDS})
    return s
