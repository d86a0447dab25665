"""Public operations on jobs: submit, status, listing, cancel and reports."""

from __future__ import annotations

import base64
import dataclasses
import functools
import hashlib
import json
import time
import weakref
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any, NamedTuple, TypeVar, cast

from sqlalchemy import (
    Connection,
    Select,
    Table,
    and_,
    bindparam,
    case,
    func,
    insert,
    literal_column,
    or_,
    select,
    text,
    tuple_,
)
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from models import Chunk, Job, JobEvent, Project, Report, ScriptContent, Tenant
from models.base import new_id, utcnow
from pipeline import prepared
from pipeline.db import as_utc, connection_of, read_engine, read_session_factory, session_factory
from pipeline.errors import IdempotencyConflict, InputError, JobNotFound, JubenError
from pipeline.logs import get_logger
from pipeline.progress import progress
from pipeline.queries import json_rows
from pipeline.schemas import JobPage, JobSummary, JobView, StageTiming
from pipeline.settings import Settings, get_settings, validate_job_options
from pipeline.sources import ScriptText, read_scripts, script_from_text
from pipeline.states import STAGES, TERMINAL, Status, stage_after, stage_of
from pipeline.transitions import force_transition
from pipeline.uow import UnitOfWork, stage_message
from pipeline.usage import usage_from_sums, usage_sums_of

log = get_logger(__name__)
_Query = TypeVar("_Query", bound=Select)  # type: ignore[type-arg]

#: Recent stage-ending events averaged for ETAs.
ETA_HISTORY = 20
#: Seconds a process keeps those averages before reading them again.
STAGE_TIMES_TTL_S = 30.0
_times_cache: tuple[float, dict[str, float]] = (0.0, {})


@functools.lru_cache(maxsize=8)
def _recent_stage_times_sql(statuses: tuple[str, ...]) -> str:
    """Every stage's recent timed events in one round trip (per status, a short index-only backward
    scan of ix_job_events_to_status_id_timed), summed per status in event order (id descending).

    The stages' done statuses (from the table) and the history length are written into the SQL so
    that ``status`` can run it as a subquery of its job's statement (:func:`_job_view_cold`).
    """
    quoted = ", ".join("'" + status.replace("'", "''") + "'" for status in statuses)
    return f"""
    SELECT s.status,
           count(*) AS events,
           sum(e.duration_s ORDER BY e.id DESC) AS seconds,
           sum(coalesce(nullif(e.units, 0), 1)) AS units
    FROM unnest(CAST(ARRAY[{quoted}] AS varchar[])) AS s(status)
    CROSS JOIN LATERAL (
        SELECT job_events.id, job_events.duration_s, job_events.units
        FROM job_events
        WHERE job_events.to_status = s.status AND job_events.duration_s IS NOT NULL
        ORDER BY job_events.id DESC
        LIMIT {int(ETA_HISTORY)}
    ) AS e
    GROUP BY s.status
"""


def _done_statuses() -> tuple[str, ...]:
    """The stages' done statuses, from the table now: the stage-time SQL's key."""
    return tuple(spec.done.value for spec in STAGES)


def recent_stage_times_sql() -> str:
    """:func:`_recent_stage_times_sql` for the stages of the table now."""
    return _recent_stage_times_sql(_done_statuses())


#: The tenant of jobs submitted with no tenant (the CLI's and the Python API's by default, and
#: every job made before there were tenants); migration 0006 creates it.
DEFAULT_TENANT = "default"


#: Ids of rows that never change or go (tenants and projects are never deleted), per engine
#: (a new database gets a new engine): ``(tenant name,)`` → tenant id, ``(tenant id, project
#: name)`` → project id. Only ids read from committed rows are kept (never one made in a
#: transaction that may yet roll back).
_known_ids: weakref.WeakKeyDictionary[Any, dict[tuple[Any, ...], int]] = weakref.WeakKeyDictionary()


def _known(
    session: Session, key: tuple[Any, ...], query: Select[Any], params: dict[str, Any] | None = None
) -> int | None:
    """The id ``query`` finds (with ``params``), remembered for this process under ``key``."""
    known = _known_ids.get(engine := session.get_bind())
    if known is None:
        known = _known_ids[engine] = {}
    found = known.get(key)
    if found is None:
        found = session.scalar(query, params)
        if found is not None:
            if len(known) >= 100_000:
                known.clear()
            known[key] = found
    return found


def _tenant_id(session: Session, tenant_id: int | None) -> int:
    """``tenant_id``, or the id of :data:`DEFAULT_TENANT` when it is ``None``."""
    if tenant_id is not None:
        return tenant_id
    found = _known(session, (DEFAULT_TENANT,), select(Tenant.id).where(Tenant.name == DEFAULT_TENANT))
    if found is None:
        raise LookupError(f"no tenant {DEFAULT_TENANT!r}: is the database migrated?")
    return found


#: A tenant's project by name (built once: building it was 4% of a submit's time).
_PROJECT_ID = select(Project.id).where(
    Project.tenant_id == bindparam("tenant_id"), Project.name == bindparam("name")
)


def _project_id(session: Session, name: str, tenant_id: int) -> int:
    """Return the tenant's project's id, creating the project if needed (safe under concurrent submits)."""
    params = {"tenant_id": tenant_id, "name": name}
    found = _known(session, (tenant_id, name), _PROJECT_ID, params)
    if found is not None:
        return found
    try:
        with session.begin_nested():
            project = Project(tenant_id=tenant_id, name=name)
            session.add(project)
        return project.id
    except IntegrityError:
        return session.scalars(_PROJECT_ID, params).one()


