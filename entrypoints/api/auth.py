"""Who a request is (``Authorization: Bearer jbn_…``) and what its key's role allows.

Every route under ``/v1`` depends on one of :data:`Viewer`, :data:`Submitter` or
:data:`Operator`; tests/integration/test_api_isolation.py checks that from the route table.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from pipeline.errors import Forbidden, Unauthorized
from pipeline.keys import Principal, Role, authenticate
from pipeline.quota import SubmitQuota
from pipeline.settings import Settings

_bearer = HTTPBearer(auto_error=False, description="An API key from `enqueue.py keys create`.")


def settings_of(request: Request) -> Settings:
    """The settings the app was made with."""
    settings: Settings = request.app.state.settings
    return settings


def take_submission(request: Request, who: Principal) -> None:
    """Count a submission against the key's rate (``api.submits_per_minute``), made on first use:
    in Redis (shared by every API process) when the broker is Redis's, else in this process.

    Raises:
        RateLimited: over the rate (429 with Retry-After).
    """
    quota: SubmitQuota | None = getattr(request.app.state, "quota", None)
    if quota is None:
        from pipeline.broker import current_broker

        settings = settings_of(request)
        quota = SubmitQuota(
            settings.api.submits_per_minute,
            settings.api.submit_burst,
            client=getattr(current_broker(), "client", None),
            namespace=settings.broker.namespace,
        )
        request.app.state.quota = quota
    quota.take(str(who.key_id))


def principal(
    request: Request, credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)]
) -> Principal:
    """The tenant and role of the request's key; the key is looked up on every request, so a
    revoked key is refused at once.

    Raises:
        Unauthorized: no key, or a malformed, unknown or revoked one.
    """
    if credentials is None:
        raise Unauthorized("a valid API key is required (Authorization: Bearer jbn_…)")
    found = authenticate(credentials.credentials, settings=settings_of(request))
    request.state.key = found.prefix  # for the request log
    return found


def requires(role: Role) -> object:
    """A dependency that lets through keys whose role includes ``role``."""

    def check(who: Annotated[Principal, Depends(principal)]) -> Principal:
        if not who.may(role):
            raise Forbidden(f"this key is a {who.role.name}; this needs a {role.name} key")
        return who

    check.__name__ = f"requires_{role.name}"
    return Depends(check)


Viewer = Annotated[Principal, requires(Role.viewer)]
Submitter = Annotated[Principal, requires(Role.submitter)]
Operator = Annotated[Principal, requires(Role.operator)]
