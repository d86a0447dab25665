"""Dead letters for ops: list, group by fingerprint, show, re-drive and purge.

Juben's ``dead_letters`` table is the record; dramatiq's own Redis dead-letter queue
(``<ns>:<queue>.XQ`` and ``.XQ.msgs``, keyed by the per-enqueue redis message id) is kept
consistent with it: re-driving or purging a dead letter removes dramatiq's copy too.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from pydantic import BaseModel
from sqlalchemy import Select, and_, delete, func, or_, select, update
from sqlalchemy.orm import Session

from models import Chunk, DeadLetter, Job, JobEvent, Project
from models.base import utcnow
from pipeline.broker import current_broker
from pipeline.db import as_utc, session_factory
from pipeline.errors import InputError, NotFound
from pipeline.middleware import WEBHOOK_STAGE
from pipeline.reruns import reset_outputs
from pipeline.settings import Settings, validate_job_options
from pipeline.states import STAGES, Status
from pipeline.transitions import transition
from pipeline.uow import UnitOfWork, stage_message


class DeadLetterView(BaseModel):
    id: int
    job_id: str | None
    project: str | None
    stage: str | None
    actor: str
    message_id: str
    error_type: str
    error: str
    attempts: int
    fingerprint: str
    created_at: datetime
    resolved_at: datetime | None
    resolved_by: str | None


class DeadLetterGroup(BaseModel):
    fingerprint: str
    stage: str | None
    error_type: str
    error: str
    count: int
    jobs: int
    first_seen: datetime
    last_seen: datetime


class DeadLetterDetail(DeadLetterView):
    queue: str
    message: dict[str, Any]
    traceback: str | None
    events: list[dict[str, Any]]
    #: The job's failed chunks: number, error and the model's unusable answer (LLM extract).
    failed_chunks: list[dict[str, Any]] = []


class Redrive(BaseModel):
    """One job's re-drive, or a dead letter id that matched nothing to re-drive."""

    dead_letter_ids: list[int]
    job_id: str | None
    stage: str
    done: bool
    reason: str | None = None
    #: ``False`` for an id no dead letter has.
    found: bool = True


def _filtered(
    stage: str | None,
    error: str | None,
    project: str | None,
    since: datetime | None,
    resolved: bool,
    *,
    fingerprint: str | None = None,
    tenant_id: int | None = None,
) -> Select[DeadLetter, str]:
    query = (
        select(DeadLetter, Project.name)
        .outerjoin(Job, Job.id == DeadLetter.job_id)
        .outerjoin(Project, Project.id == Job.project_id)
    )
    if tenant_id is not None:  # a tenant sees its jobs' letters (a letter with no job is no one's)
        query = query.where(Job.tenant_id == tenant_id)
    if not resolved:
        query = query.where(DeadLetter.resolved_at.is_(None))
    if stage:
        query = query.where(DeadLetter.stage == stage)
    if error:
        pattern = f"%{error}%"
        query = query.where(or_(DeadLetter.error.ilike(pattern), DeadLetter.error_type.ilike(pattern)))
    if project:
        query = query.where(Project.name == project)
    if since:
        query = query.where(DeadLetter.created_at >= since)
    if fingerprint:
        query = query.where(DeadLetter.fingerprint == fingerprint)
    return query


def _view(letter: DeadLetter, project: str | None) -> DeadLetterView:
    return DeadLetterView(
        id=letter.id,
        job_id=letter.job_id,
        project=project,
        stage=letter.stage,
        actor=letter.actor,
        message_id=letter.message_id,
        error_type=letter.error_type,
        error=letter.error,
        attempts=letter.attempts,
        fingerprint=letter.fingerprint,
        created_at=as_utc(letter.created_at),
        resolved_at=as_utc(letter.resolved_at) if letter.resolved_at else None,
        resolved_by=letter.resolved_by,
    )


