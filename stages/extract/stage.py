"""Stage 3, extract: fan out one message per chunk on the "ai" queue, fan in with a counter.

``extract`` itself (a few quick statements) runs on the "default" queue, so the "ai" queue
holds nothing but chunk extractions: its workers can run hundreds of threads for slow calls.

``extract`` claims the job (CHUNKED → EXTRACTING) and sends one ``extract_chunk`` per chunk not
yet done (so a re-driven job resumes with only its missing chunks). Each ``extract_chunk``
replaces its chunk's records and bumps ``jobs.chunks_done`` in one transaction; the chunk that
makes the count whole wins the EXTRACTING → EXTRACTED compare-and-set and alone enqueues dedup.

The provider is the job's (recorded at submit, ``--set provider=…`` on a re-drive): ``rules``
(offline, :mod:`stages.extract.rules`) or ``openai`` (:mod:`stages.extract.llm`). An LLM call
holds its worker thread but no database connection; the "ai" queue's workers run many threads
(docs/ARCHITECTURE.md, "LLM concurrency").
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, NamedTuple, Protocol, cast

import dramatiq
from sqlalchemy import Table, and_, bindparam, exists, func, select, update
from sqlalchemy.engine import Connection
from sqlalchemy.orm import Session

from models import Chunk, ExtractionRecord, Job, Scene, ScriptContent
from models.base import is_job_id, utcnow
from pipeline import prepared
from pipeline.broker import actor_options
from pipeline.llm import ChatClient, Endpoint, InvalidAnswer, llm_services
from pipeline.llm.client import estimate_tokens
from pipeline.logs import get_logger
from pipeline.metrics import metrics
from pipeline.queries import array_params, insert_from_arrays, json_rows
from pipeline.reruns import Cost, register_cost
from pipeline.runner import Discarded, PoisonMessage, claim_stage, finish_stage, message_info
from pipeline.settings import get_settings
from pipeline.states import STAGES, FanOut, Status
from pipeline.transitions import record_note
from pipeline.uow import UnitOfWork, stage_message
from stages.drafts import Mention, SceneSlice
from stages.extract.llm import LlmResult, Usage, build_messages, chunk_cache_key, extract_llm
from stages.extract.rules import extract_rules

EXTRACT = "extract"
#: ``extract_chunk`` and its queue ("ai": the model calls, with their own many-threaded workers).


def _fan_out() -> FanOut:
    fan_out = STAGES.by_name[EXTRACT].fan_out
    if fan_out is None:
        raise RuntimeError("the state table's extract stage has no fan_out")
    return fan_out


FAN_OUT = _fan_out()
CHUNK_QUEUE = FAN_OUT.queue
log = get_logger(__name__)


#: The usage figures ``extract_chunk`` stores on its chunk.
_USAGE_COLUMNS = ("provider", "calls", "prompt_tokens", "completion_tokens", "cached", "latency_ms")


@dataclass(frozen=True)
class ChunkWork:
    job_id: str
    chunk_id: int
    language: str
    slices: tuple[SceneSlice, ...]
    sketches: str = ""
    run: int = 1
    number: int = 0
    options: dict[str, Any] = field(default_factory=dict)
    roster: tuple[str, ...] = ()

    @property
    def provider(self) -> str:
        return str(self.options.get("provider") or get_settings().extract.provider)


class SceneSpan(Protocol):
    """What :func:`slice_scenes` reads of a scene (a ``Scene`` row or a selected tuple)."""

    @property
    def number(self) -> int: ...
    @property
    def heading(self) -> str: ...
    @property
    def location(self) -> str | None: ...
    @property
    def start(self) -> int: ...
    @property
    def end(self) -> int: ...
    @property
    def listed_characters(self) -> Any: ...


def slice_scenes(chunk_text: str, chunk_start: int, scenes: Sequence[SceneSpan]) -> tuple[SceneSlice, ...]:
    """Cut a chunk's text into the parts that belong to each scene it overlaps."""
    chunk_end = chunk_start + len(chunk_text)
    slices = []
    for scene in scenes:
        lo, hi = max(scene.start, chunk_start), min(scene.end, chunk_end)
        if lo >= hi:
            continue
        slices.append(
            SceneSlice(
                scene_number=scene.number,
                heading=scene.heading,
                location=scene.location,
                text=chunk_text[lo - chunk_start : hi - chunk_start],
                listed_characters=tuple(scene.listed_characters or ()),
            )
        )
    return tuple(slices)


