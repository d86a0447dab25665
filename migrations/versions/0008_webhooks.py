"""webhooks: a job's callback URL, a tenant's signing secret, and the deliveries (an outbox)

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-07 10:00:00.000000

When a job with a callback URL reaches COMPLETED, FAILED or CANCELLED, a trigger writes its
delivery in the same transaction (so none is lost) and NOTIFYs ``juben_webhooks``; the workers'
dispatcher (``pipeline.webhooks.WebhookDispatcher``) LISTENs, sends each delivery's message and
sweeps for any left behind.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0008"
down_revision: str | None = "0007"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column("jobs", sa.Column("callback_url", sa.String(length=2000), nullable=True))
    op.add_column("tenants", sa.Column("webhook_secret", sa.String(length=100), nullable=True))
    op.create_table(
        "webhook_deliveries",
        sa.Column("job_id", sa.String(length=32), nullable=False),
        sa.Column("run", sa.Integer(), nullable=False),
        sa.Column("status", sa.String(length=20), nullable=False),
        sa.Column("url", sa.String(length=2000), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("enqueued_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("sent_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("failed_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("last_error", sa.Text(), nullable=True),
        sa.Column("id", sa.BigInteger(), autoincrement=True, nullable=False),
        sa.ForeignKeyConstraint(
            ["job_id"], ["jobs.id"], name=op.f("fk_webhook_deliveries_job_id_jobs"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_webhook_deliveries")),
        sa.UniqueConstraint("job_id", "run", "status", name="uq_webhook_deliveries_job_id_run_status"),
    )
    op.create_index(
        "ix_webhook_deliveries_pending",
        "webhook_deliveries",
        ["id"],
        unique=False,
        postgresql_where=sa.text("sent_at IS NULL AND failed_at IS NULL"),
    )
    op.execute(
        """
        CREATE FUNCTION juben_webhook_on_end() RETURNS trigger LANGUAGE plpgsql AS $$
        BEGIN
          INSERT INTO webhook_deliveries (job_id, run, status, url, created_at, attempts)
          VALUES (NEW.id, NEW.run, NEW.status, NEW.callback_url, now(), 0)
          ON CONFLICT ON CONSTRAINT uq_webhook_deliveries_job_id_run_status DO NOTHING;
          PERFORM pg_notify('juben_webhooks', NEW.id);
          RETURN NULL;
        END $$
        """
    )
    op.execute(
        "CREATE TRIGGER jobs_webhook_on_end AFTER UPDATE OF status ON jobs FOR EACH ROW"
        " WHEN (NEW.callback_url IS NOT NULL AND OLD.status IS DISTINCT FROM NEW.status"
        " AND NEW.status IN ('COMPLETED', 'FAILED', 'CANCELLED'))"
        " EXECUTE FUNCTION juben_webhook_on_end()"
    )


def downgrade() -> None:
    op.execute("DROP TRIGGER jobs_webhook_on_end ON jobs")
    op.execute("DROP FUNCTION juben_webhook_on_end()")
    op.drop_index("ix_webhook_deliveries_pending", table_name="webhook_deliveries")
    op.drop_table("webhook_deliveries")
    op.drop_column("tenants", "webhook_secret")
    op.drop_column("jobs", "callback_url")