def scoped(query: _Query, tenant_id: int | None) -> _Query:
    """``query`` (which reads ``jobs``) narrowed to one tenant's jobs; all of them for ``None``
    (the CLI, an admin tool). Every read of jobs on behalf of a tenant goes through here."""
    return query if tenant_id is None else query.where(Job.tenant_id == tenant_id)


@dataclass(frozen=True)
class Submission:
    """What :func:`submit_job` did."""

    #: The job's id (the existing job's when an idempotency key matched).
    job_id: str
    #: The project the job belongs to (given, or derived from the script).
    project: str
    #: ``False`` when an idempotency key returned a job submitted before.
    created: bool
    #: ``False`` when the job is stored but its first message could not reach the broker; the
    #: reconciler sends it once the broker is back (``reconcile.ready_after_s``).
    dispatched: bool = True
    #: A new job's view as stored (PENDING), so a caller need not read it back; ``None`` for a
    #: job an idempotency key found (read its status).
    view: JobView | None = None


def default_project(script: Sequence[str | Path] | ScriptText | str, title: str | None) -> str:
    """The project a job gets when none is named: its own, so unrelated scripts never share assets.

    The title if given, else the folder's name (a folder of episodes), the file's name without its
    suffix (one file, or one uploaded file), the files' common folder (several), or
    ``script-<sha256 prefix>`` for text and several uploaded files.

    >>> default_project(["scripts/the-heist.fountain"], None)
    'the-heist'
    >>> default_project(["drama/ep01.txt", "drama/ep02.txt"], None)
    'drama'
    >>> default_project("INT. KITCHEN - NIGHT", "Kitchen")
    'Kitchen'
    """
    if title and title.strip():
        return title.strip()
    if isinstance(script, ScriptText):  # an upload: its one file's name, else the content's hash
        names = [str(source.get("name", "")) for source in script.sources]
        if len(names) == 1 and names[0] not in ("", "script.txt") and Path(names[0]).stem:
            return Path(names[0]).stem
        return f"script-{script.sha256[:12]}"
    if isinstance(script, str):
        return f"script-{hashlib.sha256(script.encode()).hexdigest()[:12]}"
    paths = [Path(p).resolve() for p in script]
    if len(paths) == 1:
        return paths[0].name if paths[0].is_dir() else paths[0].stem
    parents = {p.parent for p in paths}
    return parents.pop().name if len(parents) == 1 else paths[0].stem


def submit(
    script: Sequence[str | Path] | ScriptText | str,
    *,
    project: str | None = None,
    title: str | None = None,
    idempotency_key: str | None = None,
    options: dict[str, Any] | None = None,
    tenant_id: int | None = None,
    callback_url: str | None = None,
    settings: Settings | None = None,
) -> str:
    """Store a script as a new job and start it; :func:`submit_job` with only the job id returned.

    Returns:
        The job id.
    """
    return submit_job(
        script,
        project=project,
        title=title,
        idempotency_key=idempotency_key,
        options=options,
        tenant_id=tenant_id,
        callback_url=callback_url,
        settings=settings,
    ).job_id


def submit_job(
    script: Sequence[str | Path] | ScriptText | str,
    *,
    project: str | None = None,
    title: str | None = None,
    idempotency_key: str | None = None,
    options: dict[str, Any] | None = None,
    tenant_id: int | None = None,
    callback_url: str | None = None,
    settings: Settings | None = None,
) -> Submission:
    """Store a script as a new job and start it.

    Once the job's row commits the job is accepted and will run: if its first message cannot
    reach the broker, the result says ``dispatched=False`` and the reconciler sends it later.

    Args:
        script: file/folder paths (files become episodes in name order), a :class:`ScriptText`,
            or the script's text itself.
        project: the project the job belongs to (assets are shared within a project); default:
            the script's own (:func:`default_project`).
        title: shown in listings and the report; default: the title page's, else the file name.
        idempotency_key: submitting the same key with the same request in a project returns the
            first job (the IETF Idempotency-Key draft's semantics).
        options: per-job overrides recorded on the job (e.g. ``{"max_chunk_chars": 3000}``),
            checked by :func:`pipeline.settings.validate_job_options`.
        tenant_id: the tenant the project belongs to; default: :data:`DEFAULT_TENANT`.
        callback_url: where the job's end is POSTed (:mod:`pipeline.webhooks`); default: the
            tenant's ``webhooks.tenant_urls`` entry, if any.
        settings: defaults to this process's settings.

    Returns:
        The job id, its project, whether it is new and whether its first message was sent.

    Raises:
        InputError: the script is empty, binary, too large or unreadable, an option is invalid,
            the callback URL is refused, or the idempotency key was used for a different
            request; nothing is stored.
    """
    settings = settings or get_settings()
    script, request = _prepare(
        script,
        project=project,
        title=title,
        idempotency_key=idempotency_key,
        options=options,
        tenant_id=tenant_id,
        callback_url=callback_url,
        settings=settings,
    )
    try:
        return _store_job(script, request, settings=settings)
    except IntegrityError:
        if idempotency_key is None:
            raise
        # Two submits with one key raced; the other one won.
        with UnitOfWork(session_factory(settings)) as uow:
            winner = _find_by_key(uow.session, request, _tenant_id(uow.session, request.tenant_id))
        if winner is None:
            raise  # the conflict was not the idempotency key
        return winner