@dramatiq.actor(actor_name="extract", queue_name=STAGES.by_name[EXTRACT].queue, **actor_options("extract"))
def extract(job_id: str) -> None:
    """Claim the job for extract and send one message per chunk still to do."""
    with UnitOfWork(core=True) as uow:
        connection = uow.connection
        job = claim_stage(connection, EXTRACT, job_id)
        if job is None:
            return
        total, todo = prepared.execute(connection, _FAN_OUT, {"p_job_id": job_id}).one()
        todo = todo or []
        if not todo:
            finish_stage(uow, EXTRACT, job, units=total)
            return
        for chunk_id, _number in todo:
            uow.send_after_commit(
                stage_message(
                    STAGES.by_name[EXTRACT],
                    job_id,
                    chunk_id,
                    actor=FAN_OUT.actor,
                    queue=FAN_OUT.queue,
                    job_options=job.options,
                )
            )
    log.info("extract_fanned_out", chunks=len(todo), total=total)


# The chunk path's statements, built once (Core on the session's connection: no ORM bulk-update
# bookkeeping, no statement building per message; a one-chunk job spent half its worker CPU here).
_CHUNKS = cast(Table, Chunk.__table__)
_JOBS = cast(Table, Job.__table__)
_RECORDS = cast(Table, ExtractionRecord.__table__)
_SCENES = cast(Table, Scene.__table__)
_TEXTS = cast(Table, ScriptContent.__table__)
#: Fan-out: every chunk not done goes back to pending (deaths count per fan-out); these are sent.
_RESET_UNDONE = (
    update(_CHUNKS)
    .where(_CHUNKS.c.job_id == bindparam("p_job_id"), _CHUNKS.c.status != "done")
    .values(status="pending", error=None, attempts=0)
    .returning(_CHUNKS.c.id, _CHUNKS.c.number)
)
#: ... and the job's counters, from the chunks themselves (a resumed job counts its done chunks).
_COUNT_CHUNKS = (
    update(_JOBS)
    .where(_JOBS.c.id == bindparam("p_job_id"))
    .values(
        chunks_total=select(func.count())
        .select_from(_CHUNKS)
        .where(_CHUNKS.c.job_id == bindparam("p_job_id"))
        .scalar_subquery(),
        chunks_done=select(func.count())
        .select_from(_CHUNKS)
        .where(_CHUNKS.c.job_id == bindparam("p_job_id"), _CHUNKS.c.status == "done")
        .scalar_subquery(),
    )
    .returning(_JOBS.c.chunks_total)
)
#: Both in one statement; the chunks to send come back as a JSON array of [id, number] (the
#: counters' subqueries see the chunks as before the reset, which changes no done chunk).
_TO_SEND = _RESET_UNDONE.cte("to_send")
_FAN_OUT = _COUNT_CHUNKS.returning(
    json_rows(_TO_SEND.c.id, _TO_SEND.c.number, order_by=[_TO_SEND.c.number])
).add_cte(_TO_SEND)
#: What extracting a chunk reads of its job, the chunk and its text (``_Claimed`` after attempts).
_WORK_COLUMNS = (
    _JOBS.c.language,
    _JOBS.c.meta,
    _JOBS.c.options,
    _JOBS.c.run,
    _CHUNKS.c.number,
    _CHUNKS.c.start,
    _CHUNKS.c.first_scene,
    _CHUNKS.c.last_scene,
    func.substr(_TEXTS.c.text, _CHUNKS.c.start + 1, _CHUNKS.c.end - _CHUNKS.c.start),
)
#: Why a chunk's claim found nothing: the job's and the chunk's status.
_CHUNK_STATE = (
    select(_JOBS.c.status, _CHUNKS.c.status)
    .join(_CHUNKS, _CHUNKS.c.job_id == _JOBS.c.id)
    .where(_JOBS.c.id == bindparam("p_job_id"), _CHUNKS.c.id == bindparam("p_chunk_id"))
)
#: A scene of the chunk, as :class:`_Scene` has it.
_SCENE_COLUMNS = (
    _SCENES.c.number,
    _SCENES.c.heading,
    _SCENES.c.location,
    _SCENES.c.start,
    _SCENES.c.end,
    _SCENES.c.listed_characters,
)
#: A finished chunk's columns (its usage from ``p_<column>``).
_DONE_VALUES: dict[str, Any] = {
    "status": "done",
    "error": None,
    "raw_answer": None,
    **{k: bindparam(f"p_{k}", type_=_CHUNKS.c[k].type) for k in _USAGE_COLUMNS},
}
#: The fan-in counter; the columns returned are what finishing the stage needs (no job read).
_COUNT_DONE = (
    update(_JOBS)
    .where(_JOBS.c.id == bindparam("p_job_id"), _JOBS.c.status == Status.EXTRACTING.value)
    .values(chunks_done=_JOBS.c.chunks_done + 1, updated_at=bindparam("p_now", type_=_JOBS.c.updated_at.type))
    .returning(
        _JOBS.c.id, _JOBS.c.chunks_done, _JOBS.c.chunks_total, _JOBS.c.options, _JOBS.c.stage_started_at
    )
)


