"""A small OpenAI-compatible chat-completions client: one POST, Juben's retry policy, Juben's errors.

Why httpx and not the ``openai`` SDK: we call one endpoint (``POST {base_url}/chat/completions``)
against many servers (OpenAI, DeepSeek, Qwen, vLLM, Ollama) that differ in what they accept;
we need our own retry policy (tenacity, Retry-After honoured, every retry reported to the job's
history) rather than the SDK's hidden one; we keep the raw answer for ops when it is unusable;
and an ``httpx.Client`` per worker thread keeps one connection alive each. The SDK would add
a second retry layer to switch off and typed models to see past.

Threads: each worker thread talks through its own keep-alive ``httpx.Client`` (see
:func:`http_client`); docs/ARCHITECTURE.md, "LLM concurrency", explains the choice.
"""

from __future__ import annotations

import json
import os
import random
import ssl
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol, TypeVar

import certifi
import httpx
from tenacity import RetryCallState, Retrying, retry_if_exception, stop_after_attempt

from pipeline.errors import PermanentError, TransientError
from pipeline.settings import ExtractSettings

#: Per-job option keys (``--set KEY=VALUE``, ``submit --option``) that override ``[extract]``.
ENDPOINT_OPTIONS = ("base_url", "model", "timeout_s", "max_tokens", "temperature", "response_format")

Message = dict[str, str]
T = TypeVar("T")


class RateLimited(TransientError):
    """The endpoint answered 429 Too Many Requests."""

    def __init__(self, message: str, retry_after: float | None) -> None:
        super().__init__(message)
        self.retry_after = retry_after


class ServerFault(TransientError):
    """The endpoint answered with a 5xx status."""


class ProviderUnavailable(TransientError):
    """The endpoint kept failing (429, 5xx, timeouts, lost connections) through every attempt."""


class ProviderRejected(PermanentError):
    """The endpoint refused the request (bad key, no access, bad request); retrying cannot help."""


class InvalidAnswer(PermanentError):
    """The model's answer is not the JSON asked for, even after a repair request."""

    def __init__(self, message: str, raw: str) -> None:
        super().__init__(message)
        self.raw = raw


@dataclass(frozen=True)
class Endpoint:
    """Where and how to call the model; built from ``[extract]`` plus per-job overrides."""

    base_url: str
    model: str
    api_key: str = field(repr=False)
    timeout_s: float = 180.0
    max_tokens: int = 4096
    temperature: float = 0.0
    response_format: str = "json_schema"
    call_attempts: int = 4
    max_retry_wait_s: float = 60.0

    @classmethod
    def from_settings(cls, settings: ExtractSettings, overrides: Mapping[str, Any] | None = None) -> Endpoint:
        """The endpoint of ``[extract]``, with the job's recorded overrides applied.

        The API key is read from the environment variable ``settings.api_key_env`` names.
        """
        values: dict[str, Any] = {name: getattr(settings, name) for name in ENDPOINT_OPTIONS}
        for name in ENDPOINT_OPTIONS:
            if overrides and overrides.get(name) not in (None, ""):
                values[name] = type(values[name])(overrides[name])
        return cls(
            api_key=os.environ.get(settings.api_key_env, ""),
            call_attempts=settings.call_attempts,
            max_retry_wait_s=settings.max_retry_wait_s,
            **values,
        )

    @property
    def limit_key(self) -> str:
        """What the shared rate limit is counted per: the provider and model."""
        return f"{self.base_url.rstrip('/')}|{self.model}"


@dataclass(frozen=True)
class Answer:
    """One usable chat answer and what it cost."""

    text: str
    prompt_tokens: int
    completion_tokens: int
    calls: int
    latency_ms: int

    def then(self, later: Answer) -> Answer:
        """``later``'s text with both answers' costs (a repair after a first answer)."""
        return Answer(
            later.text,
            self.prompt_tokens + later.prompt_tokens,
            self.completion_tokens + later.completion_tokens,
            self.calls + later.calls,
            self.latency_ms + later.latency_ms,
        )


class Limiter(Protocol):
    """What the client needs of a rate limiter (see :mod:`pipeline.llm.ratelimit`)."""

    def acquire(self, key: str, tokens: int) -> float:
        """Block until one request of ``tokens`` may be sent; return the seconds waited."""

    def settle(self, key: str, estimated: int, actual: int) -> None:
        """Correct the token count reserved by :meth:`acquire` once the real usage is known."""


#: Called before each in-call retry with the error and the seconds about to be slept.
OnRetry = Callable[[BaseException, float], None]

_local = threading.local()
_ssl_lock = threading.Lock()
_ssl_context: ssl.SSLContext | None = None


