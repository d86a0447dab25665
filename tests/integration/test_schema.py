"""The schema: migrations match the models; the queries the system runs use indexes."""

from __future__ import annotations

import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import create_engine, text

import models


def test_migrations_create_exactly_the_models_schema(pg_database):
    """`alembic upgrade head` yields the tables, columns and indexes the models declare."""
    engine = create_engine(pg_database)
    with engine.connect() as conn:
        diff = compare_metadata(MigrationContext.configure(conn), models.Base.metadata)
    engine.dispose()

    assert [] == diff


def _plan(conn, statement) -> str:
    """EXPLAIN of a statement the code builds, compiled as it runs it (its bound parameters)."""
    compiled = statement.compile(dialect=conn.dialect)
    return "\n".join(row[0] for row in conn.exec_driver_sql("EXPLAIN " + str(compiled), compiled.params))


@pytest.mark.parametrize(
    ("filters", "index"),
    [
        ({"status": "FAILED"}, "ix_jobs_status_created_at_id"),
        ({"status": "failed", "limit": 50}, "ix_jobs_status_created_at_id"),
        ({}, "ix_jobs_created_at_id"),
    ],
)
def test_the_job_listing_statement_uses_an_index(pg_database, filters, index):
    """`jobs --status S` (and the unfiltered listing), newest first, first page and later ones, is
    an index scan, not a sort of the whole table: EXPLAIN of the statement list_jobs runs, on a
    table of 20,000 jobs (ANALYZEd) so the planner weighs real figures."""
    from datetime import UTC, datetime, timedelta

    from sqlalchemy import insert

    from models import Job, Project
    from pipeline.jobs import list_jobs_query

    engine = create_engine(pg_database)
    start = datetime(2026, 1, 1, tzinfo=UTC)
    statuses = ["COMPLETED"] * 8 + ["FAILED", "EXTRACTING"]
    with engine.begin() as conn:
        project = conn.execute(insert(Project).values(name="p").returning(Project.id)).scalar_one()
        conn.execute(
            insert(Job),
            [
                {"id": f"{n:032x}", "project_id": project, "status": statuses[n % len(statuses)], "run": 1,
                 "chunks_total": 0, "chunks_done": 0, "deliveries": 0, "options": {}, "meta": {}, "stats": {},
                 "created_at": start + timedelta(seconds=n), "updated_at": start + timedelta(seconds=n)}
                for n in range(20_000)
            ],
        )  # fmt: skip
        conn.execute(text("ANALYZE jobs"))
        plan = _plan(conn, list_jobs_query(**filters))
        paged = _plan(conn, list_jobs_query(**filters, cursor=_a_cursor()))
    engine.dispose()

    assert index in plan and index in paged
    assert "Sort" not in plan and "Sort" not in paged


def _a_cursor() -> str:
    from datetime import UTC, datetime

    from pipeline.jobs import _encode_cursor

    return _encode_cursor(datetime(2026, 1, 1, 3, tzinfo=UTC), "0" * 32)


def test_the_head_upgrade_checks_first_is_alembics():
    """migrate.HEAD (what `upgrade` compares a database with before loading Alembic) is the newest
    migration: a migration added without moving it fails here, not on a user's database."""
    from alembic.script import ScriptDirectory

    from pipeline import migrate

    assert (
        ScriptDirectory.from_config(migrate.alembic_config("postgresql://x/y")).get_current_head()
        == migrate.HEAD
    )


def test_upgrade_at_head_does_nothing_and_below_it_migrates(pg_database):
    from pipeline import migrate
    from pipeline.db import dispose_engines
    from pipeline.settings import load_settings

    settings = load_settings(database={"url": pg_database})
    migrate.upgrade(settings)  # at head already (the template is migrated)
    assert migrate.HEAD == migrate.current(settings)
    from alembic import command

    config = migrate.alembic_config(pg_database)
    command.downgrade(config, "0003")
    dispose_engines()
    assert "0003" == migrate.current(settings)
    migrate.upgrade(settings)
    assert migrate.HEAD == migrate.current(settings)
    dispose_engines()
