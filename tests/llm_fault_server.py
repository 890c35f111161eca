"""The one fault server of the test suite (and benchmarks/annotate_throughput.py): curate's offline
labeller (curate.annotate.fake_server, the protocol layer and stand-in scores) plus every way the
real services fail.

It speaks Gemini's ``generateContent`` and OpenAI's ``/chat/completions`` and fails the way the
real services fail: their real error bodies (Gemini's google.rpc details: ErrorInfo with
API_KEY_INVALID, QuotaFailure with a per-day quota id, RetryInfo; OpenAI's retry-after header),
blocked prompts and answers, truncated and unparseable answers, a connection dropped in the
middle of a body, a connection closed before any answer, a 200 with an HTML page, a 200 with an
empty `choices` list that still bills tokens, a request that hangs past the client's timeout.

Which fault a request meets is written in the document itself, so concurrency does not change
the script: a document containing ``FAULT=<kind>`` meets that fault on every attempt, and
``FAULT=<kind>x<N>`` on its first N attempts only (then a good answer). ``SCORE=<n>`` sets the
score of the good answer (else the offline labeller's heuristic gives it); ``DOC=<id>`` names
the document in `log`. A server-wide ``always`` fault applies to every request, and
``fault_rate`` answers that share of requests with a 429 or a 500 at random.

Gemini's Batch API too (``models/{m}:batchGenerateContent`` with inlined requests, then
``GET batches/{id}``): a job reports BATCH_STATE_RUNNING for `polls_until_done` polls, then
BATCH_STATE_SUCCEEDED with one inlined response (or per-item error) per request.

Run alone: ``python tests/llm_fault_server.py --latency 0.1 --fault-rate 0.1`` prints its URL.
"""

from __future__ import annotations

import json
import random
import re
import socket
import time
from typing import Any

from curate.annotate.fake_server import (
    TRANSLATE_PROMPT_START,
    FakeLLMServer,
    LLMHandler,
    document_of,
    gemini_body,
    openai_body,
    stand_in_answer,
)

FAULT = re.compile(r"FAULT=([a-z0-9_]+?)(?:x(\d+))?\b")
DOC = re.compile(r"DOC=(\S+)")
SCORE = re.compile(r"SCORE=(\d)")
USAGE = {"prompt": 120, "output": 9}  # tokens billed per request, whatever its length
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
BAD_SCORES = {
    "score_nan": '{"score": NaN, "rationale": "x"}',
    "score_inf": '{"score": Infinity, "rationale": "x"}',
    "score_str_nan": '{"score": "nan", "rationale": "x"}',
    "score_1e999": '{"score": 1e999, "rationale": "x"}',
    "score_bool": '{"score": true, "rationale": "x"}',
    "prose_two_scores": "En score: 5 ville vært for høyt. Endelig score: 1.",
    "garbage": "Jeg kan dessverre ikke vurdere denne teksten.",
    "range": '{"score": 9, "rationale": "utenfor skalaen"}',
}


# Bad translations (curate translate): each is a function of the source text
BAD_TRANSLATIONS = {
    "refusal": lambda src: "I'm sorry, but I can't help with translating this text.",
    "drop_code": lambda src: re.sub(r"```.*?```", "", src, flags=re.DOTALL),
    "untranslated": lambda src: src,
    "not_json": lambda src: f"Here is the translation: {src}",
}


class FaultServer(FakeLLMServer):
    """Threaded HTTP server on 127.0.0.1; `log` lists one dict per request: t, doc (the DOC= id,
    else the document's sha256), attempt, fault, protocol, api_key."""

    def __init__(
        self,
        always: str | None = None,
        shift: dict[str, int] | None = None,
        latency_s: float = 0.0,
        fault_rate: float = 0.0,
        retry_delay_s: float = 0.2,
        timeout_sleep_s: float = 5.0,
        seed: int = 0,
        port: int = 0,
        translations: dict[str, str] | None = None,
    ):
        """`shift`: document id -> points added to its score (a second, harsher or kinder
        annotator). `translations`: source text -> its translation, the good answer to a
        translation request (others get the stand-in, the source text)."""
        super().__init__(port, latency_s)
        self.translations = translations or {}
        self.always, self.shift = always, shift or {}
        self.fault_rate, self.retry_delay_s = fault_rate, retry_delay_s
        self.timeout_sleep_s = timeout_sleep_s
        self.rng = random.Random(seed)
        self.jobs: dict[str, dict] = {}
        self.polls_until_done = 1

    @staticmethod
    def handler_class():
        return FaultHandler

    def document_key(self, document: str) -> str:
        named = DOC.search(document)
        return named.group(1) if named else super().document_key(document)

    def fault_for(self, prompt: str, entry: dict[str, Any]) -> str | None:
        """The fault this request meets (recorded in its log entry)."""
        with self.lock:
            random_fault = self.fault_rate and self.rng.random() < self.fault_rate
            random_kind = self.rng.choice(["429", "500"])
        fault = self.always
        match = FAULT.search(prompt)
        if (
            fault is None
            and match
            and (match.group(2) is None or entry["attempt"] <= int(match.group(2)))
        ):
            fault = match.group(1)
        fault = fault or (random_kind if random_fault else None)
        entry["fault"] = fault
        return fault

    def good_answer(self, prompt: str, doc: str) -> str:
        if prompt.startswith(TRANSLATE_PROMPT_START):
            source = document_of(prompt)
            answer = {"translation": self.translations.get(source, source)}
            return json.dumps(answer, ensure_ascii=False)
        score = SCORE.search(prompt)
        if score is None:
            return json.dumps(stand_in_answer(prompt, document_of(prompt)), ensure_ascii=False)
        value = int(score.group(1)) + self.shift.get(doc, 0)
        return json.dumps({"score": min(max(value, 0), 5), "rationale": "ok"})


