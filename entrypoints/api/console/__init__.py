"""The operations console: server-rendered pages under ``/ui`` over the same service layer.

Signing in takes an API key; the key goes into an HttpOnly, SameSite=Strict cookie (path
``/ui``) and is checked on every page exactly as a ``Bearer`` key is (:func:`entrypoints.api.auth.
principal`: the process's key cache, dropped at revocation), so a revoked key signs its pages
out at once and a tenant sees only its own data. Every form that changes something carries a
CSRF token derived from the key (HMAC), checked before anything is done. Templates are Jinja2
with autoescaping: a script called ``<script>`` stays text.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import math
from collections.abc import AsyncIterator
from datetime import datetime
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

from fastapi import APIRouter, Request
from fastapi.security import HTTPAuthorizationCredentials
from jinja2 import Environment, FileSystemLoader, select_autoescape
from starlette.concurrency import run_in_threadpool
from starlette.responses import HTMLResponse, PlainTextResponse, RedirectResponse, Response, StreamingResponse

from entrypoints.api.auth import principal, settings_of, take_sign_in
from entrypoints.api.events import (
    JobState,
    hub_of,
    next_notification,
    sse_message,
    status_change_of,
    tenant_topic,
)
from pipeline import jobs, reruns
from pipeline.errors import InputError, JobNotFound, JubenError, RateLimited, Unauthorized
from pipeline.keys import Principal, Role
from pipeline.settings import Settings
from pipeline.states import STAGES, TERMINAL, Status
from pipeline.stats import collect_stats
from stages.report.render import REPORT_FORMATS, report_content

HERE = Path(__file__).parent
#: The session cookie: the API key itself, never readable by the page's scripts.
COOKIE = "juben_console"
#: Rows per page of the jobs list.
PAGE_ROWS = 50
#: Seconds between two countings of a page's live counts per status while jobs change status.
RECOUNT_S = 1.0

router = APIRouter(prefix="/ui", include_in_schema=False)
_templates = Environment(
    loader=FileSystemLoader(HERE / "templates"),
    autoescape=select_autoescape(["html"]),
    trim_blocks=True,
    lstrip_blocks=True,
)


def csrf_token(key: str) -> str:
    """The token a signed-in page's forms carry: an HMAC of a fixed label under the key, so it
    tells nothing of the key and a page of another origin cannot know it."""
    return hmac.new(key.encode(), b"juben-console-csrf", hashlib.sha256).hexdigest()


def _csrf_ok(request: Request, form: Any) -> bool:
    """Whether a form carries the CSRF token of the session it was posted with."""
    key = request.cookies.get(COOKIE) or ""
    return bool(key) and hmac.compare_digest(str(form.get("csrf") or ""), csrf_token(key))


def _bad_csrf() -> Response:
    return PlainTextResponse("The form's CSRF token is missing or wrong: reload the page.", status_code=403)


def render(request: Request, name: str, status: int = 200, **context: Any) -> HTMLResponse:
    key = request.cookies.get(COOKIE)
    context.setdefault("who", getattr(request.state, "console_who", None))
    context["csrf"] = csrf_token(key) if key else ""
    return HTMLResponse(_templates.get_template(name).render(request=request, **context), status_code=status)


async def signed_in(request: Request) -> Principal | None:
    """The principal of the request's console cookie; ``None`` when there is none or its key
    is unknown or revoked."""
    key = request.cookies.get(COOKIE)
    if not key:
        return None
    try:
        who = await principal(request, HTTPAuthorizationCredentials(scheme="Bearer", credentials=key))
    except Unauthorized:
        return None
    request.state.console_who = who
    return who


def to_login(request: Request) -> RedirectResponse:
    target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
    response = RedirectResponse(f"/ui/login?{urlencode({'next': target})}", status_code=303)
    response.delete_cookie(COOKIE, path="/ui")
    return response


def _safe_next(value: str | None) -> str:
    """Where to go after signing in: a console path only (no open redirect)."""
    if value and value.startswith("/ui/") and not value.startswith("//"):
        return value
    return "/ui/jobs"


@router.get("", response_class=HTMLResponse)
@router.get("/", response_class=HTMLResponse)
async def home() -> Response:
    return RedirectResponse("/ui/jobs", status_code=303)


@router.get("/login", response_class=HTMLResponse)
async def login_page(request: Request, next: str | None = None) -> Response:
    return render(request, "login.html", next=_safe_next(next), error=None, who=None)


@router.post("/login", response_class=HTMLResponse)
async def login(request: Request) -> Response:
    form = await request.form()
    key = str(form.get("key") or "").strip()
    target = _safe_next(str(form.get("next") or ""))
    try:
        await run_in_threadpool(take_sign_in, request)
        await principal(request, HTTPAuthorizationCredentials(scheme="Bearer", credentials=key))
    except RateLimited as exc:
        refused = render(request, "login.html", status=429, next=target, error=str(exc), who=None)
        refused.headers["Retry-After"] = str(max(1, math.ceil(exc.retry_after_s)))
        return refused
    except Unauthorized as exc:
        return render(request, "login.html", status=401, next=target, error=str(exc), who=None)
    response = RedirectResponse(target, status_code=303)
    response.set_cookie(
        COOKIE,
        key,
        httponly=True,
        samesite="strict",
        secure=request.url.scheme == "https",
        path="/ui",
    )
    return response


@router.post("/logout", response_class=HTMLResponse)
async def logout(request: Request) -> Response:
    form = await request.form()
    if request.cookies.get(COOKIE) and not _csrf_ok(request, form):
        return _bad_csrf()
    response = RedirectResponse("/ui/login", status_code=303)
    response.delete_cookie(COOKIE, path="/ui")
    return response


def when_given(value: str | None) -> datetime | None:
    if not value:
        return None
    try:
        return datetime.fromisoformat(value)
    except ValueError:
        raise InputError(f"not a date and time: {value!r} (use 2026-12-07 or 2026-12-07T09:30)") from None


@router.get("/jobs", response_class=HTMLResponse)
async def jobs_page(request: Request) -> Response:
    """Jobs, newest first: the filters live in the URL (bookmark a view, share it)."""
    who = await signed_in(request)
    if who is None:
        return to_login(request)
    query = request.query_params
    chosen = [s for s in query.getlist("status") if s]
    fields = {name: query.get(name) or "" for name in ("project", "title", "since", "until")}
    settings = settings_of(request)
    error = None
    page = None
    try:
        page = await run_in_threadpool(
            jobs.list_jobs,
            status=chosen or None,
            project=fields["project"] or None,
            title=fields["title"] or None,
            since=when_given(fields["since"]),
            until=when_given(fields["until"]),
            cursor=query.get("cursor") or None,
            limit=PAGE_ROWS,
            tenant_id=who.tenant_id,
            settings=settings,
        )
    except JubenError as exc:  # a bad filter: said on the page, the filters kept to fix
        error = str(exc)
    counts = await run_in_threadpool(jobs.count_by_status, tenant_id=who.tenant_id, settings=settings)
    kept = [("status", s) for s in chosen] + [(k, v) for k, v in fields.items() if v]
    return render(
        request,
        "jobs.html",
        status=400 if error else 200,
        page=page,
        error=error,
        filters={"status": chosen, **fields},
        counts=counts,
        statuses=[s.value for s in Status],
        ended={s.value for s in TERMINAL},
        next_url=f"/ui/jobs?{urlencode([*kept, ('cursor', page.next_cursor)])}"
        if page and page.next_cursor
        else None,
        may_act=who.may(Role.operator),
    )


def _states(job_ids: list[str], tenant_id: int, settings: Settings) -> dict[str, JobState]:
    """The tenant's jobs among ``job_ids`` as they are now, in one query (another tenant's are
    left out)."""
    rows = jobs.progress_of(job_ids, tenant_id=tenant_id, settings=settings)
    return {row.id: JobState(row) for row in rows}


def _row(job_id: str, state: JobState, times: dict[str, float]) -> bytes:
    return sse_message("row", {"job_id": job_id, **state.shown(times)}, None)


@router.get("/events")
async def rows_stream(request: Request) -> Response:
    """The live parts of a page, on one event stream through the process's one LISTEN: its rows
    (``?job=…`` each, at most a page's worth) as ``row`` events (status, percent, step); with
    ``?counts=1``, the tenant's jobs per status as ``counts`` events, counted again at most every
    :data:`RECOUNT_S` while its jobs change status. Without counts the stream ends (``end``) once
    every row's job has ended."""
    who = await signed_in(request)
    if who is None:
        return PlainTextResponse("sign in first", status_code=401)
    wanted = list(dict.fromkeys(j for j in request.query_params.getlist("job") if j))[:PAGE_ROWS]
    counting = request.query_params.get("counts") == "1" and who.tenant_id is not None
    shared = getattr(request.app.state, "console_counts", None)
    if shared is None:
        shared = request.app.state.console_counts = {}
    page = _LivePage(who, settings_of(request), hub_of(request), counting, shared)
    await page.follow(wanted)
    return StreamingResponse(
        page.events(),
        media_type="text/event-stream",
        headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"},
    )


class _LivePage:
    """One page's event stream (:func:`rows_stream`): the states of its rows' jobs, kept by the
    notifications of one queue, and when its counts per status are due again.

    ``shared`` holds, per tenant, the last counting a page of this process began (when, and its
    future): pages of one tenant open at once count once between them.
    """

    def __init__(
        self,
        who: Principal,
        settings: Settings,
        hub: Any,
        counting: bool,
        shared: dict[Any, tuple[float, asyncio.Future[dict[str, int]]]],
    ) -> None:
        self.who, self.settings, self.hub, self.counting, self.shared = who, settings, hub, counting, shared
        self.queue: asyncio.Queue[dict[str, Any]] = asyncio.Queue(1000)
        self.topics: list[str] = []
        self.states: dict[str, JobState] = {}
        self.recount_at: float | None = None  # when the counts are next sent (None: unchanged)
        self.changed_at = 0.0  # when the first change not yet in the counts sent was seen

    async def follow(self, job_ids: list[str]) -> None:
        """Subscribe before reading (nothing falls between the read and the live rows), then
        read the rows' jobs and keep following only those found (the tenant's)."""
        tenant = self.who.tenant_id
        self.topics = [*job_ids, *([tenant_topic(tenant)] if self.counting and tenant is not None else [])]
        for topic in self.topics:
            await self.hub.subscribe(topic, self.queue)
        self.changed_at = asyncio.get_running_loop().time()  # the first counts: any made from now on
        try:
            self.states = await run_in_threadpool(_states, job_ids, tenant, self.settings)
        except BaseException:
            self._unsubscribe()
            raise
        for job_id in set(job_ids) - set(self.states):
            self.hub.unsubscribe(job_id, self.queue)
            self.topics.remove(job_id)

    def _unsubscribe(self) -> None:
        for topic in self.topics:
            self.hub.unsubscribe(topic, self.queue)

    async def _counts(self) -> bytes:
        """The counts message, counted after the last change this page saw: another page of the
        tenant's counting (done or under way) begun since then serves for this one too."""
        tenant = self.who.tenant_id
        known = self.shared.get(tenant)
        if known is None or known[0] < self.changed_at or (known[1].done() and known[1].exception()):
            counting = asyncio.ensure_future(
                run_in_threadpool(jobs.count_by_status, tenant_id=tenant, settings=self.settings)
            )
            known = self.shared[tenant] = (asyncio.get_running_loop().time(), counting)
        return sse_message("counts", await asyncio.shield(known[1]), None)

    async def _row(self, job_id: str, state: JobState) -> bytes:
        times = jobs.cached_stage_times()  # the ETAs' figures: the process's, read when stale
        if times is None:
            times = await run_in_threadpool(jobs.current_stage_times, self.settings)
        return _row(job_id, state, times)

    async def _rows(self) -> bytes:
        return b"".join([await self._row(j, s) for j, s in self.states.items()])

    async def events(self) -> AsyncIterator[bytes]:
        keepalive_s = self.settings.api.sse_keepalive_s
        clock = asyncio.get_running_loop().time
        try:
            yield b"retry: 2000\n\n" + await self._rows()
            if self.counting:
                yield await self._counts()
            while self.counting or any(Status(s.status) not in TERMINAL for s in self.states.values()):
                if self.recount_at is not None and clock() >= self.recount_at:
                    self.recount_at = None
                    yield await self._counts()
                wait_s = keepalive_s if self.recount_at is None else max(self.recount_at - clock(), 0.0)
                payload = await next_notification(self.queue, wait_s)
                if payload is None:
                    if self.recount_at is None:
                        yield b": keep-alive\n\n"
                elif payload.get("k") == "gap":  # notifications were lost: read the rows again
                    fresh = await run_in_threadpool(
                        _states, list(self.states), self.who.tenant_id, self.settings
                    )
                    self.states.update(fresh)
                    yield await self._rows()
                    if self.counting:
                        self.recount_at = self.changed_at = clock()
                else:
                    if (state := self.states.get(payload.get("j", ""))) is not None:
                        state.apply(payload)
                        yield await self._row(payload["j"], state)
                    if (
                        self.counting
                        and self.recount_at is None
                        and status_change_of(payload) == self.who.tenant_id
                    ):
                        self.changed_at = clock()
                        self.recount_at = self.changed_at + RECOUNT_S
            yield sse_message("end", {}, None)
        finally:
            self._unsubscribe()


def _timeline(view: Any, events: list[dict[str, Any]]) -> dict[str, Any]:
    """The current run's stages as bars on one time axis (server-made SVG): where each started and
    how long it took, with the run's notes (retries, re-claims) as ticks."""
    timed = [t for t in view.timings if t.started_at is not None]
    if not timed:
        return {"bars": [], "ticks": [], "span_s": 0.0}
    start = min(t.started_at for t in timed)
    ends = [t.finished_at or view.updated_at for t in timed]
    span = max((max(ends) - start).total_seconds(), 0.001)
    bars = []
    for t, end in zip(timed, ends, strict=True):
        left = (t.started_at - start).total_seconds() / span
        width = max((end - t.started_at).total_seconds() / span, 0.004)
        left = min(left, 1 - max(width, 0.005))  # a short last stage stays inside the track
        bars.append({"stage": t.stage, "x": round(left * 100, 2), "w": round(width * 100, 2),
                     "seconds": t.duration_s, "open": t.finished_at is None})  # fmt: skip
    ticks = [
        {"x": round((e["at"] - start).total_seconds() / span * 100, 2), "detail": e["detail"] or ""}
        for e in events
        if e["run"] == view.run and e["from"] == e["to"] and e["at"] >= start
    ]
    return {"bars": bars, "ticks": ticks, "span_s": span}


def not_found(request: Request, message: str) -> HTMLResponse:
    return render(request, "not_found.html", status=404, message=message)


@router.get("/jobs/{job_id}", response_class=HTMLResponse)
async def job_page(request: Request, job_id: str, stage: str = "extract") -> Response:
    """One job: status, progress, ETA and run; its stages on a time line; every event (retries and
    errors included); LLM use; the report; cancel and re-run (with a cost preview) for operators."""
    who = await signed_in(request)
    if who is None:
        return to_login(request)
    settings = settings_of(request)
    try:
        view, events = await run_in_threadpool(
            jobs.job_snapshot, job_id, tenant_id=who.tenant_id, settings=settings
        )
        chunks = await run_in_threadpool(jobs.chunk_grid, job_id, tenant_id=who.tenant_id, settings=settings)
    except JobNotFound as exc:
        return not_found(request, str(exc))
    return _job_page(
        request,
        view,
        events,
        may_act=who.may(Role.operator),
        stage=stage,
        notice=request.query_params.get("notice"),
        chunks=chunks,
    )


def _job_page(
    request: Request,
    view: Any,
    events: list[dict[str, Any]],
    *,
    may_act: bool,
    stage: str,
    preview: dict[str, Any] | None = None,
    notice: str | None = None,
    chunks: list[dict[str, Any]] | None = None,
) -> HTMLResponse:
    return render(
        request,
        "job.html",
        job=view,
        events=list(reversed(events)),
        timeline=_timeline(view, events),
        stages=list(STAGES.names),
        chosen_stage=stage,
        may_act=may_act,
        ended=Status(view.status) in TERMINAL,
        preview=preview,
        notice=notice,
        chunks=chunks or [],
    )


async def acting_form(request: Request, role: Role = Role.operator) -> tuple[Principal, Any] | Response:
    """A signed-in form post: its principal and its form, once the form's CSRF token matches the
    session's and the key's role allows the action; else the answer that refuses it."""
    who = await signed_in(request)
    if who is None:
        return to_login(request)
    form = await request.form()
    if not _csrf_ok(request, form):
        return _bad_csrf()
    if not who.may(role):
        return PlainTextResponse(
            f"This key is a {who.role.name}; this needs an {role.name} key.", status_code=403
        )
    return who, form


def _back(job_id: str, notice: str) -> RedirectResponse:
    return RedirectResponse(f"/ui/jobs/{job_id}?{urlencode({'notice': notice})}", status_code=303)


@router.post("/jobs/{job_id}/cancel", response_class=HTMLResponse)
async def cancel_job(request: Request, job_id: str) -> Response:
    acting = await acting_form(request)
    if isinstance(acting, Response):
        return acting
    who, _ = acting
    try:
        done = await run_in_threadpool(
            jobs.cancel, job_id, tenant_id=who.tenant_id, settings=settings_of(request)
        )
    except JobNotFound as exc:
        return not_found(request, str(exc))
    return _back(job_id, "Cancelled." if done else "The job had ended already.")


@router.post("/jobs/{job_id}/rerun", response_class=HTMLResponse)
async def rerun_job(request: Request, job_id: str) -> Response:
    """Preview (``dry_run``: the page again, with the cost) or, confirmed, re-run from a stage."""
    acting = await acting_form(request)
    if isinstance(acting, Response):
        return acting
    who, form = acting
    settings = settings_of(request)
    from_stage = str(form.get("from_stage") or "")
    force = bool(form.get("force"))
    try:
        if form.get("confirm"):
            [outcome] = await run_in_threadpool(
                reruns.rerun_many,
                [job_id],
                from_stage,
                force=force,
                actor=f"console {who.prefix}",
                tenant_id=who.tenant_id,
                settings=settings,
            )
            if not outcome.found:
                raise JobNotFound(outcome.reason or f"no job {job_id}")
            return _back(job_id, f"Re-running from {from_stage}." if outcome.done else outcome.reason or "")
        plan = await run_in_threadpool(
            reruns.preview, [job_id], from_stage, tenant_id=who.tenant_id, settings=settings
        )
        if plan.not_found:
            raise JobNotFound(f"no job {job_id}")
        view, events = await run_in_threadpool(
            jobs.job_snapshot, job_id, tenant_id=who.tenant_id, settings=settings
        )
    except JobNotFound as exc:
        return not_found(request, str(exc))
    except InputError as exc:  # an unknown stage
        return PlainTextResponse(str(exc), status_code=400)
    preview = {"from_stage": from_stage, "force": force, "total": plan.totals()}
    return _job_page(request, view, events, may_act=True, stage=from_stage, preview=preview)


@router.get("/jobs/{job_id}/report")
async def job_report(request: Request, job_id: str, format: str = "html", table: str = "scenes") -> Response:
    """The report, as the API's route gives it (HTML inline; JSON and CSV as files)."""
    who = await signed_in(request)
    if who is None:
        return to_login(request)
    try:
        content = await run_in_threadpool(report_content, job_id, format, table, tenant_id=who.tenant_id)
    except JobNotFound as exc:
        return not_found(request, str(exc))
    except InputError as exc:
        return PlainTextResponse(str(exc), status_code=400)
    # The HTML report escapes every value of the script; served on the console's origin it is also
    # sandboxed (no script runs, no request leaves it), in case one day a value is not.
    headers = (
        {"Content-Security-Policy": "sandbox; default-src 'none'; style-src 'unsafe-inline'; img-src data:"}
        if format == "html"
        else {"Content-Disposition": f'attachment; filename="{job_id}.{format}"'}
    )
    return Response(content, media_type=REPORT_FORMATS[format], headers=headers)


@router.get("/overview", response_class=HTMLResponse)
async def overview_page(request: Request) -> Response:
    """The tenant at a glance: jobs by status, jobs ended per hour over the last day, stage
    durations (p50, p95), unresolved dead letters by stage, LLM tokens and cache hits."""
    who = await signed_in(request)
    if who is None:
        return to_login(request)
    settings = settings_of(request)
    figures = await run_in_threadpool(collect_stats, settings, tenant_id=who.tenant_id)
    hours = await run_in_threadpool(jobs.finished_per_hour, 24, tenant_id=who.tenant_id, settings=settings)
    return render(request, "overview.html", active="overview", stats=figures, hours=hours)


# Last: the dead letters' pages add their routes to this router.
from entrypoints.api.console import letters  # noqa: E402, F401
