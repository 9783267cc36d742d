"""Daily rollups indexed by (tenant_id, scope, metric, day): the tenant-wide reads name a scope.

The tenant's access series and its top denied credentials and doors filter `rollup_daily` on tenant, scope,
metric and a day range across all sites; the old (tenant_id, metric, day) index made PostgreSQL fetch every
door and credential row of the metric and drop the other scope's rows after reading them. The new index
answers those reads with a range scan and serves every read the old one did (each names a scope). Only an
index changes: the table and its row-level security policy (0012) stay as they are.

Revision ID: 0017
Revises: 0016
Create Date: 2026-12-07
"""

from __future__ import annotations

from collections.abc import Sequence

from alembic import op

revision: str = "0017"
down_revision: str | None = "0016"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

OLD = ("ix_rollup_daily_tenant_id_metric_day", ["tenant_id", "metric", "day"])
NEW = ("ix_rollup_daily_tenant_id_scope_metric_day", ["tenant_id", "scope", "metric", "day"])


def upgrade() -> None:
    op.create_index(NEW[0], "rollup_daily", NEW[1])
    op.drop_index(OLD[0], table_name="rollup_daily")


def downgrade() -> None:
    op.create_index(OLD[0], "rollup_daily", OLD[1])
    op.drop_index(NEW[0], table_name="rollup_daily")
