"""Live job events over Server-Sent Events, from one PostgreSQL LISTEN per API process.

Migration 0007's triggers NOTIFY ``juben_jobs`` at commit with every job event (a transition, or
a note such as a retry) and every change of a job's chunk counts; 0011's of any other change of a
job's row, for the process's status cache (:mod:`entrypoints.api.status`) only. :class:`EventHub` holds one
connection that LISTENs, watched by the event loop (``add_reader``: no thread, no poll), and
hands each notification to the queues of the clients watching that job: a thousand watchers
cost one connection and no query each.

A stream (``GET /v1/jobs/{id}/events``) subscribes first, then reads the job's view and the
events after ``Last-Event-ID`` (all of them on a first connect) from the database, so nothing
falls between the replay and the live events; events seen twice are skipped by id. Every event
has an ``id:`` (the job event's id; progress repeats the last one), a keep-alive comment goes out
every ``api.sse_keepalive_s``, and the stream ends after the job's end (COMPLETED, FAILED or
CANCELLED). If the LISTEN connection drops, the hub reconnects and every stream replays from the
database what it may have missed.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Callable
from datetime import UTC, datetime
from typing import Annotated, Any

import orjson
from fastapi import APIRouter, Header, Query, Request
from starlette.concurrency import run_in_threadpool
from starlette.responses import StreamingResponse

from entrypoints.api.auth import Viewer, settings_of
from pipeline import jobs
from pipeline.db import as_utc, listening_connection
from pipeline.logs import get_logger
from pipeline.progress import progress
from pipeline.schemas import JobView
from pipeline.settings import Settings
from pipeline.states import TERMINAL, Status

log = get_logger(__name__)

CHANNEL = "juben_jobs"
#: API key changes (migration 0009): the process's key cache drops the key.
KEYS_CHANNEL = "juben_keys"
#: Notifications a slow client may have waiting before its stream resyncs from the database.
QUEUE_SIZE = 1000
#: Seconds between attempts to get the LISTEN connection back.
RECONNECT_S = (0.1, 0.5, 1.0, 2.0, 5.0)

router = APIRouter(prefix="/v1/jobs", tags=["jobs"])


class EventHub:
    """One LISTEN connection for the process; per job, the queues of its watchers; and key changes
    for the key cache (:class:`entrypoints.api.auth.KeyCache`).

    ``generation`` counts (re)connections and ``key_changes`` the key notifications: a cached key
    is trusted only while the connection that would have told of its revocation is the one that
    was up when it was checked, and no key changed meanwhile.
    """

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self._watchers: dict[str, set[asyncio.Queue[dict[str, Any]]]] = {}
        self._conn: Any = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._starting: asyncio.Lock | None = None
        self.generation = 0
        self.key_changes = 0
        self.on_key_change: list[Callable[[str], None]] = []
        #: Called with a job's id on every notification about it (the status cache drops it).
        self.on_job_change: list[Callable[[str], None]] = []

    @property
    def listening(self) -> bool:
        return self._conn is not None

    async def subscribe(
        self, job_id: str, queue: asyncio.Queue[dict[str, Any]] | None = None
    ) -> asyncio.Queue[dict[str, Any]]:
        """A queue (``queue``, or a new one) that gets every notification about ``job_id`` from
        now on; one queue may follow several jobs (a console page's rows). ``job_id`` may be a
        :func:`tenant_topic`: every change of status of the tenant's jobs."""
        await self._ensure_listening()
        if queue is None:
            queue = asyncio.Queue(QUEUE_SIZE)
        self._watchers.setdefault(job_id, set()).add(queue)
        return queue

    def unsubscribe(self, job_id: str, queue: asyncio.Queue[dict[str, Any]]) -> None:
        watchers = self._watchers.get(job_id)
        if watchers is not None:
            watchers.discard(queue)
            if not watchers:
                del self._watchers[job_id]

    async def start(self) -> None:
        """Listen now (the app's start); a database that does not answer is retried later."""
        try:
            await self._ensure_listening()
        except Exception as exc:
            log.warning("listen_unavailable", error=str(exc)[:200])
            assert self._loop is not None
            self._loop.create_task(self._reconnect())

    async def _ensure_listening(self) -> None:
        if self._conn is not None:
            return
        if self._starting is None:
            self._starting = asyncio.Lock()
        async with self._starting:
            if self._conn is None:
                self._loop = asyncio.get_running_loop()
                conn = await run_in_threadpool(self._connect)
                self._conn = conn
                self.generation += 1
                self._loop.add_reader(conn.fileno(), self.drain)

    def _connect(self) -> Any:
        return listening_connection(self.settings, (CHANNEL, KEYS_CHANNEL), name="juben-api-listen")

    def drain(self) -> None:
        """Take in the notifications the connection has received (the event loop calls this when
        it is readable; a request answered from memory calls it first, about a microsecond when
        nothing waits, so a change whose notification has arrived is never answered stale)."""
        conn = self._conn
        if conn is None:
            return
        try:
            conn.poll()
        except Exception as exc:  # the connection broke: get another, streams replay
            log.warning("listen_connection_lost", error=str(exc)[:200])
            self._drop()
            assert self._loop is not None
            self._loop.create_task(self._reconnect())
            return
        while conn.notifies:
            note = conn.notifies.pop(0)
            if note.channel == KEYS_CHANNEL:
                self.key_changes += 1
                for drop in self.on_key_change:
                    drop(note.payload)
                continue
            try:
                payload = orjson.loads(note.payload)
            except orjson.JSONDecodeError:
                continue
            job_id = payload.get("j", "")
            for changed in self.on_job_change:
                changed(job_id)
            if payload.get("k") == "c":  # the row changed (migration 0011): for caches only
                continue
            queues = self._watchers.get(job_id, set())
            owner = status_change_of(payload)
            if owner is not None:
                queues = queues | self._watchers.get(tenant_topic(owner), set())
            for queue in queues:
                self._put(queue, payload)

    @staticmethod
    def _put(queue: asyncio.Queue[dict[str, Any]], payload: dict[str, Any]) -> None:
        try:
            queue.put_nowait(payload)
        except asyncio.QueueFull:  # a slow client: drop what waits, let it replay from the database
            while not queue.empty():
                queue.get_nowait()
            queue.put_nowait({"k": "gap"})

    def _drop(self) -> None:
        self.generation += 1  # nothing checked before this may be trusted from the cache
        if self._conn is not None and self._loop is not None:
            with contextlib.suppress(Exception):
                self._loop.remove_reader(self._conn.fileno())
            with contextlib.suppress(Exception):
                self._conn.close()
        self._conn = None

    async def _reconnect(self) -> None:
        for delay in (*RECONNECT_S, *([RECONNECT_S[-1]] * 1000)):
            await asyncio.sleep(delay)
            try:
                await self._ensure_listening()
            except Exception as exc:  # the database is still away
                log.warning("listen_reconnect_failed", error=str(exc)[:200])
                continue
            for queues in self._watchers.values():
                for queue in queues:
                    self._put(queue, {"k": "gap"})
            return

    def close(self) -> None:
        self._drop()


async def next_notification(queue: asyncio.Queue[dict[str, Any]], timeout_s: float) -> dict[str, Any] | None:
    """A stream's next notification, or ``None`` after ``timeout_s`` without one (time for a
    keep-alive). Not asyncio.wait_for: it wraps the wait in a task of its own, a third of the
    process's time with a thousand watchers; a timeout scope costs a timer."""
    if not queue.empty():
        return queue.get_nowait()
    try:
        async with asyncio.timeout(timeout_s):
            return await queue.get()
    except TimeoutError:
        return None


def status_change_of(payload: dict[str, Any]) -> int | None:
    """The tenant of a notification's job when it is a change of status (an event naming its
    tenant, from one status to another); ``None`` for anything else (progress, a note)."""
    if payload.get("k") == "e" and payload.get("f") != payload.get("t"):
        return payload.get("o")
    return None


def tenant_topic(tenant_id: int) -> str:
    """What to :meth:`EventHub.subscribe` to for every change of status of a tenant's jobs (its
    counts per status); never a job id (those are hex)."""
    return f"tenant:{tenant_id}"


def hub_of(request: Request) -> EventHub:
    hub: EventHub = request.app.state.event_hub
    return hub


def sse_message(event: str, data: dict[str, Any], event_id: int | None) -> bytes:
    head = f"event: {event}\n" + (f"id: {event_id}\n" if event_id is not None else "")
    return head.encode() + b"data: " + orjson.dumps(data) + b"\n\n"


class JobState:
    """What a stream knows of its job between notifications: enough to tell percent and step."""

    def __init__(self, view: JobView | Any) -> None:  # a JobView, or a row with its fields
        self.status = view.status
        self.run = view.run
        self.done = view.chunks_done
        self.total = view.chunks_total
        self.failed_stage = view.failed_stage
        #: When the running stage began (a row of ``progress_of`` has it; a view does not).
        self.stage_started_at: datetime | None = getattr(view, "stage_started_at", None)

    def apply(self, payload: dict[str, Any]) -> None:
        """Take a notification of the job in: an event (``e``: a transition moves the status) or
        progress (``p``: the row as that commit left it, its status with its counts)."""
        kind = payload.get("k")
        if kind == "e" and payload["f"] != payload["t"]:
            self.status, self.run = payload["t"], payload["r"]
            self.stage_started_at = datetime.fromisoformat(payload["a"]) if payload.get("a") else None
            if Status(self.status) in (Status.FAILED, Status.CANCELLED) and self.failed_stage is None:
                self.failed_stage = _stage_before(payload["f"])
        elif kind == "p":
            self.status, self.run = payload["s"], payload["r"]
            self.done, self.total = payload["d"], payload["n"]

    def shown(self, times: dict[str, float] | None = None) -> dict[str, Any]:
        """Status, run, percent and step; with recent stage ``times``, the ETA (``eta_s``) too."""
        started = self.stage_started_at
        prog = progress(
            Status(self.status),
            chunks_done=self.done,
            chunks_total=self.total,
            failed_stage=self.failed_stage,
            times=times,
            elapsed_in_stage_s=(datetime.now(UTC) - as_utc(started)).total_seconds() if started else 0.0,
        )
        shown = {"status": self.status, "run": self.run, "percent": prog.percent, "step": prog.step}
        if times is not None:
            shown["eta_s"] = prog.eta_s
        return shown


def _event_data(job_id: str, event: dict[str, Any], job: JobState) -> dict[str, Any]:
    """An event as sent: the row, and the job's status, percent and step as of it (a transition
    replayed on connect shows where the job was then, not where it is now)."""
    at = event["at"]
    shown = job.shown()
    if event["from"] != event["to"] and event["to"] != job.status:
        then = progress(
            Status(event["to"]), chunks_done=job.done, chunks_total=job.total, failed_stage=job.failed_stage
        )
        shown = {
            **shown,
            "status": event["to"],
            "run": event["run"],
            "percent": then.percent,
            "step": then.step,
        }
    return {
        "job_id": job_id,
        "event_id": event["id"],
        "run": event["run"],
        "from": event["from"],
        "to": event["to"],
        "at": at.isoformat() if isinstance(at, datetime) else at,
        "detail": event["detail"],
        **shown,
    }


def _event_sse(job_id: str, event: dict[str, Any], job: JobState) -> bytes:
    """A job event as sent: ``transition`` (a status change) or ``note``, its id the event's."""
    kind = "transition" if event["from"] != event["to"] else "note"
    return sse_message(kind, _event_data(job_id, event, job), event["id"])


def _rendered(
    job_id: str, payload: dict[str, Any], job: JobState, last: int, event: dict[str, Any] | None = None
) -> bytes:
    """A notification as a stream sends it (``event``: a job event's, else progress), rendered
    once for all of the job's watchers that know the job alike: the hub hands each the same
    payload, and a thousand watchers of a job made a thousand identical renderings of each."""
    memo: dict[tuple[Any, ...], bytes] = payload.setdefault("_sent", {})
    state = (job.status, job.run, job.done, job.total, job.failed_stage, last)
    sent = memo.get(state)
    if sent is None:
        if event is not None:
            sent = _event_sse(job_id, event, job)
        else:
            shown = {"job_id": job_id, "chunks_done": job.done, "chunks_total": job.total, **job.shown()}
            sent = sse_message("progress", shown, last)
        memo[state] = sent
    return sent


def _snapshot(job_id: str, view: JobView, events: list[dict[str, Any]], job: JobState, last: int) -> bytes:
    """What a stream sends from a database snapshot: the events read, then the job's view."""
    sent = b"".join(_event_sse(job_id, event, job) for event in events)
    return sent + sse_message("status", view.model_dump(mode="json"), last)


async def _stream(
    hub: EventHub,
    queue: asyncio.Queue[dict[str, Any]],
    job_id: str,
    *,
    view: JobView,
    replay: list[dict[str, Any]],
    tenant_id: int,
    settings: Settings,
) -> AsyncIterator[bytes]:
    keepalive_s = settings.api.sse_keepalive_s
    job = JobState(view)
    last = replay[-1]["id"] if replay else 0
    try:
        yield b"retry: 2000\n\n"
        yield _snapshot(job_id, view, replay, job, last)
        ended = Status(job.status) in TERMINAL
        while not ended:
            payload = await next_notification(queue, keepalive_s)
            if payload is None:
                yield b": keep-alive\n\n"
                continue
            kind = payload.get("k")
            if kind == "gap":  # notifications were lost: what the database has since the last one
                fresh, missed = await run_in_threadpool(
                    jobs.job_snapshot, job_id, after_id=last, tenant_id=tenant_id, settings=settings
                )
                job = JobState(fresh)
                last = missed[-1]["id"] if missed else last
                yield _snapshot(job_id, fresh, missed, job, last)
                ended = Status(job.status) in TERMINAL
            elif kind == "e":
                if payload["i"] <= last:
                    continue  # replayed already
                last = payload["i"]
                event = {
                    "id": payload["i"],
                    "run": payload["r"],
                    "from": payload["f"],
                    "to": payload["t"],
                    "at": payload["a"],
                    "detail": payload["d"],
                }
                job.apply(payload)
                yield _rendered(job_id, payload, job, last, event)
                ended = Status(job.status) in TERMINAL
            elif kind == "p":
                job.apply(payload)
                yield _rendered(job_id, payload, job, last)
        yield sse_message("end", {"job_id": job_id, "status": job.status}, last)
    finally:
        hub.unsubscribe(job_id, queue)


def _stage_before(status: str) -> str | None:
    from pipeline.states import stage_after, stage_of

    spec = stage_of(Status(status)) or stage_after(Status(status))
    return spec.name if spec else None


def _last_id(header: str | None, query: int | None) -> int:
    for value in (header, query):
        if value is None:
            continue
        try:
            return max(int(str(value).split(".")[0]), 0)
        except ValueError:
            continue
    return 0


@router.get(
    "/{job_id}/events",
    response_class=StreamingResponse,
    responses={200: {"content": {"text/event-stream": {}}, "description": "The job's events until it ends."}},
)
async def job_event_stream(
    request: Request,
    who: Viewer,
    job_id: str,
    last_event_id: Annotated[
        str | None, Header(description="Resume after this event (EventSource sends it).")
    ] = None,
    after: Annotated[
        int | None, Query(description="Resume after this event id (for clients that cannot set headers).")
    ] = None,
) -> StreamingResponse:
    """Server-Sent Events of the job: `transition` (a status change), `note` (a retry, a
    re-claim …), `progress` (chunks done), `status` (the whole view, on connect) and `end`."""
    settings = settings_of(request)
    hub = hub_of(request)
    queue = await hub.subscribe(job_id)  # before reading: nothing falls between replay and live
    try:
        view, replay = await run_in_threadpool(  # one snapshot: the view is where the replay ends
            jobs.job_snapshot,
            job_id,
            after_id=_last_id(last_event_id, after),
            tenant_id=who.tenant_id,
            settings=settings,
        )
    except BaseException:
        hub.unsubscribe(job_id, queue)
        raise
    return StreamingResponse(
        _stream(hub, queue, job_id, view=view, replay=replay, tenant_id=who.tenant_id, settings=settings),
        media_type="text/event-stream",
        # No proxy buffering (nginx), no caching; the app has no compression middleware.
        headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"},
    )
