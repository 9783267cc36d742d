"""Metering: the daily usage row per site and day, fed from ingest (inside its transaction) and media uploads.

Ingest calls `meter_batch` once per batch with the records it newly stored (its (site, seq) dedup decides what
is new), so a replayed or repeated batch adds nothing: one upsert of `billing_usage_days` per UTC day the batch
touches, and one `billing_usage_batches` row per day with events (the drill-down and the late-usage
bookkeeping). Events are every stored record except the box's own bookkeeping (`UNMETERED_KINDS`); cameras,
doors and devices are the day's highest `inventory` report.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import date, datetime
from functools import lru_cache
from typing import Any, cast

from pydantic import ValidationError
from sqlalchemy import Table, func, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from cloud.billing.models import UsageBatch, UsageDay
from cloud.db.models import Site, utcnow
from sync.codec import describe
from sync.inventory import InventoryReport
from sync.wire import RecordRejection, SyncRecord

DAYS = cast(Table, UsageDay.__table__)
BATCHES = cast(Table, UsageBatch.__table__)
UNMETERED_KINDS = frozenset({"config_edit", "thinning", "inventory"})
INVENTORY_FIELDS = ("cameras", "doors", "devices")


@dataclass
class DayUsage:
    """What one batch adds to one day of a site."""

    events: int = 0
    first_seq: int = 0
    last_seq: int = 0
    inventory: dict[str, int] = field(default_factory=dict)


def usage_by_day(records: Iterable[SyncRecord], new_seqs: set[int]) -> dict[date, DayUsage]:
    """Group the newly stored records by the UTC day they happened on."""
    days: dict[date, DayUsage] = {}
    for record in records:
        if record.seq not in new_seqs:
            continue
        at, offset = record.occurred_at, record.occurred_at.utcoffset()
        usage = days.setdefault((at - offset).date() if offset else at.date(), DayUsage())  # the UTC day
        if record.kind == "inventory":
            report = InventoryReport.model_validate(record.payload)
            for name in INVENTORY_FIELDS:
                usage.inventory[name] = max(usage.inventory.get(name, 0), getattr(report, name))
        elif record.kind not in UNMETERED_KINDS:
            usage.events += 1
            usage.first_seq = record.seq if usage.first_seq == 0 else min(usage.first_seq, record.seq)
            usage.last_seq = max(usage.last_seq, record.seq)
    return days


def invalid_inventory(records: Iterable[SyncRecord]) -> list[RecordRejection]:
    """Refuse `inventory` records whose payload is not an `InventoryReport` (checked before anything is stored)."""
    rejected = []
    for record in records:
        if record.kind == "inventory":
            try:
                InventoryReport.model_validate(record.payload)
            except ValidationError as err:
                rejected.append(RecordRejection(seq=record.seq, error="invalid_record", detail=describe(err)))
    return rejected


def _insert(dialect: str, table: Table) -> Any:
    return postgresql.insert(table) if dialect == "postgresql" else sqlite.insert(table)


def _larger(dialect: str, current: Any, new: Any) -> Any:
    # Two-argument max() is a scalar function in SQLite; PostgreSQL spells it greatest().
    return func.greatest(current, new) if dialect == "postgresql" else func.max(current, new)


async def _upsert_days(
    session: AsyncSession, dialect: str, site_id: str, tenant_id: str, rows: dict[date, dict[str, int]]
) -> None:
    now = utcnow()
    values = [
        {
            "site_id": site_id,
            "tenant_id": tenant_id,
            "day": day,
            "events": row.get("events", 0),
            "snapshot_bytes": row.get("snapshot_bytes", 0),
            "cameras": row.get("cameras", 0),
            "doors": row.get("doors", 0),
            "devices": row.get("devices", 0),
            "updated_at": now,
        }
        for day, row in sorted(rows.items())
    ]
    await session.execute(_days_upsert(dialect), values)


@lru_cache(maxsize=4)
def _days_upsert(dialect: str) -> Any:
    """The usage-day upsert of `dialect`, built once (a new statement each batch costs its cache key each time)."""
    statement = _insert(dialect, DAYS)
    excluded = statement.excluded
    update = {
        "events": DAYS.c.events + excluded.events,
        "snapshot_bytes": DAYS.c.snapshot_bytes + excluded.snapshot_bytes,
        **{name: _larger(dialect, DAYS.c[name], excluded[name]) for name in INVENTORY_FIELDS},
        "updated_at": excluded.updated_at,
    }
    return statement.on_conflict_do_update(index_elements=[DAYS.c.site_id, DAYS.c.day], set_=update)


async def meter_batch(
    session: AsyncSession,
    site_id: str,
    nonce: str,
    records: list[SyncRecord],
    new_seqs: set[int],
    *,
    tenant_id: str | None = None,
) -> None:
    """Add a batch's newly stored records to the site's daily usage (in the caller's ingest transaction).

    `tenant_id` (the site's) saves its lookup when the caller has it.
    """
    days = usage_by_day(records, new_seqs)
    if not days:
        return
    if tenant_id is None:
        tenant_id = await session.scalar(select(Site.tenant_id).where(Site.id == site_id))
        if tenant_id is None:
            return
    dialect = session.get_bind().dialect.name
    rows = {day: {"events": usage.events, **usage.inventory} for day, usage in days.items()}
    await _upsert_days(session, dialect, site_id, tenant_id, rows)
    now = utcnow()
    batches = [
        {
            "site_id": site_id,
            "tenant_id": tenant_id,
            "day": day,
            "batch_nonce": nonce,
            "first_seq": usage.first_seq,
            "last_seq": usage.last_seq,
            "events": usage.events,
            "received_at": now,
        }
        for day, usage in sorted(days.items())
        if usage.events
    ]
    if batches:
        await session.execute(BATCHES.insert(), batches)


async def meter_snapshot(db: async_sessionmaker[AsyncSession], site_id: str, size: int, at: datetime) -> None:
    """Add a completed snapshot upload of `size` bytes to the site's usage on the day it completed."""
    async with db.begin() as session:
        tenant_id = await session.scalar(select(Site.tenant_id).where(Site.id == site_id))
        if tenant_id is None:
            return
        dialect = session.get_bind().dialect.name
        await _upsert_days(session, dialect, site_id, tenant_id, {at.date(): {"snapshot_bytes": size}})
