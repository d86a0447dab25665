"""Status queries on real PostgreSQL: the one-statement ETA query matches the per-stage definition,
uses the partial index whatever the event order, and `jobs` reads only the summary columns."""

from __future__ import annotations

import random
from collections.abc import Iterator

import pytest
from sqlalchemy import create_engine, event, insert, select, text
from sqlalchemy.orm import Session

import pipeline.jobs as api
from models import Chunk, Job, JobEvent, Project, Tenant
from pipeline.db import read_engine, session_factory
from pipeline.jobs import DEFAULT_TENANT
from pipeline.settings import Settings
from pipeline.states import STAGES, Status
from pipeline.usage import job_usage

DONE = [spec.done.value for spec in STAGES]
ALL_STATUSES = [s.value for s in Status]


def _reference_stage_times(session: Session) -> dict[str, float]:
    """`stage_times` as it was defined before the one-statement query (six queries)."""
    times: dict[str, float] = {}
    for spec in STAGES:
        rows = session.execute(
            select(JobEvent.duration_s, JobEvent.units)
            .where(JobEvent.to_status == spec.done.value, JobEvent.duration_s.is_not(None))
            .order_by(JobEvent.id.desc())
            .limit(api.ETA_HISTORY)
        ).all()
        if not rows:
            continue
        total = sum(r.duration_s for r in rows)
        units = sum((r.units or 1) for r in rows) if spec.name == "extract" else len(rows)
        times[spec.name] = total / max(units, 1)
    return times


def _fill(session: Session, rng: random.Random, events: int, *, dyadic: bool = False) -> None:
    """Jobs and ``events`` job_events rows: ids shuffled against insertion order, every status,
    NULL durations, NULL/0/many units, one stage with fewer events than the history, one with none."""
    tenant_id = session.scalars(select(Tenant.id).where(Tenant.name == DEFAULT_TENANT)).one()
    project = Project(tenant_id=tenant_id, name=f"status-{rng.random()}")
    session.add(project)
    session.flush()
    job_ids = []
    for n in range(5):
        job = Job(project_id=project.id, tenant_id=tenant_id, title=f"job {n}", status=Status.COMPLETED.value)
        session.add(job)
        session.flush()
        job_ids.append(job.id)
    ids = list(range(1, events + 1))
    rng.shuffle(ids)
    rows = []
    for n, event_id in enumerate(ids):
        if n < 7:
            to = Status.STORYBOARDED.value  # 7 < ETA_HISTORY events for storyboard
        else:  # no COMPLETED events: report has no history, so no figure
            to = rng.choice([s for s in ALL_STATUSES if s not in (Status.STORYBOARDED.value, "COMPLETED")])
        timed = to in DONE and rng.random() < 0.8
        if dyadic:
            duration = rng.randint(1, 64) / 4 if timed else None
        else:
            duration = rng.uniform(0.001, 30.0) if timed else None
        units = rng.choice([None, 0, 1, 7, 30]) if to == Status.EXTRACTED.value else None
        rows.append(
            {
                "id": event_id,
                "job_id": rng.choice(job_ids),
                "run": 1,
                "from_status": "NEW",
                "to_status": to,
                "duration_s": duration,
                "units": units,
            }
        )
    session.execute(insert(JobEvent), rows)
    session.flush()


@pytest.fixture
def session(pg_settings: Settings) -> Iterator[Session]:
    with session_factory(pg_settings)() as s:
        yield s


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_one_statement_gives_the_per_stage_averages(session, seed):
    """The unnest + LATERAL query gives every stage's average of its last 20 timed events, as the
    six per-stage queries did (extract per chunk, NULL/0 units counting 1; no history, no figure)."""
    _fill(session, random.Random(seed), 600)

    reference = _reference_stage_times(session)
    one = api._stage_times_one_query(session)

    assert {"ingest", "chunk", "extract", "dedup", "storyboard"} == set(reference)
    assert list(reference) == list(one)
    assert pytest.approx(reference, rel=1e-12, abs=0) == one


def test_one_statement_is_exact_when_sums_are_exact(session):
    """With durations whose sums round in no order (quarters), the figures are equal bit for bit."""
    _fill(session, random.Random(9), 400, dyadic=True)

    assert _reference_stage_times(session) == api._stage_times_one_query(session)


def test_no_events_no_figures(session):
    """An empty history gives no ETA figures at all."""
    assert {} == api._stage_times_one_query(session)