#: The chunk's claim: the conditional "running" update and the read in one statement (UPDATE …
#: FROM returns the job's and the text's columns too). Conditional: another delivery of this chunk
#: may have finished it, and turning its "done" back into "running" would let this delivery count
#: the chunk a second time (an early fan-in, a chunk's records missing). No row: dropped;
#: :data:`_CHUNK_STATE` says why.
_CLAIM_CHUNK = (
    update(_CHUNKS)
    .where(
        _CHUNKS.c.id == bindparam("p_chunk_id"),
        _CHUNKS.c.job_id == bindparam("p_job_id"),
        _CHUNKS.c.status != "done",
        _JOBS.c.id == _CHUNKS.c.job_id,
        _JOBS.c.status == Status.EXTRACTING.value,
        _TEXTS.c.job_id == _CHUNKS.c.job_id,
    )
    .values(status="running", attempts=_CHUNKS.c.attempts + 1)
    .returning(
        _CHUNKS.c.attempts,
        *_WORK_COLUMNS,
        # The chunk's scenes too, as a JSON array of rows: no second read.
        json_rows(
            *_SCENE_COLUMNS,
            order_by=[_SCENES.c.number],
            where=and_(
                _SCENES.c.job_id == _CHUNKS.c.job_id,
                _SCENES.c.number.between(_CHUNKS.c.first_scene, _CHUNKS.c.last_scene),
            ),
        ),
    )
)
#: The fan-in counter, the chunk marked done and its records in one statement, which
#: writes nothing unless the job is still EXTRACTING and the chunk not done: it commits on its own
#: (autocommit), holding the job's row lock only while it runs. The counter goes first, under a
#: lock on the chunk's row taken in its condition: a second delivery of the chunk waits there until
#: the first commits and then finds the chunk done (so a chunk is never counted twice), and a job
#: that a re-run moved on meanwhile is re-checked at its row lock (so nothing is written for it).
_CHUNK_OPEN = (
    select(_CHUNKS.c.id)
    .where(
        _CHUNKS.c.id == bindparam("p_chunk_id"),
        _CHUNKS.c.job_id == bindparam("p_job_id"),
        _CHUNKS.c.status != "done",
    )
    .with_for_update()
)
_COUNTED = _COUNT_DONE.where(exists(_CHUNK_OPEN)).cte("counted")
_DONE = (
    update(_CHUNKS)
    .where(_CHUNKS.c.id == bindparam("p_chunk_id"), _CHUNKS.c.job_id == _COUNTED.c.id)
    .values(_DONE_VALUES)
    .returning(_CHUNKS.c.id)
    .cte("done")
)
#: The chunk's records (column arrays), joined to ``done``: written only if the chunk was marked done.
_RECORD_COLUMNS = ("scene_number", "asset_type", "raw_name", "attributes")
_RECORDS_IN = insert_from_arrays(
    _RECORDS,
    _RECORD_COLUMNS,
    prefix="m",
    job_id=bindparam("p_job_id"),
    constants={
        "chunk_id": _DONE.c.id,
        "provider": bindparam("p_provider", type_=_RECORDS.c.provider.type),
        "prompt_version": bindparam("p_prompt_version", type_=_RECORDS.c.prompt_version.type),
    },
    join=_DONE,
).cte("recorded")
_FINISH_CHUNK = select(*_COUNTED.c).add_cte(_COUNTED, _DONE, _RECORDS_IN)
#: A job still EXTRACTING with every chunk counted: its last chunk's delivery committed the count
#: and failed (or its worker died) before the ``EXTRACTING → EXTRACTED`` transition. A redelivery of
#: that chunk finishes the stage (the reconciler would, later).
_Q_COUNTED = select(_JOBS.c.id, _JOBS.c.chunks_total, _JOBS.c.options, _JOBS.c.stage_started_at).where(
    _JOBS.c.id == bindparam("p_job_id"),
    _JOBS.c.status == Status.EXTRACTING.value,
    _JOBS.c.chunks_done >= _JOBS.c.chunks_total,
)


