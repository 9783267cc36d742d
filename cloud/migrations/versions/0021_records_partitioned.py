"""Raw records keyed by tenant and range-partitioned by month on PostgreSQL.

Every tenant-owned table carries `tenant_id` in its key (so the schema can be distributed by tenant without a
rewrite): `records` gains `tenant_id` (from its site) and loses its surrogate `id`; its key becomes
(tenant_id, site_id, seq, occurred_at) on every backend. The edge never changes a record once written, so a
replayed record carries the same occurred_at and the key stays ingest's idempotency key (a partitioned table's
unique key must hold its partition column). On PostgreSQL the table becomes `PARTITION BY RANGE (occurred_at)`
with a default partition and monthly partitions from its oldest row's month to three months ahead (later months
and retention: cloud.analytics.partitions), and its row-level security policy reads its own tenant_id instead of
joining `sites` (0012).

Revision ID: 0021
Revises: 0020
Create Date: 2026-12-07
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, date, datetime, timedelta

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

from cloud.db.rls import enable_statements, parent_condition, tenant_condition

revision: str = "0021"
down_revision: str | None = "0020"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# Frozen copies of the column types as of this revision.
TS = sa.DateTime(timezone=True)
PAYLOAD = sa.JSON().with_variant(postgresql.JSONB(), "postgresql")
RECORD_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
INDEX = ("ix_records_site_id_kind_occurred_at", ["site_id", "kind", "occurred_at"])
AHEAD_MONTHS = 3
COLUMNS = "site_id, seq, kind, occurred_at, payload, received_at"


def _next_month(day: date) -> date:
    return (day.replace(day=28) + timedelta(days=4)).replace(day=1)


def _months(first: date | None) -> list[date]:
    current = datetime.now(UTC).date().replace(day=1)
    month = min(first.replace(day=1), current) if first is not None else current
    end = current
    for _ in range(AHEAD_MONTHS):
        end = _next_month(end)
    out = []
    while month <= end:
        out.append(month)
        month = _next_month(month)
    return out


def _set_aside_old(postgres: bool) -> None:
    """Rename `records` to `records_old`, freeing the names its constraints and index hold."""
    op.drop_index(INDEX[0], table_name="records")
    op.rename_table("records", "records_old")
    if postgres:
        for constraint in (
            op.get_bind()
            .execute(sa.text("SELECT conname FROM pg_constraint WHERE conrelid = 'records_old'::regclass"))
            .scalars()
        ):
            op.execute(f"ALTER TABLE records_old RENAME CONSTRAINT {constraint} TO {constraint}_old")


def _partition(first: datetime | None) -> None:
    op.execute("CREATE TABLE records_default PARTITION OF records DEFAULT")
    for month in _months(first.astimezone(UTC).date() if first is not None else None):
        bounds = f"FROM ('{month:%Y-%m-%d} 00:00:00+00') TO ('{_next_month(month):%Y-%m-%d} 00:00:00+00')"
        op.execute(f"CREATE TABLE records_p{month:%Y%m} PARTITION OF records FOR VALUES {bounds}")


def upgrade() -> None:
    postgres = op.get_bind().dialect.name == "postgresql"
    _set_aside_old(postgres)
    op.create_table(
        "records",
        sa.Column("tenant_id", sa.String(32), nullable=False),
        sa.Column("site_id", sa.String(32), nullable=False),
        sa.Column("seq", sa.BigInteger(), nullable=False),
        sa.Column("kind", sa.String(32), nullable=False),
        sa.Column("occurred_at", TS, nullable=False),
        sa.Column("payload", PAYLOAD, nullable=False),
        sa.Column("received_at", TS, nullable=False),
        sa.ForeignKeyConstraint(["site_id"], ["sites.id"], name="fk_records_site_id_sites", ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["tenant_id"], ["tenants.id"], name="fk_records_tenant_id_tenants", ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("tenant_id", "site_id", "seq", "occurred_at", name="pk_records"),
        postgresql_partition_by="RANGE (occurred_at)",
    )
    op.create_index(INDEX[0], "records", INDEX[1])
    if postgres:
        _partition(op.get_bind().execute(sa.text("SELECT min(occurred_at) FROM records_old")).scalar())
    op.execute(
        f"INSERT INTO records (tenant_id, {COLUMNS}) "
        f"SELECT s.tenant_id, {', '.join('r.' + c.strip() for c in COLUMNS.split(','))} "
        "FROM records_old r JOIN sites s ON s.id = r.site_id"
    )
    op.drop_table("records_old")
    if postgres:
        for statement in enable_statements("records", tenant_condition()):
            op.execute(statement)


def downgrade() -> None:
    postgres = op.get_bind().dialect.name == "postgresql"
    _set_aside_old(postgres)
    op.create_table(
        "records",
        sa.Column("id", RECORD_ID, autoincrement=True, nullable=False),
        sa.Column("site_id", sa.String(32), nullable=False),
        sa.Column("seq", sa.BigInteger(), nullable=False),
        sa.Column("kind", sa.String(32), nullable=False),
        sa.Column("occurred_at", TS, nullable=False),
        sa.Column("payload", PAYLOAD, nullable=False),
        sa.Column("received_at", TS, nullable=False),
        sa.ForeignKeyConstraint(["site_id"], ["sites.id"], name="fk_records_site_id_sites", ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id", name="pk_records"),
        sa.UniqueConstraint("site_id", "seq", name="uq_records_site_id_seq"),
    )
    op.create_index(INDEX[0], "records", INDEX[1])
    # Oldest first, so the surrogate ids keep the order they had; a seq stored twice (different occurred_at)
    # keeps its first row.
    op.execute(
        f"INSERT INTO records ({COLUMNS}) SELECT {COLUMNS} FROM records_old o "
        "WHERE NOT EXISTS (SELECT 1 FROM records_old e WHERE e.site_id = o.site_id AND e.seq = o.seq "
        "AND e.occurred_at < o.occurred_at) ORDER BY received_at, site_id, seq"
    )
    op.drop_table("records_old")
    if postgres:
        for statement in enable_statements("records", parent_condition("records", "site_id", "sites")):
            op.execute(statement)
