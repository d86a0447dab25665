"""The only writer of ``jobs.status``: compare-and-set transitions, each recorded as a job event.

The hot statements (a stage's claim, its finish, the event insert) are Core statements built
once with bind parameters, executed on the session's connection: no ORM flush or attribute
bookkeeping, and no statement building or cache-key work per call. The status change and its
event row are one statement (``WITH moved AS (UPDATE … RETURNING …) INSERT INTO job_events …
SELECT … FROM moved``).
"""

from __future__ import annotations

import dataclasses
import functools
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, cast

from sqlalchemy import (
    CTE,
    ColumnElement,
    Insert,
    Select,
    String,
    Table,
    Update,
    and_,
    bindparam,
    case,
    insert,
    literal,
    select,
    update,
)
from sqlalchemy import cast as sql_cast
from sqlalchemy.orm import Session
from sqlalchemy.orm.util import identity_key
from sqlalchemy.sql.base import ReadOnlyColumnCollection

from models import Job, JobEvent
from models.base import utcnow
from pipeline import prepared
from pipeline.db import Db, connection_of
from pipeline.errors import IllegalTransition, JobNotFound
from pipeline.states import TERMINAL, Status, is_legal

_JOBS = cast(Table, Job.__table__)
_EVENTS = cast(Table, JobEvent.__table__)


@dataclass(frozen=True, slots=True)
class ClaimedJob:
    """The job columns a claim hands a stage (``RETURNING`` these, not the whole ORM row)."""

    id: str
    project_id: int
    title: str | None
    status: str
    run: int
    language: str | None
    chunks_total: int
    deliveries: int
    options: dict[str, Any]
    meta: dict[str, Any]
    created_at: datetime
    stage_started_at: datetime | None
    #: The values of the stage's ``reads`` (see :func:`claim`), read by the claim's own statement;
    #: ``None`` for a claim without reads.
    inputs: tuple[Any, ...] | None = None


#: What a stage reads of its job, as expressions over the claimed job's columns (``id``,
#: ``project_id``, ``run`` …): usually scalar subqueries of the stage's input tables.
Reads = Callable[[ReadOnlyColumnCollection[str, Any]], Sequence[ColumnElement[Any]]]

#: A stage's output as data-modifying CTEs of its ``running → done`` statement, built
#: from the ``moved`` CTE (the job's id and run if the compare-and-set hit, no row if it missed):
#: joined to it, they write nothing when it misses.
Writes = Callable[[CTE], Sequence[CTE]]


_CLAIM_COLUMNS = tuple(f.name for f in dataclasses.fields(ClaimedJob) if f.name != "inputs")
_EVENT_COLUMNS = (
    "job_id",
    "run",
    "from_status",
    "to_status",
    "at",
    "message_id",
    "attempt",
    "duration_s",
    "units",
    "detail",
)


def _p(name: str, column: str, table: Table = _JOBS) -> Any:
    """A bind parameter typed like ``table.column`` (names never clash with SET's own)."""
    return bindparam(name, type_=table.c[column].type)


#: One event row; the parameters are ``ev_<column>``. ``inline``: no RETURNING of the new id.
_INSERT_EVENT: Insert = (
    insert(_EVENTS).values({c: _p(f"ev_{c}", c, _EVENTS) for c in _EVENT_COLUMNS}).inline()
)


def _event_params(
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
) -> dict[str, Any]:
    return {
        "ev_job_id": job_id,
        "ev_run": run,
        "ev_from_status": from_.value,
        "ev_to_status": to.value,
        "ev_at": at,
        "ev_message_id": message_id,
        "ev_attempt": attempt,
        "ev_duration_s": duration_s,
        "ev_units": units,
        "ev_detail": detail,
    }


# --- transition: CAS from one status to another --------------------------------------------------


def _cas_update(keys: tuple[str, ...], expressions: Mapping[str, Any] | None = None) -> Update:
    """``UPDATE jobs SET status=:to, updated_at=:now, <keys>… WHERE id=:id AND status=:from``."""
    extra = {k: _p(f"v_{k}", k) for k in keys}
    extra.update(expressions or {})
    return (
        update(Job)
        .where(_JOBS.c.id == _p("p_id", "id"), _JOBS.c.status == _p("p_from", "status"))
        .values(status=_p("p_to", "status"), updated_at=_p("p_now", "updated_at"), **extra)
    )


