"""The figures `enqueue.py stats` prints for a person: what the metrics endpoint shows machines."""

from __future__ import annotations

from typing import Any

from sqlalchemy import func, select

from models import Chunk, DeadLetter, Job, JobEvent
from pipeline.db import session_factory
from pipeline.jobs import count_by_status
from pipeline.settings import Settings, get_settings
from pipeline.states import STAGES
from pipeline.usage import with_cost

#: Recent stage-ending events per stage the duration percentiles are taken over.
DURATION_SAMPLE = 500


def _percentile(values: list[float], q: float) -> float | None:
    if not values:
        return None
    ordered = sorted(values)
    return round(ordered[min(len(ordered) - 1, int(q * len(ordered)))], 3)


def collect_stats(settings: Settings | None = None, *, tenant_id: int | None = None) -> dict[str, Any]:
    """Jobs by status, dead letters, stage durations, retries, re-drives and LLM use (of one
    tenant's jobs when ``tenant_id`` is given)."""
    mine = select(Job.id).where(Job.tenant_id == tenant_id)

    def of_tenant(query: Any, job_id: Any) -> Any:
        return query if tenant_id is None else query.where(job_id.in_(mine))

    jobs = count_by_status(tenant_id=tenant_id, settings=settings)
    with session_factory(settings)() as session:
        letters = dict(
            session.execute(
                of_tenant(select(DeadLetter.stage, func.count()), DeadLetter.job_id)
                .where(DeadLetter.resolved_at.is_(None))
                .group_by(DeadLetter.stage)
            ).all()
        )
        durations: dict[str, dict[str, float | int | None]] = {}
        for spec in STAGES:
            values = [
                v
                for v in session.scalars(
                    of_tenant(select(JobEvent.duration_s), JobEvent.job_id)
                    .where(JobEvent.to_status == spec.done.value, JobEvent.duration_s.is_not(None))
                    .order_by(JobEvent.id.desc())
                    .limit(DURATION_SAMPLE)
                )
                if v is not None
            ]
            durations[spec.name] = {
                "count": len(values),
                "p50_s": _percentile(values, 0.5),
                "p95_s": _percentile(values, 0.95),
            }
        events = of_tenant(select(func.count()).select_from(JobEvent), JobEvent.job_id)
        retries = session.scalar(events.where(JobEvent.detail.like("re-claimed%")))
        redrives = session.scalar(events.where(JobEvent.detail.like("reconciler re-drive%")))
        llm = session.execute(
            of_tenant(
                select(
                    func.coalesce(func.sum(Chunk.prompt_tokens), 0),
                    func.coalesce(func.sum(Chunk.completion_tokens), 0),
                    func.count().filter(Chunk.cached.is_(True)),
                ),
                Chunk.job_id,
            )
        ).one()
    usage = {"prompt_tokens": llm[0], "completion_tokens": llm[1], "cache_hits": llm[2]}
    return {
        "jobs": {s.value: jobs.get(s.value, 0) for s in STAGES.statuses},  # zeros too
        "dead_letters_unresolved": {k or "": v for k, v in letters.items()},
        "stage_durations": durations,
        "retries": retries or 0,
        "reconciler_redrives": redrives or 0,
        "llm": with_cost(usage, (settings or get_settings()).extract),
    }