def list_dead_letters(
    *,
    stage: str | None = None,
    error: str | None = None,
    project: str | None = None,
    since: datetime | None = None,
    resolved: bool = False,
    fingerprint: str | None = None,
    limit: int = 100,
    tenant_id: int | None = None,
    settings: Settings | None = None,
) -> list[DeadLetterView]:
    """Dead letters, newest first (unresolved only unless ``resolved``; one fingerprint's and one
    tenant's if given)."""
    query = (
        _filtered(stage, error, project, since, resolved, fingerprint=fingerprint, tenant_id=tenant_id)
        .order_by(DeadLetter.id.desc())
        .limit(limit)
    )
    with session_factory(settings)() as session:
        return [_view(letter, name) for letter, name in session.execute(query)]


def group_dead_letters(
    *,
    stage: str | None = None,
    error: str | None = None,
    project: str | None = None,
    since: datetime | None = None,
    resolved: bool = False,
    tenant_id: int | None = None,
    settings: Settings | None = None,
) -> list[DeadLetterGroup]:
    """Dead letters folded by fingerprint, with counts and first/last seen, biggest group first."""
    rows = _filtered(stage, error, project, since, resolved, tenant_id=tenant_id).subquery()
    query = (
        select(
            rows.c.fingerprint,
            func.min(rows.c.stage),
            func.min(rows.c.error_type),
            func.min(rows.c.error),
            func.count(),
            func.count(func.distinct(rows.c.job_id)),
            func.min(rows.c.created_at),
            func.max(rows.c.created_at),
        )
        .group_by(rows.c.fingerprint)
        .order_by(func.count().desc(), func.max(rows.c.created_at).desc())
    )
    with session_factory(settings)() as session:
        return [
            DeadLetterGroup(
                fingerprint=fp,
                stage=stage_,
                error_type=etype,
                error=err,
                count=count,
                jobs=jobs,
                first_seen=as_utc(first),
                last_seen=as_utc(last),
            )
            for fp, stage_, etype, err, count, jobs, first, last in session.execute(query)
        ]


def show_dead_letter(
    letter_id: int, *, tenant_id: int | None = None, settings: Settings | None = None
) -> DeadLetterDetail:
    """Everything about one dead letter: the message, the traceback and the job's event history.

    Raises:
        NotFound: no dead letter has this id (of ``tenant_id``'s jobs, when given).
    """
    with session_factory(settings)() as session:
        row = session.execute(
            _filtered(None, None, None, None, True, tenant_id=tenant_id).where(DeadLetter.id == letter_id)
        ).one_or_none()
        if row is None:
            raise NotFound(f"no dead letter {letter_id}")
        letter, project = row
        events = [
            {
                "run": e.run,
                "from": e.from_status,
                "to": e.to_status,
                "at": as_utc(e.at).isoformat(),
                "message_id": e.message_id,
                "attempt": e.attempt,
                "detail": e.detail,
            }
            for e in session.scalars(
                select(JobEvent).where(JobEvent.job_id == letter.job_id).order_by(JobEvent.id)
            )
        ]
        failed = [
            {"chunk": number, "error": error, "raw_answer": raw}
            for number, error, raw in session.execute(
                select(Chunk.number, Chunk.error, Chunk.raw_answer)
                .where(Chunk.job_id == letter.job_id, Chunk.status == "failed")
                .order_by(Chunk.number)
            )
        ]
        return DeadLetterDetail(
            **_view(letter, project).model_dump(),
            queue=letter.queue,
            message=letter.message,
            traceback=letter.traceback,
            events=events,
            failed_chunks=failed,
        )


def forget_in_broker(messages: list[dict[str, Any]]) -> int:
    """Remove dramatiq's copies of dead messages from its Redis dead-letter queues.

    Returns:
        How many were removed (0 with a broker that keeps no such queue).
    """
    broker = current_broker()
    client = getattr(broker, "client", None)
    namespace = getattr(broker, "namespace", None)
    if client is None or namespace is None:
        return 0
    removed = 0
    pipe = client.pipeline()
    for message in messages:
        redis_id = (message.get("options") or {}).get("redis_message_id")
        queue = str(message.get("queue_name", "")).removesuffix(".DQ")
        if redis_id and queue:
            pipe.zrem(f"{namespace}:{queue}.XQ", redis_id)
            pipe.hdel(f"{namespace}:{queue}.XQ.msgs", redis_id)
            removed += 1
    pipe.execute()
    return removed


