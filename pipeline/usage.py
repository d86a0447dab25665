"""Token accounting: what a job's LLM calls cost, summed from its chunks."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import and_, bindparam, case, func, select

from models import Chunk
from pipeline.db import Db, connection_of
from pipeline.settings import ExtractSettings

#: A job's LLM work summed from its chunks: chunks, calls, prompt and completion tokens, cache
#: hits, milliseconds in calls. Chunks extracted by the rules provider count as nothing.
USAGE_SUMS = (
    func.count(),
    func.coalesce(func.sum(Chunk.calls), 0),
    func.coalesce(func.sum(Chunk.prompt_tokens), 0),
    func.coalesce(func.sum(Chunk.completion_tokens), 0),
    func.coalesce(func.sum(case((Chunk.cached, 1), else_=0)), 0),
    func.coalesce(func.sum(Chunk.latency_ms), 0),
)
LLM_CHUNK = and_(Chunk.provider.is_not(None), Chunk.provider != "rules")
#: Built once; run with ``{"job_id": …}``.
_USAGE = select(*USAGE_SUMS).where(Chunk.job_id == bindparam("job_id"), LLM_CHUNK)


def usage_sums_of(job_id: Any) -> Any:
    """PostgreSQL: :data:`USAGE_SUMS` of the job ``job_id`` (a column to correlate with) as one JSON
    array, a scalar subquery for statements that read a job's usage with other things."""
    return (
        select(func.json_build_array(*USAGE_SUMS)).where(Chunk.job_id == job_id, LLM_CHUNK).scalar_subquery()
    )


def job_usage(
    db: Db, job_id: str, meta: dict[str, Any] | None = None, prices: ExtractSettings | None = None
) -> dict[str, Any] | None:
    """Calls, tokens, cache hits and time in calls of a job's LLM work; ``None`` if it used no model.

    Sums the chunks' extraction (those extracted by the rules provider count as nothing; a chunk
    served from the cache counts as a hit with no calls and no tokens) and, from the job's
    ``meta``, an LLM storyboard's calls (``storyboard`` holds those on their own too).
    """
    row = connection_of(db).execute(_USAGE, {"job_id": job_id}).one()
    return usage_from_sums(row, meta, prices)


def usage_from_sums(
    sums: Sequence[Any], meta: dict[str, Any] | None = None, prices: ExtractSettings | None = None
) -> dict[str, Any] | None:
    """:func:`job_usage` from :data:`USAGE_SUMS` read already (``status`` reads them with its job);
    with ``prices`` that price tokens, also the ``cost`` (:func:`cost_of`) and its ``currency``."""
    chunks, calls, prompt, completion, hits, latency_ms = (int(v) for v in sums)
    board = (meta or {}).get("storyboard_llm")
    if not chunks and not board:
        return None
    usage: dict[str, Any] = {
        "chunks": chunks,
        "calls": calls,
        "prompt_tokens": prompt,
        "completion_tokens": completion,
        "cache_hits": hits,
        "call_seconds": round(latency_ms / 1000, 2),
    }
    if board:
        usage["storyboard"] = dict(board)
        for key in ("calls", "prompt_tokens", "completion_tokens", "cache_hits"):
            usage[key] += int(board.get(key, 0))
    return with_cost(usage, prices)


def with_cost(usage: dict[str, Any], prices: ExtractSettings | None) -> dict[str, Any]:
    """``usage`` (its ``prompt_tokens`` and ``completion_tokens``) with its ``cost`` and
    ``currency`` added when ``prices`` price tokens (a job's use, all tokens in ``stats``)."""
    cost = cost_of(usage["prompt_tokens"], usage["completion_tokens"], prices)
    if cost is not None and prices is not None:
        usage["cost"], usage["currency"] = cost, prices.currency
    return usage


def cost_of(prompt_tokens: float, completion_tokens: float, prices: ExtractSettings | None) -> float | None:
    """What tokens cost at the prices in settings (``extract.price_per_million_*``), rounded to
    a millionth; ``None`` when no price is set. The prices of now, not of when the calls were made."""
    if prices is None or not (
        prices.price_per_million_prompt_tokens or prices.price_per_million_completion_tokens
    ):
        return None
    cost = (
        prompt_tokens * prices.price_per_million_prompt_tokens
        + completion_tokens * prices.price_per_million_completion_tokens
    ) / 1_000_000
    return round(cost, 6)