def submit_many(
    items: Sequence[dict[str, Any]], *, tenant_id: int | None = None, settings: Settings | None = None
) -> list[Submission | JubenError]:
    """Store many scripts in one transaction (``POST /v1/jobs/batch``), answering per item.

    Each item holds :func:`submit_job`'s arguments (``script`` and any of ``project``, ``title``,
    ``idempotency_key``, ``options``, ``callback_url``; ``name``: a text script's file name). An item that is refused (bad input, an
    option, a reused idempotency key) is that item's error and stores nothing; the others are
    stored together and their first messages sent after the one commit.
    """
    settings = settings or get_settings()
    outcomes: list[Submission | JubenError | None] = []
    prepared: list[tuple[int, ScriptText, Request]] = []
    for index, item in enumerate(items):
        try:
            script, request = _prepare(**{**item, "tenant_id": tenant_id, "settings": settings})
            prepared.append((index, script, request))
            outcomes.append(None)
        except JubenError as exc:
            outcomes.append(exc)
    uow = UnitOfWork(session_factory(settings), defer_send_errors=True)
    with uow:
        session = uow.session
        tenant = _tenant_id(session, tenant_id)
        projects: dict[str, int] = {}
        for index, script, request in prepared:
            if request.key is None:
                outcomes[index] = _insert_job(
                    uow, script, request, tenant_id=tenant, settings=settings, projects=projects
                )
                continue
            known = dict(projects)
            try:  # a keyed item may meet its key's earlier job: in a savepoint of its own
                with session.begin_nested():
                    outcomes[index] = _insert_job(
                        uow, script, request, tenant_id=tenant, settings=settings, projects=projects
                    )
            except (IdempotencyConflict, IntegrityError) as exc:
                # A project the item made went with its savepoint.
                projects.clear()
                projects.update(known)
                outcomes[index] = (
                    exc
                    if isinstance(exc, IdempotencyConflict)
                    else IdempotencyConflict(f"idempotency key {request.key!r} is in use; try again")
                )
    dispatched = not uow.unsent
    return [
        dataclasses.replace(o, dispatched=dispatched) if isinstance(o, Submission) and o.created else o
        for o in outcomes
        if o is not None
    ]


def _prepare(
    script: Sequence[str | Path] | ScriptText | str,
    *,
    project: str | None = None,
    title: str | None = None,
    idempotency_key: str | None = None,
    options: dict[str, Any] | None = None,
    tenant_id: int | None = None,
    callback_url: str | None = None,
    name: str = "script.txt",
    settings: Settings,
) -> tuple[ScriptText, Request]:
    """A submission read and checked, with nothing stored (:func:`submit_job`'s first half).

    Raises:
        InputError: as :func:`submit_job`.
    """
    if project is not None and not project.strip():
        raise InputError("the project name is empty")
    project = project or default_project(script, title)
    if isinstance(script, str):
        script = script_from_text(script, name=name, max_bytes=settings.ingest.max_bytes)
    elif not isinstance(script, ScriptText):
        paths = [Path(p) for p in script]
        if title is None and len(paths) == 1 and paths[0].is_dir():
            title = paths[0].resolve().name  # a folder of episode files is named for the series
        script = read_scripts(paths, max_bytes=settings.ingest.max_bytes)
    given = validate_job_options(options or {})
    if callback_url is not None:
        from pipeline.egress import check_url

        callback_url = check_url(callback_url, allow_private=settings.webhooks.allow_private)
    job_options = {
        "max_chunk_chars": settings.extract.max_chunk_chars,
        "provider": settings.extract.provider,
        "storyboard_provider": settings.storyboard.provider,
        **given,
    }
    request = Request(
        tenant_id=tenant_id,
        project=project,
        title=title,
        key=idempotency_key,
        options=job_options,
        fingerprint=_request_fingerprint(script, title, given, callback_url),
        callback_url=callback_url,
    )
    return script, request


@dataclass(frozen=True)
class Request:
    """A submit's parameters, as stored and as compared for its idempotency key."""

    tenant_id: int | None
    project: str
    title: str | None
    key: str | None
    options: dict[str, Any]
    fingerprint: str
    callback_url: str | None = None


def _request_fingerprint(
    script: ScriptText, title: str | None, options: dict[str, Any], callback_url: str | None = None
) -> str:
    """sha256 of what the caller sent: the script, the title, the options given (and the
    callback URL, when one was)."""
    sent: list[Any] = [script.sha256, title, options] + ([callback_url] if callback_url else [])
    body = json.dumps(sent, sort_keys=True, default=str)
    return hashlib.sha256(body.encode()).hexdigest()


def _find_by_key(session: Session, request: Request, tenant_id: int) -> Submission | None:
    """The job this request's idempotency key already names, if the request is the same.

    Raises:
        IdempotencyConflict: the key was used for a different request.
    """
    found = session.execute(
        select(Job.id, Job.meta)
        .join(Project, Project.id == Job.project_id)
        .where(
            Project.tenant_id == tenant_id,
            Project.name == request.project,
            Job.idempotency_key == request.key,
        )
    ).one_or_none()
    if found is None:
        return None
    if (found.meta or {}).get("request_sha256") not in (None, request.fingerprint):
        raise IdempotencyConflict(
            f"idempotency key {request.key!r} was used for a different request in project "
            f"{request.project!r} (job {found.id}); use a new key for a new script"
        )
    return Submission(job_id=found.id, project=request.project, created=False)


def _store_job(script: ScriptText, request: Request, *, settings: Settings) -> Submission:
    uow = UnitOfWork(session_factory(settings), defer_send_errors=True)
    with uow:
        tenant_id = _tenant_id(uow.session, request.tenant_id)
        done = _insert_job(uow, script, request, tenant_id=tenant_id, settings=settings)
    return dataclasses.replace(done, dispatched=not uow.unsent) if done.created else done


def _typed(prefix: str, table: Table, column: str) -> Any:
    """A bind parameter typed like ``table.column`` (its JSON columns serialised as JSON)."""
    return bindparam(f"{prefix}{column}", type_=table.c[column].type)


