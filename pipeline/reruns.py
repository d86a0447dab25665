"""Re-running jobs from a stage: reset the state, drop that stage's and later stages' output.

One transaction per job: the status goes back to the ready state before the stage (a legal
transition from COMPLETED, FAILED or CANCELLED), the run number goes up, the outputs of the
stage and every later one are deleted, and the stage's message is sent after commit. History
(job_events, dead letters) is kept; project assets are shared and kept.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy import delete, select, update
from sqlalchemy.orm import Session

from models import Job
from models.base import Base
from pipeline.errors import InputError, JobBusy, JobNotFound
from pipeline.settings import Settings, validate_job_options
from pipeline.states import RERUNNABLE, STAGES, Status, stage_after, stage_of
from pipeline.transitions import force_transition, transition
from pipeline.uow import UnitOfWork, stage_message


@dataclass(frozen=True)
class RerunResult:
    job_id: str
    from_status: str
    to_status: str
    run: int


def reset_outputs(session: Session, job_id: str, stage: str) -> None:
    """Undo what ``stage`` and the stages after it wrote for a job (their :class:`Output` rows and
    ``job_reset`` columns, from the table); the job's ``stats`` go too."""
    names = STAGES.names
    values: dict[str, Any] = {"stats": {}}
    for spec in STAGES[names.index(stage) :]:
        for output in spec.outputs:
            table = Base.metadata.tables[output.table]
            mine = table.c.job_id == job_id
            session.execute(
                delete(table).where(mine)
                if output.reset is None
                else update(table).where(mine).values(output.reset)
            )
        values.update(spec.job_reset)
    session.execute(update(Job).where(Job.id == job_id).values(**values))


def rerun(
    job_id: str,
    from_stage: str,
    *,
    force: bool = False,
    options: dict[str, Any] | None = None,
    settings: Settings | None = None,
    actor: str = "operator",
) -> RerunResult:
    """Re-run a job from ``from_stage``.

    Args:
        job_id: the job.
        from_stage: one of the stage names; the job goes to that stage's ready state.
        force: cancel a job that is still running first (otherwise refused).
        options: per-job overrides recorded on the job (e.g. ``{"max_chunk_chars": 3000}``).
        settings: defaults to this process's settings.
        actor: who asked, for the audit trail.

    Returns:
        What changed.

    Raises:
        InputError: unknown stage, or the job is running and ``force`` is not set.
        SettingsError: an option is not a known one, or its value has the wrong type.
        JobNotFound: no such job.
    """
    if from_stage not in STAGES.by_name:
        raise InputError(f"unknown stage {from_stage!r}; one of {', '.join(STAGES.names)}")
    options = validate_job_options(options or {})
    spec = STAGES.by_name[from_stage]
    from pipeline.db import session_factory

    with UnitOfWork(session_factory(settings)) as uow:
        session = uow.session
        job = session.scalar(select(Job).where(Job.id == job_id).with_for_update())
        if job is None:
            raise JobNotFound(f"no job {job_id}")
        status = Status(job.status)
        if status not in RERUNNABLE:
            if not force:
                raise JobBusy(f"job {job_id} is {status}; pass --force to cancel it and re-run")
            running = stage_of(status) or stage_after(status)
            force_transition(
                session,
                job_id,
                Status.CANCELLED,
                detail=f"cancelled by {actor} to re-run from {from_stage}",
                values={"failed_stage": running.name if running else None},
            )
            status = Status.CANCELLED
        reset_outputs(session, job_id, from_stage)
        # --no-cache is for the run it was given with, not every later one.
        kept = {k: v for k, v in (job.options or {}).items() if k != "no_cache"}
        merged = {**kept, **(options or {})}
        run = transition(
            session,
            job_id,
            status,
            spec.ready,
            detail=f"re-run from {from_stage} by {actor}" + (f" with {options}" if options else ""),
            values={
                "run": Job.run + 1,
                "failed_stage": None,
                "error": None,
                "finished_at": None,
                "deliveries": 0,
                "stage_started_at": None,
                "options": merged,
            },
        )
        uow.send_after_commit(stage_message(spec, job_id, job_options=merged))
    return RerunResult(job_id, status.value, spec.ready.value, run)
