"""The stage choreography, written once: claim (with the reads) → load → compute → finish (with the writes).

Every stage actor calls :func:`run_stage`; the extract fan-out uses the same
:func:`claim_stage` and :func:`finish_stage` pieces.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Any, Protocol, TypeVar

from dramatiq.middleware import CurrentMessage
from sqlalchemy import select
from sqlalchemy.engine import Connection

from models import Job
from models.base import is_job_id, utcnow
from pipeline.db import Db, as_utc
from pipeline.errors import IllegalTransition, PermanentError
from pipeline.logs import get_logger
from pipeline.metrics import metrics
from pipeline.settings import get_settings
from pipeline.stageio import OutputRows, StageIO
from pipeline.states import STAGES, StageSpec
from pipeline.transitions import ClaimedJob, Reads, Writes, claim, transition
from pipeline.uow import UnitOfWork, stage_message

log = get_logger(__name__)

In = TypeVar("In")
Out = TypeVar("Out")


class StageJob(Protocol):
    """What finishing a stage reads of its job: a ``Job``, a ``ClaimedJob`` or a RETURNING row."""

    @property
    def id(self) -> str: ...
    @property
    def options(self) -> dict[str, Any] | None: ...
    @property
    def stage_started_at(self) -> datetime | None: ...


class PoisonMessage(PermanentError):
    """The stage keeps killing its worker (SIGKILL, OOM); it is dead-lettered instead of looping."""


def message_info() -> tuple[str | None, int]:
    """Return the current dramatiq message's id and retry count (``(None, 0)`` outside a worker)."""
    message = CurrentMessage.get_current_message()
    if message is None:
        return None, 0
    return message.message_id, int(message.options.get("retries", 0))


def claim_stage(session: Db, stage: str, job_id: str, *, reads: Reads | None = None) -> ClaimedJob | None:
    """Take the job for ``stage``: compare-and-set its ready (or, on a retry, running) state to running.

    The claim's statement also reads ``reads`` (the claimed job's ``inputs``).

    A message for an unknown job, or one that is cancelled, failed or already past this stage,
    is dropped with a log line and ``None``: losing that race is normal, not an error.

    Returns:
        The claimed job's columns, or ``None`` to drop the message.
    """
    spec = STAGES.by_name[stage]
    if not is_job_id(job_id):
        log.warning("message_dropped", reason="malformed job id", job_id=repr(job_id)[:80])
        metrics().dropped.labels(spec.name).inc()
        return None
    message_id, attempt = message_info()
    job = claim(
        session, job_id, spec.ready, spec.running, message_id=message_id, attempt=attempt, reads=reads
    )
    if job is None:
        status = session.scalar(select(Job.status).where(Job.id == job_id))
        reason = "unknown job" if status is None else f"job is {status}"
        log.info("message_dropped", reason=reason, job_id=job_id)
        metrics().dropped.labels(spec.name).inc()
        return None
    if job.deliveries > 1:
        metrics().retries.labels(spec.name).inc()
    # Claims beyond the first that are not counted retries: the worker holding it died (or its
    # message was lost and re-sent). dramatiq redelivers those forever without counting.
    deaths = job.deliveries - 1 - attempt
    if deaths >= get_settings().stages.max_deaths:
        raise PoisonMessage(f"worker died {deaths} times running {spec.name} for this job")
    return job


def finish_stage(uow: UnitOfWork, stage: str, job: StageJob, *, units: int | None = None) -> bool:
    """Move the job ``running → done`` and queue the next stage's message for after commit.

    Returns:
        ``False`` if the job has left the running state meanwhile (cancelled, or another
        delivery finished first); the caller must then roll back its output.
    """
    spec = STAGES.by_name[stage]
    seconds = _advance(uow, spec, job, values={"deliveries": 0}, units=units)
    if seconds is None:
        return False
    metrics().stage_seconds.labels(spec.name).observe(seconds)
    return True