def _with_event(moved: CTE, from_: Any, to: Any, now: Any, **extra: Any) -> Select[Any]:
    """The UPDATE CTE ``moved`` (returning at least id and run) and its event row in one statement.

    Returns ``SELECT <moved's columns> FROM moved`` with ``INSERT INTO job_events … SELECT … FROM
    moved`` as a second data-modifying CTE: PostgreSQL runs it exactly once, whether or not the
    outer SELECT reads it.
    """
    values: dict[str, Any] = {
        "job_id": moved.c.id,
        "run": moved.c.run,
        "from_status": from_,
        "to_status": to,
        "at": now,
        "message_id": _p("p_message_id", "message_id", _EVENTS),
        "attempt": _p("p_attempt", "attempt", _EVENTS),
        **extra,
    }
    names = list(values)
    recorded = insert(_EVENTS).from_select(names, select(*values.values())).cte("recorded")
    return select(*[c for c in moved.c]).add_cte(recorded)


def _cas_with_event(cas: Update) -> tuple[Select[Any], CTE]:
    """A compare-and-set UPDATE of :func:`_cas_update` with its event row, as one statement; and
    the UPDATE's CTE (``moved``: the job's id and run if it moved, no row if it did not)."""
    moved = cas.returning(_JOBS.c.id, _JOBS.c.run).cte("moved")
    statement = _with_event(
        moved,
        _p("p_from", "from_status", _EVENTS),
        _p("p_to", "to_status", _EVENTS),
        _p("p_now", "at", _EVENTS),
        duration_s=_p("p_duration_s", "duration_s", _EVENTS),
        units=_p("p_units", "units", _EVENTS),
        detail=_p("p_detail", "detail", _EVENTS),
    )
    return statement, moved


@functools.lru_cache(maxsize=256)
def _transition_statement(keys: tuple[str, ...], writes: Writes | None = None) -> Select[Any]:
    """The CAS, its event and ``writes`` for a set of extra column names, built once.

    Bounded: ``writes`` must be a module-level function (a closure made per call would miss every
    time); the bound keeps such a mistake from growing the cache (and each connection's prepared
    statements) without end.
    """
    statement, moved = _cas_with_event(_cas_update(keys))
    for cte in writes(moved) if writes is not None else ():
        statement = statement.add_cte(cte)
    return statement


def _expire_loaded(session: Db, job_id: str) -> None:
    """Core statements bypass the ORM: expire a Job this session holds so it re-reads the row."""
    # The usual case: a stage's unit of work holds no ORM objects (or has no session at all).
    if not isinstance(session, Session) or not session.identity_map:
        return
    loaded = session.identity_map.get(identity_key(Job, job_id))
    if loaded is not None:
        session.expire(loaded)


