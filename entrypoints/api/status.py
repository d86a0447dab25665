"""``GET /v1/jobs/{id}`` from memory: each API process keeps the jobs it has read until they change.

Status is what upstream services poll. A job's view changes only when its row or its events do,
and every such change notifies every API process at its commit (migrations 0007 and 0011) over
the LISTEN connection the event streams already hold (:class:`entrypoints.api.events.EventHub`).
So a job read once is kept (:class:`StatusCache`, its :class:`~pipeline.jobs.JobRecord`: the view
is made at each answer, its percent and ETA moving with the clock) and dropped by the next
notification about it.

:class:`StatusFastPath` answers a status request before the framework sees it when its key is
kept: from memory when its job is (no routing, no dependency resolution, no thread, no
database), else reading and keeping the job first. Anything else (an unknown key, stale stage
times, a job not found, a database error) goes on to the route
(:func:`entrypoints.api.jobs.get_job`), which answers in its own words: every error is the
route's. The rules are the key cache's: nothing is kept while the LISTEN connection is down
or across a reconnection, a record read while its job changed is not kept, and pending
notifications are taken in before an answer from memory, so a status trails a commit by no more
than the notification's delivery.
"""

from __future__ import annotations

from typing import Any

from fastapi import Request
from starlette.concurrency import run_in_threadpool
from starlette.types import ASGIApp, Receive, Scope, Send

from entrypoints.api.kept import Kept
from pipeline import jobs
from pipeline.jobs import JobRecord
from pipeline.keys import Role
from pipeline.schemas import JobView

#: The status route's path, as the router has it (the request metrics count by it).
STATUS_PREFIX = "/v1/jobs/"


class StatusCache(Kept[JobRecord]):
    """The job records this process has read, kept while they cannot have changed unseen: a
    notification about a job drops it, and a record read while its job changed is not kept."""

    def __init__(self, hub: Any, size: int) -> None:
        super().__init__(hub, size)
        #: Each recently changed job's last notification, numbered; the oldest are forgotten past
        #: ``size``, and ``_forgotten`` is the newest number forgotten.
        self._changed: dict[str, int] = {}
        self._forgotten = 0
        self._seq = 0
        hub.on_job_change.append(self.changed)

    def watermark(self) -> tuple[int, int]:
        """Taken before a job is read from the database: :meth:`put` keeps the record only if
        the connection stayed up and no notification about the job came meanwhile."""
        return self.hub.generation, self._seq

    def put(self, job_id: str, record: JobRecord, mark: tuple[int, int]) -> None:
        generation, seq = mark
        if self._changed.get(job_id, self._forgotten) > seq:
            return  # it changed while it was read (or might have: its notice is forgotten)
        self.keep(job_id, record, generation)

    def changed(self, job_id: str) -> None:
        self._seq += 1
        self.forget(job_id)
        self._changed.pop(job_id, None)
        self._changed[job_id] = self._seq
        if len(self._changed) > max(self.size, 1):
            self._forgotten = self._changed.pop(next(iter(self._changed)))


async def kept_record(state: Any, job_id: str, tenant_id: int) -> JobRecord:
    """The tenant's job as kept by the process (``state``: the app's), else read and kept.

    Raises:
        JobNotFound: no job has this id in this tenant.
    """
    cache: StatusCache = state.status_cache
    record = cache.get(job_id)
    if record is None or record.tenant_id != tenant_id:
        mark = cache.watermark()
        record = await run_in_threadpool(
            jobs.job_record, job_id, tenant_id=tenant_id, settings=state.settings
        )
        cache.put(job_id, record, mark)
    return record


async def job_view(request: Request, job_id: str, tenant_id: int) -> JobView:
    """The tenant's job as ``GET /v1/jobs/{id}`` answers it: kept, or read (then kept).

    Raises:
        JobNotFound: no job has this id in this tenant.
    """
    state = request.app.state
    record = await kept_record(state, job_id, tenant_id)
    times = jobs.cached_stage_times()
    if times is None:
        times = await run_in_threadpool(jobs.current_stage_times, state.settings)
    return jobs.view_of(record, state.settings, times)


def _bearer(headers: list[tuple[bytes, bytes]]) -> str | None:
    for name, value in headers:
        if name == b"authorization":
            scheme, _, credentials = value.decode("latin-1").partition(" ")
            return credentials.strip() if scheme.lower() == "bearer" and credentials else None
    return None


class StatusFastPath:
    """ASGI middleware: a status request whose key and job are kept in memory is answered here
    (see the module's text); every other request goes on to the app."""

    def __init__(self, app: ASGIApp, *, route: Any) -> None:
        self.app = app
        #: The status route, put in the scope for the request metrics and the slow-request log.
        self.route = route

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and scope["method"] == "GET":
            body = await self._answer(scope)
            if body is not None:
                headers = [(b"content-type", b"application/json"), (b"content-length", b"%d" % len(body))]
                await send({"type": "http.response.start", "status": 200, "headers": headers})
                await send({"type": "http.response.body", "body": body})
                return
        await self.app(scope, receive, send)

    async def _answer(self, scope: Scope) -> bytes | None:
        """The status answer (the job kept, else read and kept), or ``None`` to leave the request
        to the route: a key not kept, stage times not fresh, or anything that went wrong (the
        route reads again and answers with its own error)."""
        path: str = scope["path"]
        root = scope.get("root_path", "")
        if root and path.startswith(root + "/"):
            path = path[len(root) :]
        if not path.startswith(STATUS_PREFIX):
            return None
        job_id = path[len(STATUS_PREFIX) :]
        if not job_id or "/" in job_id:
            return None
        state = scope["app"].state
        state.event_hub.drain()  # a change whose notification is here is seen first
        key = _bearer(scope["headers"])
        who = state.key_cache.get(key) if key else None
        if who is None or not who.may(Role.viewer):
            return None
        times = jobs.cached_stage_times()
        if times is None:
            return None
        try:
            record = await kept_record(state, job_id, who.tenant_id)
        except Exception:  # not found, the database away …: the route's answer, in its words
            return None
        scope["route"] = self.route
        scope["path_params"] = {"job_id": job_id}
        return jobs.view_of(record, state.settings, times).model_dump_json().encode()