_JOBS_TABLE = cast(Table, Job.__table__)
_SCRIPTS_TABLE = cast(Table, ScriptContent.__table__)
_EVENTS_TABLE = cast(Table, JobEvent.__table__)
_NEW_JOB_COLUMNS = (
    *("id", "project_id", "tenant_id", "title", "idempotency_key"),
    *("options", "meta", "stats", "callback_url", "created_at"),
)
_SCRIPT_COLUMNS = ("text", "sha256", "char_count", "byte_count", "encoding", "sources")
#: A new job, its script and its first event (NEW → PENDING) in one statement (two data-modifying
#: CTEs and the event's INSERT; PostgreSQL checks the foreign keys at the statement's end): one
#: round trip, and none of the ORM's unit-of-work bookkeeping (a quarter of a submit's time).
#: The job's parameters are ``j_<column>``, the script's ``s_<column>``.
_INSERT_JOB = (
    insert(_EVENTS_TABLE)
    .values(
        job_id=_typed("j_", _JOBS_TABLE, "id"),
        run=1,
        from_status="NEW",
        to_status=Status.PENDING.value,
        at=_typed("j_", _JOBS_TABLE, "created_at"),
    )
    .add_cte(
        insert(_JOBS_TABLE)
        .values(
            {
                **{c: _typed("j_", _JOBS_TABLE, c) for c in _NEW_JOB_COLUMNS},
                "status": Status.PENDING.value,
                "run": 1,
                "chunks_total": 0,
                "chunks_done": 0,
                "deliveries": 0,
                "updated_at": _typed("j_", _JOBS_TABLE, "created_at"),
            }
        )
        .cte("new_job"),
        insert(_SCRIPTS_TABLE)
        .values(
            {
                "job_id": _typed("j_", _JOBS_TABLE, "id"),
                **{c: _typed("s_", _SCRIPTS_TABLE, c) for c in _SCRIPT_COLUMNS},
            }
        )
        .cte("new_script"),
    )
    .inline()
)


def _insert_job(
    uow: UnitOfWork,
    script: ScriptText,
    request: Request,
    *,
    tenant_id: int,
    settings: Settings,
    projects: dict[str, int] | None = None,
) -> Submission:
    """Write a new job (or find its idempotency key's) in ``uow``; its first message goes after
    the commit. ``projects`` remembers project ids across the jobs of one batch."""
    session = uow.session
    if request.key and (existing := _find_by_key(session, request, tenant_id)):
        log.info("submit_deduplicated", job_id=existing.job_id, idempotency_key=request.key)
        return existing
    projects = {} if projects is None else projects
    if request.project not in projects:
        projects[request.project] = _project_id(session, request.project, tenant_id)
    now = utcnow()
    names = [s["name"] for s in script.sources]
    job_id = new_id()
    session.execute(
        _INSERT_JOB,
        {
            "j_id": job_id,
            "j_project_id": projects[request.project],
            "j_tenant_id": tenant_id,
            "j_title": request.title,
            "j_idempotency_key": request.key,
            "j_options": request.options,
            "j_meta": {"files": names, "request_sha256": request.fingerprint},
            "j_callback_url": request.callback_url or _tenant_callback(session, tenant_id, settings),
            "j_created_at": now,
            "j_stats": {},
            "s_text": script.text,
            "s_sha256": script.sha256,
            "s_char_count": len(script.text),
            "s_byte_count": script.byte_count,
            "s_encoding": script.encoding,
            "s_sources": script.sources,
        },
    )
    uow.send_after_commit(stage_message(STAGES[0], job_id, job_options=request.options))
    log.info(
        "job_submitted", job_id=job_id, project=request.project, chars=len(script.text), files=len(names)
    )
    view = JobView(
        id=job_id,
        project=request.project,
        title=request.title,
        status=Status.PENDING.value,
        run=1,
        percent=0.0,
        step=progress(Status.PENDING).step,
        eta_s=None,
        chunks_done=0,
        chunks_total=0,
        failed_stage=None,
        error=None,
        language=None,
        created_at=now,
        updated_at=now,
        finished_at=None,
    )
    return Submission(job_id=job_id, project=request.project, created=True, view=view)


def _tenant_callback(session: Session, tenant_id: int, settings: Settings) -> str | None:
    """The tenant's callback URL from ``webhooks.tenant_urls`` (checked when the settings load)."""
    urls = settings.webhooks.tenant_urls
    if not urls:
        return None
    return urls.get(session.scalar(select(Tenant.name).where(Tenant.id == tenant_id)) or "")


def stage_times(session: Session, *, ttl_s: float = STAGE_TIMES_TTL_S) -> dict[str, float]:
    """Typical seconds per stage (extract: per chunk) from recent stage-ending events, cached briefly.

    Each stage's figure averages its last :data:`ETA_HISTORY` timed events (extract: seconds per
    chunk); a stage with no history has no entry.
    """
    cached = _cached_stage_times(ttl_s)
    if cached is not None:
        return cached
    return _cache_stage_times(_stage_times_one_query(session))


def cached_stage_times() -> dict[str, float] | None:
    """:func:`stage_times` if this process has them fresh (no I/O); ``None``: read them with
    :func:`current_stage_times`."""
    return _cached_stage_times()


def current_stage_times(settings: Settings | None = None) -> dict[str, float]:
    """:func:`stage_times` from this process's cache, or read (a session of its own)."""
    cached = _cached_stage_times()
    if cached is not None:
        return cached
    with read_session_factory(settings)() as session:
        return stage_times(session)


def _cached_stage_times(ttl_s: float = STAGE_TIMES_TTL_S) -> dict[str, float] | None:
    stamp, cached = _times_cache
    return cached if time.monotonic() - stamp < ttl_s else None