def transition(
    session: Db,
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
    writes: Writes | None = None,
    write_params: Mapping[str, Any] | None = None,
) -> int:
    """Move a job ``from_ → to`` if (and only if) it is still in ``from_``.

    Issues ``UPDATE jobs SET status=:to … WHERE id=:id AND status=:from`` and appends the
    ``job_events`` row in the same statement.

    Args:
        session: the unit of work's session or connection; the caller commits.
        job_id: the job.
        from_: the status the job must be in.
        to: the new status; ``(from_, to)`` must be in the state table.
        message_id: the dramatiq message that caused it, for the audit trail.
        attempt: the message's retry count.
        detail: free text for people (an error, a reason).
        duration_s: how long the stage took, on a stage-ending event.
        units: how much work the stage did (extract: chunks), for ETAs.
        values: other job columns to set in the same statement (values or SQL expressions).
        now: the transition time (tests).
        writes: more rows to write in the same statement, only if the job moves
            (:data:`Writes`; a module-level function, as the statement is built once per function).
        write_params: the parameters of ``writes``' statements.

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
    plain = {k: v for k, v in extra.items() if not isinstance(v, ColumnElement)}
    expressions = {k: v for k, v in extra.items() if isinstance(v, ColumnElement)}
    if expressions and writes is not None:
        raise ValueError("writes go with plain values only")
    params: dict[str, Any] = {
        "p_id": job_id,
        "p_from": from_.value,
        "p_to": to.value,
        "p_now": now,
        "p_message_id": message_id,
        "p_attempt": attempt,
        "p_duration_s": duration_s,
        "p_units": units,
        "p_detail": detail,
        **{f"v_{k}": v for k, v in plain.items()},
        **(write_params or {}),
    }
    connection = connection_of(session)
    if expressions:  # rare (re-runs: run = run + 1): built and run unprepared per call
        statement, _ = _cas_with_event(_cas_update(tuple(sorted(plain)), expressions))
        result = connection.execute(statement, params)
    else:  # built once, prepared once per connection
        result = prepared.execute(connection, _transition_statement(tuple(sorted(plain)), writes), params)
    row = result.one_or_none()
    if row is None:
        current = connection.execute(_STATUS_OF, {"p_id": job_id}).scalar_one_or_none()
        if current is None:
            raise JobNotFound(f"no job {job_id}")
        raise IllegalTransition(f"job {job_id} is {current}, not {from_}; refusing {from_} → {to}")
    _expire_loaded(session, job_id)
    return int(row.run)


_STATUS_OF = select(_JOBS.c.status).where(_JOBS.c.id == _p("p_id", "id"))


def _record(
    session: Db,
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
    connection_of(session).execute(
        _INSERT_EVENT,
        _event_params(
            job_id,
            run,
            from_,
            to,
            at=at,
            message_id=message_id,
            attempt=attempt,
            detail=detail,
            duration_s=duration_s,
            units=units,
        ),
    )


def record_note(session: Db, job_id: str, run: int, status: Status, detail: str) -> None:
    """Append an event that changes nothing (a re-drive, an operator's action) to a job's history."""
    _record(session, job_id, run, status, status, at=utcnow(), message_id=None, attempt=None, detail=detail)


# --- claim: ready (or running, on a retry) → running ----------------------------------------------


@functools.lru_cache(maxsize=64)
def _claim_statement(reads: Reads | None = None) -> Select[Any]:
    """The claim with its event and ``reads``, built once per ``reads`` (module-level functions;
    bounded as :func:`_transition_statement` is)."""
    c = _JOBS.c
    running, ready, now = _p("p_running", "status"), _p("p_ready", "status"), _p("p_now", "updated_at")
    again = c.status == running  # in SET, columns read the row's values before the update
    kept_start = and_(again, c.stage_started_at.is_not(None))
    cas = (
        update(Job)
        .where(c.id == _p("p_id", "id"), c.status.in_([ready, running]))
        .values(
            status=running,
            updated_at=now,
            deliveries=case((again, c.deliveries + 1), else_=1),
            stage_started_at=case((kept_start, c.stage_started_at), else_=now),
        )
        .returning(*[c[name] for name in _CLAIM_COLUMNS])
    )
    moved = cas.cte("moved")
    reclaimed = moved.c.deliveries > 1
    to = _p("p_running", "to_status", _EVENTS)
    statement = _with_event(
        moved,
        case((reclaimed, to), else_=_p("p_ready", "from_status", _EVENTS)),
        to,
        _p("p_now", "at", _EVENTS),
        detail=case(
            (
                reclaimed,
                literal("re-claimed (delivery ") + sql_cast(moved.c.deliveries, String) + literal(")"),
            ),
            else_=None,
        ),
    )
    if reads is not None:
        statement = statement.add_columns(*(c.label(f"_in{i}") for i, c in enumerate(reads(moved.c))))
    return statement


def claim(
    session: Db,
    job_id: str,
    ready: Status,
    running: Status,
    *,
    message_id: str | None = None,
    attempt: int | None = None,
    now: datetime | None = None,
    reads: Reads | None = None,
) -> ClaimedJob | None:
    """Compare-and-set ``ready → running`` (or ``running → running`` for a retry), with its event.

    ``deliveries`` counts the claims of the current stage run: 1 from the ready state, +1 for
    each re-claim (a retry, or a redelivery after a worker died). The stage's start time is kept
    across re-claims. The claim and its event row are one statement, which also returns the
    values of ``reads`` (the stage's inputs) as ``inputs``.

    Returns:
        The claimed job's columns (fresh from ``RETURNING``), or ``None`` if it is in neither state.
    """
    now = now or utcnow()
    params: dict[str, Any] = {
        "p_id": job_id,
        "p_ready": ready.value,
        "p_running": running.value,
        "p_now": now,
        "p_message_id": message_id,
        "p_attempt": attempt,
    }
    row = prepared.execute(connection_of(session), _claim_statement(reads), params).one_or_none()
    if row is None:
        return None
    columns = len(_CLAIM_COLUMNS)
    inputs = tuple(row[columns:]) if reads else None
    job = ClaimedJob(**dict(zip(_CLAIM_COLUMNS, row[:columns], strict=True)), inputs=inputs)
    _expire_loaded(session, job_id)
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
