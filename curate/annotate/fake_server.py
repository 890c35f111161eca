"""The offline labeller behind `curate annotate --fake-llm` (the demo without a key). NOT an LLM.

It speaks the real REST protocols, so the real clients talk to it over real HTTP:
``POST /{v1,v1beta}/models/{model}:generateContent`` (Gemini) and ``POST /v1/chat/completions``
(OpenAI-compatible). Its scores come from transparent text heuristics, one per task (the task
file's `stand_in`, curate.tasks), so the demo has plausible labels to work with; never mistake
them for an LLM's judgement. It never fails on purpose: the fault server the tests use
(tests/llm_fault_server.py) builds on its protocol layer.
"""

from __future__ import annotations

import hashlib
import json
import re
import threading
import time
from collections import Counter
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from curate.tasks import Task, registry

DOC_RE = re.compile(r"<dokument>\n?(.*?)\n?</dokument>", re.DOTALL)
TRANSLATE_PROMPT_START = "Translate the text in the dokument element"  # resources/translate
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
    """The fake labeller's answer: the task's stand-in heuristic, clipped to its scale. A
    translation request (curate translate) gets its text back unchanged: a stand-in, marked
    as such on every row it ends in."""
    if prompt.startswith(TRANSLATE_PROMPT_START):
        return {"translation": document}
    task = task_of(prompt)
    if task is None:
        return {"score": 0, "rationale": "Heuristisk testsvar: ukjent oppgave."}
    lo, hi = task.scale
    score = min(max(STAND_INS[task.stand_in](document), lo), hi)
    return {"score": score, "rationale": f"Heuristisk testsvar ({task.name})."}


def document_of(prompt: str) -> str:
    match = DOC_RE.search(prompt)
    return match.group(1) if match else prompt


class FakeLLMServer:
    """Run with ``with FakeLLMServer() as server: server.url``; binds 127.0.0.1 on a free port.
    `log` holds one entry per request (time, document sha256, attempt, protocol, the key header
    it carried), for the tests and benchmarks that check what was sent."""

    handler: type[BaseHTTPRequestHandler]

    def __init__(self, port: int = 0, latency_s: float = 0.0):
        self.latency_s = latency_s
        self.attempts: Counter = Counter()  # (document key, prompt) -> requests seen
        self.log: list[dict[str, Any]] = []
        self.lock = threading.Lock()
        handler = type("Handler", (self.handler_class(),), {"server_state": self})
        ThreadingHTTPServer.request_queue_size = 1024
        self.httpd = ThreadingHTTPServer(("127.0.0.1", port), handler)
        self.httpd.daemon_threads = True
        # a client that hung up (a run stopped, a timeout) is not the server's problem
        self.httpd.handle_error = lambda request, address: None
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)

    @staticmethod
    def handler_class() -> type[BaseHTTPRequestHandler]:
        return LLMHandler

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

    def document_key(self, document: str) -> str:
        return hashlib.sha256(document.encode()).hexdigest()

    def record(self, prompt: str, protocol: str, api_key: str | None) -> dict[str, Any]:
        """Count this request's attempt (per document and prompt: each task's request has its
        own) and log it; returns the log entry."""
        key = self.document_key(document_of(prompt))
        with self.lock:
            self.attempts[key, prompt] += 1
            entry = {
                "t": time.monotonic(),
                "doc": key,
                "attempt": self.attempts[key, prompt],
                "protocol": protocol,
                "api_key": api_key,
            }
            self.log.append(entry)
        return entry


class LLMHandler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True  # headers and body go out in two writes: no 40 ms stalls
    server_state: FakeLLMServer

    def log_message(self, *args) -> None:  # keep test output quiet
        pass

    def do_POST(self) -> None:  # noqa: N802 (http.server's naming)
        body = json.loads(self.rfile.read(int(self.headers.get("content-length", 0))) or b"{}")
        gemini = GEMINI_PATH.match(self.path)
        if gemini:
            prompt = "".join(
                p.get("text", "") for c in body.get("contents", []) for p in c.get("parts", [])
            )
            return self.reply(prompt, "gemini", gemini.group(2))
        if self.path == "/v1/chat/completions":
            prompt = "".join(
                m.get("content", "") for m in body.get("messages", []) if m.get("role") == "user"
            )
            return self.reply(prompt, "openai", body.get("model", ""))
        return self.route_missing()

    def route_missing(self) -> None:
        self.send_json(
            404, {"error": {"code": 404, "message": f"no route {self.path}", "status": "NOT_FOUND"}}
        )

    def reply(self, prompt: str, protocol: str, model: str) -> None:
        entry = self.server_state.record(prompt, protocol, self.api_key())
        if self.server_state.latency_s:
            time.sleep(self.server_state.latency_s)
        self.answer(prompt, protocol, model, entry)

    def api_key(self) -> str | None:
        return self.headers.get("x-goog-api-key") or self.headers.get("authorization")

    def answer(self, prompt: str, protocol: str, model: str, entry: dict[str, Any]) -> None:
        text = json.dumps(stand_in_answer(prompt, document_of(prompt)), ensure_ascii=False)
        self.send_answer(text, protocol, model, usage=self.usage(prompt, text))

    def usage(self, prompt: str, text: str | None) -> tuple[int, int]:
        return len(prompt) // 4, len(text or "") // 4

    def send_answer(
        self,
        text: str | None,
        protocol: str,
        model: str,
        usage: tuple[int, int],
        finish: str = "STOP",
        blocked: str | None = None,
    ) -> None:
        body = gemini_body if protocol == "gemini" else openai_body
        self.send_json(200, body(text, finish, blocked, usage, model))

    def send_json(self, status: int, payload: dict, headers: dict | None = None) -> None:
        self.send_raw(status, json.dumps(payload, ensure_ascii=False).encode(), headers=headers)

    def send_raw(
        self,
        status: int,
        data: bytes,
        content_type: str = "application/json; charset=utf-8",
        headers: dict | None = None,
    ) -> None:
        self.send_response(status)
        self.send_header("content-type", content_type)
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
    args = ap.parse_args()
    server = FakeLLMServer(args.port, latency_s=args.latency)
    print(server.url, flush=True)
    server.httpd.serve_forever()


if __name__ == "__main__":
    main()