def _cache_stage_times(times: dict[str, float]) -> dict[str, float]:
    global _times_cache  # noqa: PLW0603 (a per-process cache of a cheap aggregate)
    _times_cache = (time.monotonic(), times)
    return times


def _average(stage: str, seconds: float, events: int, units: int) -> float:
    """Seconds per run of a stage, or per piece for a fan-out stage (extract: its events record
    their chunks)."""
    return seconds / max(units if STAGES.by_name[stage].fan_out is not None else events, 1)


def _stage_times_one_query(session: Session) -> dict[str, float]:
    """:func:`stage_times`' figures in one statement (``unnest`` + ``LATERAL``)."""
    return _stage_times_from_rows(session.execute(text(recent_stage_times_sql())).all())


def _stage_times_from_rows(rows: Iterable[Sequence[Any]]) -> dict[str, float]:
    """:func:`stage_times`' figures from :func:`recent_stage_times_sql`'s rows (status, events, seconds, units)."""
    stage_by_status = {spec.done.value: spec.name for spec in STAGES}
    found = {
        stage_by_status[status]: _average(stage_by_status[status], seconds, events, units)
        for status, events, seconds, units in rows
    }
    return {spec.name: found[spec.name] for spec in STAGES if spec.name in found}


class _ViewRow(NamedTuple):
    """The columns a job's view shows (what :func:`_view` reads of a row), kept without the rest of
    the row it was read with (its events, options and meta: 10 of the 17 KB a kept record was)."""

    id: str
    project: str
    title: str | None
    status: str
    run: int
    chunks_done: int
    chunks_total: int
    failed_stage: str | None
    error: str | None
    language: str | None
    created_at: datetime
    updated_at: datetime
    finished_at: datetime | None
    stage_started_at: datetime | None
    stats: dict[str, Any] | None


#: What ``status`` reads of a job's row: what its view shows, and what only the read needs
#: (options and meta, for the LLM usage; the tenant, for the status cache).
_VIEW_COLUMNS = (*(name for name in _ViewRow._fields if name != "project"), "options", "meta", "tenant_id")
#: An event as :func:`_timings` reads it.
_TIMING_COLUMNS = (JobEvent.to_status, JobEvent.from_status, JobEvent.at, JobEvent.duration_s)


def _timings(events: Iterable[Sequence[Any]]) -> list[StageTiming]:
    """Stage start/finish times from a run's events, oldest first: (to, from, at, duration_s)."""
    by_stage: dict[str, StageTiming] = {}
    for to_status, from_status, stamp, duration_s in events:
        to = Status(to_status)
        at = as_utc(datetime.fromisoformat(stamp) if isinstance(stamp, str) else stamp)
        if (spec := stage_of(to)) is not None and from_status != to_status:
            by_stage[spec.name] = StageTiming(stage=spec.name, started_at=at)
        for spec in STAGES:
            if to == spec.done and from_status == spec.running.value and spec.name in by_stage:
                by_stage[spec.name].finished_at = at
                by_stage[spec.name].duration_s = duration_s
    return [by_stage[s.name] for s in STAGES if s.name in by_stage]


def _view(
    job: Any,
    project: str,
    times: dict[str, float],
    timings: list[StageTiming],
    llm: dict[str, Any] | None = None,
) -> JobView:
    now = utcnow()
    started = as_utc(job.stage_started_at) if job.stage_started_at else now
    prog = progress(
        Status(job.status),
        chunks_done=job.chunks_done,
        chunks_total=job.chunks_total,
        failed_stage=job.failed_stage,
        times=times,
        elapsed_in_stage_s=(now - started).total_seconds(),
    )
    return JobView(
        id=job.id,
        project=project,
        title=job.title,
        status=job.status,
        run=job.run,
        percent=prog.percent,
        step=prog.step if not job.error else f"{prog.step}: {job.error[:200]}",
        eta_s=prog.eta_s,
        chunks_done=job.chunks_done,
        chunks_total=job.chunks_total,
        failed_stage=job.failed_stage,
        error=job.error,
        language=job.language,
        created_at=as_utc(job.created_at),
        updated_at=as_utc(job.updated_at),
        finished_at=as_utc(job.finished_at) if job.finished_at else None,
        timings=timings,
        stats=job.stats or {},
        llm=llm,
    )


#: What ``status`` shows of a job, with its project's name (columns, not an ORM entity: no
#: identity map, no instance state; built once).
_Q_JOB_VIEW = (
    select(
        *(Job.__table__.c[name] for name in _VIEW_COLUMNS),
        Project.name.label("project"),
    )
    .join(Project, Project.id == Job.project_id)
    .where(Job.id == bindparam("job_id"))
)
#: The same with the run's events as one JSON array, so a warm ``status`` is one round
#: trip (two round trips' tail latency dominated its p99 on a busy 2-core host).
_RUN_EVENTS = json_rows(
    *_TIMING_COLUMNS, order_by=[JobEvent.id], where=and_(JobEvent.job_id == Job.id, JobEvent.run == Job.run)
)
#: A job that used a model (extract or storyboard provider other than "rules") gets
#: its chunks' :data:`~pipeline.usage.USAGE_SUMS` as one JSON array; a rules-only job, NULL (the
#: CASE keeps the subquery from running).
_USAGE = case(
    (
        or_(
            Job.options["provider"].as_string().is_distinct_from("rules"),
            func.coalesce(Job.options["storyboard_provider"].as_string(), "rules") != "rules",
        ),
        usage_sums_of(Job.id),
    ),
    else_=None,
)
#: The job with its run's events and its usage; a ``status`` is one round trip.
_JOB_VIEW = _Q_JOB_VIEW.add_columns(_RUN_EVENTS.label("events"), _USAGE.label("usage"))
#: The same for one tenant (``tenant_id`` bound): another tenant's job is not found.
_TENANT_CLAUSE = Job.tenant_id == bindparam("tenant_id")
_JOB_VIEW_SCOPED = _JOB_VIEW.where(_TENANT_CLAUSE)


