"""The floor: a bare dramatiq chain of six actors with one PostgreSQL UPDATE per hop.

Worker side (what ``dramatiq bench.bare_chain:BROKER --processes 2 --threads 8`` imports): two
actors on their own RedisBroker (namespace ``$BENCH_BARE_NAMESPACE``) and a table ``bare_jobs``
in ``$BENCH_BARE_DATABASE_URL``, through SQLAlchemy Core on a pooled engine (the same stack as
Juben, none of its bookkeeping).

- ``bare_stage(job_id, hop, fanout)``: ``UPDATE bare_jobs SET status, hop …`` then sends hop + 1;
  hop 6 sets ``finished_at`` in the same UPDATE. With ``fanout`` > 0, hop 3 ("extract") also sets
  ``chunks_total`` and sends ``fanout`` ``bare_chunk`` messages on the "ai" queue instead.
- ``bare_chunk(job_id, fanout)``: ``UPDATE … SET chunks_done = chunks_done + 1 RETURNING
  chunks_done, chunks_total``; the one that sees done == total sends hop 4 (the fan-in).
- ``protocol_stage(job_id, hop, mode)`` (a diagnostic, not the floor): the same six hops with the
  statements of Juben's runner (``claim+finish``: the claim CAS with its event, then the finish CAS
  with its event, one autocommitted statement each) in plain SQL: what the claim/finish protocol
  itself costs, without the ORM and the stages' I/O. ``finish``: the finish alone (``ready →
  done``), one statement per hop; ``read+finish``: a plain read of the job row, then that finish
  (a claim that writes nothing: is it the write or the round trip that costs?).

Parent side: :func:`measure` makes a fresh database and namespace, starts the workers, inserts N
job rows (one transaction each, timed apart), releases their first messages at once to the idle
workers and returns a :class:`bench.support.RunResult` (measured exactly as Juben's jobs are).
"""

from __future__ import annotations

import os
import sys
import threading
import time
import uuid
from typing import Any

import dramatiq
from dramatiq.brokers.redis import RedisBroker
from sqlalchemy import create_engine, text
from sqlalchemy.engine import Engine

HOPS = 6
#: :func:`protocol_stage`'s modes, with what each measures.
MODES = {
    "claim+finish": "2 statements per hop (claim and finish, each with its event, each its own "
    "transaction): the runner protocol's own cost",
    "finish": "1 statement per hop (the finish, ready -> done, with its event): what a protocol "
    "without a separate claim would cost",
    "read+finish": "a plain read of the job row, then that finish, each on its own connection: a "
    "claim that writes nothing",
}
STATUSES = ("INGESTED", "CHUNKED", "EXTRACTED", "DEDUPED", "STORYBOARDED", "COMPLETED")
SCHEMA = """
CREATE TABLE bare_jobs (
    id varchar(32) PRIMARY KEY,
    status varchar(20) NOT NULL,
    hop integer NOT NULL DEFAULT 0,
    chunks_total integer NOT NULL DEFAULT 0,
    chunks_done integer NOT NULL DEFAULT 0,
    deliveries integer NOT NULL DEFAULT 0,
    created_at timestamptz NOT NULL DEFAULT clock_timestamp(),
    updated_at timestamptz NOT NULL DEFAULT clock_timestamp(),
    stage_started_at timestamptz,
    finished_at timestamptz
);
CREATE TABLE bare_events (
    id bigserial PRIMARY KEY,
    job_id varchar(32) NOT NULL REFERENCES bare_jobs (id),
    from_status varchar(20) NOT NULL,
    to_status varchar(20) NOT NULL,
    at timestamptz NOT NULL DEFAULT clock_timestamp(),
    duration_s float8
);
CREATE INDEX ix_bare_events_job_id_id ON bare_events (job_id, id)
"""

BROKER = RedisBroker(
    url=os.environ.get("BENCH_BARE_REDIS_URL", "redis://127.0.0.1:6379/0"),
    namespace=os.environ.get("BENCH_BARE_NAMESPACE", "juben-bench-bare"),
)
BROKER.declare_queue("default")
BROKER.declare_queue("ai")

_engines: dict[str, Engine] = {}
_lock = threading.Lock()


