"""The LLM answer cache: validated answers keyed by the sha256 of everything that shaped them.

Server mode keeps it in Redis (shared by every worker, expiring by TTL); embedded mode keeps it
in the local database (``llm_cache``). A re-run of an unchanged script asks the model nothing.
"""

from __future__ import annotations

import hashlib
import json
from datetime import timedelta
from typing import Any, Protocol

from sqlalchemy import delete
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.orm import Session, sessionmaker

from models import LlmCacheEntry
from models.base import utcnow
from pipeline.db import as_utc, session_factory
from pipeline.settings import Settings


def cache_key(*parts: Any) -> str:
    """sha256 over the parts' canonical JSON: ``cache_key(messages, model, prompt_v, schema_v)``."""
    blob = json.dumps(parts, ensure_ascii=False, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(blob.encode("utf-8")).hexdigest()


class AnswerCache(Protocol):
    def get(self, key: str) -> dict[str, Any] | None:
        """The cached value, or ``None``."""

    def put(self, key: str, value: dict[str, Any], ttl_s: int) -> None:
        """Store ``value`` for ``ttl_s`` seconds."""


class RedisAnswerCache:
    def __init__(self, client: Any, namespace: str) -> None:
        self._client = client
        self._prefix = f"{namespace}:llm-cache:"

    def get(self, key: str) -> dict[str, Any] | None:
        raw = self._client.get(self._prefix + key)
        return None if raw is None else dict(json.loads(raw))

    def put(self, key: str, value: dict[str, Any], ttl_s: int) -> None:
        if ttl_s > 0:
            self._client.set(self._prefix + key, json.dumps(value, ensure_ascii=False), ex=ttl_s)


class DbAnswerCache:
    def __init__(self, settings: Settings) -> None:
        self._settings = settings

    @property
    def _factory(self) -> sessionmaker[Session]:
        # Looked up per call, never kept: the process's engine for a URL is replaced after
        # dispose_engines() (the embedded mode's private server restarts between commands).
        return session_factory(self._settings)

    def get(self, key: str) -> dict[str, Any] | None:
        with self._factory.begin() as session:
            entry = session.get(LlmCacheEntry, key)
            if entry is None:
                return None
            if entry.expires_at is not None and as_utc(entry.expires_at) <= utcnow():
                return None
            return dict(entry.value)

    def put(self, key: str, value: dict[str, Any], ttl_s: int) -> None:
        if ttl_s <= 0:
            return
        expires = utcnow() + timedelta(seconds=ttl_s)
        stored = insert(LlmCacheEntry).values(key=key, value=value, expires_at=expires)
        with self._factory.begin() as session:
            session.execute(
                stored.on_conflict_do_update(
                    index_elements=[LlmCacheEntry.key],
                    set_={"value": stored.excluded.value, "expires_at": stored.excluded.expires_at},
                )
            )

    def purge_expired(self) -> int:
        """Drop expired entries; return how many."""
        with self._factory.begin() as session:
            gone = session.execute(
                delete(LlmCacheEntry).where(LlmCacheEntry.expires_at <= utcnow()).returning(LlmCacheEntry.key)
            )
            return len(gone.all())