@functools.lru_cache(maxsize=16)
def _job_view_cold(statuses: tuple[str, ...], scoped: bool) -> Select[Any]:
    """:data:`_JOB_VIEW` with the recent stage times for ETAs (:func:`recent_stage_times_sql` as a
    JSON array), for a process whose cache of them is cold: every ``enqueue.py status`` is a fresh
    process."""
    times = _recent_stage_times_sql(statuses)
    return (_JOB_VIEW_SCOPED if scoped else _JOB_VIEW).add_columns(
        literal_column(
            f"(SELECT json_agg(json_build_array(t.status, t.events, t.seconds, t.units)) FROM ({times}) AS t)"
        ).label("stage_times")
    )


def get_status(job_id: str, *, tenant_id: int | None = None, settings: Settings | None = None) -> JobView:
    """Return a job's status, progress, step, ETA and stage timings.

    One statement, whether or not this process has the ETA figures.

    Args:
        tenant_id: only this tenant's job (another tenant's is not found); ``None``: any.

    Raises:
        JobNotFound: no job has this id (in this tenant).
    """
    return view_of(job_record(job_id, tenant_id=tenant_id, settings=settings), settings)


@dataclass(frozen=True, slots=True)
class JobRecord:
    """What a job's view is made of, as read: its row (with the project's name), its run's stage
    timings and its LLM usage. :func:`view_of` makes the view at the moment it is shown (percent
    and ETA move with the clock), so a record may be kept (the API's status cache) while the job
    does not change."""

    row: _ViewRow
    tenant_id: int
    timings: tuple[StageTiming, ...]
    llm: dict[str, Any] | None


def job_record(job_id: str, *, tenant_id: int | None = None, settings: Settings | None = None) -> JobRecord:
    """A job's :class:`JobRecord` (one statement; see :func:`get_status`).

    Raises:
        JobNotFound: no job has this id (in this tenant).
    """
    with read_engine(settings).connect() as conn:
        return _record(conn, job_id, tenant_id, settings)


def view_of(
    record: JobRecord, settings: Settings | None = None, times: dict[str, float] | None = None
) -> JobView:
    """The job's view now, from its record and the recent stage times (``times``; default: this
    process's, read if they are not fresh)."""
    if times is None:
        times = current_stage_times(settings)
    job = record.row
    return _view(job, job.project, times, list(record.timings), record.llm)


def _record(
    session: Session | Connection, job_id: str, tenant_id: int | None, settings: Settings | None
) -> JobRecord:
    """:func:`job_record` in ``session``; the recent stage times are read with it when this
    process has none fresh."""
    scoped_ = tenant_id is not None
    times = _cached_stage_times()
    if times is not None:
        query = _JOB_VIEW_SCOPED if scoped_ else _JOB_VIEW
    else:
        query = _job_view_cold(_done_statuses(), scoped_)
    params: dict[str, Any] = {"job_id": job_id}
    if scoped_:
        params["tenant_id"] = tenant_id
    if times is not None:
        # Prepared once per connection: PostgreSQL planned this statement in 0.14 ms and ran it
        # in 0.04 (EXPLAIN ANALYZE, a job with its events), most of a status's server time. The
        # cold one runs once per process (an `enqueue.py status`): as it is, one round trip.
        job = prepared.execute(connection_of(session), query, params).one_or_none()
    else:
        job = session.execute(query, params).one_or_none()
    if job is None:
        raise JobNotFound(f"no job {job_id}")
    if times is None:
        _cache_stage_times(_stage_times_from_rows(job.stage_times or []))
    prices = (settings or get_settings()).extract
    usage = usage_from_sums(job.usage, job.meta, prices) if job.usage is not None else None
    row = _ViewRow(*(getattr(job, name) for name in _ViewRow._fields))
    return JobRecord(row=row, tenant_id=job.tenant_id, timings=tuple(_timings(job.events or [])), llm=usage)


def _encode_cursor(created_at: datetime, job_id: str) -> str:
    return base64.urlsafe_b64encode(f"{as_utc(created_at).isoformat()}|{job_id}".encode()).decode()


def _decode_cursor(cursor: str) -> tuple[datetime, str]:
    try:
        stamp, job_id = base64.urlsafe_b64decode(cursor.encode()).decode().split("|", 1)
        return datetime.fromisoformat(stamp), job_id
    except ValueError:
        raise InputError(f"not a cursor from `jobs`: {cursor!r}") from None


#: What a line of ``jobs`` needs: no JSON columns, no error text (the listing reads only these).
_SUMMARY_COLUMNS = (
    Job.id,
    Project.name.label("project"),
    Job.title,
    Job.status,
    Job.chunks_done,
    Job.chunks_total,
    Job.failed_stage,
    Job.stage_started_at,
    Job.created_at,
    Job.updated_at,
)


def statuses_of(status: str | Iterable[str] | None) -> list[str]:
    """Status filter values as stored (upper case), checked; several may be given, or a
    comma-separated list (``FAILED,CANCELLED``).

    Raises:
        InputError: an unknown status (the message lists the valid ones).
    """
    if status is None:
        return []
    given = status.split(",") if isinstance(status, str) else [p for s in status for p in s.split(",")]
    wanted = [s.strip().upper() for s in given if s.strip()]
    for name in wanted:
        if name not in STAGES.states:
            raise InputError(f"unknown status {name!r}; one of {', '.join(STAGES.statuses)}")
    return list(dict.fromkeys(wanted))