def engine(isolation_level: str = "READ COMMITTED") -> Engine:
    """This process's engine for ``isolation_level``, made on first use (after dramatiq forked the
    worker process); ``"AUTOCOMMIT"``: every statement its own transaction, as Juben's claims."""
    with _lock:
        made = _engines.get(isolation_level)
        if made is None:
            made = _engines[isolation_level] = create_engine(
                os.environ["BENCH_BARE_DATABASE_URL"],
                pool_size=10,
                max_overflow=10,
                isolation_level=isolation_level,
            )
        return made


def _send(actor: str, queue: str, *args: Any) -> None:
    BROKER.enqueue(dramatiq.Message(queue_name=queue, actor_name=actor, args=args, kwargs={}, options={}))


@dramatiq.actor(broker=BROKER, queue_name="default", max_retries=3)
def bare_stage(job_id: str, hop: int, fanout: int) -> None:
    """Hop ``hop`` (1-6) of one job: one UPDATE, then the next message."""
    fan = fanout if hop == 3 and fanout > 0 else 0
    with engine().begin() as conn:
        conn.execute(
            text(
                "UPDATE bare_jobs SET status = :status, hop = :hop, updated_at = clock_timestamp(),"
                " chunks_total = CASE WHEN :fan > 0 THEN :fan ELSE chunks_total END,"
                " finished_at = CASE WHEN :hop = :last THEN clock_timestamp() END WHERE id = :id"
            ),
            {"status": STATUSES[hop - 1], "hop": hop, "fan": fan, "last": HOPS, "id": job_id},
        )
    if fan:
        for _ in range(fan):
            _send("bare_chunk", "ai", job_id, fanout)
    elif hop < HOPS:
        _send("bare_stage", "default", job_id, hop + 1, fanout)


@dramatiq.actor(broker=BROKER, queue_name="default", max_retries=3)
def protocol_stage(job_id: str, hop: int, mode: str = "claim+finish") -> None:
    """Hop ``hop`` with Juben's runner protocol in plain SQL, and no stage work.

    As ``pipeline.runner.run_stage`` runs it on PostgreSQL: the claim (CAS ready → running
    ``RETURNING *`` with its event row as a CTE) and the finish (CAS running → done with its event
    row) are one statement each, each its own transaction (autocommit), without the ORM and
    without a stage's own reads and rows (Juben's also prepares its statements; these are text).
    ``mode="finish"``: the finish alone, ``ready → done``; ``"read+finish"``: a read of the job
    row first, each statement on its own connection checkout as Juben's two units of work are.
    """
    ready = "PENDING" if hop == 1 else STATUSES[hop - 2]
    claim = mode == "claim+finish"
    running, done = (f"RUNNING_{hop}" if claim else ready), STATUSES[hop - 1]
    if mode != "finish":
        with engine("AUTOCOMMIT").connect() as conn:
            if claim:
                found = _claim(conn, job_id, ready, running)
            else:
                row = conn.execute(
                    text("SELECT * FROM bare_jobs WHERE id = :id AND status = :ready"),
                    {"id": job_id, "ready": ready},
                ).one_or_none()
                found = row is not None
            if not found:
                return
    with engine("AUTOCOMMIT").connect() as conn:
        conn.execute(
            text(
                "WITH moved AS (UPDATE bare_jobs SET status = :done, hop = :hop, deliveries = 0,"
                " updated_at = clock_timestamp(),"
                " finished_at = CASE WHEN :hop = :last THEN clock_timestamp() END"
                " WHERE id = :id AND status = :running RETURNING id, stage_started_at),"
                " recorded AS (INSERT INTO bare_events (job_id, from_status, to_status, duration_s)"
                " SELECT id, :running, :done, extract(epoch FROM clock_timestamp() - stage_started_at) FROM moved)"
                " SELECT id FROM moved"
            ),
            {"id": job_id, "running": running, "done": done, "hop": hop, "last": HOPS},
        ).one_or_none()
    if hop < HOPS:
        _send("protocol_stage", "default", job_id, hop + 1, mode)


def _claim(conn: Any, job_id: str, ready: str, running: str) -> bool:
    """Juben's claim: CAS ready (or running, re-claimed) → running ``RETURNING *``, with its event."""
    claimed = conn.execute(
        text(
            "WITH moved AS (UPDATE bare_jobs SET status = :running, updated_at = clock_timestamp(),"
            " deliveries = CASE WHEN status = :running THEN deliveries + 1 ELSE 1 END,"
            " stage_started_at = clock_timestamp()"
            " WHERE id = :id AND status IN (:ready, :running) RETURNING *),"
            " recorded AS (INSERT INTO bare_events (job_id, from_status, to_status)"
            " SELECT id, :ready, :running FROM moved)"
            " SELECT * FROM moved"
        ),
        {"id": job_id, "ready": ready, "running": running},
    ).one_or_none()
    return claimed is not None


