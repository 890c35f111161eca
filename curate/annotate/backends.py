"""LLM backends behind one small interface: send a prompt, get an Answer or a classified error.

Retries are not done here: the runner owns them, so that it can honour the server's
``retryDelay`` (the Gemini SDK's own retry ignores it), count attempts per document and keep
every request inside its rate limit. The SDK's own retries are switched off for that reason.
"""

from __future__ import annotations

import json
import os
import re
from dataclasses import dataclass
from typing import Any, Protocol

import aiohttp
import httpx

from curate.annotate.config import AnnotateConfig
from curate.errors import CurateError, InputError

RETRYABLE_STATUS = {408, 409, 429, 500, 502, 503, 504}
FATAL_STATUS = {401, 403, 404}
# Gemini answers a bad key with 400 INVALID_ARGUMENT, the reason in its google.rpc.ErrorInfo
FATAL_REASONS = {"API_KEY_INVALID", "API_KEY_EXPIRED", "API_KEY_SERVICE_BLOCKED"}
# google-genai sends over aiohttp when it is installed, else httpx: either client's transport
# errors (a connection closed mid-body, a server that hung up) are worth another try
TRANSPORT_ERRORS = (httpx.TransportError, aiohttp.ClientError)
SCORE_SCHEMA = {
    "type": "object",
    "properties": {"score": {"type": "integer"}, "rationale": {"type": "string"}},
    "required": ["score", "rationale"],
}
TRANSLATION_SCHEMA = {
    "type": "object",
    "properties": {"translation": {"type": "string"}},
    "required": ["translation"],
}
# The answer's JSON schema, by the name a config gives (`response_schema`)
SCHEMAS = {"score": SCORE_SCHEMA, "translation": TRANSLATION_SCHEMA}


@dataclass
class Answer:
    """One answer as the runner sees it, whatever the protocol: the backend that read it says
    whether its finish reason means blocked or truncated (each protocol has its own words)."""

    text: str | None
    finish_reason: str | None = None
    block_reason: str | None = None
    input_tokens: int = 0
    output_tokens: int = 0
    thinking_tokens: int = 0
    blocked: bool = False
    truncated: bool = False


# Gemini's finishReason values that mean the answer was withheld, or cut at the token limit
GEMINI_BLOCKING = {
    "SAFETY",
    "RECITATION",
    "BLOCKLIST",
    "PROHIBITED_CONTENT",
    "SPII",
    "IMAGE_SAFETY",
}
GEMINI_TRUNCATING = {"MAX_TOKENS"}
# OpenAI's finish_reason values
OPENAI_BLOCKING = {"content_filter"}
OPENAI_TRUNCATING = {"length"}


class RetryableError(CurateError):
    """Rate limits, server errors, timeouts: try again later."""

    def __init__(self, reason: str, retry_after: float | None = None):
        super().__init__(reason)
        self.retry_after = retry_after


class RequestFailed(CurateError):
    """This request cannot succeed as sent (a 400, say): record it and move on."""


class FatalBackendError(CurateError):
    """Every request would fail (bad key, unknown model): stop the run."""


class Backend(Protocol):
    name: str
    batch_mode: bool  # whether curate.annotate.batch can send its requests as one batch job

    async def generate(self, prompt: str) -> Answer: ...

    async def aclose(self) -> None: ...


def parse_duration(value: Any) -> float | None:
    """'2s', '1.5s', '250ms' or a number of seconds -> seconds."""
    if value is None:
        return None
    if isinstance(value, int | float):
        return float(value)
    match = re.fullmatch(r"\s*([\d.]+)\s*(ms|s)?\s*", str(value))
    if not match:
        return None
    number = float(match.group(1))
    return number / 1000 if match.group(2) == "ms" else number


def api_key(config: AnnotateConfig, required: bool) -> str | None:
    key = os.environ.get(config.api_key_env) if config.api_key_env else None
    if required and not key:
        raise FatalBackendError(
            f"no API key: set the environment variable {config.api_key_env} "
            f"(or run with CURATE_FAKE_LLM=1 for the local test server)"
        )
    return key


def classify_status(status: int, reason: str, retry_after: float | None) -> Exception:
    if status in RETRYABLE_STATUS:
        return RetryableError(f"http {status}: {reason}", retry_after)
    if status in FATAL_STATUS:
        return FatalBackendError(f"http {status}: {reason}")
    return RequestFailed(f"http {status}: {reason}")