class FaultHandler(LLMHandler):
    server_state: FaultServer

    def usage(self, prompt: str, text: str | None) -> tuple[int, int]:
        return USAGE["prompt"], USAGE["output"]

    def do_GET(self) -> None:  # noqa: N802
        state = self.server_state
        job = state.jobs.get(self.path.rsplit("/", 1)[-1])
        if job is None:
            return self.route_missing()
        job["polls"] += 1
        done = job["polls"] > state.polls_until_done
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
        if ":batchGenerateContent" in self.path:
            body = json.loads(self.rfile.read(int(self.headers.get("content-length", 0))))
            return self.create_batch(body)
        return super().do_POST()

    def answer(self, prompt: str, protocol: str, model: str, entry: dict[str, Any]) -> None:
        state = self.server_state
        fault = state.fault_for(prompt, entry)
        text = state.good_answer(prompt, entry["doc"])
        usage = self.usage(prompt, text)
        if fault is None:
            return self.send_answer(text, protocol, model, usage)
        if fault == "timeout":
            time.sleep(state.timeout_sleep_s)
            return self.send_answer(text, protocol, model, usage)
        if fault in BAD_TRANSLATIONS:
            bad = BAD_TRANSLATIONS[fault](document_of(prompt))
            text = bad if fault == "not_json" else json.dumps({"translation": bad})
            return self.send_answer(text, protocol, model, usage)
        if fault in BAD_SCORES:
            return self.send_answer(BAD_SCORES[fault], protocol, model, usage)
        if fault == "nonjson":
            score = json.loads(text)["score"]
            return self.send_answer(
                f"Vurdering: teksten er grei. Score: {score}. Ferdig.", protocol, model, usage
            )
        if fault == "blocked":
            return self.send_answer(None, protocol, model, usage, blocked="SAFETY")
        if fault in ("safety", "recitation"):
            return self.send_answer(None, protocol, model, usage, finish=fault.upper())
        if fault in ("max_tokens", "truncated"):
            finish = "MAX_TOKENS" if fault == "max_tokens" else "STOP"
            return self.send_answer(text[: len(text) // 2], protocol, model, usage, finish=finish)
        return self.transport_fault(fault, protocol, text)

    def transport_fault(self, fault: str, protocol: str, text: str) -> None:
        gemini = protocol == "gemini"
        if fault in ("429", "500", "503"):
            delay = f"{self.server_state.retry_delay_s}s" if fault == "429" else None
            return self.send_error_body(int(fault), gemini, delay)
        if fault == "drop_mid_body":
            body = gemini_body if gemini else openai_body
            payload = json.dumps(body(text, "STOP", None, self.usage("", text), "m")).encode()
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

    def send_error_body(self, status: int, gemini: bool, retry_delay: str | None = None) -> None:
        """Gemini's google.rpc error (RetryInfo on a 429 that names a delay), or OpenAI's error
        object with a retry-after header."""
        message = {429: "Resource has been exhausted.", 503: "The model is overloaded."}
        if gemini:
            error: dict[str, Any] = {
                "code": status,
                "message": message.get(status, "Internal error encountered."),
                "status": {429: "RESOURCE_EXHAUSTED", 503: "UNAVAILABLE"}.get(status, "INTERNAL"),
            }
            if retry_delay:
                error["details"] = [
                    {"@type": "type.googleapis.com/google.rpc.RetryInfo", "retryDelay": retry_delay}
                ]
            return self.send_json(status, {"error": error})
        headers = {"retry-after": retry_delay.rstrip("s")} if retry_delay else {}
        kind = "rate_limit" if status == 429 else "server_error"
        self.send_json(
            status,
            {
                "error": {
                    "message": message.get(status, "internal error"),
                    "type": kind,
                    "code": status,
                }
            },
            headers,
        )

    def create_batch(self, body: dict) -> None:
        state = self.server_state
        batch = body["batch"]
        responses = []
        for item in batch["inputConfig"]["requests"]["requests"]:
            prompt = "".join(
                p.get("text", "") for c in item["request"]["contents"] for p in c["parts"]
            )
            entry = state.record(prompt, "gemini-batch", self.api_key())
            fault = state.fault_for(prompt, entry)
            if fault == "batch_item_error":
                responses.append(
                    {
                        "error": {"code": 13, "message": "Internal error"},
                        "metadata": item.get("metadata"),
                    }
                )
                continue
            text = state.good_answer(prompt, entry["doc"]) if fault is None else '{"score": NaN}'
            answer = gemini_body(text, "STOP", None, self.usage(prompt, text), "gemini-test")
            responses.append({"response": answer, "metadata": item.get("metadata")})
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

    def hang_up(self) -> None:
        self.close_connection = True
        try:
            self.connection.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass


def main() -> None:
    """Serve until killed (benchmarks start it as a separate process)."""
    import argparse

    ap = argparse.ArgumentParser(description="The test suite's LLM fault server.")
    ap.add_argument("--port", type=int, default=0)
    ap.add_argument("--latency", type=float, default=0.0)
    ap.add_argument("--fault-rate", type=float, default=0.0)
    ap.add_argument("--retry-delay", type=float, default=0.2)
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args()
    server = FaultServer(
        port=args.port,
        latency_s=args.latency,
        fault_rate=args.fault_rate,
        retry_delay_s=args.retry_delay,
        seed=args.seed,
    )
    print(server.url, flush=True)
    server.httpd.serve_forever()


if __name__ == "__main__":
    main()
