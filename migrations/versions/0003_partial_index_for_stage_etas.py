"""partial index for stage ETAs

Each stage's latest timed events (the ETAs of `status`) become a short backward scan of this index,
index-only on PostgreSQL, whatever the order of the events: with only the full (to_status, id)
index, PostgreSQL walks pk_job_events backwards, which takes tens of milliseconds at 100k jobs once
recent events lack a stage (an extract outage).

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-26 10:59:20.407166
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("job_events", schema=None) as batch_op:
        batch_op.create_index(
            "ix_job_events_to_status_id_timed",
            ["to_status", "id"],
            unique=False,
            postgresql_include=["duration_s", "units"],
            postgresql_where=sa.text("duration_s IS NOT NULL"),
        )


def downgrade() -> None:
    with op.batch_alter_table("job_events", schema=None) as batch_op:
        batch_op.drop_index(
            "ix_job_events_to_status_id_timed",
            postgresql_include=["duration_s", "units"],
            postgresql_where=sa.text("duration_s IS NOT NULL"),
        )
