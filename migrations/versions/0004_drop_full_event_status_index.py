"""drop the full (to_status, id) index of job_events

Every query that looks events up by status also asks for ``duration_s IS NOT NULL`` (stage ETAs,
``stats``, the report's stage seconds), which the partial index of 0003 serves. The full index
only cost every transition one more index insertion: fourteen per small job.

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-26 19:05:00.000000
"""

from __future__ import annotations

from collections.abc import Sequence

from alembic import op

revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("job_events", schema=None) as batch_op:
        batch_op.drop_index("ix_job_events_to_status_id")


def downgrade() -> None:
    with op.batch_alter_table("job_events", schema=None) as batch_op:
        batch_op.create_index("ix_job_events_to_status_id", ["to_status", "id"], unique=False)
