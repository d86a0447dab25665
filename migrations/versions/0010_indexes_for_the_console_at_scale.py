"""the console's jobs page at scale: title search, counts per status, live counts

Two queries of the jobs page read a tenant's whole range of jobs at 100k jobs:

- the title search (``title ILIKE '%…%'``, any part, any case) is answered from a trigram index
  (the ``pg_trgm`` extension, shipped with PostgreSQL and trusted since 13: the database's owner
  may create it without being a superuser);
- the counts per status (``GROUP BY status`` of a tenant's jobs) become an index-only scan of
  (tenant_id, status) instead of a read of every job row.

A job event's notification (migration 0007) also names the job's tenant (``o``), so a console page
keeps its tenant's counts live from the one LISTEN of its API process, counting again only when a
job of its tenant changes status.

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-07 14:30:00.000000
"""

from __future__ import annotations

from collections.abc import Sequence

from alembic import op

revision: str = "0010"
down_revision: str | None = "0009"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.execute("CREATE EXTENSION IF NOT EXISTS pg_trgm")
    op.create_index(
        "ix_jobs_title_trgm",
        "jobs",
        ["title"],
        postgresql_using="gin",
        postgresql_ops={"title": "gin_trgm_ops"},
    )
    op.create_index("ix_jobs_tenant_id_status", "jobs", ["tenant_id", "status"])
    op.execute(_event_notification("'o', (SELECT tenant_id FROM jobs WHERE id = NEW.job_id), "))


def downgrade() -> None:
    op.execute(_event_notification(""))
    op.drop_index("ix_jobs_tenant_id_status", table_name="jobs")
    op.drop_index("ix_jobs_title_trgm", table_name="jobs")
    # The extension stays: other objects of the database may use it by now.


def _event_notification(extra: str) -> str:
    return f"""
        CREATE OR REPLACE FUNCTION juben_notify_job_event() RETURNS trigger LANGUAGE plpgsql AS $$
        BEGIN
          PERFORM pg_notify('juben_jobs', json_build_object(
            'k', 'e', 'j', NEW.job_id, {extra}'i', NEW.id, 'r', NEW.run, 'f', NEW.from_status,
            't', NEW.to_status, 'a', NEW.at, 'd', left(NEW.detail, 300))::text);
          RETURN NULL;
        END $$
        """
