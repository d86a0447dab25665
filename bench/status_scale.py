"""Scenario 5, status queries at scale: ``get_status`` and ``list_jobs(status="FAILED")`` with 100k
jobs and 3M chunks in the database.

    python -m bench --only status [--quick]

A fresh, migrated database is filled in SQL (``INSERT … SELECT generate_series``, every NOT NULL
column of ``models`` given): 100 projects; N jobs over the last weeks (5% FAILED, 1% CANCELLED,
the newest 30 EXTRACTING, the rest COMPLETED; a third on the "openai" provider); 30 chunks per
job (LLM token counts on the openai jobs' chunks); the job_events a run leaves (13 per completed
job, 7 per failed one), ids in time order. Then ``VACUUM ANALYZE`` (the state autovacuum keeps) and a ``CHECKPOINT``.

Timed in-process, 500 samples each, after 20 warm-up calls:

- ``get_status(job_id)`` for random ids, with the ETA cache warm (a long-lived API process);
- the same with the ETA cache emptied before each call (what every ``enqueue.py status`` pays:
  a fresh process);
- ``list_jobs(status="FAILED")``, first page (``enqueue.py jobs --status FAILED``);
- ``list_jobs()``, first page.

p50/p99 of the call and of the SQL inside it (cursor time, from SQLAlchemy's cursor events).
Every SQL statement of one call of each is run again under ``EXPLAIN (ANALYZE, BUFFERS)`` and
saved to ``bench/results/explain-<query>-<size>.txt``. Target: p99 < 5 ms. Quick: 10k jobs /
300k chunks; full: 100k / 3M.
"""

from __future__ import annotations

import os
import random
import time
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import event, text

from bench.support import RESULTS, CpuClock, Sandbox, backend_cpu, percentile, row

NAME = "status"
SAMPLES = 500
WARMUP = 20
CHUNKS_PER_JOB = 30
PROJECTS = 100
TARGET_P99_MS = 5.0

POPULATE = [
    """
    INSERT INTO projects (tenant_id, name, created_at)
    SELECT (SELECT id FROM tenants WHERE name = 'default'), 'bench-project-' || p, now() - interval '90 days'
    FROM generate_series(1, :projects) p
    """,
    """
    INSERT INTO jobs (id, project_id, tenant_id, title, status, run, idempotency_key, language, chunks_total, chunks_done,
                      failed_stage, error, deliveries, options, meta, stats, created_at, updated_at,
                      stage_started_at, finished_at)
    SELECT md5('bench-job-' || g), p.first_id + g % :projects, p.tenant_id, 'Script ' || g, s.status, 1, NULL,
           CASE WHEN g % 2 = 0 THEN 'en' ELSE 'zh' END,
           :cpj, CASE WHEN s.status = 'COMPLETED' THEN :cpj ELSE :cpj / 2 END,
           CASE WHEN s.status IN ('FAILED', 'CANCELLED') THEN 'extract' END,
           CASE WHEN s.status = 'FAILED' THEN 'TransientError: the LLM endpoint timed out (6 attempts)' END,
           0,
           jsonb_build_object('provider', CASE WHEN g % 3 = 0 THEN 'openai' ELSE 'rules' END,
                              'max_chunk_chars', 6000),
           jsonb_build_object('files', jsonb_build_array('script-' || g || '.txt')),
           CASE WHEN s.status = 'COMPLETED'
                THEN '{"scenes": 90, "characters": 24, "locations": 31, "props": 57, "shots": 410}'::jsonb
                ELSE '{}'::jsonb END,
           t.created, t.created + interval '40 seconds', t.created + interval '6 seconds',
           CASE WHEN s.status <> 'EXTRACTING' THEN t.created + interval '40 seconds' END
    FROM generate_series(1, :jobs) g
    CROSS JOIN (SELECT min(id) AS first_id, min(tenant_id) AS tenant_id FROM projects) p
    CROSS JOIN LATERAL (SELECT now() - (:jobs - g) * interval '20 seconds' AS created) t
    CROSS JOIN LATERAL (
        SELECT CASE WHEN g > :jobs - 30 THEN 'EXTRACTING'
                    WHEN g % 20 = 7 THEN 'FAILED'
                    WHEN g % 101 = 3 THEN 'CANCELLED'
                    ELSE 'COMPLETED' END AS status
    ) s
    """,
    """
    INSERT INTO chunks (job_id, number, start, "end", first_scene, last_scene, content_hash, status, attempts,
                        provider, prompt_tokens, completion_tokens, cached, calls, latency_ms, error, raw_answer)
    SELECT j.id, n, (n - 1) * 6000, n * 6000, 3 * n - 2, 3 * n, md5(j.id || ':' || n) || md5(n || ':' || j.id),
           CASE WHEN n <= j.chunks_done THEN 'done' ELSE 'pending' END, 1,
           j.options ->> 'provider',
           CASE WHEN j.options ->> 'provider' = 'openai' THEN 3400 + n ELSE 0 END,
           CASE WHEN j.options ->> 'provider' = 'openai' THEN 850 + n ELSE 0 END,
           n % 7 = 0,
           CASE WHEN j.options ->> 'provider' = 'openai' AND n % 7 <> 0 THEN 1 ELSE 0 END,
           CASE WHEN j.options ->> 'provider' = 'openai' THEN 1800 + 10 * n END,
           NULL, NULL
    FROM jobs j CROSS JOIN generate_series(1, :cpj) n
    """,
    """
    INSERT INTO job_events (job_id, run, from_status, to_status, at, message_id, attempt, duration_s, units, detail)
    SELECT job_id, 1, from_status, to_status, at, message_id, attempt, duration_s, units, detail FROM (
        SELECT j.id AS job_id, e.from_status, e.to_status, j.created_at + e.seq * interval '3 seconds' AS at,
               CASE WHEN e.seq > 1 THEN md5(j.id || e.seq) END AS message_id,
               CASE WHEN e.seq > 1 THEN 0 END AS attempt,
               e.duration_s, CASE WHEN e.to_status = 'EXTRACTED' THEN j.chunks_total END AS units,
               NULL AS detail
        FROM jobs j
        CROSS JOIN (VALUES
            (1, 'NEW', 'PENDING', NULL::float8), (2, 'PENDING', 'INGESTING', NULL),
            (3, 'INGESTING', 'INGESTED', 0.04), (4, 'INGESTED', 'CHUNKING', NULL),
            (5, 'CHUNKING', 'CHUNKED', 0.06), (6, 'CHUNKED', 'EXTRACTING', NULL),
            (7, 'EXTRACTING', 'EXTRACTED', 12.5), (8, 'EXTRACTED', 'DEDUPING', NULL),
            (9, 'DEDUPING', 'DEDUPED', 0.4), (10, 'DEDUPED', 'STORYBOARDING', NULL),
            (11, 'STORYBOARDING', 'STORYBOARDED', 0.9), (12, 'STORYBOARDED', 'REPORTING', NULL),
            (13, 'REPORTING', 'COMPLETED', 0.5)
        ) AS e(seq, from_status, to_status, duration_s)
        WHERE j.status = 'COMPLETED' OR e.seq <= 6
        UNION ALL
        SELECT j.id, 'EXTRACTING', j.status, j.finished_at, md5(j.id || 'end'), 5, NULL, NULL,
               CASE WHEN j.status = 'FAILED' THEN j.error ELSE 'cancelled by operator' END
        FROM jobs j WHERE j.status IN ('FAILED', 'CANCELLED')
    ) events
    ORDER BY at  -- ids follow time, as when workers write them
    """,
]


