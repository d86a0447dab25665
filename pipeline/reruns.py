"""Re-running jobs from a stage: reset the state, drop that stage's and later stages' output.

One transaction per job: the status goes back to the ready state before the stage (a legal
transition from COMPLETED, FAILED or CANCELLED), the run number goes up, the outputs of the
stage and every later one are deleted, and the stage's message is sent after commit. History
(job_events, dead letters) is kept; project assets are shared and kept.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import delete, select, update
from sqlalchemy.orm import Session

from models import Job, Project
from models.base import Base
from pipeline.errors import InputError, JobBusy, JobNotFound
from pipeline.settings import Settings, get_settings, validate_job_options
from pipeline.states import RERUNNABLE, STAGES, Status, stage_after, stage_of
from pipeline.transitions import force_transition, transition
from pipeline.uow import UnitOfWork, stage_message
from pipeline.usage import cost_of


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
    tenant_id: int | None = None,
) -> RerunResult:
    """Re-run a job from ``from_stage``.

    Args:
        job_id: the job.
        from_stage: one of the stage names; the job goes to that stage's ready state.
        force: cancel a job that is still running first (otherwise refused).
        options: per-job overrides recorded on the job (e.g. ``{"max_chunk_chars": 3000}``).
        settings: defaults to this process's settings.
        actor: who asked, for the audit trail.
        tenant_id: only a job of this tenant (another tenant's is not found); ``None``: any.

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
    from pipeline.jobs import scoped

    with UnitOfWork(session_factory(settings)) as uow:
        session = uow.session
        job = session.scalar(scoped(select(Job).where(Job.id == job_id), tenant_id).with_for_update())
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


def select_jobs(
    *,
    status: str | None = None,
    project: str | None = None,
    since: datetime | None = None,
    until: datetime | None = None,
    tenant_id: int | None = None,
    settings: Settings | None = None,
) -> list[str]:
    """The ids of the jobs matching every filter given, oldest first; none for no filter at all
    (a re-run of "everything" is never what an empty filter meant). ``status`` may name several,
    comma-separated; ``tenant_id`` narrows to one tenant's jobs (it is not a filter by itself)."""
    from pipeline.db import read_session_factory
    from pipeline.jobs import scoped, statuses_of

    statuses = statuses_of(status)
    if not any((statuses, project, since, until)):
        return []
    query = scoped(select(Job.id).join(Project, Project.id == Job.project_id), tenant_id)
    query = query.order_by(Job.created_at)
    if statuses:
        query = query.where(Job.status.in_(statuses))
    if project:
        query = query.where(Project.name == project)
    if since:
        query = query.where(Job.created_at >= since)
    if until:
        query = query.where(Job.created_at <= until)
    with read_session_factory(settings)() as session:
        return list(session.scalars(query))


@dataclass(frozen=True)
class Cost:
    """What re-running a stage for one job would cost in model calls (extract: per chunk)."""

    provider: str | None = None
    chunks: int = 0
    llm_calls: int = 0
    from_cache: int = 0
    est_prompt_tokens: int = 0
    est_completion_tokens: int = 0


#: A stage's cost estimate for one job: (session, job id, use the cache?) → :class:`Cost`.
CostEstimate = Callable[[Session, str, bool], Cost]
#: Per stage name, its estimate; a stage registers its own when imported (extract does).
_COSTS: dict[str, CostEstimate] = {}


def register_cost(stage: str, estimate: CostEstimate) -> None:
    """Let ``stage`` say what re-running it would cost (called by the stage's module)."""
    _COSTS[stage] = estimate


@dataclass(frozen=True)
class RerunPreview:
    """What ``rerun --dry-run`` shows: the jobs it would re-run, each one's cost and the total."""

    from_stage: str
    jobs: dict[str, Cost]
    not_found: list[str]
    #: The total's estimated tokens at the prices in settings (``extract.price_per_million_*``),
    #: in ``currency``; ``None`` when no price is set.
    est_cost: float | None = None
    currency: str | None = None

    @property
    def total(self) -> Cost:
        return _sum(list(self.jobs.values()))

    def totals(self) -> dict[str, Any]:
        """The total as the CLI's JSON and the API show it: chunks, calls, cache hits, tokens, and
        the estimated cost when tokens are priced."""
        shown: dict[str, Any] = {k: v for k, v in dataclasses.asdict(self.total).items() if k != "provider"}
        if self.est_cost is not None:
            shown["est_cost"], shown["currency"] = self.est_cost, self.currency
        return shown


def _sum(costs: list[Cost]) -> Cost:
    """Costs added up (one job's stages, or every job); the provider if they all share one."""
    if len(costs) == 1:
        return costs[0]
    providers = {c.provider for c in costs}
    return Cost(
        provider=providers.pop() if len(providers) == 1 else None,
        chunks=sum(c.chunks for c in costs),
        llm_calls=sum(c.llm_calls for c in costs),
        from_cache=sum(c.from_cache for c in costs),
        est_prompt_tokens=sum(c.est_prompt_tokens for c in costs),
        est_completion_tokens=sum(c.est_completion_tokens for c in costs),
    )


def preview(
    job_ids: list[str],
    from_stage: str,
    *,
    use_cache: bool = True,
    tenant_id: int | None = None,
    settings: Settings | None = None,
) -> RerunPreview:
    """What re-running ``job_ids`` from ``from_stage`` would cost, changing nothing: the cost of
    every stage from it on that has an estimate (an LLM extract: calls, cache hits, tokens).

    Raises:
        InputError: an unknown stage.
    """
    from pipeline.db import read_session_factory
    from pipeline.jobs import scoped

    if from_stage not in STAGES.by_name:
        raise InputError(f"unknown stage {from_stage!r}; one of {', '.join(STAGES.names)}")
    later = [s.name for s in STAGES[STAGES.names.index(from_stage) :] if s.name in _COSTS]
    jobs: dict[str, Cost] = {}
    with read_session_factory(settings)() as session:
        known = set(session.scalars(scoped(select(Job.id).where(Job.id.in_(job_ids)), tenant_id)))
        for job_id in (j for j in job_ids if j in known):
            jobs[job_id] = _sum([_COSTS[stage](session, job_id, use_cache) for stage in later])
    total = _sum(list(jobs.values()))
    prices = (settings or get_settings()).extract
    cost = cost_of(total.est_prompt_tokens, total.est_completion_tokens, prices)
    return RerunPreview(
        from_stage,
        jobs,
        [j for j in job_ids if j not in known],
        cost,
        prices.currency if cost is not None else None,
    )


@dataclass(frozen=True)
class RerunOutcome:
    """One job of a re-run of many: re-run, or why not."""

    job_id: str
    done: bool
    #: Why not: the words the CLI prints (an unknown job, a running one without force …).
    reason: str | None = None
    #: ``False`` for an id no job has (in the tenant).
    found: bool = True


def targets(
    job_ids: list[str] | None,
    *,
    status: str | None = None,
    project: str | None = None,
    since: datetime | None = None,
    until: datetime | None = None,
    tenant_id: int | None = None,
    settings: Settings | None = None,
) -> list[str]:
    """The jobs a re-run names: the ids given (once each, in order), else those matching the
    filters (:func:`select_jobs`); none when the filters match none.

    Raises:
        InputError: neither ids nor a filter (a re-run of everything is never what was meant).
    """
    if job_ids:
        return list(dict.fromkeys(job_ids))
    if not any((status, project, since, until)):
        raise InputError("no jobs selected: give job ids or --status/--project/--since/--until")
    return select_jobs(
        status=status, project=project, since=since, until=until, tenant_id=tenant_id, settings=settings
    )


def rerun_many(
    job_ids: list[str],
    from_stage: str,
    *,
    force: bool = False,
    options: dict[str, Any] | None = None,
    actor: str = "operator",
    tenant_id: int | None = None,
    settings: Settings | None = None,
    after_each: Callable[[RerunOutcome], None] | None = None,
) -> list[RerunOutcome]:
    """Re-run each job from ``from_stage`` (one transaction each), answering per job.

    The stage and the options are checked before the first job changes; a job that is unknown
    (or another tenant's) or running without ``force`` is refused and the others go on.
    ``after_each`` sees each outcome as it happens (the CLI's progress bar and pacing).

    Raises:
        InputError: an unknown stage; SettingsError: an unknown option or a value of the wrong type.
    """
    if from_stage not in STAGES.by_name:
        raise InputError(f"unknown stage {from_stage!r}; one of {', '.join(STAGES.names)}")
    options = validate_job_options(options or {})
    outcomes: list[RerunOutcome] = []
    for job_id in job_ids:
        try:
            rerun(
                job_id,
                from_stage,
                force=force,
                options=options,
                settings=settings,
                actor=actor,
                tenant_id=tenant_id,
            )
            outcome = RerunOutcome(job_id, True)
        except JobNotFound as exc:
            outcome = RerunOutcome(job_id, False, str(exc), found=False)
        except InputError as exc:
            outcome = RerunOutcome(job_id, False, str(exc))
        outcomes.append(outcome)
        if after_each is not None:
            after_each(outcome)
    return outcomes
