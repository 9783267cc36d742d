"""Analytics facts and hourly rollups range-partitioned by month on PostgreSQL; facts keyed with occurred_at.

A partitioned table's primary key must hold its partition column, so the facts' key becomes
(tenant_id, site_id, seq[, metric], occurred_at) on every backend (a record always carries the same occurred_at).
On PostgreSQL each table is rebuilt as `PARTITION BY RANGE` with a default partition and monthly partitions from
its oldest row's month to three months ahead (later months: cloud.analytics.partitions, the maintenance run),
under the same row-level security policy as before (0012; queries reach the partitions through their parent).

Revision ID: 0013
Revises: 0012
Create Date: 2026-12-06
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, date, datetime, timedelta

import sqlalchemy as sa
from alembic import op

from cloud.db.rls import enable_statements, tenant_condition

revision: str = "0013"
down_revision: str | None = "0012"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_FACT_KEY = ["tenant_id", "site_id", "seq"]
# table -> (partition column, key before, key after, indexes)
TABLES: dict[str, tuple[str, list[str], list[str], list[tuple[str, list[str]]]]] = {
    "fact_access": (
        "occurred_at",
        _FACT_KEY,
        [*_FACT_KEY, "occurred_at"],
        [("ix_fact_access_tenant_id_site_id_occurred_at", ["tenant_id", "site_id", "occurred_at"])],
    ),
    "fact_detection": (
        "occurred_at",
        _FACT_KEY,
        [*_FACT_KEY, "occurred_at"],
        [("ix_fact_detection_tenant_id_site_id_occurred_at", ["tenant_id", "site_id", "occurred_at"])],
    ),
    "fact_alarm": ("occurred_at", _FACT_KEY, [*_FACT_KEY, "occurred_at"], []),
    "fact_device_status": ("occurred_at", _FACT_KEY, [*_FACT_KEY, "occurred_at"], []),
    "fact_sensor": ("occurred_at", [*_FACT_KEY, "metric"], [*_FACT_KEY, "metric", "occurred_at"], []),
    "rollup_hourly": (
        "bucket",
        ["tenant_id", "site_id", "scope", "metric", "bucket", "scope_id"],
        ["tenant_id", "site_id", "scope", "metric", "bucket", "scope_id"],
        [("ix_rollup_hourly_tenant_id_metric_bucket", ["tenant_id", "metric", "bucket"])],
    ),
}
AHEAD_MONTHS = 3


def _next_month(day: date) -> date:
    return (day.replace(day=28) + timedelta(days=4)).replace(day=1)


def _months(first: date | None) -> list[date]:
    current = datetime.now(UTC).date().replace(day=1)
    month = min(first.replace(day=1), current) if first is not None else current
    out = []
    end = current
    for _ in range(AHEAD_MONTHS):
        end = _next_month(end)
    while month <= end:
        out.append(month)
        month = _next_month(month)
    return out


def _rebuild(table: str, column: str, key: list[str], indexes: list[tuple[str, list[str]]], partitioned: bool) -> None:
    """Rebuild `table` on PostgreSQL, partitioned by month or plain, keeping its rows."""
    old = f"{table}_old"
    op.execute(f"ALTER TABLE {table} RENAME TO {old}")
    op.execute(f"ALTER TABLE {old} RENAME CONSTRAINT pk_{table} TO pk_{old}")
    for name, _ in indexes:
        op.execute(f"DROP INDEX IF EXISTS {name}")
    partition = f" PARTITION BY RANGE ({column})" if partitioned else ""
    op.execute(f"CREATE TABLE {table} (LIKE {old} INCLUDING DEFAULTS){partition}")
    op.execute(f"ALTER TABLE {table} ADD CONSTRAINT pk_{table} PRIMARY KEY ({', '.join(key)})")
    for name, columns in indexes:
        op.execute(f"CREATE INDEX {name} ON {table} ({', '.join(columns)})")
    if partitioned:
        first = op.get_bind().execute(sa.text(f"SELECT min({column}) FROM {old}")).scalar()
        op.execute(f"CREATE TABLE {table}_default PARTITION OF {table} DEFAULT")
        for month in _months(first.astimezone(UTC).date() if first is not None else None):
            bounds = f"FROM ('{month:%Y-%m-%d} 00:00:00+00') TO ('{_next_month(month):%Y-%m-%d} 00:00:00+00')"
            op.execute(f"CREATE TABLE {table}_p{month:%Y%m} PARTITION OF {table} FOR VALUES {bounds}")
    op.execute(f"INSERT INTO {table} SELECT * FROM {old}")
    op.execute(f"DROP TABLE {old}")
    # The old table's row-level security (0012) went with it: the new one gets the same policy.
    for statement in enable_statements(table, tenant_condition()):
        op.execute(statement)


def _rekey_sqlite(table: str, key: list[str]) -> None:
    with op.batch_alter_table(table, recreate="always") as batch_op:
        batch_op.drop_constraint(f"pk_{table}", type_="primary")
        batch_op.create_primary_key(f"pk_{table}", key)


def upgrade() -> None:
    postgres = op.get_bind().dialect.name == "postgresql"
    for table, (column, before, after, indexes) in TABLES.items():
        if postgres:
            _rebuild(table, column, after, indexes, partitioned=True)
        elif before != after:
            _rekey_sqlite(table, after)


def downgrade() -> None:
    postgres = op.get_bind().dialect.name == "postgresql"
    for table, (column, before, after, indexes) in TABLES.items():
        if postgres:
            _rebuild(table, column, before, indexes, partitioned=False)
        elif before != after:
            _rekey_sqlite(table, before)