def _targets(
    session: Session,
    ids: list[int] | None,
    fingerprint: str | None,
    all_: bool,
    stage: str | None,
    *,
    tenant_id: int | None,
) -> dict[str, list[DeadLetter]]:
    query = select(DeadLetter).where(DeadLetter.resolved_at.is_(None), DeadLetter.job_id.is_not(None))
    if tenant_id is not None:
        query = query.join(Job, Job.id == DeadLetter.job_id).where(Job.tenant_id == tenant_id)
    if ids:
        query = query.where(DeadLetter.id.in_(ids))
    elif fingerprint:
        query = query.where(DeadLetter.fingerprint == fingerprint)
    elif not all_:
        raise InputError("say which dead letters: ids, --fingerprint FP or --all")
    if stage:
        query = query.where(DeadLetter.stage == stage)
    by_job: dict[str, list[DeadLetter]] = {}
    for letter in session.scalars(query.order_by(DeadLetter.id)):
        by_job.setdefault(str(letter.job_id), []).append(letter)
    return by_job


def _unmatched(
    session: Session, ids: list[int] | None, targets: dict[str, list[DeadLetter]], tenant_id: int | None
) -> list[Redrive]:
    """The asked-for ids that match no unresolved dead letter: unknown (or another tenant's), or
    resolved already."""
    matched = {letter.id for letters in targets.values() for letter in letters}
    asked = [i for i in dict.fromkeys(ids or []) if i not in matched]
    if not asked:
        return []
    query = select(DeadLetter.id, DeadLetter.job_id).where(DeadLetter.id.in_(asked))
    if tenant_id is not None:
        query = query.join(Job, Job.id == DeadLetter.job_id).where(Job.tenant_id == tenant_id)
    rows = session.execute(query)
    known = {letter_id: job_id for letter_id, job_id in rows}
    return [
        Redrive(
            dead_letter_ids=[i],
            job_id=known.get(i),
            stage="",
            done=False,
            reason="resolved already (or filtered out by --stage)" if i in known else f"no dead letter {i}",
            found=i in known,
        )
        for i in asked
    ]


