"""Monthly range partitions of raw records and analytics on PostgreSQL, and per-tenant retention (every backend).

The raw records and typed facts (by `occurred_at`) and the hourly rollups (by `bucket`) are declaratively
partitioned by month (migrations 0013, 0021): `<table>_pYYYYMM` for each month and `<table>_default` for
anything outside them. The maintenance run (`run_maintenance`: at cloud start and every
`MAINTENANCE_INTERVAL_S` in one worker, or `outpost-cloud analytics maintain`) creates the coming months'
partitions ahead, gives a month found in the default partition its own partition (rows moved), drops
partitions older than every tenant's retention, and deletes a tenant's raw records, facts and hourly rollups
older than its own retention (its billing plan's `retention_days`, else `DEFAULT_RETENTION_DAYS`).
"""

from __future__ import annotations

import asyncio
import logging
import re
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta

from aiohttp import web
from sqlalchemy import delete, select, text
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncSession, async_sessionmaker

from cloud.analytics.facts import DAILY, FACT_TABLES, HOURLY
from cloud.db.models import Record, Tenant
from cloud.db.tenant_context import system_context

log = logging.getLogger(__name__)

# Partitioned table -> its partition column.
PARTITIONED: dict[str, str] = {
    "records": "occurred_at",
    **{t.name: "occurred_at" for t in FACT_TABLES.values()},
    HOURLY.name: "bucket",
}
AHEAD_MONTHS = 3
DEFAULT_RETENTION_DAYS = 365
MAINTENANCE_INTERVAL_S = 6 * 3600
_PARTITION_NAME = re.compile(r"^(?P<table>[a-z_]+)_(p(?P<month>\d{6})|default)$")
# Held while one worker maintains (others skip the run): a fixed 64-bit key.
_ADVISORY_LOCK = 0x6F7574706F737401


def is_partition(name: str | None) -> bool:
    """Whether a table name is a partition of one of the partitioned tables (not part of the models)."""
    match = _PARTITION_NAME.match(name or "")
    return match is not None and match.group("table") in PARTITIONED


def include_name(name: str | None, type_: str, _parents: object) -> bool:
    """Alembic `include_name`: leave the partitions out of schema comparisons (the models name the parents)."""
    return not (type_ == "table" and is_partition(name))


def month_start(day: date) -> date:
    """The first day of `day`'s month."""
    return day.replace(day=1)


def next_month(day: date) -> date:
    """The first day of the month after `day`'s."""
    return (day.replace(day=28) + timedelta(days=4)).replace(day=1)


def partition_name(table: str, month: date) -> str:
    """`<table>_pYYYYMM`."""
    return f"{table}_p{month:%Y%m}"


def _bounds(month: date) -> str:
    return f"FOR VALUES FROM ('{month:%Y-%m-%d} 00:00:00+00') TO ('{next_month(month):%Y-%m-%d} 00:00:00+00')"


def partition_statements(table: str, months: list[date]) -> list[str]:
    """DDL creating `table`'s default partition and monthly partitions (idempotent)."""
    out = [f"CREATE TABLE IF NOT EXISTS {table}_default PARTITION OF {table} DEFAULT"]
    for month in months:
        out.append(f"CREATE TABLE IF NOT EXISTS {partition_name(table, month)} PARTITION OF {table} {_bounds(month)}")
    return out


async def _existing(conn: AsyncConnection, table: str) -> set[str]:
    rows = await conn.execute(
        text(
            "SELECT c.relname FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid "
            "JOIN pg_class p ON p.oid = i.inhparent WHERE p.relname = :table"
        ),
        {"table": table},
    )
    return set(rows.scalars())


async def _split_default(conn: AsyncConnection, table: str, column: str, existing: set[str]) -> list[str]:
    """Give each month found in the default partition a partition of its own, moving its rows there."""
    created = []
    months = await conn.execute(
        text(f"SELECT DISTINCT date_trunc('month', {column} AT TIME ZONE 'UTC')::date FROM {table}_default")
    )
    for (month,) in months.all():
        name = partition_name(table, month)
        if name in existing:
            continue  # cannot happen: the range would not route to the default
        bounds = f"{column} >= '{month:%Y-%m-%d} 00:00:00+00' AND {column} < '{next_month(month):%Y-%m-%d} 00:00:00+00'"
        await conn.execute(text(f"CREATE TABLE {name} (LIKE {table} INCLUDING DEFAULTS INCLUDING CONSTRAINTS)"))
        move = f"WITH moved AS (DELETE FROM {table}_default WHERE {bounds} RETURNING *) "
        await conn.execute(text(move + f"INSERT INTO {name} SELECT * FROM moved"))
        await conn.execute(text(f"ALTER TABLE {table} ATTACH PARTITION {name} {_bounds(month)}"))
        created.append(name)
    return created


@dataclass
class MaintenanceResult:
    """What a maintenance run did."""

    created: list[str] = field(default_factory=list)
    dropped: list[str] = field(default_factory=list)
    deleted: dict[str, int] = field(default_factory=dict)


