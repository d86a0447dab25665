"""Who a request is (``Authorization: Bearer jbn_…``) and what its key's role allows.

Every route under ``/v1`` depends on one of :data:`Viewer`, :data:`Submitter` or
:data:`Operator`; tests/integration/test_api_isolation.py checks that from the route table.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import Depends, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from starlette.concurrency import run_in_threadpool

from entrypoints.api.kept import Kept
from pipeline.errors import Forbidden, Unauthorized
from pipeline.keys import Principal, Role, authenticate
from pipeline.quota import RateLimit
from pipeline.settings import Settings

_bearer = HTTPBearer(auto_error=False, description="An API key from `enqueue.py keys create`.")


def settings_of(request: Request) -> Settings:
    """The settings the app was made with."""
    settings: Settings = request.app.state.settings
    return settings


def _limit(request: Request, name: str) -> RateLimit:
    """The app's rate limit ``name`` (``submit`` or ``sign-in``), made on first use from the
    settings: in Redis (shared by every API process) when the broker is Redis's, else in this
    process."""
    limits: dict[str, RateLimit] | None = getattr(request.app.state, "rate_limits", None)
    if limits is None:
        limits = request.app.state.rate_limits = {}
    limit = limits.get(name)
    if limit is None:
        from pipeline.broker import current_broker

        api = settings_of(request).api
        per_minute, burst, refusal = {
            "submit": (
                api.submits_per_minute,
                api.submit_burst,
                f"too many submissions with this key (api.submits_per_minute = {api.submits_per_minute})",
            ),
            "sign-in": (
                api.sign_ins_per_minute,
                api.sign_in_burst,
                f"too many sign-in attempts from this address (api.sign_ins_per_minute = {api.sign_ins_per_minute})",
            ),
        }[name]
        limit = limits[name] = RateLimit(
            per_minute,
            burst,
            name=name,
            refusal=refusal,
            client=getattr(current_broker(), "client", None),
            namespace=settings_of(request).broker.namespace,
        )
    return limit


def take_submission(request: Request, who: Principal) -> None:
    """Count a submission against the key's rate (``api.submits_per_minute``).

    Raises:
        RateLimited: over the rate (429 with Retry-After).
    """
    _limit(request, "submit").take(str(who.key_id))


def take_sign_in(request: Request) -> None:
    """Count a console sign-in attempt against the client address's rate
    (``api.sign_ins_per_minute``): guessing keys through the form is slowed to a crawl.

    Raises:
        RateLimited: over the rate (429 with Retry-After).
    """
    _limit(request, "sign-in").take(request.client.host if request.client else "unknown")


class KeyCache(Kept[Principal]):
    """The keys this process has checked, kept while they cannot have changed unseen.

    A key is read from the database once; afterwards its principal comes from memory as long as
    the process's LISTEN connection (:class:`entrypoints.api.events.EventHub`) has stayed up and
    no key has changed meanwhile. Revoking a key fires a notification at its commit (migration
    0009), which drops it here: the next request with it is checked against the database and
    refused. While the connection is down nothing is cached and every request reads its key.
    """

    #: Keys kept at most (past it the oldest goes: a process serving more keys reads some again).
    MAX = 10_000

    def __init__(self, hub: Any) -> None:
        super().__init__(hub, self.MAX)
        hub.on_key_change.append(self.drop)

    def watermark(self) -> tuple[int, int]:
        """Taken before a key is read from the database: :meth:`put` keeps the key only if no
        key changed and the connection stayed up meanwhile."""
        return self.hub.generation, self.hub.key_changes

    def put(self, key: str, who: Principal, mark: tuple[int, int]) -> None:
        if mark == self.watermark():
            self.keep(key, who, mark[0])

    def drop(self, prefix: str) -> None:
        for key in [k for k, (_, who) in self._kept.items() if who.prefix == prefix]:
            self.forget(key)


async def principal(request: Request, credentials: HTTPAuthorizationCredentials | None) -> Principal:
    """The tenant and role of the request's key: from the process's :class:`KeyCache`, else
    read from the database (then cached). A revoked key is dropped from every API process's cache
    by the revocation's notification and refused from then on.

    Raises:
        Unauthorized: no key, or a malformed, unknown or revoked one.
    """
    if credentials is None:
        raise Unauthorized("a valid API key is required (Authorization: Bearer jbn_…)")
    key = credentials.credentials
    cache: KeyCache = request.app.state.key_cache
    found = cache.get(key)
    if found is None:
        mark = cache.watermark()
        found = await run_in_threadpool(authenticate, key, settings=settings_of(request))
        cache.put(key, found, mark)
    request.state.key = found.prefix  # for the request log
    return found


def requires(role: Role) -> object:
    """A dependency that lets through keys whose role includes ``role``."""

    # One dependency (on the bearer scheme, which documents the key in the OpenAPI), not a chain
    # of two: FastAPI's dependency resolution was an eighth of a status request's time.
    async def check(
        request: Request, credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)]
    ) -> Principal:
        who = await principal(request, credentials)
        if not who.may(role):
            raise Forbidden(f"this key is a {who.role.name}; this needs a {role.name} key")
        return who

    check.__name__ = f"requires_{role.name}"
    return Depends(check)


Viewer = Annotated[Principal, requires(Role.viewer)]
Submitter = Annotated[Principal, requires(Role.submitter)]
Operator = Annotated[Principal, requires(Role.operator)]
