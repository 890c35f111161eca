"""A test server of its own for the annotation fault suite, independent of curate's fake LLM.

It speaks Gemini's ``generateContent`` and OpenAI's ``/chat/completions`` and fails the way the
real services fail: their real error bodies (Gemini's google.rpc details: ErrorInfo with
API_KEY_INVALID, QuotaFailure with a per-day quota id, RetryInfo), a connection dropped in the
middle of a body, a connection closed before any answer, a 200 with an HTML page, a 200 with an
empty `choices` list that still bills tokens.

Which fault a request meets is written in the document itself, so concurrency does not change
the script: a document containing ``FAULT=<kind>`` meets that fault on every attempt, and
``FAULT=<kind>x<N>`` on its first N attempts only (then a good answer). ``SCORE=<n>`` sets the
score of the good answer. A server-wide ``always`` fault applies to every request.

Gemini's Batch API too (``models/{m}:batchGenerateContent`` with inlined requests, then
``GET batches/{id}``): a job reports BATCH_STATE_RUNNING for `polls_until_done` polls, then
BATCH_STATE_SUCCEEDED with one inlined response (or per-item error) per request.
"""

from __future__ import annotations

import json
import re
import socket
import threading
from collections import Counter
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

FAULT = re.compile(r"FAULT=([a-z0-9_]+?)(?:x(\d+))?\b")
DOC = re.compile(r"DOC=(\S+)")
SCORE = re.compile(r"SCORE=(\d)")
USAGE = {"prompt": 120, "output": 9}
BATCH_TYPE = "type.googleapis.com/google.ai.generativelanguage.v1main.GenerateContentBatch"

GEMINI_ERRORS = {
    "key_invalid": (
        400,
        {
            "code": 400,
            "message": "API key not valid. Please pass a valid API key.",
            "status": "INVALID_ARGUMENT",
            "details": [
                {
                    "@type": "type.googleapis.com/google.rpc.ErrorInfo",
                    "reason": "API_KEY_INVALID",
                    "domain": "googleapis.com",
                    "metadata": {"service": "generativelanguage.googleapis.com"},
                },
                {
                    "@type": "type.googleapis.com/google.rpc.LocalizedMessage",
                    "locale": "en-US",
                    "message": "API key not valid. Please pass a valid API key.",
                },
            ],
        },
    ),
    "quota_day": (
        429,
        {
            "code": 429,
            "message": "You exceeded your current quota, please check your plan and billing "
            "details.",
            "status": "RESOURCE_EXHAUSTED",
            "details": [
                {
                    "@type": "type.googleapis.com/google.rpc.QuotaFailure",
                    "violations": [
                        {
                            "quotaMetric": "generativelanguage.googleapis.com/"
                            "generate_content_free_tier_requests",
                            "quotaId": "GenerateRequestsPerDayPerProjectPerModel-FreeTier",
                            "quotaDimensions": {"location": "global", "model": "m"},
                            "quotaValue": "250",
                        }
                    ],
                },
                {"@type": "type.googleapis.com/google.rpc.RetryInfo", "retryDelay": "26s"},
            ],
        },
    ),
    "unavailable": (
        503,
        {"code": 503, "message": "The model is overloaded.", "status": "UNAVAILABLE"},
    ),
}


class FaultServer:
    """Threaded HTTP server on 127.0.0.1; `log` lists (doc, attempt, fault) per request."""

    def __init__(self, always: str | None = None, shift: dict[str, int] | None = None):
        """`shift`: document id -> points added to its score (a second, harsher or kinder
        annotator)."""
        self.always, self.shift = always, shift or {}
        self.jobs: dict[str, dict] = {}
        self.polls_until_done = 1
        self.attempts: Counter = Counter()
        self.log: list[tuple[str, int, str | None]] = []
        self.lock = threading.Lock()
        handler = type("Handler", (_Handler,), {"server_state": self})
        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), handler)
        self.httpd.daemon_threads = True
        # a client that hung up (a run stopped on a fatal error) is not the server's problem
        self.httpd.handle_error = lambda request, address: None
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.httpd.server_address[1]}"

    def __enter__(self) -> FaultServer:
        self.thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()

    def fault_for(self, prompt: str) -> tuple[str, str | None, int]:
        doc = DOC.search(prompt)
        doc_id = doc.group(1) if doc else "?"
        with self.lock:  # attempts per document and prompt: each task's request has its own
            self.attempts[doc_id, prompt] += 1
            attempt = self.attempts[doc_id, prompt]
        if self.always:
            fault = self.always
        else:
            match = FAULT.search(prompt)
            fault = None
            if match and (match.group(2) is None or attempt <= int(match.group(2))):
                fault = match.group(1)
        with self.lock:
            self.log.append((doc_id, attempt, fault))
        return doc_id, fault, attempt