def _shared_ssl_context() -> ssl.SSLContext:
    global _ssl_context  # noqa: PLW0603 (built once per process: building one costs ~10 ms)
    with _ssl_lock:
        if _ssl_context is None:
            _ssl_context = ssl.create_default_context(cafile=certifi.where())
        return _ssl_context


def http_client(base_url: str, timeout_s: float) -> httpx.Client:
    """This thread's keep-alive client for one endpoint.

    One client per worker thread, not one shared pool: httpcore's pool takes one lock and scans
    every connection per request, which with 200+ threads in flight cost more CPU than the rest
    of a chunk's work (measured with py-spy; see docs/ARCHITECTURE.md). Each thread holds at
    most one call at a time, so its client keeps one connection; all share one SSL context.
    """
    clients: dict[tuple[str, float], httpx.Client] | None = getattr(_local, "clients", None)
    if clients is None:
        clients = _local.clients = {}
    key = (base_url, timeout_s)
    client = clients.get(key)
    if client is None:
        client = httpx.Client(
            timeout=httpx.Timeout(timeout_s, connect=min(10.0, timeout_s)),
            limits=httpx.Limits(max_connections=4, max_keepalive_connections=1),
            headers={"User-Agent": "juben"},
            verify=_shared_ssl_context(),
        )
        clients[key] = client
    return client


def close_thread_clients() -> None:
    """Close this thread's clients (a worker thread calls it as it stops)."""
    clients: dict[tuple[str, float], httpx.Client] = getattr(_local, "clients", None) or {}
    for client in clients.values():
        client.close()
    clients.clear()


def estimate_tokens(text: str) -> int:
    """A rough token count for the rate limiter: ~1 per CJK character, ~1 per 4 other characters."""
    cjk = sum(1 for ch in text if "\u3000" <= ch <= "\u9fff" or "\uff00" <= ch <= "\uffef")
    return cjk + (len(text) - cjk) // 4 + 1


def _retry_after(response: httpx.Response) -> float | None:
    value = response.headers.get("retry-after")
    if value is None:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        return None  # an HTTP date: fall back to our own backoff


def _retryable(exc: BaseException) -> bool:
    return isinstance(exc, RateLimited | ServerFault | httpx.TimeoutException | httpx.TransportError)


def _describe(exc: BaseException) -> str:
    if isinstance(exc, httpx.TimeoutException):
        return f"timed out ({type(exc).__name__})"
    if isinstance(exc, httpx.TransportError):
        return f"connection failed ({type(exc).__name__}: {exc})"
    return str(exc)