async def _retention_days(session: AsyncSession, default_days: int) -> dict[str, int]:
    """Each tenant's retention: its billing plan's retention_days, else `default_days`."""
    days = {tenant: default_days for tenant in await session.scalars(select(Tenant.id))}
    try:
        from cloud.billing.models import Plan, Subscription  # noqa: PLC0415 - billing is optional here
    except ImportError:  # pragma: no cover - billing is part of the cloud today
        return days
    rows = await session.execute(
        select(Subscription.tenant_id, Plan.retention_days).join(Plan, Plan.id == Subscription.plan_id)
    )
    for tenant_id, retention in rows.all():
        days[tenant_id] = retention
    return days


async def run_maintenance(
    db: async_sessionmaker[AsyncSession],
    now: datetime | None = None,
    *,
    default_retention_days: int = DEFAULT_RETENTION_DAYS,
) -> MaintenanceResult:
    """Create partitions ahead, split the default partitions, drop expired partitions, apply retention."""
    now = now or datetime.now(UTC)
    result = MaintenanceResult()
    # Across tenants: under row-level security only a system context sees (and deletes) every tenant's rows.
    with system_context():
        await _maintain(db, now, default_retention_days, result)
    if result.created or result.dropped or any(result.deleted.values()):
        log.info("analytics maintenance: %s", result)
    return result


async def _maintain(
    db: async_sessionmaker[AsyncSession], now: datetime, default_retention_days: int, result: MaintenanceResult
) -> None:
    async with db.begin() as session:
        retention = await _retention_days(session, default_retention_days)
        conn = await session.connection()
        postgres = conn.dialect.name == "postgresql"
        if postgres and not (await conn.execute(text(f"SELECT pg_try_advisory_xact_lock({_ADVISORY_LOCK})"))).scalar():
            log.info("analytics maintenance: another worker is running it")
            return
        if postgres:
            await _partitions(conn, now, max(retention.values(), default=default_retention_days), result)
        for tenant_id, days in retention.items():
            await _tenant_retention(session, tenant_id, now - timedelta(days=days), result)


async def _partitions(conn: AsyncConnection, now: datetime, longest_days: int, result: MaintenanceResult) -> None:
    current = month_start(now.date())
    ahead = [current]
    for _ in range(AHEAD_MONTHS):
        ahead.append(next_month(ahead[-1]))
    cutoff = (now - timedelta(days=longest_days)).date()
    for table, column in PARTITIONED.items():
        existing = await _existing(conn, table)
        result.created += await _split_default(conn, table, column, existing)
        for statement in partition_statements(table, ahead):
            await conn.execute(text(statement))
        result.created += [partition_name(table, m) for m in ahead if partition_name(table, m) not in existing]
        for name in sorted(existing):
            match = _PARTITION_NAME.match(name)
            if match is None or match.group("month") is None:
                continue
            month = datetime.strptime(match.group("month"), "%Y%m").date()
            if next_month(month) <= cutoff:  # every row of it is past every tenant's retention
                await conn.execute(text(f"DROP TABLE {name}"))
                result.dropped.append(name)


async def _tenant_retention(session: AsyncSession, tenant_id: str, cutoff: datetime, result: MaintenanceResult) -> None:
    statements = [
        ("records", delete(Record).where(Record.tenant_id == tenant_id, Record.occurred_at < cutoff)),
        *(
            (t.name, delete(t).where(t.c.tenant_id == tenant_id, t.c.occurred_at < cutoff))
            for t in FACT_TABLES.values()
        ),
        (HOURLY.name, delete(HOURLY).where(HOURLY.c.tenant_id == tenant_id, HOURLY.c.bucket < cutoff)),
        # Daily totals are kept (charts over a year), except per credential: those name people.
        (
            DAILY.name,
            delete(DAILY).where(
                DAILY.c.tenant_id == tenant_id, DAILY.c.scope == "credential", DAILY.c.day < cutoff.date()
            ),
        ),
    ]
    conn = await session.connection()
    for name, statement in statements:
        deleted = (await conn.execute(statement)).rowcount
        result.deleted[name] = result.deleted.get(name, 0) + (deleted or 0)


async def _maintain_forever(db: async_sessionmaker[AsyncSession]) -> None:
    # First run after one interval: the migration created the partitions ahead, and a run at start would race
    # the first requests (and delete old test data in the middle of a test).
    while True:
        await asyncio.sleep(MAINTENANCE_INTERVAL_S)
        try:
            await run_maintenance(db)
        except SQLAlchemyError:  # supervision point: the next run retries; ingest does not depend on it
            log.exception("analytics maintenance failed")


async def maintenance_ctx(app: web.Application) -> AsyncIterator[None]:
    """cleanup_ctx of the cloud app: the periodic maintenance task, cancelled on stop."""
    from cloud.appkeys import DB  # noqa: PLC0415 - the composition root's key, read when the app starts

    task = asyncio.create_task(_maintain_forever(app[DB]), name="analytics-maintenance")
    yield
    task.cancel()
    try:
        await task
    except asyncio.CancelledError:
        pass
