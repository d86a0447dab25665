"""Shared pieces of the chaos tests: worker processes, their environment, and the checks that say
nothing was lost, duplicated or half-written."""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path
from typing import Any

import redis
from sqlalchemy import Connection, Engine, func, select
from sqlalchemy.exc import DBAPIError

from models import Chunk, ExtractionRecord, Job, JobEvent, Report, Scene, Shot
from pipeline.states import STAGES, Status
from tests.conftest import EXAMPLES, REDIS_URL, ROOT

STAGE_NAMES = ("INGEST", "CHUNK", "EXTRACT", "DEDUP", "STORYBOARD", "REPORT")
SAMPLES = (EXAMPLES / "the-heist.fountain", EXAMPLES / "逆袭总裁.txt", EXAMPLES / "night-shift.fountain")
ENDED = ("COMPLETED", "FAILED", "CANCELLED")
#: The event detail the reconciler writes when it re-sends a stranded job's message.
REDRIVE_NOTE = "reconciler re-drive%"
#: The event detail of a claim that is not the stage's first (a retry or a redelivery).
RECLAIM_NOTE = "re-claimed%"
#: The event detail pipeline.middleware.RetryNotes writes for each retry dramatiq schedules.
RETRY_NOTE = "%failed, will be retried%"
#: Formats the report stage stores per job.
REPORT_FORMATS = 3


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def worker_env(database_url: str, namespace: str, broker_url: str = REDIS_URL) -> dict[str, str]:
    """The environment of a chaos worker (and submitter): the test's database and Redis namespace,
    and a reconciler fast enough to recover within seconds."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("JUBEN_")}
    env.update(
        PYTHONPATH=str(ROOT),
        JUBEN_DATABASE__URL=database_url,
        JUBEN_BROKER__URL=broker_url,
        JUBEN_BROKER__NAMESPACE=namespace,
        JUBEN_LOGGING__LEVEL="WARNING",
        JUBEN_METRICS__ENABLED="false",
        # Recover quickly: killed workers' messages come back from the reconciler, not after
        # dramatiq's 60 s heartbeat timeout.
        JUBEN_RECONCILE__INTERVAL_S="1",
        JUBEN_RECONCILE__READY_AFTER_S="3",
        JUBEN_RECONCILE__GRACE_S="1",
        JUBEN_STAGES__MAX_DEATHS="20",
        **{f"JUBEN_STAGES__{s}__TIME_LIMIT_S": "5" for s in STAGE_NAMES},
    )
    return env


class Workers:
    """Single-process worker instances (two by default), so killing one leaves the others working."""

    def __init__(self, env: dict[str, str], log_dir: Path, count: int = 2, threads: int = 4) -> None:
        self.env = env
        self.log_dir = log_dir
        self.threads = threads
        self.procs: list[subprocess.Popen[bytes]] = [self._start(i) for i in range(count)]
        self.kills = 0
        self.restarts = 0

    def _start(self, index: int) -> subprocess.Popen[bytes]:
        with (self.log_dir / f"worker-{index}.log").open("ab") as log:  # the child keeps its own copy
            return subprocess.Popen(
                [sys.executable, str(ROOT / "worker.py"), "--processes", "1", "--threads", str(self.threads)],
                env=self.env,
                cwd=ROOT,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )

    def kill_and_restart(self, index: int) -> None:
        os.killpg(self.procs[index].pid, signal.SIGKILL)
        self.procs[index].wait()
        self.kills += 1
        self.procs[index] = self._start(index)

    def restart_dead(self) -> int:
        """Start again any worker that has exited by itself (what a supervisor would do)."""
        dead = [i for i, proc in enumerate(self.procs) if proc.poll() is not None]
        for index in dead:
            self.procs[index] = self._start(index)
        self.restarts += len(dead)
        return len(dead)

    def wait_ready(self, broker_url: str, namespace: str, limit_s: float = 30) -> None:
        """Wait until every worker process has polled Redis once (dramatiq's heartbeat set)."""
        client = redis.Redis.from_url(broker_url)
        deadline = time.monotonic() + limit_s
        try:
            while client.zcard(f"{namespace}:__heartbeats__") < len(self.procs):
                assert time.monotonic() < deadline, f"workers did not start: {self.log_tail()}"
                time.sleep(0.1)
        finally:
            client.close()

    def log_tail(self, chars: int = 3000) -> str:
        return "\n".join(
            f"--- {path.name}\n{path.read_text(errors='replace')[-chars:]}"
            for path in sorted(self.log_dir.glob("worker-*.log"))
        )

    def stop(self) -> None:
        for proc in self.procs:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()


def consistent_history(events: list[tuple[str, str]]) -> bool:
    """Each event starts where the previous one ended, and every status change is a legal edge."""
    current = "NEW"
    for from_, to in events:
        if from_ != current:
            return False
        if from_ != to and from_ != "NEW" and (Status(from_), Status(to)) not in STAGES.transitions:
            return False
        current = to
    return current == "COMPLETED"


def job_histories(conn: Connection) -> dict[str, list[tuple[str, str]]]:
    """Every job's events as ``(from, to)`` pairs, in the order they were written."""
    events: dict[str, list[tuple[str, str]]] = {}
    for job_id, from_, to in conn.execute(
        select(JobEvent.job_id, JobEvent.from_status, JobEvent.to_status).order_by(JobEvent.id)
    ):
        events.setdefault(job_id, []).append((from_, to))
    return events


def duplicate_rows(conn: Connection) -> dict[str, list[Any]]:
    """Stage output rows that exist twice for one key: scenes, extraction records, shots."""
    record_key = (
        ExtractionRecord.chunk_id,
        ExtractionRecord.scene_number,
        ExtractionRecord.asset_type,
        ExtractionRecord.raw_name,
    )
    return {
        "scenes": list(
            conn.execute(
                select(Scene.job_id, Scene.number)
                .group_by(Scene.job_id, Scene.number)
                .having(func.count() > 1)
            )
        ),
        "records": list(conn.execute(select(*record_key).group_by(*record_key).having(func.count() > 1))),
        "shots": list(
            conn.execute(
                select(Shot.job_id, Shot.scene_number, Shot.number)
                .group_by(Shot.job_id, Shot.scene_number, Shot.number)
                .having(func.count() > 1)
            )
        ),
    }


def output_counts(conn: Connection) -> dict[str, tuple[int, int, int, int, int, int]]:
    """Per job: (scenes, chunks, chunks done, extraction records, shots, reports)."""

    def per_job(column: Any, *where: Any) -> dict[str, int]:
        query = select(column, func.count()).where(*where).group_by(column)
        return {job_id: int(n) for job_id, n in conn.execute(query)}

    scenes = per_job(Scene.job_id)
    chunks = per_job(Chunk.job_id)
    chunks_done = per_job(Chunk.job_id, Chunk.status == "done")
    records = per_job(ExtractionRecord.job_id)
    shots = per_job(Shot.job_id)
    reports = per_job(Report.job_id)
    return {
        job_id: (
            scenes.get(job_id, 0),
            chunks.get(job_id, 0),
            chunks_done.get(job_id, 0),
            records.get(job_id, 0),
            shots.get(job_id, 0),
            reports.get(job_id, 0),
        )
        for job_id in conn.scalars(select(Job.id))
    }


def half_written(counts: dict[str, tuple[int, int, int, int, int, int]]) -> list[str]:
    """Jobs missing some stage's output: no scenes, a chunk not done, no records or shots, or not
    every report format (json, html, csv)."""
    return [
        job_id
        for job_id, (scenes, chunks, done, records, shots, reports) in counts.items()
        if not (scenes and chunks == done and records and shots and reports == REPORT_FORMATS)
    ]


def event_count(conn: Connection, detail_like: str) -> int:
    return int(
        conn.scalar(select(func.count()).select_from(JobEvent).where(JobEvent.detail.like(detail_like))) or 0
    )


def statuses(conn: Connection) -> Counter[str]:
    return Counter(conn.scalars(select(Job.status)))


def wait_all_ended(engine: Engine, jobs: int, limit_s: float, tick: Any = None) -> float:
    """Poll until ``jobs`` jobs have ended (bounded; not a timing assertion); return the seconds taken.

    Database errors while polling (the PostgreSQL chaos test terminates this connection too) are
    retried on the next tick. ``tick`` is called once per poll.
    """
    started = time.monotonic()
    while time.monotonic() - started < limit_s:
        if tick is not None:
            tick()
        try:
            with engine.connect() as conn:
                ended = conn.scalar(select(func.count()).select_from(Job).where(Job.status.in_(ENDED)))
        except DBAPIError:
            ended = -1
        if ended == jobs:
            break
        time.sleep(0.5)
    return time.monotonic() - started