class GeminiBackend:
    """Gemini through google-genai's async client, with JSON output constrained by a schema."""

    name = "gemini"
    batch_mode = True  # the Gemini Batch API (curate.annotate.batch)

    def __init__(self, config: AnnotateConfig):
        from google import genai
        from google.genai import types

        self._types = types
        http = types.HttpOptions(
            base_url=config.base_url,
            api_version=config.api_version,
            timeout=int(config.timeout_s * 1000),
            # one attempt: no hidden resend that bypasses the runner's limiter and counters
            retry_options=types.HttpRetryOptions(attempts=1),
        )
        self.client = genai.Client(api_key=api_key(config, required=True), http_options=http)
        self.model = config.model
        gen = dict(config.generation)
        thinking = gen.pop("thinking_budget", None)
        self.request_config = types.GenerateContentConfig(
            temperature=gen.pop("temperature", 0.0),
            max_output_tokens=gen.pop("max_output_tokens", 512),
            seed=gen.pop("seed", None),
            response_mime_type="application/json",
            response_schema=SCHEMAS[config.response_schema],
            thinking_config=types.ThinkingConfig(thinking_budget=thinking)
            if thinking is not None
            else None,
            safety_settings=[types.SafetySetting(**s) for s in config.safety_settings] or None,
            automatic_function_calling=types.AutomaticFunctionCallingConfig(disable=True),
            **gen,
        )

    async def generate(self, prompt: str) -> Answer:
        from google.genai import errors

        try:
            resp = await self.client.aio.models.generate_content(
                model=self.model, contents=prompt, config=self.request_config
            )
        except errors.APIError as err:
            raise gemini_error(err) from None
        except (errors.UnknownApiResponseError, json.JSONDecodeError) as err:  # 200, not JSON
            raise RetryableError(f"unreadable response: {str(err)[:120]}") from None
        except (TimeoutError, httpx.TimeoutException) as err:
            raise RetryableError(f"timeout: {type(err).__name__}") from None
        except TRANSPORT_ERRORS as err:
            raise RetryableError(f"connection error: {type(err).__name__}: {err}") from None
        return gemini_answer(resp)

    async def aclose(self) -> None:
        await self.client.aio.aclose()


def gemini_error(err: Any) -> Exception:
    """An SDK APIError as a runner error. Fatal beyond the status codes: a rejected key (400
    with reason API_KEY_INVALID) and a daily quota used up (429 naming a per-day quota), since
    every further request would fail the same way until the user acts."""
    items = _gemini_details(err.details)
    reasons = {i.get("reason") for i in items if "reason" in i}
    if reasons & FATAL_REASONS:
        reason = sorted(reasons & FATAL_REASONS)[0]
        return FatalBackendError(
            f"http {err.code} {reason}: the API key was rejected; set a valid key in the "
            "environment variable named by api_key_env (GEMINI_API_KEY by default)"
        )
    daily = [
        v.get("quotaId", "")
        for i in items
        for v in i.get("violations", []) or []
        if "PerDay" in str(v.get("quotaId", ""))
    ]
    if err.code == 429 and daily:
        return FatalBackendError(
            f"http 429 daily quota exhausted ({daily[0]}): rerun after the quota resets or "
            "raise it; the rerun continues where this run stopped"
        )
    retry_delay = next((parse_duration(i["retryDelay"]) for i in items if "retryDelay" in i), None)
    return classify_status(err.code or 0, str(err.status or err.message), retry_delay)


def _gemini_details(details: Any) -> list[dict]:
    if not isinstance(details, dict):
        return []
    error = details.get("error", details)
    items = error.get("details", []) if isinstance(error, dict) else []
    return [i for i in items or [] if isinstance(i, dict)]


def gemini_answer(resp: Any) -> Answer:
    usage = resp.usage_metadata
    answer = Answer(
        text=None,
        input_tokens=(usage.prompt_token_count or 0) if usage else 0,
        output_tokens=(usage.candidates_token_count or 0) if usage else 0,
        thinking_tokens=(usage.thoughts_token_count or 0) if usage else 0,
    )
    if resp.prompt_feedback is not None and resp.prompt_feedback.block_reason is not None:
        answer.block_reason = _enum_name(resp.prompt_feedback.block_reason)
        return answer
    if not resp.candidates:
        return answer
    cand = resp.candidates[0]
    answer.finish_reason = _enum_name(cand.finish_reason) if cand.finish_reason else None
    answer.blocked = answer.finish_reason in GEMINI_BLOCKING
    answer.truncated = answer.finish_reason in GEMINI_TRUNCATING
    if cand.content is not None and cand.content.parts:
        answer.text = "".join(p.text for p in cand.content.parts if p.text and not p.thought)
    return answer


