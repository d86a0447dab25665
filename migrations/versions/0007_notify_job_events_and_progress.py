"""NOTIFY juben_jobs on every job event and every change of a job's chunk counts

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-07 09:00:00.000000

Each API process LISTENs once on ``juben_jobs`` and fans a job's notifications out to every
client watching its events (``GET /v1/jobs/{id}/events``): no client polls the database. A
notification is delivered when its transaction commits, in commit order, and carries what a
watcher shows (the event row; the chunk counts), so fanning out reads nothing. Payloads are
small JSON objects (``k``: ``e`` an event, ``p`` progress); a detail is cut to 300 characters.
"""

from __future__ import annotations

from collections.abc import Sequence

from alembic import op

revision: str = "0007"
down_revision: str | None = "0006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.execute(
        """
        CREATE FUNCTION juben_notify_job_event() RETURNS trigger LANGUAGE plpgsql AS $$
        BEGIN
          PERFORM pg_notify('juben_jobs', json_build_object(
            'k', 'e', 'j', NEW.job_id, 'i', NEW.id, 'r', NEW.run, 'f', NEW.from_status,
            't', NEW.to_status, 'a', NEW.at, 'd', left(NEW.detail, 300))::text);
          RETURN NULL;
        END $$
        """
    )
    op.execute(
        "CREATE TRIGGER job_events_notify AFTER INSERT ON job_events"
        " FOR EACH ROW EXECUTE FUNCTION juben_notify_job_event()"
    )
    op.execute(
        """
        CREATE FUNCTION juben_notify_job_progress() RETURNS trigger LANGUAGE plpgsql AS $$
        BEGIN
          PERFORM pg_notify('juben_jobs', json_build_object(
            'k', 'p', 'j', NEW.id, 's', NEW.status, 'r', NEW.run,
            'd', NEW.chunks_done, 'n', NEW.chunks_total)::text);
          RETURN NULL;
        END $$
        """
    )
    op.execute(
        "CREATE TRIGGER jobs_notify_progress AFTER UPDATE OF chunks_done, chunks_total ON jobs"
        " FOR EACH ROW WHEN (OLD.chunks_done IS DISTINCT FROM NEW.chunks_done"
        " OR OLD.chunks_total IS DISTINCT FROM NEW.chunks_total)"
        " EXECUTE FUNCTION juben_notify_job_progress()"
    )


def downgrade() -> None:
    op.execute("DROP TRIGGER jobs_notify_progress ON jobs")
    op.execute("DROP FUNCTION juben_notify_job_progress()")
    op.execute("DROP TRIGGER job_events_notify ON job_events")
    op.execute("DROP FUNCTION juben_notify_job_event()")
