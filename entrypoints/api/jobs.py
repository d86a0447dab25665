"""``/v1/jobs``: submit (one or a batch), list, status, report, cancel and re-run a job."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Header, Query, Request, Response
from pydantic import BaseModel, Field
from starlette.concurrency import run_in_threadpool

from entrypoints.api.auth import Operator, Submitter, Viewer, settings_of, take_submission
from entrypoints.api.problems import problem_body
from entrypoints.api.status import job_view
from entrypoints.api.uploads import SubmitBatch, body_limit, read_json, read_submission
from pipeline import jobs
from pipeline.errors import InputError
from pipeline.keys import Principal
from pipeline.schemas import JobPage, JobView
from pipeline.settings import Settings
from stages.report.render import CSV_TABLES, REPORT_FORMATS, report_content

router = APIRouter(prefix="/v1/jobs", tags=["jobs"])

#: What a submit answers besides the job view (``Idempotent-Replayed`` when a key matched).
_ACCEPTED: dict[int | str, dict[str, Any]] = {
    202: {"description": "Stored; the job runs. `Location` names it.", "model": JobView},
    413: {"description": "Over ingest.max_bytes (refused before the body is read)."},
    422: {"description": "Empty, binary, undecodable or unreadable script; an unknown option; a reused key."},
    429: {"description": "Over the key's submission rate; see Retry-After."},
}


def _key(header: str | None) -> str | None:
    """An ``Idempotency-Key`` header's value (a structured-field string: quotes optional)."""
    if header is None:
        return None
    value = header.strip()
    if len(value) >= 2 and value[0] == value[-1] == '"':
        value = value[1:-1]
    if not value or len(value) > 200:
        raise InputError("Idempotency-Key must be 1 to 200 characters")
    return value


def _accepted(request: Request, response: Response, view: JobView, created: bool) -> JobView:
    response.status_code = 202
    # The route's path written out: url_for() scans the route table (7% of a submit).
    response.headers["Location"] = f"{router.prefix}/{view.id}"
    if not created:
        response.headers["Idempotent-Replayed"] = "true"
    return view


@router.post("", status_code=202, responses=_ACCEPTED, response_model=JobView)
async def submit_job(
    request: Request,
    response: Response,
    who: Submitter,
    idempotency_key: Annotated[
        str | None, Header(description="Same key + same script → the same job.")
    ] = None,
) -> JobView:
    """Submit a script: `multipart/form-data` with one or more files (episodes in the order sent)
    and optional fields `project`, `title`, `options` (JSON), or `application/json`
    `{"text": …, "name": …, "project": …, "title": …, "options": {…}}`."""
    settings = settings_of(request)
    take_submission(request, who)
    given = await read_submission(request, max_bytes=settings.ingest.max_bytes)
    done = await run_in_threadpool(
        jobs.submit_job,
        given.script,
        project=given.fields.project,
        title=given.fields.title,
        idempotency_key=_key(idempotency_key),
        options=given.fields.options,
        tenant_id=who.tenant_id,
        callback_url=given.fields.callback_url,
        settings=settings,
    )
    view = done.view
    if view is None:  # an idempotency key found an earlier job: as it is now
        view = await run_in_threadpool(
            jobs.get_status, done.job_id, tenant_id=who.tenant_id, settings=settings
        )
    return _accepted(request, response, view, done.created)


class BatchItem(BaseModel):
    """One script of a batch: accepted (``status`` 202 with the job) or refused (a problem)."""

    index: int
    status: int
    job_id: str | None = None
    created: bool | None = None
    problem: dict[str, Any] | None = None


class BatchAnswer(BaseModel):
    accepted: int
    refused: int
    items: list[BatchItem]


def _submit_each(batch: SubmitBatch, who: Principal, settings: Settings) -> BatchAnswer:
    """The batch's scripts, stored in one transaction (:func:`pipeline.jobs.submit_many`)."""
    outcomes = jobs.submit_many(
        [
            {
                "script": item.text,
                "name": item.name,
                "project": item.project,
                "title": item.title,
                "idempotency_key": item.idempotency_key,
                "options": item.options,
                "callback_url": item.callback_url,
            }
            for item in batch.jobs
        ],
        tenant_id=who.tenant_id,
        settings=settings,
    )
    items = [
        BatchItem(index=index, status=202, job_id=done.job_id, created=done.created)
        if isinstance(done, jobs.Submission)
        else BatchItem(index=index, status=problem_body(done)["status"], problem=problem_body(done))
        for index, done in enumerate(outcomes)
    ]
    accepted = sum(1 for i in items if i.status == 202)
    return BatchAnswer(accepted=accepted, refused=len(items) - accepted, items=items)


