"""NOTIFY juben_keys when an API key changes (revoked, deleted)

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-07 11:00:00.000000

Each API process keeps the keys it has checked in memory and drops a key the moment its
notification arrives (``entrypoints.api.auth.KeyCache``): a revoked key is refused from the
next request on without every request reading its key's row.
"""

from __future__ import annotations

from collections.abc import Sequence

from alembic import op

revision: str = "0009"
down_revision: str | None = "0008"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.execute(
        """
        CREATE FUNCTION juben_notify_key_change() RETURNS trigger LANGUAGE plpgsql AS $$
        BEGIN
          PERFORM pg_notify('juben_keys', OLD.prefix);
          RETURN NULL;
        END $$
        """
    )
    op.execute(
        "CREATE TRIGGER api_keys_notify AFTER UPDATE OR DELETE ON api_keys"
        " FOR EACH ROW EXECUTE FUNCTION juben_notify_key_change()"
    )


def downgrade() -> None:
    op.execute("DROP TRIGGER api_keys_notify ON api_keys")
    op.execute("DROP FUNCTION juben_notify_key_change()")
