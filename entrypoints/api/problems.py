"""Every error the API answers is an RFC 9457 problem (``application/problem+json``) whose
``detail`` is the line the CLI prints for the same error.

``type`` is ``urn:juben:problem:<kind>``, one per kind of error (the README's table); ``title``
is that kind's fixed summary; ``status`` the HTTP status; ``instance`` the request's path.
Validation problems also carry ``errors`` (pydantic's list: where and what).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import orjson
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from starlette.exceptions import HTTPException
from starlette.responses import Response

from pipeline.errors import (
    Forbidden,
    IdempotencyConflict,
    InputError,
    JobBusy,
    JobNotFound,
    JubenError,
    RateLimited,
    SettingsError,
    TooLarge,
    TransientError,
    Unauthorized,
    Unavailable,
)
from pipeline.logs import get_logger

log = get_logger(__name__)

MEDIA_TYPE = "application/problem+json"


@dataclass(frozen=True)
class Kind:
    """One kind of problem: its ``type`` suffix, HTTP status and title."""

    name: str
    status: int
    title: str

    @property
    def type(self) -> str:
        return f"urn:juben:problem:{self.name}"


#: The kinds, most specific error class first (the first match wins).
KINDS: tuple[tuple[type[BaseException], Kind], ...] = (
    (Unauthorized, Kind("unauthorized", 401, "A valid API key is required")),
    (Forbidden, Kind("forbidden", 403, "This key's role may not do that")),
    (JobNotFound, Kind("not-found", 404, "Not found")),
    (TooLarge, Kind("too-large", 413, "The request is too large")),
    (
        IdempotencyConflict,
        Kind("idempotency-conflict", 422, "The idempotency key was used for another request"),
    ),
    (JobBusy, Kind("job-busy", 409, "The job is running")),
    (InputError, Kind("invalid-input", 422, "The request cannot be processed as given")),
    (SettingsError, Kind("invalid-option", 422, "An option is unknown or has the wrong type")),
    (RateLimited, Kind("rate-limited", 429, "Too many requests")),
    (Unavailable, Kind("unavailable", 503, "A service Juben needs cannot be reached")),
    (TransientError, Kind("unavailable", 503, "A service Juben needs cannot be reached")),
)
INTERNAL = Kind("internal", 500, "Internal error")
#: HTTP errors raised by the framework itself (an unknown path, a wrong method, a bad body).
_BY_STATUS = {
    400: Kind("bad-request", 400, "The request is malformed"),
    404: Kind("not-found", 404, "Not found"),
    405: Kind("method-not-allowed", 405, "Method not allowed"),
    413: Kind("too-large", 413, "The request is too large"),
    415: Kind("unsupported-media-type", 415, "Unsupported media type"),
    422: Kind("invalid-input", 422, "The request cannot be processed as given"),
}


def kind_of(exc: BaseException) -> Kind:
    """The problem kind of one of Juben's errors (500 for anything else: a bug)."""
    for cls, kind in KINDS:
        if isinstance(exc, cls):
            return kind
    return INTERNAL


def problem(
    kind: Kind,
    detail: str,
    *,
    instance: str | None = None,
    headers: dict[str, str] | None = None,
    **extra: Any,
) -> Response:
    """A problem+json response."""
    body: dict[str, Any] = {"type": kind.type, "title": kind.title, "status": kind.status, "detail": detail}
    if instance is not None:
        body["instance"] = instance
    body.update(extra)
    return Response(orjson.dumps(body), status_code=kind.status, media_type=MEDIA_TYPE, headers=headers)


def problem_body(exc: BaseException) -> dict[str, Any]:
    """The problem object of an error, for a bulk answer's failed item."""
    kind = kind_of(exc)
    return {"type": kind.type, "title": kind.title, "status": kind.status, "detail": str(exc)}


def headers_of(exc: BaseException) -> dict[str, str]:
    """Headers a problem's status calls for (RFC 9110: 401 names the scheme; 429 says when)."""
    if isinstance(exc, Unauthorized):
        return {"WWW-Authenticate": 'Bearer realm="juben"'}
    if isinstance(exc, RateLimited):
        return {"Retry-After": str(max(1, math.ceil(exc.retry_after_s)))}
    return {}


async def _juben_error(request: Request, exc: Exception) -> Response:
    kind = kind_of(exc)
    if kind is INTERNAL:
        log.error("request_failed", route=request.url.path, error_type=type(exc).__name__, exc_info=exc)
    return problem(kind, str(exc), instance=request.url.path, headers=headers_of(exc))


async def _internal(request: Request, exc: Exception) -> Response:
    log.error("request_failed", route=request.url.path, error_type=type(exc).__name__, exc_info=exc)
    return problem(INTERNAL, "internal error: the server logged it", instance=request.url.path)


async def _http_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, HTTPException)
    kind = _BY_STATUS.get(exc.status_code, Kind(f"http-{exc.status_code}", exc.status_code, "Error"))
    return problem(kind, str(exc.detail), instance=request.url.path, headers=dict(exc.headers or {}))


async def _validation_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, RequestValidationError)
    errors = [
        {"loc": list(e.get("loc", ())), "msg": e.get("msg", ""), "type": e.get("type", "")}
        for e in exc.errors()
    ]
    first = errors[0] if errors else {"loc": [], "msg": "invalid"}
    where = ".".join(str(p) for p in first["loc"] if p not in ("body", "query", "path", "header"))
    detail = f"{where}: {first['msg']}" if where else str(first["msg"])
    return problem(_BY_STATUS[422], detail, instance=request.url.path, errors=errors)


def install(app: FastAPI) -> None:
    """Answer every error of ``app`` as a problem."""
    app.add_exception_handler(JubenError, _juben_error)
    app.add_exception_handler(HTTPException, _http_error)
    app.add_exception_handler(RequestValidationError, _validation_error)
    app.add_exception_handler(Exception, _internal)