def test_status_reads_eta_history_in_one_statement(pg_settings, session):
    """A cold `stage_times` on PostgreSQL is one statement, cached afterwards."""
    _fill(session, random.Random(4), 300)
    session.commit()
    reference = _reference_stage_times(session)
    engine = session.get_bind()
    statements: list[str] = []

    def count(conn, cursor, statement, parameters, context, executemany):
        statements.append(statement)

    event.listen(engine, "before_cursor_execute", count)
    api._times_cache = (0.0, {})
    try:
        with session_factory(pg_settings)() as fresh:
            first = api.stage_times(fresh)
            second = api.stage_times(fresh)
    finally:
        event.remove(engine, "before_cursor_execute", count)
        api._times_cache = (0.0, {})

    assert 1 == len(statements)
    assert "LATERAL" in statements[0]
    assert pytest.approx(reference, rel=1e-12, abs=0) == first
    assert first is second


#: Events as workers write them (ids in time order): every stage of ``:jobs`` completed jobs, then
#: ``:failed`` newer jobs that failed in extract (an outage), so later stages' history lies far back.
_HISTORY_THEN_OUTAGE = [
    "INSERT INTO projects (tenant_id, name, created_at) SELECT id, 'plan', now() FROM tenants WHERE name = 'default'",
    """
    INSERT INTO jobs (id, project_id, tenant_id, status, run, chunks_total, chunks_done, deliveries, options, meta, stats,
                      created_at, updated_at)
    SELECT md5('plan-' || g), (SELECT id FROM projects WHERE name = 'plan'),
           (SELECT tenant_id FROM projects WHERE name = 'plan'),
           CASE WHEN g <= :jobs THEN 'COMPLETED' ELSE 'FAILED' END, 1, 3, 3, 0, '{}', '{}', '{}',
           now() - (:jobs + :failed - g) * interval '1 minute', now()
    FROM generate_series(1, :jobs + :failed) g
    """,
    """
    INSERT INTO job_events (job_id, run, from_status, to_status, at, duration_s, units)
    SELECT j.id, 1, e.from_status, e.to_status, j.created_at + e.seq * interval '1 second', e.duration_s,
           CASE WHEN e.to_status = 'EXTRACTED' THEN 3 END
    FROM jobs j
    CROSS JOIN (VALUES
        (1, 'NEW', 'PENDING', NULL::float8), (2, 'PENDING', 'INGESTING', NULL), (3, 'INGESTING', 'INGESTED', 0.04),
        (4, 'INGESTED', 'CHUNKING', NULL), (5, 'CHUNKING', 'CHUNKED', 0.06), (6, 'CHUNKED', 'EXTRACTING', NULL),
        (7, 'EXTRACTING', 'EXTRACTED', 12.5), (8, 'EXTRACTED', 'DEDUPING', NULL), (9, 'DEDUPING', 'DEDUPED', 0.4),
        (10, 'DEDUPED', 'STORYBOARDING', NULL), (11, 'STORYBOARDING', 'STORYBOARDED', 0.9),
        (12, 'STORYBOARDED', 'REPORTING', NULL), (13, 'REPORTING', 'COMPLETED', 0.5),
        (14, 'EXTRACTING', 'FAILED', NULL)
    ) AS e(seq, from_status, to_status, duration_s)
    WHERE CASE WHEN j.status = 'COMPLETED' THEN e.seq <= 13 ELSE e.seq <= 6 OR e.seq = 14 END
    ORDER BY 5
    """,
]


def test_eta_query_is_an_index_only_scan_of_the_partial_index(pg_database):
    """Each stage's latest timed events come straight from ix_job_events_to_status_id_timed, even
    when the newest events lack later stages (which, with the plain (to_status, id) index, made
    PostgreSQL walk pk_job_events back through the whole outage), and the result is unchanged."""
    engine = create_engine(pg_database)
    with engine.begin() as conn:
        for statement in _HISTORY_THEN_OUTAGE:
            conn.execute(text(statement), {"jobs": 6000, "failed": 3000})
    with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
        conn.execute(text("VACUUM ANALYZE"))
    with engine.connect() as conn:
        plan = "\n".join(r[0] for r in conn.execute(text("EXPLAIN " + api.recent_stage_times_sql())))
    with Session(engine) as s:
        reference = _reference_stage_times(s)
        one = api._stage_times_one_query(s)
    engine.dispose()

    assert "Index Only Scan Backward using ix_job_events_to_status_id_timed" in plan, plan
    assert "pk_job_events" not in plan and "Filter" not in plan, plan
    assert {
        "ingest": 0.04,
        "chunk": 0.06,
        "extract": 12.5 / 3,
        "dedup": 0.4,
        "storyboard": 0.9,
        "report": 0.5,
    } == (pytest.approx(one, rel=1e-12))
    assert pytest.approx(reference, rel=1e-12, abs=0) == one