def retry_dead_letters(
    ids: list[int] | None = None,
    *,
    fingerprint: str | None = None,
    all_: bool = False,
    stage: str | None = None,
    dry_run: bool = False,
    overrides: dict[str, Any] | None = None,
    actor: str = "operator",
    tenant_id: int | None = None,
    settings: Settings | None = None,
) -> list[Redrive]:
    """Re-drive failed jobs from the stage that failed, keeping completed work.

    Each job goes FAILED → the failed stage's ready state (a failed extract resumes with only the
    chunks not done), ``overrides`` are recorded in its options, its dead letters are marked
    resolved by ``actor``, and dramatiq's copies leave the Redis dead-letter queue.

    Returns:
        One entry per job: re-driven, or why not; and one per asked-for id that matched nothing.

    Raises:
        InputError: no selection given.
        SettingsError: an override is not a known option, or its value has the wrong type.
    """
    overrides = validate_job_options(overrides or {})
    results: list[Redrive] = []
    with session_factory(settings)() as session:
        targets = _targets(session, ids, fingerprint, all_, stage, tenant_id=tenant_id)
        results.extend(_unmatched(session, ids, targets, tenant_id))
    for job_id, letters in targets.items():
        hooks = [letter for letter in letters if letter.stage == WEBHOOK_STAGE]
        if hooks:  # a webhook that kept failing: send it again; the job itself did not fail
            results.append(_resend_webhooks(job_id, hooks, dry_run=dry_run, actor=actor, settings=settings))
        letters = [letter for letter in letters if letter.stage != WEBHOOK_STAGE]  # noqa: PLW2901 (the job's own)
        if not letters:
            continue
        letter_ids = [letter.id for letter in letters]
        failed_stage = letters[-1].stage or ""
        if dry_run:
            results.append(
                Redrive(
                    dead_letter_ids=letter_ids,
                    job_id=job_id,
                    stage=failed_stage,
                    done=False,
                    reason="dry run",
                )
            )
            continue
        with UnitOfWork(session_factory(settings)) as uow:
            job = uow.session.scalar(select(Job).where(Job.id == job_id).with_for_update())
            spec = STAGES.by_name.get((job.failed_stage if job else None) or failed_stage)
            now = utcnow()
            if job is not None and job.status == Status.FAILED.value and spec is not None:
                transition(
                    uow.session,
                    job_id,
                    Status.FAILED,
                    spec.ready,
                    detail=f"dead letters {letter_ids} re-driven by {actor}"
                    + (f" with {overrides}" if overrides else ""),
                    values={
                        "failed_stage": None,
                        "error": None,
                        "finished_at": None,
                        "deliveries": 0,
                        "options": {**(job.options or {}), **(overrides or {})},
                    },
                )
                if spec.fan_out is None:  # a fan-out resumes: extract's done chunks keep their records
                    # A stage writes no output before its transition past it commits, so there is
                    # none to clear; clearing anyway keeps "no earlier output" true by construction.
                    reset_outputs(uow.session, job_id, spec.name)
                uow.send_after_commit(
                    stage_message(spec, job_id, job_options={**(job.options or {}), **(overrides or {})})
                )
                reason = None
            else:
                reason = f"job is {job.status if job else 'gone'}; dead letters marked resolved only"
            uow.session.execute(
                update(DeadLetter)
                .where(DeadLetter.id.in_(letter_ids))
                .values(resolved_at=now, resolved_by=actor)
            )
        forget_in_broker([letter.message for letter in letters])
        results.append(
            Redrive(
                dead_letter_ids=letter_ids,
                job_id=job_id,
                stage=spec.name if spec else failed_stage,
                done=reason is None,
                reason=reason,
            )
        )
    return results


def _resend_webhooks(
    job_id: str, letters: list[DeadLetter], *, dry_run: bool, actor: str, settings: Settings | None
) -> Redrive:
    """Make a job's dead-lettered deliveries pending again (the dispatcher sends them) and mark
    their letters resolved."""
    from pipeline.webhooks import resend

    letter_ids = [letter.id for letter in letters]
    if dry_run:
        return Redrive(
            dead_letter_ids=letter_ids, job_id=job_id, stage=WEBHOOK_STAGE, done=False, reason="dry run"
        )
    pending = resend(job_id, settings=settings)
    with session_factory(settings).begin() as session:
        session.execute(
            update(DeadLetter)
            .where(DeadLetter.id.in_(letter_ids))
            .values(resolved_at=utcnow(), resolved_by=actor)
        )
    forget_in_broker([letter.message for letter in letters])
    return Redrive(
        dead_letter_ids=letter_ids,
        job_id=job_id,
        stage=WEBHOOK_STAGE,
        done=bool(pending),
        reason=None if pending else "its webhooks were delivered already; dead letters marked resolved only",
    )


def purge_dead_letters(
    older_than: timedelta,
    *,
    dry_run: bool = False,
    tenant_id: int | None = None,
    settings: Settings | None = None,
) -> int:
    """Drop dead letters that are resolved, or older than ``older_than`` (only those of
    ``tenant_id``'s jobs, when given); return how many."""
    cutoff = utcnow() - older_than
    condition = or_(DeadLetter.resolved_at.is_not(None), DeadLetter.created_at < cutoff)
    if tenant_id is not None:
        condition = and_(condition, DeadLetter.job_id.in_(select(Job.id).where(Job.tenant_id == tenant_id)))
    with UnitOfWork(session_factory(settings)) as uow:
        messages = list(uow.session.scalars(select(DeadLetter.message).where(condition)))
        if not dry_run:
            uow.session.execute(delete(DeadLetter).where(condition))
    if not dry_run:
        forget_in_broker(messages)
    return len(messages)