@router.post("/batch", response_model=BatchAnswer)
async def submit_batch(request: Request, who: Submitter) -> BatchAnswer:
    """Submit up to 1,000 scripts as JSON `{"jobs": [{"text": …, "project": …, "idempotency_key": …}, …]}`;
    each is answered on its own (`status` 202 and its job, or a problem), in order."""
    settings = settings_of(request)
    take_submission(request, who)
    raw = await read_json(request, body_limit(settings.ingest.max_bytes))
    try:
        batch = SubmitBatch.model_validate_json(raw)
    except ValueError as exc:
        raise InputError(f"not a batch: {str(exc).splitlines()[0]}") from None
    return await run_in_threadpool(_submit_each, batch, who, settings)


@router.get("", response_model=JobPage)
def list_jobs(
    request: Request,
    who: Viewer,
    *,
    status: Annotated[list[str] | None, Query(description="One or more statuses (any matches).")] = None,
    project: str | None = None,
    since: Annotated[datetime | None, Query(description="Created at or after (ISO 8601).")] = None,
    until: Annotated[datetime | None, Query(description="Created before (ISO 8601).")] = None,
    title: Annotated[str | None, Query(description="Part of the title, or the whole job id.")] = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 20,
    cursor: Annotated[str | None, Query(description="`next_cursor` of the page before.")] = None,
) -> JobPage:
    """The tenant's jobs, newest first, a page at a time."""
    return jobs.list_jobs(
        status=status,
        project=project,
        since=since,
        until=until,
        title=title,
        limit=limit,
        cursor=cursor,
        tenant_id=who.tenant_id,
        settings=settings_of(request),
    )


@router.get("/{job_id}", response_model=JobView)
async def get_job(request: Request, who: Viewer, job_id: str) -> Response:
    """Status, progress percentage, step, ETA, stage timings, error and LLM usage."""
    # Kept in the process's memory until the job changes; a request whose key and job are both
    # kept is answered before it gets here (entrypoints.api.status).
    view = await job_view(request, job_id, who.tenant_id)
    # The view was validated when it was made: answered as it is, not validated again against
    # the response model (a tenth of a status request's time).
    return Response(view.model_dump_json(), media_type="application/json")


@router.get(
    "/{job_id}/report",
    responses={200: {"content": {media: {} for media in REPORT_FORMATS.values()}}},
    response_class=Response,
)
def get_report(
    request: Request,
    who: Viewer,
    job_id: str,
    format: Annotated[str, Query(description=", ".join(REPORT_FORMATS))] = "json",
    table: Annotated[str, Query(description=f"For csv: {', '.join(CSV_TABLES)}.")] = "scenes",
) -> Response:
    """A completed job's report: HTML, JSON, or one table as CSV."""
    content = report_content(job_id, format, table, tenant_id=who.tenant_id)
    name = f"{job_id}-{table}.csv" if format == "csv" else f"{job_id}.{format}"
    return Response(
        content,
        media_type=REPORT_FORMATS[format],
        headers={"Content-Disposition": f'inline; filename="{name}"'},
    )


class Cancelled(BaseModel):
    job_id: str
    cancelled: bool = Field(description="False: the job had ended already.")
    status: str


@router.post("/{job_id}/cancel", response_model=Cancelled)
def cancel_job(request: Request, who: Operator, job_id: str) -> Cancelled:
    """Cancel a job: its pending messages are dropped and late results discarded."""
    settings = settings_of(request)
    done = jobs.cancel(job_id, tenant_id=who.tenant_id, settings=settings)
    return Cancelled(
        job_id=job_id,
        cancelled=done,
        status=jobs.get_status(job_id, tenant_id=who.tenant_id, settings=settings).status,
    )
