"""projects and jobs belong to a tenant (existing ones to the tenant named ``default``)

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-07 08:00:00.000000

A project's name is unique within its tenant. ``jobs.tenant_id`` repeats its project's tenant (a
project never changes tenant) so that a tenant's listing is one index range and a job looked up
for a tenant is one row by primary key, with no join.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0006"
down_revision: str | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.execute(
        "INSERT INTO tenants (name, created_at) VALUES ('default', now()) ON CONFLICT (name) DO NOTHING"
    )
    default = "(SELECT id FROM tenants WHERE name = 'default')"
    op.add_column("projects", sa.Column("tenant_id", sa.BigInteger(), nullable=True))
    op.execute(f"UPDATE projects SET tenant_id = {default}")
    op.alter_column("projects", "tenant_id", nullable=False)
    op.create_foreign_key(op.f("fk_projects_tenant_id_tenants"), "projects", "tenants", ["tenant_id"], ["id"])
    op.drop_constraint(op.f("uq_projects_name"), "projects", type_="unique")
    op.create_unique_constraint("uq_projects_tenant_id_name", "projects", ["tenant_id", "name"])

    op.add_column("jobs", sa.Column("tenant_id", sa.BigInteger(), nullable=True))
    op.execute(
        "UPDATE jobs SET tenant_id = projects.tenant_id FROM projects WHERE projects.id = jobs.project_id"
    )
    op.alter_column("jobs", "tenant_id", nullable=False)
    op.create_foreign_key(op.f("fk_jobs_tenant_id_tenants"), "jobs", "tenants", ["tenant_id"], ["id"])
    op.create_index(
        "ix_jobs_tenant_id_created_at_id", "jobs", ["tenant_id", "created_at", "id"], unique=False
    )


def downgrade() -> None:
    op.drop_index("ix_jobs_tenant_id_created_at_id", table_name="jobs")
    op.drop_constraint(op.f("fk_jobs_tenant_id_tenants"), "jobs", type_="foreignkey")
    op.drop_column("jobs", "tenant_id")
    op.drop_constraint("uq_projects_tenant_id_name", "projects", type_="unique")
    op.drop_constraint(op.f("fk_projects_tenant_id_tenants"), "projects", type_="foreignkey")
    op.drop_column("projects", "tenant_id")
    # Names unique per tenant may repeat across tenants: the old constraint may not hold again.
    op.create_unique_constraint(op.f("uq_projects_name"), "projects", ["name"])
