"""A local LLM server for tests, benchmarks and the offline demo. NOT an LLM.

It speaks the real REST protocols, so the real clients talk to it over real HTTP:
``POST /{v1,v1beta}/models/{model}:generateContent`` (Gemini) and ``POST /v1/chat/completions``
(OpenAI-compatible). Its "scores" come from a few transparent text heuristics, so that the demo
has plausible labels to work with; never mistake them for an LLM's judgement.

Faults are injected two ways:
- markers in a document, ``[[fault:KIND]]`` (every attempt) or ``[[fault:KINDxN]]`` (the first N
  attempts for that text), with KIND one of 429, 500, 503, timeout, blocked, safety, recitation,
  max_tokens, truncated, nonjson, garbage, range;
- ``fault_rate``: that share of requests answers 429 (with retryDelay) or 500 at random.
"""

from __future__ import annotations

import hashlib
import json
import random
import re
import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from curate.tasks import Task, registry

FAULT_RE = re.compile(r"\[\[fault:([a-z_0-9]+?)(?:x(\d+))?\]\]")
DOC_RE = re.compile(r"<dokument>\n?(.*?)\n?</dokument>", re.DOTALL)
GEMINI_PATH = re.compile(r"^/(v1|v1beta|v1alpha)/models/([^/:]+):generateContent$")


