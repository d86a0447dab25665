"""Talking to OpenAI-compatible models: the client, the shared rate limit and the answer cache.

:func:`llm_services` hands each process one cache and one rate limiter for its settings: Redis-backed
in server mode (shared by every worker on every machine), local in embedded mode.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass

from pipeline.llm.cache import AnswerCache, DbAnswerCache, RedisAnswerCache, cache_key
from pipeline.llm.client import (
    Answer,
    ChatClient,
    Endpoint,
    InvalidAnswer,
    Limiter,
    ProviderRejected,
    ProviderUnavailable,
    chat_json,
    parse_json,
)
from pipeline.llm.ratelimit import Limits, LocalRateLimiter, RateLimitBacklog, RedisRateLimiter
from pipeline.settings import Settings

__all__ = [
    "Answer",
    "AnswerCache",
    "ChatClient",
    "Endpoint",
    "InvalidAnswer",
    "LlmServices",
    "ProviderRejected",
    "ProviderUnavailable",
    "RateLimitBacklog",
    "cache_key",
    "chat_json",
    "llm_services",
    "parse_json",
]


@dataclass(frozen=True)
class LlmServices:
    cache: AnswerCache
    limiter: Limiter
    cache_ttl_s: int


_services: dict[tuple[object, ...], LlmServices] = {}
_lock = threading.Lock()


def llm_services(settings: Settings) -> LlmServices:
    """This process's cache and rate limiter for ``settings`` (built once, shared by threads)."""
    ex = settings.extract
    limits = Limits(rpm=ex.rpm, tpm=ex.tpm, max_wait_s=settings.stages.for_stage("extract").time_limit_s / 2)
    key = (settings.mode, settings.broker.url, settings.broker.namespace, settings.database.url, limits)
    with _lock:
        found = _services.get(key)
        if found is None:
            found = _build(settings, limits)
            _services[key] = found
        return found


def _build(settings: Settings, limits: Limits) -> LlmServices:
    if settings.mode == "embedded":
        return LlmServices(DbAnswerCache(settings), LocalRateLimiter(limits), settings.extract.cache_ttl_s)
    import redis

    pool = redis.BlockingConnectionPool.from_url(settings.broker.url, max_connections=64, timeout=30)
    client = redis.Redis(connection_pool=pool)
    namespace = settings.broker.namespace
    return LlmServices(
        RedisAnswerCache(client, namespace),
        RedisRateLimiter(client, namespace, limits),
        settings.extract.cache_ttl_s,
    )