@dramatiq.actor(broker=BROKER, queue_name="ai", max_retries=3)
def bare_chunk(job_id: str, fanout: int) -> None:
    """One fanned-out chunk: bump the counter; the last one sends hop 4."""
    with engine().begin() as conn:
        done, total = conn.execute(
            text(
                "UPDATE bare_jobs SET chunks_done = chunks_done + 1, updated_at = clock_timestamp()"
                " WHERE id = :id RETURNING chunks_done, chunks_total"
            ),
            {"id": job_id},
        ).one()
    if done == total:
        _send("bare_stage", "default", job_id, 4, fanout)


# --- parent side -------------------------------------------------------------------------------------


def measure(
    jobs: int,
    *,
    fanout: int = 0,
    protocol: str | None = None,
    processes: int = 2,
    threads: int = 8,
    timeout_s: float = 600,
) -> Any:
    """Run ``jobs`` bare jobs through ``processes`` × ``threads`` worker processes in a fresh sandbox.

    ``protocol`` (one of :data:`MODES`) runs :func:`protocol_stage` in that mode (``claim+finish``:
    Juben's claim/finish statements per hop) instead of :func:`bare_stage` (one UPDATE per hop);
    it has no fan-out.

    Returns:
        A :class:`bench.support.RunResult` (hops: 6 per job plus ``fanout`` chunk messages).
    """
    from bench.support import REDIS_URL, RunResult, Sandbox, release

    with Sandbox(migrate=False) as box:
        with box.engine.begin() as conn:
            conn.execute(text(SCHEMA))
        env = box.worker_env(
            {
                "BENCH_BARE_DATABASE_URL": box.url,
                "BENCH_BARE_NAMESPACE": box.namespace,
                "BENCH_BARE_REDIS_URL": REDIS_URL,
                # Juben's worker.py sets the same idle poll (broker.worker_timeout_ms = 100).
                "dramatiq_worker_timeout": "100",
            }
        )
        workers = box.workers(
            [sys.executable, "-m", "dramatiq", "bench.bare_chain:BROKER"],
            processes=processes,
            threads=threads,
            env=env,
            name="bare",
        )
        ids = [uuid.uuid4().hex for _ in range(jobs)]
        submit_start = time.perf_counter()
        for job_id in ids:  # one transaction per job, as a submit API would
            with box.engine.begin() as conn:
                conn.execute(
                    text("INSERT INTO bare_jobs (id, status) VALUES (:id, 'PENDING')"), {"id": job_id}
                )
        submit_s = time.perf_counter() - submit_start
        if protocol is not None and protocol not in MODES:
            raise ValueError(f"unknown protocol {protocol!r}")
        actor, args = ("protocol_stage", (1, protocol)) if protocol else ("bare_stage", (1, fanout))
        messages = [
            dramatiq.Message(
                queue_name="default", actor_name=actor, args=(job_id, *args), kwargs={}, options={}
            )
            for job_id in ids
        ]
        window, sent = release(
            workers, box.engine, box.namespace, messages, jobs, table="bare_jobs", timeout_s=timeout_s
        )
        with box.engine.connect() as conn:
            end, failed = conn.execute(
                text(
                    "SELECT extract(epoch FROM max(finished_at)),"
                    " count(*) FILTER (WHERE status <> 'COMPLETED') FROM bare_jobs"
                )
            ).one()
    return RunResult(
        jobs=jobs,
        elapsed_s=float(end) - window.start,
        submit_s=submit_s,
        hops=(HOPS + fanout) * jobs,
        cpu_s=window.cpu_s,
        pg_cpu_s=window.pg_cpu_s,
        failed=int(failed),
        steal=window.steal,
        busy=window.busy,
        other=window.other,
        redis_cpu_s=window.redis_cpu_s,
        chunks=fanout * jobs,
        extra={"release_s": round(sent, 3), "submit_per_s": round(jobs / submit_s, 1)},
    )


if __name__ == "__main__":
    result = measure(int(sys.argv[1]) if len(sys.argv) > 1 else 100)
    print(result.as_dict())