def heuristic_scores(text: str) -> tuple[int, int]:
    """(substance, surface quality) from surface features: a stand-in, not a model."""
    words = text.split()
    lines = [ln for ln in text.splitlines() if ln.strip()] or [""]
    letters = sum(c.isalpha() for c in text)
    sentences = len(re.findall(r"[a-zæøåäöé][.!?](\s|$)", text))
    linky = sum(("http" in ln or "|" in ln or "»" in ln) for ln in lines) / len(lines)
    words_per_line = len(words) / len(lines)
    lq = 5
    lq -= 2 if letters / max(len(text), 1) < 0.7 else 0
    lq -= 2 if words_per_line < 5 else 0
    lq -= 2 if linky > 0.3 else 0
    lq -= 1 if sentences == 0 else 0
    lq -= 1 if re.search(r"\w-\n\w|[„^~]", text) else 0
    lq = max(0, min(5, lq))
    edu = min(5, len(words) // 40) if sentences >= 2 else 0
    if lq <= 1:
        edu = min(edu, 1)
    return edu, lq


def surface_quality(text: str) -> int:
    """Letters, words per line, link lines, finished sentences, scanning noise: 0-5."""
    return heuristic_scores(text)[1]


def substance(text: str) -> int:
    """Words in finished sentences, capped where the surface is bad: 0-5."""
    return heuristic_scores(text)[0]


# A task file's `stand_in` names one of these (curate.tasks).
STAND_INS = {"surface_quality": surface_quality, "substance": substance}


def task_of(prompt: str) -> Task | None:
    """The task whose template the prompt was rendered from: the templates' text before their
    first placeholder tells them apart."""
    for task in registry().values():
        for template in task.templates.values():
            if prompt.startswith(template.split("{", 1)[0]):
                return task
    return None


def stand_in_answer(prompt: str, document: str) -> dict[str, Any]:
    """The fake labeller's answer: the task's stand-in heuristic, clipped to its scale."""
    task = task_of(prompt)
    if task is None:
        return {"score": 0, "rationale": "Heuristisk testsvar: ukjent oppgave."}
    lo, hi = task.scale
    score = min(max(STAND_INS[task.stand_in](document), lo), hi)
    return {"score": score, "rationale": f"Heuristisk testsvar ({task.name})."}


@dataclass
class ServerState:
    latency_s: float = 0.0
    fault_rate: float = 0.0
    retry_delay_s: float = 0.2
    timeout_sleep_s: float = 5.0
    seed: int = 0
    attempts: Counter = field(default_factory=Counter)  # text sha256 -> requests seen
    log: list[dict[str, Any]] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def __post_init__(self) -> None:
        self.rng = random.Random(self.seed)


class FakeLLMServer:
    """Run with ``with FakeLLMServer() as server: server.url``; binds 127.0.0.1 on a free port."""

    def __init__(self, port: int = 0, **state: Any):
        self.state = ServerState(**state)
        handler = type("Handler", (_Handler,), {"state": self.state})
        ThreadingHTTPServer.request_queue_size = 1024
        self.httpd = ThreadingHTTPServer(("127.0.0.1", port), handler)
        self.httpd.daemon_threads = True
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.httpd.server_address[1]}"

    def start(self) -> FakeLLMServer:
        self.thread.start()
        return self

    def stop(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()

    def __enter__(self) -> FakeLLMServer:
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True  # headers and body go out in two writes: no 40 ms stalls
    state: ServerState

    def log_message(self, *args) -> None:  # keep test output quiet
        pass

    def do_POST(self) -> None:  # noqa: N802 (http.server's naming)
        body = json.loads(self.rfile.read(int(self.headers.get("content-length", 0))) or b"{}")
        gemini = GEMINI_PATH.match(self.path)
        if gemini:
            prompt = "".join(
                p.get("text", "") for c in body.get("contents", []) for p in c.get("parts", [])
            )
            self.answer(prompt, "gemini", gemini.group(2))
        elif self.path == "/v1/chat/completions":
            prompt = "".join(
                m.get("content", "") for m in body.get("messages", []) if m.get("role") == "user"
            )
            self.answer(prompt, "openai", body.get("model", ""))
        else:
            self.send_json(
                404,
                {"error": {"code": 404, "message": f"no route {self.path}", "status": "NOT_FOUND"}},
            )

    def answer(self, prompt: str, protocol: str, model: str) -> None:
        st = self.state
        match = DOC_RE.search(prompt)
        document = match.group(1) if match else prompt
        key = hashlib.sha256(document.encode()).hexdigest()
        with st.lock:
            st.attempts[key] += 1
            attempt = st.attempts[key]
            random_fault = st.rng.random() < st.fault_rate
            random_kind = st.rng.choice(["429", "500"])
        fault = self.pick_fault(document, attempt) or (random_kind if random_fault else None)
        if st.latency_s:
            time.sleep(st.latency_s)
        with st.lock:
            st.log.append(
                {
                    "t": time.monotonic(),
                    "doc": key,
                    "attempt": attempt,
                    "fault": fault,
                    "protocol": protocol,
                    "api_key": self.headers.get("x-goog-api-key")
                    or self.headers.get("authorization"),
                }
            )
        if fault == "timeout":
            time.sleep(st.timeout_sleep_s)
        if fault in ("429", "500", "503"):
            return self.send_error_status(int(fault), protocol)
        answer = stand_in_answer(prompt, document)
        score = answer["score"]
        text = json.dumps(answer, ensure_ascii=False)
        finish, blocked = "STOP", None
        if fault == "blocked":
            blocked = "SAFETY"
        elif fault in ("safety", "recitation"):
            finish, text = fault.upper(), None
        elif fault in ("max_tokens", "truncated"):
            finish = "MAX_TOKENS" if fault == "max_tokens" else "STOP"
            text = text[: len(text) // 2]
        elif fault == "nonjson":
            text = f"Vurdering: teksten er grei. Score: {score}. Ferdig."
        elif fault == "garbage":
            text = "Jeg kan dessverre ikke vurdere denne teksten."
        elif fault == "range":
            text = json.dumps({"score": 9, "rationale": "utenfor skalaen"})
        usage = (len(prompt) // 4, len(text or "") // 4)
        if protocol == "gemini":
            self.send_json(200, gemini_body(text, finish, blocked, usage, model))
        else:
            self.send_json(200, openai_body(text, finish, blocked, usage, model))

    def pick_fault(self, document: str, attempt: int) -> str | None:
        for kind, times in FAULT_RE.findall(document):
            if not times or attempt <= int(times):
                return kind
        return None

    def send_error_status(self, status: int, protocol: str) -> None:
        if protocol == "openai":
            headers = {"retry-after": str(self.state.retry_delay_s)} if status == 429 else {}
            return self.send_json(
                status,
                {
                    "error": {
                        "message": "rate limited" if status == 429 else "internal error",
                        "code": status,
                    }
                },
                headers,
            )
        error: dict[str, Any] = {
            "code": status,
            "message": "Resource has been exhausted"
            if status == 429
            else "Internal error encountered.",
            "status": "RESOURCE_EXHAUSTED"
            if status == 429
            else ("UNAVAILABLE" if status == 503 else "INTERNAL"),
        }
        if status == 429:
            error["details"] = [
                {
                    "@type": "type.googleapis.com/google.rpc.RetryInfo",
                    "retryDelay": f"{self.state.retry_delay_s}s",
                }
            ]
        self.send_json(status, {"error": error})

    def send_json(self, status: int, payload: dict, headers: dict | None = None) -> None:
        data = json.dumps(payload, ensure_ascii=False).encode()
        self.send_response(status)
        self.send_header("content-type", "application/json; charset=utf-8")
        self.send_header("content-length", str(len(data)))
        for k, v in (headers or {}).items():
            self.send_header(k, v)
        self.end_headers()
        try:
            self.wfile.write(data)
        except (BrokenPipeError, ConnectionResetError):  # the client timed out and left
            pass


def gemini_body(text, finish, blocked, usage, model) -> dict:
    meta = {
        "promptTokenCount": usage[0],
        "candidatesTokenCount": usage[1],
        "totalTokenCount": sum(usage),
    }
    if blocked:
        return {
            "promptFeedback": {"blockReason": blocked},
            "usageMetadata": meta,
            "modelVersion": model,
        }
    candidate: dict[str, Any] = {"finishReason": finish, "index": 0}
    if text is not None:
        candidate["content"] = {"role": "model", "parts": [{"text": text}]}
    return {"candidates": [candidate], "usageMetadata": meta, "modelVersion": model}


def openai_body(text, finish, blocked, usage, model) -> dict:
    reason = {"STOP": "stop", "MAX_TOKENS": "length"}.get(finish, "content_filter")
    if blocked:
        reason, text = "content_filter", None
    return {
        "id": "chatcmpl-fake",
        "object": "chat.completion",
        "created": int(time.time()),
        "model": model,
        "choices": [
            {"index": 0, "finish_reason": reason, "message": {"role": "assistant", "content": text}}
        ],
        "usage": {
            "prompt_tokens": usage[0],
            "completion_tokens": usage[1],
            "total_tokens": sum(usage),
        },
    }


def main() -> None:
    """Serve until killed: ``python -m curate.annotate.fake_server --port 8085 --latency 0.1``."""
    import argparse

    ap = argparse.ArgumentParser(description="Local fake LLM server (heuristic scores).")
    ap.add_argument("--port", type=int, default=0)
    ap.add_argument("--latency", type=float, default=0.0)
    ap.add_argument("--fault-rate", type=float, default=0.0)
    ap.add_argument("--retry-delay", type=float, default=0.2)
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args()
    server = FakeLLMServer(
        args.port,
        latency_s=args.latency,
        fault_rate=args.fault_rate,
        retry_delay_s=args.retry_delay,
        seed=args.seed,
    )
    print(server.url, flush=True)
    server.httpd.serve_forever()


if __name__ == "__main__":
    main()
