"""Recompute every derived analytics table of a tenant (or all tenants) from the raw `records` rows.

The same derivation as ingest (`cloud.analytics.derive`) runs over each site's records in seq order, in
chunks, inside one transaction per tenant. On PostgreSQL the rollup tables are locked against ingest for that
transaction (ingest of that moment waits, then adds its deltas to the rebuilt rows), so nothing is counted
twice or lost. HQ's own alarm acknowledgements (not in any record) and the sites' watermarks are kept.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from typing import Any

from sqlalchemy import Date, cast, delete, func, select, text, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from cloud.analytics.buckets import buckets_for
from cloud.analytics.derive import derive
from cloud.analytics.facts import ALARMS, DERIVED_TABLES, INGEST_DAILY, apply, statements
from cloud.db.models import Record, Site, Tenant
from cloud.db.tenant_context import system_context

CHUNK = 5000


@dataclass(frozen=True)
class RebuildResult:
    """What a rebuild did."""

    tenants: int
    sites: int
    records: int


async def rebuild(db: async_sessionmaker[AsyncSession], tenant_id: str | None = None) -> RebuildResult:
    """Rebuild the analytics of `tenant_id` (every tenant if None) from raw records."""
    # A command acting across tenants: under row-level security only a system context sees every tenant's rows.
    with system_context():
        return await _rebuild(db, tenant_id)


async def _rebuild(db: async_sessionmaker[AsyncSession], tenant_id: str | None) -> RebuildResult:
    async with db() as session:
        query = select(Tenant.id).order_by(Tenant.id)
        if tenant_id is not None:
            query = query.where(Tenant.id == tenant_id)
        tenants = list((await session.scalars(query)).all())
    sites = records = 0
    for tenant in tenants:
        async with db.begin() as session:
            done = await _rebuild_tenant(session, tenant)
        sites += done[0]
        records += done[1]
    return RebuildResult(len(tenants), sites, records)


async def _rebuild_tenant(session: AsyncSession, tenant_id: str) -> tuple[int, int]:
    dialect = session.get_bind().dialect.name
    if dialect == "postgresql":
        names = ", ".join(t.name for t in (*DERIVED_TABLES, INGEST_DAILY))
        await session.execute(text(f"LOCK TABLE {names} IN SHARE ROW EXCLUSIVE MODE"))
    kept = (
        await session.execute(
            select(ALARMS.c.site_id, ALARMS.c.alarm_id, ALARMS.c.hq_acknowledged_at, ALARMS.c.hq_acknowledged_by).where(
                ALARMS.c.tenant_id == tenant_id, ALARMS.c.hq_acknowledged_at.is_not(None)
            )
        )
    ).all()
    for table in (*DERIVED_TABLES, INGEST_DAILY):
        await session.execute(delete(table).where(table.c.tenant_id == tenant_id))
    sites = (await session.execute(select(Site.id, Site.timezone).where(Site.tenant_id == tenant_id))).all()
    total = 0
    for site in sites:
        total += await _rebuild_site(session, dialect, tenant_id, site.id, site.timezone)
    for row in kept:
        await session.execute(
            update(ALARMS)
            .where(ALARMS.c.tenant_id == tenant_id, ALARMS.c.site_id == row.site_id, ALARMS.c.alarm_id == row.alarm_id)
            .values(hq_acknowledged_at=row.hq_acknowledged_at, hq_acknowledged_by=row.hq_acknowledged_by)
        )
    return len(sites), total


async def _rebuild_site(session: AsyncSession, dialect: str, tenant_id: str, site_id: str, timezone: str) -> int:
    buckets = buckets_for(timezone)
    last_seq = 0
    total = 0
    while True:
        rows = (
            await session.execute(
                select(Record.seq, Record.kind, Record.occurred_at, Record.payload)
                .where(Record.site_id == site_id, Record.seq > last_seq)
                .order_by(Record.seq)
                .limit(CHUNK)
            )
        ).all()
        if not rows:
            break
        last_seq = rows[-1].seq
        total += len(rows)
        await apply(session, dialect, derive(tenant_id, site_id, buckets, [r._asdict() for r in rows]))
    await _rebuild_ingest_counts(session, dialect, tenant_id, site_id)
    return total


async def _rebuild_ingest_counts(session: AsyncSession, dialect: str, tenant_id: str, site_id: str) -> None:
    """Records per UTC day of receipt, from received_at (grouped by the database)."""
    if dialect == "postgresql":
        day: Any = cast(func.timezone("UTC", Record.received_at), Date)
    else:
        day = func.date(Record.received_at)  # SQLite keeps UTC text
    counted = await session.execute(
        select(day.label("day"), func.count()).where(Record.site_id == site_id).group_by(day)
    )
    rows: list[dict[str, Any]] = [
        {"tenant_id": tenant_id, "site_id": site_id, "day": _as_date(d), "records": n} for d, n in counted.all()
    ]
    if rows:
        await session.execute(statements(dialect).ingest_daily, rows)


def _as_date(value: date | str) -> date:
    return value if isinstance(value, date) else date.fromisoformat(value)
