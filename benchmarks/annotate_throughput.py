"""Annotation throughput against the local LLM server: requests/s versus the bound
concurrency / latency, with injected 429/500 faults, and the number of lost records.

    python benchmarks/annotate_throughput.py [--latency 0.1] [--fault-rate 0.1] [--rounds 30]
"""

from __future__ import annotations

import argparse
import os
import platform
import subprocess
import sys
import tempfile
from pathlib import Path

from tables import write_results  # benchmarks/ is on sys.path when run as a script

from curate.annotate import annotate, default_config_path, load_config
from curate.documents import Document

ROOT = Path(__file__).resolve().parent.parent


def corpus(n: int) -> list[Document]:
    return [
        Document(
            id=f"b{i}",
            lang="nb",
            source="bench",
            text=f"Dokument nummer {i}. Fjordene ble formet av isbreer gjennom istidene.",
        )
        for i in range(n)
    ]


def run(backend: str, concurrency: int, latency: float, fault_rate: float, rounds: int) -> dict:
    docs = corpus(concurrency * rounds)
    # The server runs in its own process, as a real one would, so it does not share our GIL.
    server = subprocess.Popen(
        [
            sys.executable,
            str(ROOT / "tests" / "llm_fault_server.py"),
            "--latency",
            str(latency),
            "--fault-rate",
            str(fault_rate),
            "--retry-delay",
            str(latency),
            "--seed",
            str(concurrency),
        ],
        stdout=subprocess.PIPE,
        text=True,
    )
    url = server.stdout.readline().strip()
    try:
        with tempfile.TemporaryDirectory() as out:
            s, written = measure(backend, url, docs, concurrency, latency, out)
    finally:
        server.kill()
        server.wait()
    bound = concurrency / latency
    return {
        "backend": backend,
        "concurrency": concurrency,
        "docs": len(docs),
        "requests": s.requests,
        "retries": s.retries,
        "seconds": round(s.seconds, 2),
        "req_per_s": round(s.requests_per_s, 1),
        "bound_req_per_s": round(bound, 1),
        "ratio_to_bound": round(s.requests_per_s / bound, 3),
        "lost": len(docs) - written - s.failed,
        "failed": s.failed,
    }


def measure(backend, url, docs, concurrency, latency, out):
    base = url if backend == "gemini" else url + "/v1"
    cfg = load_config(
        default_config_path(backend),
        base_url=base,
        concurrency=concurrency,
        requests_per_minute=10_000_000,
        max_attempts=10,
        backoff_initial_s=latency,
        backoff_max_s=1.0,
    )
    s = annotate(docs, "educational_value", cfg, out, progress=False)
    written = sum(1 for _ in open(Path(out) / "educational_value.jsonl"))
    return s, written


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--latency", type=float, default=0.1)
    ap.add_argument("--fault-rate", type=float, default=0.1)
    ap.add_argument("--rounds", type=int, default=30)
    ap.add_argument("--concurrency", type=int, nargs="+", default=[16, 64, 256])
    ap.add_argument("--backends", nargs="+", default=["gemini", "openai"])
    ap.add_argument("--out", default=str(ROOT / "benchmarks" / "results" / "annotate.json"))
    args = ap.parse_args()
    os.environ.setdefault("GEMINI_API_KEY", "bench-key")
    rows = [
        run(b, c, args.latency, args.fault_rate, args.rounds)
        for b in args.backends
        for c in args.concurrency
    ]
    lines = []
    lines.append(
        f"annotation throughput: latency {args.latency * 1000:.0f} ms, "
        f"{args.fault_rate:.0%} injected 429/500, {platform.processor() or platform.machine()}, "
        f"{os.cpu_count()} cores"
    )
    lines.append(
        "| backend | concurrency | docs | requests (retries) | req/s | bound req/s | ratio | "
        "lost | failed |"
    )
    lines.append("|---|---|---|---|---|---|---|---|---|")
    for r in rows:
        lines.append(
            f"| {r['backend']} | {r['concurrency']} | {r['docs']} | {r['requests']} "
            f"({r['retries']}) | {r['req_per_s']} | {r['bound_req_per_s']} | "
            f"{r['ratio_to_bound']:.0%} | {r['lost']} | {r['failed']} |"
        )
    write_results(args.out, lines, {"args": vars(args), "rows": rows})


if __name__ == "__main__":
    main()