def _enum_name(value: Any) -> str:
    return getattr(value, "value", None) or str(value)


class OpenAIBackend:
    """Any OpenAI-compatible /chat/completions server (vLLM, llama.cpp, Ollama), over aiohttp.

    aiohttp rather than httpx: measured here, httpx's pool fell to 85 req/s at 64 concurrent
    requests against a 100 ms server, where aiohttp keeps up (benchmarks/annotate_throughput.py).
    """

    name = "openai"
    batch_mode = False

    def __init__(self, config: AnnotateConfig):
        if not config.base_url:
            raise InputError("the openai backend needs base_url (e.g. http://127.0.0.1:8000/v1)")
        key = api_key(config, required=False)
        self.headers = {"Authorization": f"Bearer {key}"} if key else {}
        self.url = config.base_url.rstrip("/") + "/chat/completions"
        self.timeout_s = config.timeout_s
        self.concurrency = config.concurrency
        self.model = config.model
        self.body_extra = _openai_generation(config)
        self._session = None  # created inside the running event loop

    def session(self):
        import aiohttp

        if self._session is None:
            self._session = aiohttp.ClientSession(
                headers=self.headers,
                timeout=aiohttp.ClientTimeout(total=self.timeout_s),
                connector=aiohttp.TCPConnector(limit=self.concurrency),
            )
        return self._session

    async def generate(self, prompt: str) -> Answer:
        import aiohttp

        body = {
            "model": self.model,
            "messages": [{"role": "user", "content": prompt}],
            **self.body_extra,
        }
        try:
            async with self.session().post(self.url, json=body) as resp:
                status, text = resp.status, await resp.text()
                retry_after = resp.headers.get("retry-after")
        except TimeoutError:
            raise RetryableError(f"timeout after {self.timeout_s}s") from None
        except aiohttp.ClientError as err:
            raise RetryableError(f"connection error: {type(err).__name__}: {err}") from None
        if status == 429 and "insufficient_quota" in text:  # OpenAI's "out of credit"
            raise FatalBackendError("http 429 insufficient_quota: the account is out of credit")
        if status != 200:
            raise classify_status(status, text[:200], parse_duration(retry_after))
        try:
            data = json.loads(text)
        except ValueError:
            raise RetryableError(f"unreadable response: {text[:120]!r}") from None
        if not isinstance(data, dict):
            raise RequestFailed(f"malformed response: {text[:120]!r}")
        usage = data.get("usage") or {}
        answer = Answer(  # billed tokens count even when the answer is unusable
            text=None,
            input_tokens=int(usage.get("prompt_tokens") or 0),
            output_tokens=int(usage.get("completion_tokens") or 0),
        )
        choices = data.get("choices")
        if not choices or not isinstance(choices[0], dict):
            answer.finish_reason = "no choices"
            return answer
        answer.text = (choices[0].get("message") or {}).get("content")
        answer.finish_reason = choices[0].get("finish_reason")
        answer.blocked = answer.finish_reason in OPENAI_BLOCKING
        answer.truncated = answer.finish_reason in OPENAI_TRUNCATING
        return answer

    async def aclose(self) -> None:
        if self._session is not None:
            await self._session.close()


def _openai_generation(config: AnnotateConfig) -> dict[str, Any]:
    gen = dict(config.generation)
    body: dict[str, Any] = {
        "temperature": gen.pop("temperature", 0.0),
        "max_tokens": gen.pop("max_output_tokens", 512),
    }
    gen.pop("thinking_budget", None)
    body.update(gen)
    if config.response_format == "json_schema":
        body["response_format"] = {
            "type": "json_schema",
            "json_schema": {
                "name": config.response_schema,
                "schema": SCHEMAS[config.response_schema],
                "strict": True,
            },
        }
    elif config.response_format == "json_object":
        body["response_format"] = {"type": "json_object"}
    return body


# Every backend by the name configs give it; each also ships its default config
# (curate/resources/annotate/<name>.yaml), and a test checks the two lists agree.
BACKENDS: dict[str, type] = {"gemini": GeminiBackend, "openai": OpenAIBackend}


def make_backend(config: AnnotateConfig) -> Backend:
    try:
        backend = BACKENDS[config.backend]
    except KeyError:
        raise InputError(
            f"backend {config.backend!r} has no implementation; backends: {sorted(BACKENDS)}"
        ) from None
    return backend(config)
