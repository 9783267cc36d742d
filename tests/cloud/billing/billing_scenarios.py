"""Scenario builders of the billing tests: plans, subscriptions and usage fed through the real metering code."""

from __future__ import annotations

from datetime import UTC, date, datetime, time

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from cloud.billing import catalogue, subscriptions
from cloud.billing.catalogue import PlanSpec
from cloud.billing.metering import meter_batch
from cloud.billing.models import Invoice, InvoiceLine, Plan
from sync.wire import SyncRecord, new_nonce

BASIC = PlanSpec(
    code="basic",
    name="Basic",
    currency="EUR",
    monthly_price=3_100,  # 100 a day in a 31-day month
    yearly_price=36_500,
    included_cameras=2,
    included_doors=2,
    included_devices=10,
    included_events=100_000,
    snapshot_bytes=1 << 30,
    retention_days=30,
    camera_overage_price=310,
    door_overage_price=620,
    events_overage_price=1_000,
    trial_days=0,
    site_limit=10,
)
PRO = BASIC.model_copy(update={"code": "pro", "name": "Pro", "monthly_price": 6_200, "yearly_price": 73_000})


async def publish(db: async_sessionmaker[AsyncSession], *specs: PlanSpec) -> list[Plan]:
    """Publish plans; return their rows."""
    async with db.begin() as session:
        return [await catalogue.publish(session, spec) for spec in specs]


async def subscribe(
    db: async_sessionmaker[AsyncSession], tenant_id: str, plan: Plan, start: date, interval: str = "month", tax: int = 0
) -> int:
    """Start a subscription; return its id."""
    async with db.begin() as session:
        sub = await subscriptions.start(session, tenant_id, plan, interval, start, tax_rate_bp=tax)
        return sub.id


async def change(db: async_sessionmaker[AsyncSession], tenant_id: str, plan: Plan, on: date) -> int:
    """Change plan on `on`; return the previewed amount."""
    async with db.begin() as session:
        sub = await subscriptions.subscription_of(session, tenant_id)
        assert sub is not None
        return (await subscriptions.change_plan(session, sub, plan, on)).amount


async def sync_usage(
    db: async_sessionmaker[AsyncSession],
    site_id: str,
    day: date,
    events: int,
    first_seq: int,
    inventory: tuple[int, int, int] | None = None,
) -> str:
    """Meter a batch of `events` records (and an inventory report) on `day`, as ingest does; return its nonce."""
    when = datetime.combine(day, time(12), tzinfo=UTC)
    records = [SyncRecord(seq=first_seq + n, kind="event", occurred_at=when, payload={}) for n in range(events)]
    if inventory is not None:
        cameras, doors, devices = inventory
        payload = {"cameras": cameras, "doors": doors, "devices": devices}
        records.append(SyncRecord(seq=first_seq + events, kind="inventory", occurred_at=when, payload=payload))
    nonce = new_nonce()
    async with db.begin() as session:
        await meter_batch(session, site_id, nonce, records, {r.seq for r in records})
    return nonce


async def invoices_of(db: async_sessionmaker[AsyncSession], tenant_id: str) -> list[Invoice]:
    """The tenant's invoices, oldest period first."""
    async with db() as session:
        return list(
            await session.scalars(select(Invoice).where(Invoice.tenant_id == tenant_id).order_by(Invoice.period_start))
        )


async def lines_of(db: async_sessionmaker[AsyncSession], invoice_id: int) -> list[InvoiceLine]:
    """An invoice's lines in order."""
    async with db() as session:
        return list(
            await session.scalars(
                select(InvoiceLine).where(InvoiceLine.invoice_id == invoice_id).order_by(InvoiceLine.position)
            )
        )


async def bulk_events(db: async_sessionmaker[AsyncSession], site_id: str, day: date, events: int, seq: int) -> None:
    """Meter one batch of `events` records on `day` without building every record (metering's own writes)."""
    from cloud.billing.metering import BATCHES, _upsert_days
    from cloud.db.models import Site

    async with db.begin() as session:
        tenant_id = await session.scalar(select(Site.tenant_id).where(Site.id == site_id))
        assert tenant_id is not None
        dialect = session.get_bind().dialect.name
        await _upsert_days(session, dialect, site_id, tenant_id, {day: {"events": events}})
        await session.execute(
            BATCHES.insert().values(
                site_id=site_id,
                tenant_id=tenant_id,
                day=day,
                batch_nonce=new_nonce(),
                first_seq=seq,
                last_seq=seq + events - 1,
                events=events,
                received_at=datetime.now(UTC),
            )
        )
