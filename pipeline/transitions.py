"""The only writer of ``jobs.status``: compare-and-set transitions, each recorded as a job event."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import and_, case, insert, select, update
from sqlalchemy.orm import Session

from models import Job, JobEvent
from models.base import utcnow
from pipeline.errors import IllegalTransition, JobNotFound
from pipeline.states import TERMINAL, Status, is_legal


def transition(
    session: Session,
    job_id: str,
    from_: Status,
    to: Status,
    *,
    message_id: str | None = None,
    attempt: int | None = None,
    detail: str | None = None,
    duration_s: float | None = None,
    units: int | None = None,
    values: dict[str, Any] | None = None,
    now: datetime | None = None,
) -> int:
    """Move a job ``from_ → to`` if (and only if) it is still in ``from_``.

    Issues ``UPDATE jobs SET status=:to … WHERE id=:id AND status=:from`` and appends the
    ``job_events`` row in the same transaction.

    Args:
        session: the unit of work's session; the caller commits.
        job_id: the job.
        from_: the status the job must be in.
        to: the new status; ``(from_, to)`` must be in the state table.
        message_id: the dramatiq message that caused it, for the audit trail.
        attempt: the message's retry count.
        detail: free text for people (an error, a reason).
        duration_s: how long the stage took, on a stage-ending event.
        units: how much work the stage did (extract: chunks), for ETAs.
        values: other job columns to set in the same statement.
        now: the transition time (tests).

    Returns:
        The job's run number.

    Raises:
        IllegalTransition: the pair is not legal, or the job is no longer in ``from_``.
    """
    if not is_legal(from_, to):
        raise IllegalTransition(f"job {job_id}: {from_} → {to} is not a legal transition")
    now = now or utcnow()
    extra = dict(values or {})
    if to in TERMINAL:
        extra.setdefault("finished_at", now)
    result = session.execute(
        update(Job)
        .where(Job.id == job_id, Job.status == from_.value)
        .values(status=to.value, updated_at=now, **extra)
        .returning(Job.run)
    )
    run = result.scalar_one_or_none()
    if run is None:
        current = session.scalar(select(Job.status).where(Job.id == job_id))
        if current is None:
            raise JobNotFound(f"no job {job_id}")
        raise IllegalTransition(f"job {job_id} is {current}, not {from_}; refusing {from_} → {to}")
    _record(
        session,
        job_id,
        run,
        from_,
        to,
        at=now,
        message_id=message_id,
        attempt=attempt,
        detail=detail,
        duration_s=duration_s,
        units=units,
    )
    return run


def _record(
    session: Session,
    job_id: str,
    run: int,
    from_: Status,
    to: Status,
    *,
    at: datetime,
    message_id: str | None,
    attempt: int | None,
    detail: str | None = None,
    duration_s: float | None = None,
    units: int | None = None,
) -> None:
    session.execute(
        insert(JobEvent).values(
            job_id=job_id,
            run=run,
            from_status=from_.value,
            to_status=to.value,
            at=at,
            message_id=message_id,
            attempt=attempt,
            duration_s=duration_s,
            units=units,
            detail=detail,
        )
    )


def record_note(session: Session, job_id: str, run: int, status: Status, detail: str) -> None:
    """Append an event that changes nothing (a re-drive, an operator's action) to a job's history."""
    _record(session, job_id, run, status, status, at=utcnow(), message_id=None, attempt=None, detail=detail)


def claim(
    session: Session,
    job_id: str,
    ready: Status,
    running: Status,
    *,
    message_id: str | None = None,
    attempt: int | None = None,
    now: datetime | None = None,
) -> Job | None:
    """Compare-and-set ``ready → running`` (or ``running → running`` for a retry) in one statement.

    ``deliveries`` counts the claims of the current stage run: 1 from the ready state, +1 for
    each re-claim (a retry, or a redelivery after a worker died). The stage's start time is kept
    across re-claims.

    Returns:
        The claimed job (fresh from ``RETURNING``), or ``None`` if it is in neither state.
    """
    now = now or utcnow()
    again = Job.status == running.value  # in SET, columns read the row's values before the update
    kept_start = and_(again, Job.stage_started_at.is_not(None))
    job = session.scalars(
        update(Job)
        .where(Job.id == job_id, Job.status.in_([ready.value, running.value]))
        .values(
            status=running.value,
            updated_at=now,
            deliveries=case((again, Job.deliveries + 1), else_=1),
            stage_started_at=case((kept_start, Job.stage_started_at), else_=now),
        )
        .returning(Job)
        .execution_options(synchronize_session=False, populate_existing=True)
    ).one_or_none()
    if job is None:
        return None
    reclaimed = job.deliveries > 1
    _record(
        session,
        job_id,
        job.run,
        running if reclaimed else ready,
        running,
        at=now,
        message_id=message_id,
        attempt=attempt,
        detail=f"re-claimed (delivery {job.deliveries})" if reclaimed else None,
    )
    return job


def force_transition(
    session: Session, job_id: str, to: Status, *, detail: str | None = None, **kwargs: Any
) -> Status | None:
    """Move a job to ``to`` (FAILED, CANCELLED) from whatever non-terminal state it is in.

    Locks the row, then compare-and-sets from the status it read.

    Returns:
        The status the job left, or ``None`` if it was terminal already (nothing changed).

    Raises:
        JobNotFound: no such job.
    """
    current = session.scalar(select(Job.status).where(Job.id == job_id).with_for_update())
    if current is None:
        raise JobNotFound(f"no job {job_id}")
    from_ = Status(current)
    if from_ in TERMINAL:
        return None
    transition(session, job_id, from_, to, detail=detail, **kwargs)
    return from_