def _load_chunk(connection: Connection, job_id: str, chunk_id: int) -> ChunkWork | None:
    ids = {"p_job_id": job_id, "p_chunk_id": chunk_id}
    got = prepared.execute(connection, _CLAIM_CHUNK, ids).one_or_none()
    if got is None:
        state = connection.execute(_CHUNK_STATE, ids).one_or_none()
        if state is None:
            log.warning("message_dropped", reason="unknown job or chunk", chunk_id=chunk_id)
        else:
            log.info("message_dropped", reason=f"job is {state[0]}, chunk is {state[1]}", chunk_id=chunk_id)
        return None
    *claimed, scenes = got
    return _chunk_work(job_id, chunk_id, _Claimed(*claimed), [_Scene(*r) for r in scenes or ()])


class _Claimed(NamedTuple):
    """A chunk just set running (its attempts), with what its extraction needs (``_WORK_COLUMNS``)."""

    attempts: int
    language: str | None
    meta: dict[str, Any] | None
    options: dict[str, Any] | None
    run: int
    number: int
    start: int
    first: int
    last: int
    text: str | None


class _Scene(NamedTuple):
    """A scene as :data:`_SCENE_COLUMNS` reads it (a :class:`SceneSpan`)."""

    number: int
    heading: str
    location: str | None
    start: int
    end: int
    listed_characters: list[str] | None


def _chunk_work(job_id: str, chunk_id: int, c: _Claimed, scenes: Sequence[SceneSpan]) -> ChunkWork:
    """The claimed chunk's work; a chunk that keeps killing workers is poison."""
    # Deliveries of this chunk beyond its counted retries: a worker died holding it (SIGKILL, OOM).
    deaths = c.attempts - 1 - message_info()[1]
    if deaths >= get_settings().stages.max_deaths:
        raise PoisonMessage(f"worker died {deaths} times extracting chunk {c.number} of this job")
    meta = c.meta or {}
    return ChunkWork(
        job_id,
        chunk_id,
        c.language or "en",
        slice_scenes(c.text or "", c.start, scenes),
        sketches=str(meta.get("sketches") or ""),
        run=c.run,
        number=c.number,
        options=dict(c.options or {}),
        roster=tuple(meta.get("roster") or ()),
    )


