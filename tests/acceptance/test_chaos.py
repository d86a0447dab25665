"""Chaos: worker processes SIGKILLed mid-stage and restarted while 100 jobs run. Nothing is lost,
nothing is duplicated, and every job's events tell a consistent story.

Bounded: the kills stop after a fixed number, and the whole test gives up after a few minutes.
"""

from __future__ import annotations

import contextlib
import os
import random
import signal
import subprocess
import sys
import threading
import time
from collections import Counter

import pytest
from sqlalchemy import create_engine, func, select

from models import Chunk, ExtractionRecord, Job, JobEvent, Scene, Shot
from pipeline.states import TRANSITIONS, Status
from tests.conftest import EXAMPLES, REDIS_URL, ROOT

pytestmark = pytest.mark.slow

JOBS = int(os.environ.get("CHAOS_JOBS", "100"))
KILLS = 6
KILL_EVERY_S = 2.5


def _env(database_url: str, namespace: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("JUBEN_")}
    env.update(
        PYTHONPATH=str(ROOT),
        JUBEN_DATABASE__URL=database_url,
        JUBEN_BROKER__URL=REDIS_URL,
        JUBEN_BROKER__NAMESPACE=namespace,
        JUBEN_LOGGING__LEVEL="WARNING",
        JUBEN_METRICS__ENABLED="false",
        # Recover quickly: killed workers' messages come back from the reconciler, not after
        # dramatiq's 60 s heartbeat timeout.
        JUBEN_RECONCILE__INTERVAL_S="1",
        JUBEN_RECONCILE__READY_AFTER_S="3",
        JUBEN_RECONCILE__GRACE_S="1",
        JUBEN_STAGES__MAX_DEATHS="20",
        **{
            f"JUBEN_STAGES__{s}__TIME_LIMIT_S": "5"
            for s in ("INGEST", "CHUNK", "EXTRACT", "DEDUP", "STORYBOARD", "REPORT")
        },
    )
    return env


class Workers:
    """Two single-process worker instances, so killing one leaves the other working."""

    def __init__(self, env: dict[str, str], log_dir) -> None:
        self.env = env
        self.log_dir = log_dir
        self.procs: list[subprocess.Popen[bytes]] = [self._start(i) for i in range(2)]
        self.kills = 0

    def _start(self, index: int) -> subprocess.Popen[bytes]:
        with (self.log_dir / f"worker-{index}.log").open("ab") as log:  # the child keeps its own copy
            return subprocess.Popen(
                [sys.executable, str(ROOT / "worker.py"), "--processes", "1", "--threads", "4"],
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

    def stop(self) -> None:
        for proc in self.procs:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()


def _consistent(events: list[tuple[str, str]]) -> bool:
    """Each event starts where the previous one ended, and every status change is a legal edge."""
    current = "NEW"
    for from_, to in events:
        if from_ != current:
            return False
        if from_ != to and from_ != "NEW" and (Status(from_), Status(to)) not in TRANSITIONS:
            return False
        current = to
    return current == "COMPLETED"


def test_killed_workers_lose_and_duplicate_nothing(pg_database, redis_namespace, tmp_path):
    """100 jobs, workers SIGKILLed every few seconds: all COMPLETED, no duplicate rows, consistent events."""
    env = _env(pg_database, redis_namespace)
    os.environ.update({k: v for k, v in env.items() if k.startswith("JUBEN_")})
    from pipeline import jobs
    from pipeline.broker import setup_broker
    from pipeline.settings import load_settings, set_settings

    settings = load_settings()
    set_settings(settings)
    setup_broker(settings, stub=False)
    workers = Workers(env, tmp_path)
    samples = [EXAMPLES / "the-heist.fountain", EXAMPLES / "逆袭总裁.txt", EXAMPLES / "night-shift.fountain"]
    stop = threading.Event()
    engine = create_engine(pg_database)

    def chaos() -> None:
        rng = random.Random(7)
        while workers.kills < KILLS and not stop.wait(KILL_EVERY_S):
            workers.kill_and_restart(rng.randrange(2))

    try:
        time.sleep(2)
        job_ids = [jobs.submit([samples[i % len(samples)]], project=f"chaos-{i % 5}") for i in range(JOBS)]
        killer = threading.Thread(target=chaos)
        killer.start()
        started = time.monotonic()
        deadline = started + 240
        while time.monotonic() < deadline:
            with engine.connect() as conn:
                done = conn.scalar(
                    select(func.count()).select_from(Job).where(Job.status.in_(["COMPLETED", "FAILED"]))
                )
            if done == JOBS:
                break
            time.sleep(1)
        recovered_s = time.monotonic() - started
        stop.set()
        killer.join()
    finally:
        stop.set()
        workers.stop()
        for key in [k for k in os.environ if k.startswith("JUBEN_")]:
            del os.environ[key]
        set_settings(None)

    with engine.connect() as conn:
        statuses = Counter(conn.scalars(select(Job.status)))
        dup_scenes = conn.execute(
            select(Scene.job_id, Scene.number).group_by(Scene.job_id, Scene.number).having(func.count() > 1)
        ).all()
        dup_records = conn.execute(
            select(
                ExtractionRecord.chunk_id,
                ExtractionRecord.scene_number,
                ExtractionRecord.asset_type,
                ExtractionRecord.raw_name,
            )
            .group_by(
                ExtractionRecord.chunk_id,
                ExtractionRecord.scene_number,
                ExtractionRecord.asset_type,
                ExtractionRecord.raw_name,
            )
            .having(func.count() > 1)
        ).all()
        dup_shots = conn.execute(
            select(Shot.job_id, Shot.scene_number, Shot.number)
            .group_by(Shot.job_id, Shot.scene_number, Shot.number)
            .having(func.count() > 1)
        ).all()
        failures = Counter(conn.scalars(select(Job.error).where(Job.status == "FAILED")))
        chunks_not_done = conn.scalar(select(func.count()).select_from(Chunk).where(Chunk.status != "done"))
        events: dict[str, list[tuple[str, str]]] = {}
        for job_id, from_, to in conn.execute(
            select(JobEvent.job_id, JobEvent.from_status, JobEvent.to_status).order_by(JobEvent.id)
        ):
            events.setdefault(job_id, []).append((from_, to))
    engine.dispose()
    print(
        f"chaos: {JOBS} jobs, {workers.kills} SIGKILLs, all done after {recovered_s:.1f}s, statuses {dict(statuses)}"
    )
    print(f"failures: {dict(failures)}")

    assert {"COMPLETED": JOBS} == dict(statuses)
    assert KILLS == workers.kills
    assert ([], [], []) == (dup_scenes, dup_records, dup_shots)
    assert 0 == chunks_not_done
    assert [] == [job_id for job_id in job_ids if not _consistent(events[job_id])]
