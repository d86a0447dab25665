"""The operations console: server-rendered pages under ``/ui`` over the same service layer.

Signing in takes an API key; the key goes into an HttpOnly, SameSite=Strict cookie (path
``/ui``) and is checked on every page exactly as a ``Bearer`` key is (:func:`entrypoints.api.auth.
principal`: the process's key cache, dropped at revocation), so a revoked key signs its pages
out at once and a tenant sees only its own data. Every form that changes something carries a
CSRF token derived from the key (HMAC), checked before anything is done. Templates are Jinja2
with autoescaping: a script called ``<script>`` stays text.
"""

from __future__ import annotations

import hashlib
import hmac
from datetime import datetime
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

from fastapi import APIRouter, Request
from fastapi.security import HTTPAuthorizationCredentials
from jinja2 import Environment, FileSystemLoader, select_autoescape
from starlette.concurrency import run_in_threadpool
from starlette.responses import HTMLResponse, RedirectResponse, Response

from entrypoints.api.auth import principal, settings_of
from pipeline import jobs
from pipeline.errors import InputError, JubenError, Unauthorized
from pipeline.keys import Principal, Role
from pipeline.states import Status

HERE = Path(__file__).parent
#: The session cookie: the API key itself, never readable by the page's scripts.
COOKIE = "juben_console"
#: Rows per page of the jobs list.
PAGE_ROWS = 50

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


def _render(request: Request, name: str, status: int = 200, **context: Any) -> HTMLResponse:
    key = request.cookies.get(COOKIE)
    context.setdefault("who", getattr(request.state, "console_who", None))
    context["csrf"] = csrf_token(key) if key else ""
    return HTMLResponse(_templates.get_template(name).render(request=request, **context), status_code=status)


async def _signed_in(request: Request) -> Principal | None:
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


def _to_login(request: Request) -> RedirectResponse:
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
    return _render(request, "login.html", next=_safe_next(next), error=None, who=None)


@router.post("/login", response_class=HTMLResponse)
async def login(request: Request) -> Response:
    form = await request.form()
    key = str(form.get("key") or "").strip()
    target = _safe_next(str(form.get("next") or ""))
    try:
        await principal(request, HTTPAuthorizationCredentials(scheme="Bearer", credentials=key))
    except Unauthorized as exc:
        return _render(request, "login.html", status=401, next=target, error=str(exc), who=None)
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
    key = request.cookies.get(COOKIE) or ""
    if key and not hmac.compare_digest(str(form.get("csrf") or ""), csrf_token(key)):
        return HTMLResponse("The form's CSRF token is missing or wrong: reload the page.", status_code=403)
    response = RedirectResponse("/ui/login", status_code=303)
    response.delete_cookie(COOKIE, path="/ui")
    return response


def _when(value: str | None) -> datetime | None:
    if not value:
        return None
    try:
        return datetime.fromisoformat(value)
    except ValueError:
        raise InputError(f"not a date and time: {value!r} (use 2026-12-07 or 2026-12-07T09:30)") from None


@router.get("/jobs", response_class=HTMLResponse)
async def jobs_page(request: Request) -> Response:
    """Jobs, newest first: the filters live in the URL (bookmark a view, share it)."""
    who = await _signed_in(request)
    if who is None:
        return _to_login(request)
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
            since=_when(fields["since"]),
            until=_when(fields["until"]),
            cursor=query.get("cursor") or None,
            limit=PAGE_ROWS,
            tenant_id=who.tenant_id,
            settings=settings,
        )
    except JubenError as exc:  # a bad filter: said on the page, the filters kept to fix
        error = str(exc)
    counts = await run_in_threadpool(jobs.count_by_status, tenant_id=who.tenant_id, settings=settings)
    kept = [("status", s) for s in chosen] + [(k, v) for k, v in fields.items() if v]
    return _render(
        request,
        "jobs.html",
        status=400 if error else 200,
        page=page,
        error=error,
        filters={"status": chosen, **fields},
        counts=counts,
        statuses=[s.value for s in Status],
        next_url=f"/ui/jobs?{urlencode([*kept, ('cursor', page.next_cursor)])}"
        if page and page.next_cursor
        else None,
        may_act=who.may(Role.operator),
    )