def _save_chunk(uow: UnitOfWork, work: ChunkWork, result: LlmResult | list[Mention]) -> bool:
    if isinstance(result, LlmResult):
        mentions, usage, version = result.mentions, result.usage, result.prompt_version
    else:
        mentions, usage, version = result, Usage(), None
    provider = work.provider
    connection = uow.connection
    marked = {
        "p_chunk_id": work.chunk_id,
        "p_provider": provider,
        "p_calls": usage.calls,
        "p_prompt_tokens": usage.prompt_tokens,
        "p_completion_tokens": usage.completion_tokens,
        "p_cached": usage.cached,
        "p_latency_ms": usage.latency_ms,
    }
    # The counter's update time keeps the reconciler off a job whose chunks are progressing.
    counted = {"p_job_id": work.job_id, "p_now": utcnow()}
    # No DELETE of earlier records first: a chunk's records are only ever written in the same
    # transaction that marks it done, and every path that un-does a chunk (re-runs) deletes them.
    records = [(m.scene_number, m.asset_type, m.name[:500], m.attributes) for m in mentions]
    # The fan-in counter, the chunk done and its records: one statement (see _COUNTED).
    rows = array_params(_RECORDS, _RECORD_COLUMNS, records, prefix="m")
    params = {**marked, **counted, **rows, "p_prompt_version": version}
    job = prepared.execute(connection, _FINISH_CHUNK, params).one_or_none()
    if job is None:
        return False  # another delivery finished this chunk, or the job left EXTRACTING: nothing written
    if job.chunks_done >= job.chunks_total:
        return finish_stage(uow, EXTRACT, job, units=job.chunks_total)
    return True


@dramatiq.actor(actor_name=FAN_OUT.actor, queue_name=CHUNK_QUEUE, **actor_options("extract"))
def extract_chunk(job_id: str, chunk_id: int) -> None:
    """Extract one chunk; the last chunk of the job advances it to dedup."""
    if not is_job_id(job_id) or not isinstance(chunk_id, int):
        log.warning("message_dropped", reason="malformed arguments", args=repr((job_id, chunk_id))[:120])
        metrics().dropped.labels("extract").inc()
        return
    # On PostgreSQL the chunk's claim is one statement (with its job's, text's and scenes' columns):
    # autocommit, no BEGIN and COMMIT round trips.
    with UnitOfWork(autocommit=True, core=True) as uow:
        work = _load_chunk(uow.connection, job_id, chunk_id)
        if work is None:
            _finish_counted(uow, job_id)
            return
    result: LlmResult | list[Mention]
    if work.provider == "rules":
        result = extract_rules(work.slices, language=work.language, sketches=work.sketches)
    else:
        result = _extract_with_llm(work)
    # On PostgreSQL the chunk's save is one statement and the last chunk's transition another, each
    # committing on its own: a failure between them leaves every chunk counted and the job
    # EXTRACTING, which the chunk's redelivery (or the reconciler) finishes (_finish_counted).
    try:
        with UnitOfWork(autocommit=True, core=True) as uow:
            if not _save_chunk(uow, work, result):
                raise Discarded
    except Discarded:
        log.info("chunk_output_discarded", chunk_id=chunk_id)
        return
    found = result.mentions if isinstance(result, LlmResult) else result
    log.info("chunk_extracted", chunk_id=chunk_id, mentions=len(found))


def _finish_counted(uow: UnitOfWork, job_id: str) -> None:
    """Finish extract for a job whose chunks are all counted but which is still EXTRACTING."""
    job = uow.connection.execute(_Q_COUNTED, {"p_job_id": job_id}).one_or_none()
    if job is not None and finish_stage(uow, EXTRACT, job, units=job.chunks_total):
        log.info("fan_in_finished", reason="every chunk counted, the job still extracting")


