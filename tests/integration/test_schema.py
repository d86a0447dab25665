"""The schema: migrations match the models; the queries the system runs use indexes."""

from __future__ import annotations

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


def test_status_listing_uses_an_index(pg_database):
    """`jobs --status S` newest first is an index scan, not a sort of the whole table."""
    engine = create_engine(pg_database)
    with engine.begin() as conn:
        conn.execute(text("SET enable_seqscan = off"))
        plan = "\n".join(
            row[0]
            for row in conn.execute(
                text(
                    "EXPLAIN SELECT * FROM jobs WHERE status = 'FAILED' "
                    "ORDER BY created_at DESC, id DESC LIMIT 21"
                )
            )
        )
    engine.dispose()

    assert "ix_jobs_status_created_at_id" in plan
    assert "Sort" not in plan
