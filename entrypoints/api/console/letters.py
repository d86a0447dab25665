"""The console's dead letters: grouped by fingerprint, a group's letters, one letter whole; retry
one, a group or everything the filters match (with ``--set``-style overrides and a preview
first), and purge old ones: the service layer's calls (:mod:`pipeline.deadletters`), as the CLI
and the API make them."""

from __future__ import annotations

from typing import Any
from urllib.parse import urlencode

from fastapi import Request
from starlette.concurrency import run_in_threadpool
from starlette.responses import HTMLResponse, PlainTextResponse, RedirectResponse, Response

from entrypoints.api.auth import settings_of
from entrypoints.api.console import acting_form, not_found, render, router, signed_in, to_login, when_given
from pipeline import deadletters
from pipeline.errors import JubenError, NotFound
from pipeline.keys import Role
from pipeline.settings import parse_option_pairs
from pipeline.states import STAGES
from pipeline.when import parse_duration

#: The filters a dead-letter view keeps in its URL.
FILTERS = ("stage", "error", "project", "since", "fingerprint")
#: The most letters one "retry everything matching" takes.
MAX_RETRY = 1000


def _filters(source: Any) -> dict[str, str]:
    return {name: str(source.get(name) or "").strip() for name in FILTERS}


def _query(filters: dict[str, str], resolved: bool, tenant_id: int) -> dict[str, Any]:
    return {
        "stage": filters["stage"] or None,
        "error": filters["error"] or None,
        "project": filters["project"] or None,
        "since": when_given(filters["since"]),
        "resolved": resolved,
        "tenant_id": tenant_id,
    }


@router.get("/dead-letters", response_class=HTMLResponse)
async def letters_page(request: Request) -> Response:
    """Dead letters grouped by fingerprint (counts, jobs, first and last seen); with a
    ``fingerprint``, that group's letters."""
    who = await signed_in(request)
    if who is None:
        return to_login(request)
    filters = _filters(request.query_params)
    resolved = request.query_params.get("resolved") == "1"
    settings = settings_of(request)
    groups: list[Any] = []
    letters: list[Any] = []
    error = None
    try:
        query = _query(filters, resolved, who.tenant_id)
        if filters["fingerprint"]:
            letters = await run_in_threadpool(
                deadletters.list_dead_letters,
                **query,
                fingerprint=filters["fingerprint"],
                limit=MAX_RETRY,
                settings=settings,
            )
        else:
            groups = await run_in_threadpool(deadletters.group_dead_letters, **query, settings=settings)
    except JubenError as exc:
        error = str(exc)
    kept = urlencode({k: v for k, v in filters.items() if v and k != "fingerprint"})
    return render(
        request,
        "letters.html",
        status=400 if error else 200,
        active="letters",
        filters=filters,
        resolved=resolved,
        groups=groups,
        letters=letters,
        kept=kept,
        error=error,
        stages=list(STAGES.names),
        may_act=who.may(Role.operator),
    )


@router.get("/dead-letters/{letter_id}", response_class=HTMLResponse)
async def letter_page(request: Request, letter_id: int) -> Response:
    """One dead letter: the error and traceback, the model's unusable answers, the message, the
    job's events; retry it (preview first)."""
    who = await signed_in(request)
    if who is None:
        return to_login(request)
    try:
        letter = await run_in_threadpool(
            deadletters.show_dead_letter, letter_id, tenant_id=who.tenant_id, settings=settings_of(request)
        )
    except NotFound as exc:
        return not_found(request, str(exc))
    return render(request, "letter.html", active="letters", letter=letter, may_act=who.may(Role.operator))


@router.post("/dead-letters/retry", response_class=HTMLResponse)
async def retry_letters(request: Request) -> Response:
    """Retry letters chosen by ``ids``, a ``fingerprint`` or the filters (``scope=filters``), with
    overrides (``set``: a KEY=VALUE a line); a preview unless ``confirm``, answered per job."""
    acting = await acting_form(request)
    if isinstance(acting, Response):
        return acting
    who, form = acting
    settings = settings_of(request)
    filters = _filters(form)
    ids = [int(i) for i in form.getlist("ids") if str(i).isdigit()]
    overrides_text = str(form.get("set") or "")
    confirm = bool(form.get("confirm"))
    try:
        overrides = parse_option_pairs(line for line in overrides_text.splitlines() if line.strip())
        if not ids and not filters["fingerprint"]:  # everything the filters match
            matching = await run_in_threadpool(
                deadletters.list_dead_letters,
                **_query(filters, False, who.tenant_id),
                limit=MAX_RETRY,
                settings=settings,
            )
            ids = [letter.id for letter in matching]
            if not ids:
                raise JubenError("no dead letter matches these filters")
        results = await run_in_threadpool(
            deadletters.retry_dead_letters,
            ids or None,
            fingerprint=None if ids else filters["fingerprint"],
            dry_run=not confirm,
            overrides=overrides,
            actor=f"console {who.prefix}",
            tenant_id=who.tenant_id,
            settings=settings,
        )
    except JubenError as exc:
        return PlainTextResponse(str(exc), status_code=400)
    return render(
        request,
        "retry.html",
        active="letters",
        results=results,
        confirmed=confirm,
        ids=ids,
        filters=filters,
        overrides=overrides_text,
    )


@router.post("/dead-letters/purge", response_class=HTMLResponse)
async def purge_letters(request: Request) -> Response:
    """Drop resolved letters and those older than ``older_than`` (7d, 12h): a count first, then,
    confirmed, the purge."""
    acting = await acting_form(request)
    if isinstance(acting, Response):
        return acting
    who, form = acting
    older_than = str(form.get("older_than") or "7d")
    confirm = bool(form.get("confirm"))
    try:
        count = await run_in_threadpool(
            deadletters.purge_dead_letters,
            parse_duration(older_than),
            dry_run=not confirm,
            tenant_id=who.tenant_id,
            settings=settings_of(request),
        )
    except JubenError as exc:
        return PlainTextResponse(str(exc), status_code=400)
    if confirm:
        notice = f"Purged {count} dead letters."
        return RedirectResponse(f"/ui/dead-letters?{urlencode({'notice': notice})}", status_code=303)
    return render(request, "purge.html", active="letters", count=count, older_than=older_than)