class ChatClient:
    """Calls one endpoint with Juben's retry policy, rate limit and error kinds."""

    def __init__(self, endpoint: Endpoint, *, limiter: Limiter | None = None) -> None:
        self.endpoint = endpoint
        self.limiter = limiter
        self._json_object_only = endpoint.response_format == "json_object"

    def chat(
        self,
        messages: Sequence[Message],
        *,
        schema: dict[str, Any] | None = None,
        schema_name: str = "answer",
        on_retry: OnRetry | None = None,
    ) -> Answer:
        """Send ``messages`` and return the answer's text and usage.

        Transient faults (429 honouring Retry-After, 5xx, timeouts, connection errors) are
        retried here up to ``call_attempts`` times with jittered exponential backoff, each retry
        reported to ``on_retry``; past that :class:`ProviderUnavailable` (transient) hands the
        message back to dramatiq's retries.

        Raises:
            ProviderUnavailable: the endpoint kept failing.
            ProviderRejected: 4xx other than 429 (a bad key fails at once, without retries).
        """
        ep = self.endpoint
        estimated = estimate_tokens("".join(m["content"] for m in messages)) + ep.max_tokens // 4
        calls = 0
        started = time.monotonic()

        def attempt() -> httpx.Response:
            nonlocal calls
            if self.limiter is not None:
                self.limiter.acquire(ep.limit_key, estimated)
            calls += 1
            return self._post(self._body(messages, schema, schema_name))

        def wait(state: RetryCallState) -> float:
            exc = state.outcome.exception() if state.outcome else None
            if isinstance(exc, RateLimited) and exc.retry_after is not None:
                return min(exc.retry_after + random.uniform(0, 0.5), ep.max_retry_wait_s)
            return min(random.uniform(0, 2.0**state.attempt_number), ep.max_retry_wait_s)  # full jitter

        def before_sleep(state: RetryCallState) -> None:
            exc = state.outcome.exception() if state.outcome else None
            if on_retry is not None and exc is not None and state.next_action is not None:
                on_retry(exc, state.next_action.sleep)

        retrying = Retrying(
            retry=retry_if_exception(_retryable),
            stop=stop_after_attempt(ep.call_attempts),
            wait=wait,
            before_sleep=before_sleep,
            reraise=True,
        )
        try:
            response = retrying(attempt)
        except (RateLimited, ServerFault, httpx.TimeoutException, httpx.TransportError) as exc:
            raise ProviderUnavailable(
                f"{ep.model} at {ep.base_url}: {_describe(exc)} (after {calls} attempts)"
            ) from exc
        text, prompt_tokens, completion_tokens = self._read(response)
        if self.limiter is not None:
            self.limiter.settle(ep.limit_key, estimated, prompt_tokens + completion_tokens)
        return Answer(text, prompt_tokens, completion_tokens, calls, int((time.monotonic() - started) * 1000))

    def _body(self, messages: Sequence[Message], schema: dict[str, Any] | None, name: str) -> dict[str, Any]:
        ep = self.endpoint
        body: dict[str, Any] = {
            "model": ep.model,
            "messages": list(messages),
            "max_tokens": ep.max_tokens,
            "temperature": ep.temperature,
        }
        if schema is not None and not self._json_object_only:
            body["response_format"] = {
                "type": "json_schema",
                "json_schema": {"name": name, "schema": schema, "strict": False},
            }
        elif schema is not None:
            body["response_format"] = {"type": "json_object"}
        return body

    def _post(self, body: dict[str, Any]) -> httpx.Response:
        ep = self.endpoint
        headers = {"Authorization": f"Bearer {ep.api_key}"} if ep.api_key else {}
        url = ep.base_url.rstrip("/") + "/chat/completions"
        response = http_client(ep.base_url.rstrip("/"), ep.timeout_s).post(url, json=body, headers=headers)
        status = response.status_code
        if status == 429:
            raise RateLimited(f"{ep.model}: 429 rate limited", _retry_after(response))
        if status >= 500:
            raise ServerFault(f"{ep.model}: HTTP {status} {response.text[:200]!r}")
        if status == 400 and self._refused_json_schema(body, response):
            self._json_object_only = True  # the server does not know json_schema: JSON mode from now on
            return self._post({**body, "response_format": {"type": "json_object"}})
        if status in (401, 403):
            raise ProviderRejected(f"{ep.model}: the endpoint refused the API key (HTTP {status})")
        if status >= 400:
            raise ProviderRejected(f"{ep.model}: HTTP {status} {response.text[:300]!r}")
        return response

    @staticmethod
    def _refused_json_schema(body: dict[str, Any], response: httpx.Response) -> bool:
        sent = str(body.get("response_format", ""))
        return "json_schema" in sent and (
            "response_format" in response.text or "json_schema" in response.text
        )

    def _read(self, response: httpx.Response) -> tuple[str, int, int]:
        try:
            data = response.json()
            text = data["choices"][0]["message"]["content"]
        except (ValueError, KeyError, IndexError, TypeError):
            raise InvalidAnswer(
                "the endpoint's reply is not a chat completion", response.text[:20_000]
            ) from None
        usage = data.get("usage") or {}
        return (
            str(text or ""),
            int(usage.get("prompt_tokens") or 0),
            int(usage.get("completion_tokens") or 0),
        )


def parse_json(text: str) -> Any:
    """The JSON value in a model's answer, tolerating a Markdown code fence around it."""
    stripped = text.strip()
    if stripped.startswith("```"):
        stripped = stripped.split("\n", 1)[1] if "\n" in stripped else ""
        stripped = stripped.rsplit("```", 1)[0]
    return json.loads(stripped)


#: The repair request after an unusable answer, by language; ``{error}`` is what was wrong.
REPAIR = {
    "en": "Your answer could not be used: {error}. Answer again with the corrected JSON object only.",
    "zh": "你的回答无法使用：{error}。请只回答修正后的 JSON 对象。",
}


def chat_json(
    client: ChatClient,
    messages: Sequence[Message],
    read: Callable[[str], T],
    *,
    schema: dict[str, Any],
    schema_name: str,
    language: str = "en",
    on_retry: OnRetry | None = None,
) -> tuple[T, Answer]:
    """Ask for JSON and ``read`` it; a ``ValueError`` from ``read`` gets one repair request quoting it.

    Returns:
        What ``read`` made of the answer, and the answer with the cost of both calls if repaired.

    Raises:
        InvalidAnswer: the repaired answer is unusable too (it carries the raw text).
    """
    answer = client.chat(messages, schema=schema, schema_name=schema_name, on_retry=on_retry)
    try:
        return read(answer.text), answer
    except ValueError as first:
        repair = [
            *messages,
            {"role": "assistant", "content": answer.text},
            {"role": "user", "content": REPAIR["zh" if language == "zh" else "en"].format(error=first)},
        ]
        answer = answer.then(client.chat(repair, schema=schema, schema_name=schema_name, on_retry=on_retry))
    try:
        return read(answer.text), answer
    except ValueError as second:
        raise InvalidAnswer(
            f"the model's answer is unusable after one repair: {second}", raw=answer.text
        ) from None