def list_jobs_query(
    *,
    status: str | Iterable[str] | None = None,
    project: str | None = None,
    limit: int = 20,
    cursor: str | None = None,
    since: datetime | None = None,
    until: datetime | None = None,
    title: str | None = None,
    tenant_id: int | None = None,
) -> Select[Any]:
    """The statement :func:`list_jobs` runs (one more row than ``limit``, to tell a next page).

    Raises:
        InputError: an unknown status, a bad limit or a malformed cursor.
    """
    statuses = statuses_of(status)
    if not 1 <= limit <= 1000:
        raise InputError("limit must be between 1 and 1000")
    query = scoped(select(*_SUMMARY_COLUMNS).join(Project, Project.id == Job.project_id), tenant_id)
    if len(statuses) == 1:
        query = query.where(Job.status == statuses[0])
    elif statuses:
        query = query.where(Job.status.in_(statuses))
    if project:
        query = query.where(Project.name == project)
    if since:
        query = query.where(Job.created_at >= since)
    if until:
        query = query.where(Job.created_at < until)
    if title:
        escaped = title.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
        query = query.where(or_(Job.title.ilike(f"%{escaped}%", escape="\\"), Job.id == title.strip()))
    if cursor:
        created, job_id = _decode_cursor(cursor)
        query = query.where(tuple_(Job.created_at, Job.id) < tuple_(created, job_id))
    return cast(Select[Any], query.order_by(Job.created_at.desc(), Job.id.desc()).limit(limit + 1))


def list_jobs(
    *,
    status: str | Iterable[str] | None = None,
    project: str | None = None,
    limit: int = 20,
    cursor: str | None = None,
    since: datetime | None = None,
    until: datetime | None = None,
    title: str | None = None,
    tenant_id: int | None = None,
    settings: Settings | None = None,
) -> JobPage:
    """List jobs newest first, one page at a time (keyset pagination: stable under inserts).

    Args:
        status: one status or several (any of them matches).
        since: created at or after; until: created before.
        title: a part of the title (any case), or the whole job id.
        tenant_id: only this tenant's jobs; ``None``: every tenant's.

    Raises:
        InputError: an unknown status, a bad limit or a malformed cursor.
    """
    query = list_jobs_query(
        status=status,
        project=project,
        limit=limit,
        cursor=cursor,
        since=since,
        until=until,
        title=title,
        tenant_id=tenant_id,
    )
    with read_session_factory(settings)() as session:
        rows = session.execute(query).all()
        times = stage_times(session) if any(Status(j.status) not in TERMINAL for j in rows) else {}
    items = []
    now = utcnow()
    for job in rows[:limit]:
        prog = progress(
            Status(job.status),
            chunks_done=job.chunks_done,
            chunks_total=job.chunks_total,
            failed_stage=job.failed_stage,
            times=times,
            elapsed_in_stage_s=(now - as_utc(job.stage_started_at)).total_seconds()
            if job.stage_started_at
            else 0.0,
        )
        items.append(
            JobSummary(
                id=job.id,
                project=job.project,
                title=job.title,
                status=job.status,
                percent=prog.percent,
                step=prog.step,
                eta_s=prog.eta_s,
                created_at=as_utc(job.created_at),
                updated_at=as_utc(job.updated_at),
            )
        )
    more = len(rows) > limit
    return JobPage(
        items=items,
        next_cursor=_encode_cursor(rows[limit - 1].created_at, rows[limit - 1].id) if more else None,
    )


def cancel(job_id: str, *, tenant_id: int | None = None, settings: Settings | None = None) -> bool:
    """Stop a job; its later messages are dropped at claim and late output is discarded.

    Returns:
        ``True`` if the job was cancelled, ``False`` if it had already ended.

    Raises:
        JobNotFound: no job has this id (in ``tenant_id``, when given).
    """
    with UnitOfWork(session_factory(settings)) as uow:
        current = uow.session.scalar(scoped(select(Job.status).where(Job.id == job_id), tenant_id))
        if current is None:
            raise JobNotFound(f"no job {job_id}")
        status = Status(current)
        spec = stage_of(status) or stage_after(status)
        left = force_transition(
            uow.session,
            job_id,
            Status.CANCELLED,
            detail="cancelled by operator",
            values={"failed_stage": spec.name if spec else None},
        )
    return left is not None


def get_report(
    job_id: str, fmt: str = "json", *, tenant_id: int | None = None, settings: Settings | None = None
) -> str:
    """Return a stored report of a completed job: ``json``, ``html`` or ``csv`` (scenes).

    Raises:
        JobNotFound: no job has this id (in ``tenant_id``, when given).
        InputError: the job has no report yet (it is not COMPLETED) or the format is unknown.
    """
    if fmt not in ("json", "html", "csv"):
        raise InputError(f"unknown report format {fmt!r}; one of json, html, csv")
    with session_factory(settings)() as session:
        status = session.scalar(scoped(select(Job.status).where(Job.id == job_id), tenant_id))
        if status is None:
            raise JobNotFound(f"no job {job_id}")
        content = session.scalar(select(Report.content).where(Report.job_id == job_id, Report.format == fmt))
    if content is None:
        raise InputError(f"job {job_id} has no report yet (it is {status})")
    return content


def count_jobs(*, tenant_id: int | None = None, settings: Settings | None = None) -> dict[str, int]:
    """Count jobs by status (one tenant's, or every tenant's for ``None``)."""
    with session_factory(settings)() as session:
        rows = session.execute(scoped(select(Job.status, func.count()), tenant_id).group_by(Job.status)).all()
    return {status: n for status, n in rows}