def populate(box: Sandbox, jobs: int) -> dict[str, Any]:
    """Fill the sandbox's database; return row counts and seconds."""
    start = time.perf_counter()
    params = {"projects": PROJECTS, "jobs": jobs, "cpj": CHUNKS_PER_JOB}
    with box.engine.begin() as conn:
        for statement in POPULATE:
            conn.execute(text(statement), {k: v for k, v in params.items() if f":{k}" in statement})
    filled = time.perf_counter() - start
    with box.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
        conn.execute(text("VACUUM ANALYZE"))
        # Write the bulk load's dirty pages out now rather than by the checkpointer while the
        # samples run: a live database does not take 3M rows in the minute before a status call.
        conn.execute(text("CHECKPOINT"))
    with box.engine.connect() as conn:
        counts = {
            table: conn.scalar(text(f"SELECT count(*) FROM {table}"))
            for table in ("projects", "jobs", "chunks", "job_events")
        }
        counts["failed_jobs"] = conn.scalar(text("SELECT count(*) FROM jobs WHERE status = 'FAILED'"))
        size = conn.scalar(text("SELECT pg_size_pretty(pg_database_size(current_database()))"))
    return {
        **counts,
        "insert_s": round(filled, 1),
        "total_s": round(time.perf_counter() - start, 1),
        "size": size,
    }


class SqlTimer:
    """Cursor time and statements of the pipeline's engine, per measured call."""

    def __init__(self, engine: Any) -> None:
        self.engine = engine
        self.seconds = 0.0
        self.statements: list[tuple[str, Any]] = []
        self._started: list[float] = []
        event.listen(engine, "before_cursor_execute", self._before)
        event.listen(engine, "after_cursor_execute", self._after)

    def _before(
        self, conn: Any, cursor: Any, statement: str, parameters: Any, context: Any, many: bool
    ) -> None:
        self._started.append(time.perf_counter())
        self.statements.append((statement, parameters))

    def _after(
        self, conn: Any, cursor: Any, statement: str, parameters: Any, context: Any, many: bool
    ) -> None:
        self.seconds += time.perf_counter() - self._started.pop()

    def reset(self) -> None:
        self.seconds = 0.0
        self.statements = []

    def close(self) -> None:
        event.remove(self.engine, "before_cursor_execute", self._before)
        event.remove(self.engine, "after_cursor_execute", self._after)