def test_job_listing_reads_only_summary_columns(pg_settings):
    """`jobs` selects no JSON columns and no error text, and still pages and describes each job."""
    from pipeline.broker import setup_broker

    setup_broker(pg_settings, stub=True)
    ids = [api.submit("INT. KITCHEN - NIGHT\n\nMARY pours coffee.\n", project="summary") for _ in range(3)]
    engine = read_engine(pg_settings)
    statements: list[str] = []

    def capture(conn, cursor, statement, parameters, context, executemany):
        statements.append(statement)

    event.listen(engine, "before_cursor_execute", capture)
    try:
        first = api.list_jobs(project="summary", limit=2)
        assert first.next_cursor is not None
        second = api.list_jobs(project="summary", limit=2, cursor=first.next_cursor)
    finally:
        event.remove(engine, "before_cursor_execute", capture)

    assert list(reversed(ids)) == [item.id for item in first.items + second.items]
    assert second.next_cursor is None
    item = first.items[0]
    assert ("summary", "PENDING", 0.0, "waiting for ingest") == (
        item.project,
        item.status,
        item.percent,
        item.step,
    )
    for column in ("options", "meta", "stats", "error"):
        assert all(f"jobs.{column}" not in s for s in statements), column


def test_status_is_one_statement_cold_and_warm(pg_settings, session):
    """On PostgreSQL a `status` is one round trip: the job, its run's events, its usage (a job that
    used a model) and, in a process without them yet (every `enqueue.py status`), the ETA figures,
    which equal the standalone query's and are then cached. Both kinds of job, both cache states."""
    from pipeline.broker import setup_broker

    setup_broker(pg_settings, stub=True)
    script = "INT. KITCHEN - NIGHT\n\nMARY pours coffee.\n"
    _fill(session, random.Random(11), 300)  # explicit event ids: move the sequence past them
    session.execute(text("SELECT setval(pg_get_serial_sequence('job_events', 'id'), 300)"))
    session.commit()
    rules = api.submit(script, project="one-trip", options={"provider": "rules"})
    llm = api.submit(script, project="one-trip", options={"provider": "openai"})
    for n, (calls, cached) in enumerate([(2, False), (0, True), (1, False)], start=1):
        session.add(
            Chunk(job_id=llm, number=n, start=0, end=1, first_scene=1, last_scene=1, content_hash=f"h{n}",
                  status="done", provider="openai", calls=calls, cached=cached, prompt_tokens=100 * n,
                  completion_tokens=10 * n, latency_ms=1500 * calls)
        )  # fmt: skip
    session.add(Chunk(job_id=rules, number=1, start=0, end=1, first_scene=1, last_scene=1, content_hash="r",
                      status="done", provider="rules"))  # fmt: skip
    session.commit()
    expected_times = _reference_stage_times(session)
    expected_usage = job_usage(session, llm)
    engine = read_engine(pg_settings)
    statements: list[str] = []

    def capture(conn, cursor, statement, parameters, context, executemany):
        statements.append(statement)

    views = []
    event.listen(engine, "before_cursor_execute", capture)
    api._times_cache = (0.0, {})
    try:
        for job_id in (llm, rules, llm):  # cold, then warm twice
            views.append(api.get_status(job_id))
        cached = api._cached_stage_times()
    finally:
        event.remove(engine, "before_cursor_execute", capture)
        api._times_cache = (0.0, {})

    # Cold: one statement with the stage times' LATERAL subquery. Warm: one EXECUTE of a statement
    # prepared once on the connection (without it).
    prepares = [s for s in statements if s.startswith("PREPARE")]
    runs = [s for s in statements if not s.startswith("PREPARE")]
    assert 3 == len(runs) and "LATERAL" in runs[0] and all(s.startswith("EXECUTE") for s in runs[1:])
    assert 1 == len(prepares) and "LATERAL" not in prepares[0]
    assert pytest.approx(expected_times, rel=1e-12, abs=0) == cached
    assert expected_usage is not None and expected_usage["calls"] == 3 and expected_usage["cache_hits"] == 1
    assert [expected_usage, None, expected_usage] == [v.llm for v in views]
    assert views[0].eta_s == views[2].eta_s or views[0].eta_s is None