class _Handler(BaseHTTPRequestHandler):
    server_state: FaultServer
    protocol_version = "HTTP/1.1"

    def log_message(self, *args) -> None:
        pass

    def do_GET(self) -> None:  # noqa: N802
        job = self.server_state.jobs.get(self.path.rsplit("/", 1)[-1])
        if job is None:
            return self.send_json(
                404, {"error": {"code": 404, "message": "not found", "status": "NOT_FOUND"}}
            )
        job["polls"] += 1
        done = job["polls"] > self.server_state.polls_until_done
        metadata = {
            "@type": BATCH_TYPE,
            "model": job["model"],
            "displayName": job["display"],
            "name": job["name"],
            "state": "BATCH_STATE_SUCCEEDED" if done else "BATCH_STATE_RUNNING",
        }
        if done:
            metadata["output"] = {"inlinedResponses": {"inlinedResponses": job["responses"]}}
        self.send_json(200, {"name": job["name"], "metadata": metadata, "done": done})

    def do_POST(self) -> None:  # noqa: N802
        body = json.loads(self.rfile.read(int(self.headers.get("content-length", 0))))
        if ":batchGenerateContent" in self.path:
            return self.create_batch(body)
        gemini = ":generateContent" in self.path
        if gemini:
            prompt = "".join(
                p.get("text", "") for c in body.get("contents", []) for p in c.get("parts", [])
            )
        else:
            prompt = "".join(m.get("content", "") for m in body.get("messages", []))
        doc_id, fault, _ = self.server_state.fault_for(prompt)
        score = SCORE.search(prompt)
        value = (int(score.group(1)) if score else 3) + self.server_state.shift.get(doc_id, 0)
        answer = json.dumps({"score": min(max(value, 0), 5), "rationale": "ok"})
        self.respond(fault, answer, gemini)

    def create_batch(self, body: dict) -> None:
        state = self.server_state
        batch = body["batch"]
        responses = []
        for item in batch["inputConfig"]["requests"]["requests"]:
            prompt = "".join(
                p.get("text", "") for c in item["request"]["contents"] for p in c["parts"]
            )
            doc_id, fault, _ = state.fault_for(prompt)
            score = SCORE.search(prompt)
            value = (int(score.group(1)) if score else 3) + state.shift.get(doc_id, 0)
            answer = json.dumps({"score": min(max(value, 0), 5), "rationale": "ok"})
            if fault == "batch_item_error":
                responses.append(
                    {
                        "error": {"code": 13, "message": "Internal error"},
                        "metadata": item.get("metadata"),
                    }
                )
            else:
                text = answer if fault is None else '{"score": NaN}'
                responses.append({"response": gemini_body(text), "metadata": item.get("metadata")})
        job_id = f"job{len(state.jobs) + 1}"
        state.jobs[job_id] = {
            "name": f"batches/{job_id}",
            "polls": 0,
            "responses": responses,
            "model": "models/gemini-test",
            "display": batch.get("displayName", ""),
        }
        self.send_json(
            200,
            {
                "name": f"batches/{job_id}",
                "metadata": {
                    "@type": BATCH_TYPE,
                    "name": f"batches/{job_id}",
                    "state": "BATCH_STATE_PENDING",
                    "displayName": batch.get("displayName", ""),
                },
            },
        )

    def respond(self, fault: str | None, answer: str, gemini: bool) -> None:
        if fault is None:
            return self.answer_text(answer, gemini)
        bad_scores = {
            "score_nan": '{"score": NaN, "rationale": "x"}',
            "score_inf": '{"score": Infinity, "rationale": "x"}',
            "score_str_nan": '{"score": "nan", "rationale": "x"}',
            "score_1e999": '{"score": 1e999, "rationale": "x"}',
            "score_bool": '{"score": true, "rationale": "x"}',
            "prose_two_scores": "En score: 5 ville vært for høyt. Endelig score: 1.",
        }
        if fault in bad_scores:
            return self.answer_text(bad_scores[fault], gemini)
        if fault == "drop_mid_body":
            payload = json.dumps(gemini_body(answer) if gemini else openai_body(answer)).encode()
            self.send_response(200)
            self.send_header("content-type", "application/json")
            self.send_header("content-length", str(len(payload)))
            self.end_headers()
            self.wfile.write(payload[: len(payload) // 3])
            self.wfile.flush()
            return self.hang_up()
        if fault == "disconnect":
            return self.hang_up()
        if fault == "html_200":
            return self.send_raw(
                200, b"<html><body>Service temporarily unavailable</body></html>", "text/html"
            )
        if fault == "empty_choices":
            usage = {
                "prompt_tokens": USAGE["prompt"],
                "completion_tokens": 0,
                "total_tokens": USAGE["prompt"],
            }
            return self.send_json(
                200, {"id": "x", "object": "chat.completion", "choices": [], "usage": usage}
            )
        if fault == "retry_after_huge":
            return self.send_error_body(429, gemini, retry_delay="3600s")
        if gemini and fault in GEMINI_ERRORS:
            status, error = GEMINI_ERRORS[fault]
            return self.send_json(status, {"error": error})
        if fault == "key_invalid":  # OpenAI's shape
            return self.send_json(
                401,
                {
                    "error": {
                        "message": "Incorrect API key provided.",
                        "type": "invalid_request_error",
                        "param": None,
                        "code": "invalid_api_key",
                    }
                },
            )
        if fault == "unavailable":
            return self.send_error_body(503, gemini)
        raise ValueError(f"unknown fault {fault}")

    def answer_text(self, text: str, gemini: bool) -> None:
        self.send_json(200, gemini_body(text) if gemini else openai_body(text))

    def send_error_body(self, status: int, gemini: bool, retry_delay: str | None = None) -> None:
        if gemini:
            error = {
                "code": status,
                "message": "Resource has been exhausted.",
                "status": "RESOURCE_EXHAUSTED" if status == 429 else "UNAVAILABLE",
            }
            if retry_delay:
                error["details"] = [
                    {"@type": "type.googleapis.com/google.rpc.RetryInfo", "retryDelay": retry_delay}
                ]
            return self.send_json(status, {"error": error})
        headers = {"retry-after": retry_delay.rstrip("s")} if retry_delay else {}
        self.send_json(
            status, {"error": {"message": "rate limited", "type": "rate_limit"}}, headers
        )

    def send_json(self, status: int, payload: dict, headers: dict | None = None) -> None:
        self.send_raw(status, json.dumps(payload).encode(), "application/json", headers)

    def send_raw(self, status: int, data: bytes, ctype: str, headers: dict | None = None) -> None:
        self.send_response(status)
        self.send_header("content-type", ctype)
        self.send_header("content-length", str(len(data)))
        for k, v in (headers or {}).items():
            self.send_header(k, v)
        self.end_headers()
        self.wfile.write(data)

    def hang_up(self) -> None:
        self.close_connection = True
        try:
            self.connection.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass


def gemini_body(text: str) -> dict:
    return {
        "candidates": [
            {
                "content": {"role": "model", "parts": [{"text": text}]},
                "finishReason": "STOP",
                "index": 0,
            }
        ],
        "usageMetadata": {
            "promptTokenCount": USAGE["prompt"],
            "candidatesTokenCount": USAGE["output"],
            "totalTokenCount": USAGE["prompt"] + USAGE["output"],
        },
        "modelVersion": "gemini-test",
    }


def openai_body(text: str) -> dict:
    return {
        "id": "chatcmpl-1",
        "object": "chat.completion",
        "model": "m",
        "choices": [
            {"index": 0, "message": {"role": "assistant", "content": text}, "finish_reason": "stop"}
        ],
        "usage": {
            "prompt_tokens": USAGE["prompt"],
            "completion_tokens": USAGE["output"],
            "total_tokens": USAGE["prompt"] + USAGE["output"],
        },
    }
