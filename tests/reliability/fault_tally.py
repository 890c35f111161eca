"""The figures behind issue #13's note: 150 documents, both tasks, both protocols, against the
fault server; every non-fatal fault on 10 documents each (on the first attempt, or on every
attempt for the unreadable scores), the rest clean. Prints, per protocol: documents lost,
answers paid twice, requests, retries, failure reasons; then the fatal conditions.

    python tests/reliability/fault_tally.py
"""

from __future__ import annotations

import logging
import os
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parents[1]))  # tests/, where the fault server is
from llm_fault_server import FaultServer  # noqa: E402

from curate.annotate.config import default_config_path, load_config  # noqa: E402
from curate.annotate.runner import AnnotationStopped, annotate  # noqa: E402
from curate.documents import Document  # noqa: E402

ROOT = Path(__file__).resolve().parents[2]
ONCE = ["drop_mid_bodyx1", "disconnectx1", "html_200x1", "unavailablex2", "retry_after_hugex1"]
ALWAYS = ["score_nan", "score_inf", "score_str_nan", "score_1e999", "score_bool"]


def corpus(faults: list[str], n: int = 150) -> list[Document]:
    marks = [f for f in faults for _ in range(10)]
    marks += [None] * (n - len(marks))
    return [
        Document(id=f"d{i}", lang="nb", source="t", text=f"DOC=d{i} FAULT={f} SCORE=3 Fjord.")
        for i, f in enumerate(marks)
    ]


def config(backend: str, url: str):
    return load_config(
        default_config_path(backend),
        base_url=url if backend == "gemini" else url + "/v1",
        model="gemini-test",
        concurrency=16,
        requests_per_minute=600000,
        timeout_s=5,
        backoff_initial_s=0.01,
        backoff_max_s=0.05,
        retry_after_max_s=0.1,
    )


def tally(backend: str, out: Path) -> str:
    faults = ONCE + ALWAYS + (["empty_choices"] if backend == "openai" else [])
    docs = corpus(faults)
    rows = []
    with FaultServer() as server:
        start = time.monotonic()
        for task in ("educational_value", "linguistic_quality"):
            s = annotate(docs, task, config(backend, server.url), out / backend, progress=False)
            rows.append(s)
        seconds = time.monotonic() - start
        answered = Counter(e["doc"] for e in server.log if e["fault"] is None)
    done = sum(s.annotated + s.failed for s in rows)
    reasons = sum((s.failure_reasons for s in rows), Counter())
    return (
        f"| {backend} | {2 * len(docs)} | {2 * len(docs) - done} | "
        f"{sum(1 for n in answered.values() if n > 2)} | {sum(s.requests for s in rows)} | "
        f"{len(server.log)} | {sum(s.retries for s in rows)} | "
        f"{sum(s.annotated for s in rows)} | {dict(reasons)} | {seconds:.1f} |"
    )


def fatal(fault: str, out: Path) -> str:
    with FaultServer(always=fault) as server:
        try:
            annotate(
                corpus([]),
                "educational_value",
                config("gemini", server.url),
                out / fault,
                progress=False,
            )
            return f"| {fault} | not stopped |"
        except AnnotationStopped as stop:
            return (
                f"| {fault} | stopped, exit {stop.exit_code}, {len(server.log)} requests | {stop} |"
            )


def main() -> None:
    logging.basicConfig(level=logging.ERROR)
    os.environ.setdefault("GEMINI_API_KEY", "fault-tally-key")
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp)
        print(
            "| protocol | documents x tasks | lost | answers paid twice | requests (curate) "
            "| requests (server) | retries | annotated | failure reasons | seconds |"
        )
        print("|---|---|---|---|---|---|---|---|---|---|")
        for backend in ("gemini", "openai"):
            print(tally(backend, out))
        print("\n| fatal condition (150 documents, concurrency 16) | outcome | message |")
        print("|---|---|---|")
        for fault in ("key_invalid", "quota_day"):
            print(fatal(fault, out))


if __name__ == "__main__":
    main()