def sample(call: Callable[[], object], timer: SqlTimer, n: int) -> tuple[list[float], list[float], int]:
    """Time ``n`` calls: (call ms, SQL ms, statements in the last call)."""
    calls, sql = [], []
    statements = 0
    for _ in range(n):
        timer.reset()
        start = time.perf_counter()
        call()
        calls.append(1000 * (time.perf_counter() - start))
        sql.append(1000 * timer.seconds)
        statements = len(timer.statements)
    return calls, sql, statements


def explain(engine: Any, statements: list[tuple[str, Any]], title: str, path: Any) -> list[str]:
    """Run each statement under EXPLAIN (ANALYZE, BUFFERS), write the plans to ``path``.

    Returns:
        The first line (the top node, with its actual time) of each plan.
    """
    lines = [f"# {title}", f"# {datetime.now(UTC).isoformat(timespec='seconds')}", ""]
    tops = []
    raw = engine.raw_connection()
    try:
        cursor = raw.cursor()
        for n, (statement, parameters) in enumerate(statements, 1):
            cursor.execute("EXPLAIN (ANALYZE, BUFFERS) " + statement, parameters)
            plan = [r[0] for r in cursor.fetchall()]
            tops.append(plan[0])
            lines += [f"## statement {n}", statement.strip(), f"-- parameters: {parameters!r}", "", *plan, ""]
        raw.rollback()
    finally:
        raw.close()
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return tops


def run(quick: bool) -> list[dict[str, Any]]:
    jobs = 10_000 if quick else 100_000
    label = f"{jobs // 1000}k"
    rows = []
    with Sandbox() as box:
        filled = populate(box, jobs)
        rows.append(
            row(
                NAME,
                f"populate {jobs:,} jobs / {jobs * CHUNKS_PER_JOB:,} chunks",
                filled["total_s"],
                "s",
                **filled,
            )
        )
        box.activate(stub=True)
        import pipeline.jobs as api
        from pipeline.db import get_engine

        engine = get_engine()
        with box.engine.connect() as conn:
            ids = list(conn.scalars(text("SELECT id FROM jobs")))
        rng = random.Random(6)

        def status_warm() -> object:
            return api.get_status(rng.choice(ids))

        def status_cold() -> object:
            api._times_cache = (0.0, {})
            return api.get_status(rng.choice(ids))

        queries: list[tuple[str, str, Callable[[], object], bool]] = [
            ("get_status", "status (ETA cache warm)", status_warm, True),
            ("get_status_cold", "status (fresh process: ETA cache cold)", status_cold, True),
            (
                "list_jobs_failed",
                "jobs --status FAILED (first page)",
                lambda: api.list_jobs(status="FAILED"),
                True,
            ),
            ("list_jobs", "jobs (first page)", api.list_jobs, False),
        ]
        timer = SqlTimer(engine)
        try:
            for key, title, call, targeted in queries:
                for _ in range(WARMUP):
                    call()
                clock, pg, mine, began = (
                    CpuClock(),
                    backend_cpu(box.database),
                    time.process_time(),
                    time.time(),
                )
                calls, sql, statements = sample(call, timer, SAMPLES)
                ours = (
                    time.process_time()
                    - mine
                    + sum(cpu - pg.get(pid, 0.0) for pid, cpu in backend_cpu(box.database).items())
                )
                _, busy, busy_s = clock.shares()
                other = max(0.0, busy_s - ours) / ((os.cpu_count() or 1) * (time.time() - began))
                p50, p99 = percentile(calls, 50), percentile(calls, 99)
                timer.reset()
                api._times_cache = (0.0, {})  # so the saved status plans include the ETA queries
                call()
                path = RESULTS / f"explain-{key.removesuffix('_cold')}-{label}.txt"
                tops = explain(engine, list(timer.statements), f"{title} at {jobs:,} jobs", path)
                extra = {
                    "sql_p50_ms": round(percentile(sql, 50), 3),
                    "sql_p99_ms": round(percentile(sql, 99), 3),
                    "max_ms": round(max(calls), 3),
                    "statements": statements,
                    "host_busy": round(busy, 3),
                    "host_other": round(other, 3),
                    "explain_file": str(path.relative_to(RESULTS.parent.parent)),
                    "plan_tops": tops,
                }
                rows.append(row(NAME, f"{title} p50", round(p50, 3), "ms", **extra))
                rows.append(
                    row(NAME, f"{title} p99", round(p99, 3), "ms",
                        target=f"< {TARGET_P99_MS:g} ms" if targeted else None,
                        ok=p99 < TARGET_P99_MS if targeted else None,
                        note=f"SQL p99 {extra['sql_p99_ms']} ms of it, {statements} statements; "
                        f"{100 * other:.0f}% of the host's CPU busy with other work meanwhile")
                )  # fmt: skip
        finally:
            timer.close()
    return rows
