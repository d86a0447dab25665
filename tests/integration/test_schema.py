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
    compiled = statement.compile(dialect=conn.dialect, compile_kwargs={"render_postcompile": True})
    return "\n".join(row[0] for row in conn.exec_driver_sql("EXPLAIN " + str(compiled), compiled.params))


@pytest.mark.parametrize(
    ("filters", "index"),
    [
        ({"status": "FAILED"}, "ix_jobs_status_created_at_id"),
        ({"status": "failed", "limit": 50}, "ix_jobs_status_created_at_id"),
        ({}, "ix_jobs_created_at_id"),
        ({"tenant_id": "mine"}, "ix_jobs_tenant_id_created_at_id"),
    ],
)
def test_the_job_listing_statement_uses_an_index(pg_database, filters, index):
    """`jobs --status S` (and the unfiltered listing), newest first, first page and later ones, is
    an index scan, not a sort of the whole table: EXPLAIN of the statement list_jobs runs, on a
    table of 20,000 jobs (ANALYZEd) so the planner weighs real figures."""
    from datetime import UTC, datetime, timedelta

    from sqlalchemy import insert

    from models import Job, Project, Tenant
    from pipeline.jobs import list_jobs_query

    engine = create_engine(pg_database)
    start = datetime(2026, 1, 1, tzinfo=UTC)
    statuses = ["COMPLETED"] * 8 + ["FAILED", "EXTRACTING"]
    with engine.begin() as conn:
        # Two tenants, one with a tenth of the jobs: its listing reads its own range only.
        tenants = [
            conn.execute(insert(Tenant).values(name=f"t{n}").returning(Tenant.id)).scalar_one()
            for n in (1, 2)
        ]
        projects = [
            conn.execute(insert(Project).values(tenant_id=t, name="p").returning(Project.id)).scalar_one()
            for t in tenants
        ]
        conn.execute(
            insert(Job),
            [
                {"id": f"{n:032x}", "project_id": projects[n % 10 > 0], "tenant_id": tenants[n % 10 > 0], "status": statuses[n % len(statuses)], "run": 1,
                 "chunks_total": 0, "chunks_done": 0, "deliveries": 0, "options": {}, "meta": {}, "stats": {},
                 "created_at": start + timedelta(seconds=n), "updated_at": start + timedelta(seconds=n)}
                for n in range(20_000)
            ],
        )  # fmt: skip
        conn.execute(text("ANALYZE jobs"))
        if filters.get("tenant_id") == "mine":
            filters = {**filters, "tenant_id": tenants[0]}
        plan = _plan(conn, list_jobs_query(**filters))
        paged = _plan(conn, list_jobs_query(**filters, cursor=_a_cursor()))
    engine.dispose()

    assert index in plan and index in paged
    assert "Sort" not in plan and "Sort" not in paged


def test_the_console_jobs_pages_statements_use_indexes(pg_database):
    """The console's jobs page at scale (issue 19): for a tenant holding most of 20,000 jobs
    (ANALYZEd), each filter the page offers reads through an index, never the whole jobs table;
    the title search uses the trigram index (any part of the title, any case), and the counts per
    status are an index-only scan of (tenant_id, status)."""
    from datetime import UTC, datetime, timedelta

    from sqlalchemy import insert

    from models import Job, Project, Tenant
    from pipeline.jobs import count_by_status_query, list_jobs_query

    engine = create_engine(pg_database)
    start = datetime(2026, 1, 1, tzinfo=UTC)
    statuses = ["COMPLETED"] * 18 + ["FAILED", "CANCELLED"]
    with engine.begin() as conn:
        big, small = (
            conn.execute(insert(Tenant).values(name=f"t{n}").returning(Tenant.id)).scalar_one()
            for n in (1, 2)
        )
        projects = [
            conn.execute(
                insert(Project).values(tenant_id=big, name=f"p{n}").returning(Project.id)
            ).scalar_one()
            for n in range(20)
        ]
        other = conn.execute(
            insert(Project).values(tenant_id=small, name="p").returning(Project.id)
        ).scalar_one()
        conn.execute(
            insert(Job),
            [
                {"id": f"{n:032x}", "project_id": projects[n % 20] if n % 10 else other,
                 "tenant_id": big if n % 10 else small, "title": f"Script {n}",
                 "status": statuses[n % len(statuses)], "run": 1, "chunks_total": 0, "chunks_done": 0,
                 "deliveries": 0, "options": {}, "meta": {}, "stats": {},
                 "created_at": start + timedelta(minutes=n), "updated_at": start + timedelta(minutes=n)}
                for n in range(20_000)
            ],
        )  # fmt: skip
        conn.execute(text("ANALYZE jobs"))
    with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
        conn.execute(text("VACUUM jobs"))  # the visibility map an index-only scan relies on
        day = {"since": start + timedelta(days=3), "until": start + timedelta(days=4)}
        views = {
            "first page": {},
            "status": {"status": "FAILED"},
            "statuses": {"status": ["FAILED", "CANCELLED"]},
            "project": {"project": "p7"},
            "title": {"title": "script 4242"},
            "a day": day,
            "project + status": {"project": "p7", "status": "FAILED"},
        }
        plans = {
            name: _plan(conn, list_jobs_query(tenant_id=big, limit=50, **f)) for name, f in views.items()
        }
        counts = _plan(conn, count_by_status_query(big))
    engine.dispose()

    assert {name: False for name in views} == {
        name: "Seq Scan on jobs" in plan for name, plan in plans.items()
    }
    assert "ix_jobs_title_trgm" in plans["title"]
    assert "Index Only Scan using ix_jobs_tenant_id_status" in counts


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


def test_projects_and_jobs_made_before_tenants_belong_to_the_default_one(pg_database):
    """Migration 0006 gives every existing project and job the tenant ``default``; afterwards a
    project name may repeat in another tenant but not within one."""
    from alembic import command
    from sqlalchemy.exc import IntegrityError

    from pipeline import migrate
    from pipeline.db import dispose_engines

    config = migrate.alembic_config(pg_database)
    command.downgrade(config, "0005")
    engine = create_engine(pg_database)
    with engine.begin() as conn:
        conn.execute(text("INSERT INTO projects (name, created_at) VALUES ('old', now())"))
        conn.execute(
            text(
                "INSERT INTO jobs (id, project_id, status, run, chunks_total, chunks_done, deliveries, options,"
                " meta, stats, created_at, updated_at) SELECT 'j1', id, 'COMPLETED', 1, 0, 0, 0, '{}', '{}',"
                " '{}', now(), now() FROM projects WHERE name = 'old'"
            )
        )
    command.upgrade(config, "head")
    with engine.begin() as conn:
        owners = conn.execute(
            text(
                "SELECT t.name, p.tenant_id = j.tenant_id FROM jobs j JOIN projects p ON p.id = j.project_id"
                " JOIN tenants t ON t.id = p.tenant_id WHERE j.id = 'j1'"
            )
        ).one()
        other = conn.execute(
            text("INSERT INTO tenants (name, created_at) VALUES ('other', now()) RETURNING id")
        )
        conn.execute(
            text("INSERT INTO projects (tenant_id, name, created_at) VALUES (:t, 'old', now())"),
            {"t": other.scalar_one()},
        )
    with pytest.raises(IntegrityError), engine.begin() as conn:
        conn.execute(
            text(
                "INSERT INTO projects (tenant_id, name, created_at)"
                " SELECT id, 'old', now() FROM tenants WHERE name = 'default'"
            )
        )
    engine.dispose()
    dispose_engines()
    assert ("default", True) == tuple(owners)
