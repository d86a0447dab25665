"""Token accounting: what a job's LLM calls cost, summed from its chunks."""

from __future__ import annotations

from typing import Any

from sqlalchemy import case, func, select
from sqlalchemy.orm import Session

from models import Chunk


def job_usage(session: Session, job_id: str) -> dict[str, Any] | None:
    """Calls, tokens, cache hits and time in calls over a job's chunks; ``None`` if no chunk used a model.

    Chunks extracted by the rules provider count as nothing; a chunk served from the cache
    counts as a hit with no calls and no tokens.
    """
    row = session.execute(
        select(
            func.count(),
            func.coalesce(func.sum(Chunk.calls), 0),
            func.coalesce(func.sum(Chunk.prompt_tokens), 0),
            func.coalesce(func.sum(Chunk.completion_tokens), 0),
            func.coalesce(func.sum(case((Chunk.cached, 1), else_=0)), 0),
            func.coalesce(func.sum(Chunk.latency_ms), 0),
        ).where(Chunk.job_id == job_id, Chunk.provider.is_not(None), Chunk.provider != "rules")
    ).one()
    chunks, calls, prompt, completion, hits, latency_ms = (int(v) for v in row)
    if not chunks:
        return None
    return {
        "chunks": chunks,
        "calls": calls,
        "prompt_tokens": prompt,
        "completion_tokens": completion,
        "cache_hits": hits,
        "call_seconds": round(latency_ms / 1000, 2),
    }