def job_snapshot(
    job_id: str, *, after_id: int = 0, tenant_id: int | None = None, settings: Settings | None = None
) -> tuple[JobView, list[dict[str, Any]]]:
    """A job's view and its events after ``after_id`` (oldest first: id, run, from, to, at,
    detail) from one snapshot of the database (REPEATABLE READ), so the view is the state the
    last event left: what an event stream sends on connect.

    Raises:
        JobNotFound: no job has this id (in ``tenant_id``, when given).
    """
    columns = (
        JobEvent.id,
        JobEvent.run,
        JobEvent.from_status,
        JobEvent.to_status,
        JobEvent.at,
        JobEvent.detail,
    )
    with session_factory(settings)() as session:
        session.connection(execution_options={"isolation_level": "REPEATABLE READ"})
        view = view_of(_record(session, job_id, tenant_id, settings), settings)
        rows = session.execute(
            select(*columns).where(JobEvent.job_id == job_id, JobEvent.id > after_id).order_by(JobEvent.id)
        ).all()
        session.rollback()
    events = [
        {
            "id": r.id,
            "run": r.run,
            "from": r.from_status,
            "to": r.to_status,
            "at": as_utc(r.at),
            "detail": r.detail,
        }
        for r in rows
    ]
    return view, events


def count_by_status_query(tenant_id: int | None = None) -> Select[Any]:
    """The statement :func:`count_by_status` runs: an index-only scan of (tenant_id, status)."""
    return cast(Select[Any], scoped(select(Job.status, func.count()).group_by(Job.status), tenant_id))


def count_by_status(*, tenant_id: int | None = None, settings: Settings | None = None) -> dict[str, int]:
    """How many jobs (one tenant's, or all for ``None``) are in each status, statuses in order."""
    with read_engine(settings).connect() as conn:
        found: dict[str, int] = {status: n for status, n in conn.execute(count_by_status_query(tenant_id))}
    return {s.value: found[s.value] for s in STAGES.statuses if s.value in found}


def progress_of(
    job_ids: Sequence[str], *, tenant_id: int | None = None, settings: Settings | None = None
) -> list[Any]:
    """What progress is made of (id, status, run, chunks done and total, failed stage, when the
    running stage began) for those of ``job_ids`` that exist (in ``tenant_id``, when given), in
    one query: a page's live rows."""
    if not job_ids:
        return []
    columns = (
        Job.id,
        Job.status,
        Job.run,
        Job.chunks_done,
        Job.chunks_total,
        Job.failed_stage,
        Job.stage_started_at,
    )
    with read_engine(settings).connect() as conn:
        return list(conn.execute(scoped(select(*columns).where(Job.id.in_(list(job_ids))), tenant_id)))


def chunk_grid(
    job_id: str, *, tenant_id: int | None = None, settings: Settings | None = None
) -> list[dict[str, Any]]:
    """A job's chunks in order (its current run's), as the console's grid shows them: scenes,
    status, attempts, provider, tokens, whether the cache answered, calls, latency and error.

    Raises:
        JobNotFound: no job has this id (in ``tenant_id``, when given).
    """
    columns = (
        Chunk.number, Chunk.first_scene, Chunk.last_scene, Chunk.status, Chunk.attempts, Chunk.provider,
        Chunk.prompt_tokens, Chunk.completion_tokens, Chunk.cached, Chunk.calls, Chunk.latency_ms, Chunk.error,
    )  # fmt: skip
    with read_engine(settings).connect() as conn:
        if conn.execute(scoped(select(Job.id).where(Job.id == job_id), tenant_id)).first() is None:
            raise JobNotFound(f"no job {job_id}")
        rows = conn.execute(select(*columns).where(Chunk.job_id == job_id).order_by(Chunk.number)).mappings()
        return [dict(row) for row in rows]


def finished_per_hour(
    hours: int = 24, *, tenant_id: int | None = None, settings: Settings | None = None
) -> list[dict[str, Any]]:
    """Jobs that ended in each of the last ``hours`` hours (oldest first, empty hours too), by how
    they ended: ``{"hour": datetime, "COMPLETED": n, "FAILED": n, "CANCELLED": n}``."""
    now = utcnow().replace(minute=0, second=0, microsecond=0)
    first = now - timedelta(hours=hours - 1)
    hour = func.date_trunc(
        "hour", func.timezone("UTC", Job.finished_at)
    )  # UTC hours, whatever the session's zone
    query = scoped(
        select(hour, Job.status, func.count()).where(Job.finished_at >= first).group_by(hour, Job.status),
        tenant_id,
    )
    with read_engine(settings).connect() as conn:
        counts = {(as_utc(h), status): n for h, status, n in conn.execute(query)}
    ended = (Status.COMPLETED.value, Status.FAILED.value, Status.CANCELLED.value)
    return [
        {"hour": at, **{status: counts.get((at, status), 0) for status in ended}}
        for at in (first + timedelta(hours=n) for n in range(hours))
    ]


def list_projects(*, tenant_id: int | None = None, settings: Settings | None = None) -> list[dict[str, Any]]:
    """The projects (one tenant's, or every tenant's for ``None``) with their job counts, by name."""
    query = (
        select(Project.name, func.count(Job.id).label("jobs"), func.max(Job.created_at).label("last_job_at"))
        .outerjoin(Job, Job.project_id == Project.id)
        .group_by(Project.id, Project.name)
        .order_by(Project.name)
    )
    if tenant_id is not None:
        query = query.where(Project.tenant_id == tenant_id)
    with read_session_factory(settings)() as session:
        rows = session.execute(query).all()
    return [
        {"name": r.name, "jobs": r.jobs, "last_job_at": as_utc(r.last_job_at) if r.last_job_at else None}
        for r in rows
    ]