def _extract_with_llm(work: ChunkWork) -> LlmResult:
    """Call the model (or the cache) for one chunk; report retries to the job's history."""
    settings = get_settings()
    services = llm_services(settings)
    client = ChatClient(Endpoint.from_settings(settings.extract, work.options), limiter=services.limiter)

    def on_retry(exc: BaseException, sleep_s: float) -> None:
        detail = f"extract chunk {work.number}: {exc}; retrying in {sleep_s:.1f} s"
        log.warning("llm_retry", chunk_id=work.chunk_id, error=str(exc)[:200], sleep_s=round(sleep_s, 2))
        metrics().retries.labels("extract").inc()
        with UnitOfWork() as uow:
            record_note(uow.session, work.job_id, work.run, Status.EXTRACTING, detail)

    try:
        result = extract_llm(
            work.slices,
            language=work.language,
            roster=work.roster,
            client=client,
            cache=services.cache if services.cache_ttl_s > 0 else None,
            cache_ttl_s=services.cache_ttl_s,
            use_cache=not work.options.get("no_cache"),
            on_retry=on_retry,
        )
    except InvalidAnswer as exc:
        with UnitOfWork() as uow:  # keep the unusable answer for ops before the job is dead-lettered
            uow.session.execute(
                update(Chunk)
                .where(Chunk.id == work.chunk_id)
                .values(status="failed", error=str(exc)[:2000], raw_answer=exc.raw[:100_000])
            )
        raise
    usage = result.usage
    m = metrics()
    if usage.cached:
        m.cache_hits.labels("openai").inc()
    m.llm_calls.labels("openai").inc(usage.calls)
    m.llm_tokens.labels("openai", "prompt").inc(usage.prompt_tokens)
    m.llm_tokens.labels("openai", "completion").inc(usage.completion_tokens)
    return result


def estimate_cost(session: Session, job_id: str, use_cache: bool = True) -> Cost:
    """Estimate the LLM calls and tokens re-extracting ``job_id``'s current chunks would take
    (``rerun --dry-run``: registered with :func:`pipeline.reruns.register_cost`).

    Each chunk's prompt is rebuilt exactly as ``extract_chunk`` would, and its cache key looked
    up; prompt tokens are estimated from the prompt, completion tokens from the chunk's last
    answer (else half the chunk's text).
    """
    settings = get_settings()
    job = session.get(Job, job_id)
    if job is None:
        return Cost("rules")
    options = dict(job.options or {})
    provider = str(options.get("provider") or settings.extract.provider)
    chunks = session.execute(
        select(Chunk.start, Chunk.end, Chunk.first_scene, Chunk.last_scene, Chunk.completion_tokens)
        .where(Chunk.job_id == job_id)
        .order_by(Chunk.number)
    ).all()
    if provider == "rules" or not chunks:
        return Cost(provider, chunks=len(chunks))
    text = session.scalar(select(ScriptContent.text).where(ScriptContent.job_id == job_id)) or ""
    scenes = session.scalars(select(Scene).where(Scene.job_id == job_id).order_by(Scene.number)).all()
    meta = job.meta or {}
    roster = tuple(meta.get("roster") or ())
    language = job.language or "en"
    model = Endpoint.from_settings(settings.extract, options).model
    services = llm_services(settings)
    cached = to_call = prompt_tokens = completion_tokens = 0
    for start, end, first, last, previous in chunks:
        in_chunk = [s for s in scenes if first <= s.number <= last]
        slices = slice_scenes(text[start:end], start, in_chunk)
        messages, version = build_messages(slices, roster, language)
        if (
            use_cache
            and services.cache_ttl_s > 0
            and services.cache.get(chunk_cache_key(messages, model, version))
        ):
            cached += 1
            continue
        to_call += 1
        prompt_tokens += estimate_tokens("".join(m["content"] for m in messages))
        completion_tokens += previous or estimate_tokens(text[start:end]) // 2
    return Cost(
        provider,
        chunks=len(chunks),
        llm_calls=to_call,
        from_cache=cached,
        est_prompt_tokens=prompt_tokens,
        est_completion_tokens=completion_tokens,
    )


register_cost(EXTRACT, estimate_cost)
