"""NOTIFY juben_jobs when a job's row changes or goes

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-07 18:00:00.000000

Each API process keeps the jobs it has read for ``GET /v1/jobs/{id}`` and serves them from memory
until they change (``entrypoints.api.status``). Migration 0007's notifications tell of events and
chunk counts; this one tells of every other change of a job's row (its error, stats, language, a
re-run's reset …) and of its deletion, so no kept view can outlive what it shows. The payload
names the job only (``k`` ``c``); PostgreSQL sends one per job per transaction however many rows
statements touch it (identical notifications of a transaction are folded).
"""

from __future__ import annotations

from collections.abc import Sequence

from alembic import op

revision: str = "0011"
down_revision: str | None = "0010"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.execute(
        """
        CREATE FUNCTION juben_notify_job_change() RETURNS trigger LANGUAGE plpgsql AS $$
        BEGIN
          PERFORM pg_notify('juben_jobs', json_build_object('k', 'c', 'j', OLD.id)::text);
          RETURN NULL;
        END $$
        """
    )
    op.execute(
        "CREATE TRIGGER jobs_notify_change AFTER UPDATE OR DELETE ON jobs"
        " FOR EACH ROW EXECUTE FUNCTION juben_notify_job_change()"
    )


def downgrade() -> None:
    op.execute("DROP TRIGGER jobs_notify_change ON jobs")
    op.execute("DROP FUNCTION juben_notify_job_change()")
