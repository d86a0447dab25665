"""Operations: re-runs by filter, dead letters (list, group, show, retry, purge) and stats."""

from __future__ import annotations

import dataclasses
from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Query, Request
from pydantic import BaseModel, Field

from entrypoints.api.auth import Operator, Viewer, settings_of
from pipeline import deadletters, jobs, reruns
from pipeline.errors import JobNotFound
from pipeline.keys import Principal
from pipeline.settings import Settings
from pipeline.states import STAGES
from pipeline.stats import collect_stats
from pipeline.when import parse_duration

router = APIRouter(prefix="/v1", tags=["operations"])


class RerunRequest(BaseModel):
    """Re-run from a stage (`dry_run`: only say what it would cost)."""

    from_stage: str = Field("ingest", description=", ".join(STAGES.names))
    force: bool = Field(False, description="Cancel the job first if it is running.")
    options: dict[str, Any] = Field(default_factory=dict, description="As the CLI's --set.")
    no_cache: bool = Field(False, description="Ask the LLM again instead of using cached answers.")
    dry_run: bool = False


def rerun_answer(
    job_ids: list[str], body: RerunRequest, who: Principal, settings: Settings, *, one: bool = False
) -> dict[str, Any]:
    """Re-run (or with ``dry_run`` price) ``job_ids`` from ``body.from_stage``, answering per job.

    Raises:
        JobNotFound: ``one`` job asked for and it is not the tenant's (a 404, not a per-item answer).
    """
    options = dict(body.options)
    if body.no_cache:
        options["no_cache"] = True
    if body.dry_run:
        plan = reruns.preview(
            job_ids, body.from_stage, use_cache=not body.no_cache, tenant_id=who.tenant_id, settings=settings
        )
        if one and plan.not_found:
            raise JobNotFound(f"no job {job_ids[0]}")
        return {
            "dry_run": True,
            "from_stage": body.from_stage,
            "jobs": [{"job_id": job_id, **dataclasses.asdict(cost)} for job_id, cost in plan.jobs.items()],
            "total": plan.totals(),
            "not_found": plan.not_found,
        }
    outcomes = reruns.rerun_many(
        job_ids,
        body.from_stage,
        force=body.force,
        options=options,
        actor=f"key {who.prefix}",
        tenant_id=who.tenant_id,
        settings=settings,
    )
    if one and not outcomes[0].found:
        raise JobNotFound(outcomes[0].reason)
    return {
        "dry_run": False,
        "from_stage": body.from_stage,
        "rerun": [o.job_id for o in outcomes if o.done],
        "items": [dataclasses.asdict(o) for o in outcomes],
    }


@router.post("/jobs/{job_id}/rerun", tags=["jobs"])
def rerun_job(request: Request, who: Operator, job_id: str, body: RerunRequest) -> dict[str, Any]:
    """Re-run one job from a stage: its and later stages' output is dropped, the job runs again."""
    return rerun_answer([job_id], body, who, settings_of(request), one=True)


def _register_costs() -> None:
    """The re-run cost estimates (an LLM extract's) register when their stages are imported."""
    import stages.extract.stage  # noqa: F401


_register_costs()


class RerunFilter(RerunRequest):
    """Jobs to re-run: ids, or every job matching the filters (at least one; never "all")."""

    job_ids: list[str] | None = Field(None, max_length=10_000)
    status: list[str] | None = None
    project: str | None = None
    since: datetime | None = None
    until: datetime | None = None


@router.post("/reruns")
def rerun_jobs(request: Request, who: Operator, body: RerunFilter) -> dict[str, Any]:
    """Re-run jobs by id or filter from a stage; `dry_run` shows the jobs and what re-extracting
    them would cost (LLM calls, cache hits, tokens) and changes nothing."""
    settings = settings_of(request)
    selected = reruns.targets(
        body.job_ids,
        status=",".join(body.status) if body.status else None,
        project=body.project,
        since=body.since,
        until=body.until,
        tenant_id=who.tenant_id,
        settings=settings,
    )
    return rerun_answer(selected, body, who, settings)


@router.get("/dead-letters")
def list_dead_letters(
    request: Request,
    who: Viewer,
    *,
    stage: Annotated[str | None, Query(description=", ".join(STAGES.names))] = None,
    error: Annotated[str | None, Query(description="Text in the error type or message.")] = None,
    project: str | None = None,
    since: datetime | None = None,
    resolved: bool = False,
    group: Annotated[bool, Query(description="Fold by fingerprint with counts.")] = False,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
) -> list[dict[str, Any]]:
    """The tenant's dead letters, newest first, or grouped by fingerprint."""
    filters: dict[str, Any] = {
        "stage": stage,
        "error": error,
        "project": project,
        "since": since,
        "resolved": resolved,
        "tenant_id": who.tenant_id,
        "settings": settings_of(request),
    }
    if group:
        return [g.model_dump(mode="json") for g in deadletters.group_dead_letters(**filters)]
    return [d.model_dump(mode="json") for d in deadletters.list_dead_letters(**filters, limit=limit)]


@router.get("/dead-letters/{letter_id}", response_model=deadletters.DeadLetterDetail)
def show_dead_letter(request: Request, who: Viewer, letter_id: int) -> deadletters.DeadLetterDetail:
    """A dead letter: the message, the error and traceback, the model's answer, the job's events."""
    return deadletters.show_dead_letter(letter_id, tenant_id=who.tenant_id, settings=settings_of(request))


class RetryRequest(BaseModel):
    """Which dead letters to re-drive: ids, a fingerprint, or all (narrowed by stage)."""

    ids: list[int] | None = None
    fingerprint: str | None = None
    all: bool = False
    stage: str | None = None
    set: dict[str, Any] = Field(default_factory=dict, description="Options recorded on the jobs (--set).")
    dry_run: bool = False


@router.post("/dead-letters/retry")
def retry_dead_letters(request: Request, who: Operator, body: RetryRequest) -> list[dict[str, Any]]:
    """Re-drive failed jobs from the stage that failed, keeping completed work; one entry per job
    (and per asked-for id that matched nothing)."""
    results = deadletters.retry_dead_letters(
        body.ids,
        fingerprint=body.fingerprint,
        all_=body.all,
        stage=body.stage,
        dry_run=body.dry_run,
        overrides=body.set,
        actor=f"key {who.prefix}",
        tenant_id=who.tenant_id,
        settings=settings_of(request),
    )
    return [r.model_dump(mode="json") for r in results]


class PurgeRequest(BaseModel):
    older_than: str = Field(
        "7d", description="Drop letters older than this (and all resolved ones): 7d, 12h."
    )
    dry_run: bool = False


@router.post("/dead-letters/purge")
def purge_dead_letters(request: Request, who: Operator, body: PurgeRequest) -> dict[str, Any]:
    """Drop resolved dead letters and those older than `older_than`."""
    count = deadletters.purge_dead_letters(
        parse_duration(body.older_than),
        dry_run=body.dry_run,
        tenant_id=who.tenant_id,
        settings=settings_of(request),
    )
    return {"dry_run": body.dry_run, "purged": count}


@router.get("/projects", tags=["jobs"])
def list_projects(request: Request, who: Viewer) -> list[dict[str, Any]]:
    """The tenant's projects (assets are shared within one) with their job counts."""
    return jobs.list_projects(tenant_id=who.tenant_id, settings=settings_of(request))


@router.get("/stats")
def stats(request: Request, who: Viewer) -> dict[str, Any]:
    """Jobs by status, dead letters, stage durations, retries, re-drives and LLM use (the tenant's)."""
    return collect_stats(settings_of(request), tenant_id=who.tenant_id)