def _advance(
    uow: UnitOfWork,
    spec: StageSpec,
    job: StageJob,
    *,
    values: dict[str, Any],
    units: int | None = None,
    writes: Writes | None = None,
    write_params: dict[str, Any] | None = None,
) -> float | None:
    """The ``running → done`` compare-and-set with its event (and ``writes``), and the next stage's
    message queued.

    Returns:
        The stage's seconds (claim to now), or ``None`` if the job has left the running state
        (logged; nothing changed).
    """
    message_id, attempt = message_info()
    now = utcnow()
    seconds = (now - (as_utc(job.stage_started_at) if job.stage_started_at else now)).total_seconds()
    try:
        transition(
            uow.connection,
            job.id,
            spec.running,
            spec.done,
            message_id=message_id,
            attempt=attempt,
            duration_s=seconds,
            units=units,
            values=values,
            now=now,
            writes=writes,
            write_params=write_params,
        )
    except IllegalTransition as exc:
        log.info("stage_output_discarded", reason=str(exc))
        return None
    follower = STAGES.after(spec)
    if follower is not None:
        uow.send_after_commit(stage_message(follower, job.id, job_options=job.options))
    return seconds


class Discarded(Exception):
    """The job moved on while the stage worked (cancelled, or finished by another delivery).

    Raised inside a unit of work to roll the stage's output back; callers catch it.
    """


#: A stage that reads nothing but its job row and writes nothing but job columns.
NO_IO = StageIO()


def run_stage(
    stage: str,
    job_id: str,
    *,
    io: StageIO = NO_IO,
    load: Callable[[ClaimedJob, dict[str, Any]], In],
    compute: Callable[[In], Out],
    rows: Callable[[ClaimedJob, Out], OutputRows] | None = None,
    job_values: Callable[[ClaimedJob, Out], dict[str, Any]] | None = None,
    save: Callable[[Connection, ClaimedJob, Out], Any] | None = None,
) -> None:
    """Run one stage for one job, safely under redelivery, retries and cancellation.

    Two statements on the database, whatever the stage: the claim, which also reads ``io.reads``,
    and the finish, which also writes ``io.writes`` and ``job_values`` (:mod:`pipeline.stageio`).

    Args:
        stage: the stage's name (its spec is looked up in the table now, not at import).
        job_id: the job the message names.
        io: what the stage reads and writes, declared once (a module constant).
        load: turns the claimed job and the values of ``io.reads`` (by name) into the core's input.
        compute: the pure core; runs outside any transaction.
        rows: the core's output as rows per table of ``io.writes`` (by table name).
        job_values: job columns the stage sets from its output (title, meta, stats …), written by
            the ``running → done`` statement itself.
        save: for a stage whose output cannot be rows of its finish (dedup's merge under a
            lock): writes it with statements of its own, in the transaction of the ``running →
            done`` transition.

    A stage never finds output of its own from before: that only ever commits with the transition
    past the stage, and whatever moves a job back before a stage (re-runs, ``dlq retry``) deletes it
    (:func:`pipeline.reruns.reset_outputs`).
    """
    if save is not None and io.writes:
        raise ValueError("a stage writes either with its finish's statement (io.writes) or its own (save)")
    spec = STAGES.by_name[stage]
    reads = io.read_expressions if io.reads else None
    # The claim is the only write here (one statement with its event and the stage's inputs):
    # atomic on its own, it needs no transaction around it.
    with UnitOfWork(autocommit=True, core=True) as uow:
        job = claim_stage(uow.connection, stage, job_id, reads=reads)
        if job is None:
            return
    inputs = load(job, io.inputs(job.inputs) if io.reads else {})
    outputs = compute(inputs)
    # A finish that is one statement (no save of its own) needs no transaction around it either.
    with UnitOfWork(autocommit=save is None, core=True) as uow:
        # The compare-and-set (with its event row and writes, one statement) comes first: it
        # takes the job's row lock, so a second delivery of this stage (a retry and a reconciler
        # re-drive of the same job) waits for the first to commit and then finds the job moved on,
        # instead of colliding with its rows on a unique key (an IntegrityError, which would
        # dead-letter and fail a job whose output is fine). If it misses (cancelled, or another
        # delivery finished first), nothing is written. The event's duration ends before the save.
        values = {"deliveries": 0, **(job_values(job, outputs) if job_values else {})}
        writes = io.write_ctes if io.writes else None
        params = io.write_params(rows(job, outputs) if rows else {}) if io.writes else None
        seconds = _advance(uow, spec, job, values=values, writes=writes, write_params=params)
        if seconds is None:
            return
        if save is not None:
            save(uow.connection, job, outputs)
    metrics().stage_seconds.labels(spec.name).observe(seconds)
    log.info("stage_done", status=spec.done.value)
