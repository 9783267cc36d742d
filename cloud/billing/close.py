"""The period close: draft an invoice for every ended period, refresh drafts, finalise them after the grace days.

Exactly one invoice per subscription and period is guaranteed by the database (`uq_billing_invoices_
subscription_id` on (subscription_id, period_start)), not by this code: a closer claims a period with a
conditional UPDATE of the subscription and inserts the draft with ON CONFLICT DO NOTHING, so two closers (or the
same close run twice) can never both create one. On PostgreSQL a session advisory lock also keeps a second
worker's close from running at the same time at all (it returns at once); SQLite has one writer anyway.

Finalising takes the tenant's next invoice number (a counter row updated in the same transaction, so a rolled
back finalisation leaves no gap; the database refuses a number whose predecessor does not exist), recomputes the
lines from the usage known now, and marks the usage batches it billed, so late batches are billed exactly once.
"""

from __future__ import annotations

import logging
from collections import defaultdict
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import date, timedelta
from typing import Any, cast

from sqlalchemy import Table, delete, func, select, text, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from cloud.billing.invoicing import DayRow, LateBatch, Line, PeriodInput, period_lines, totals
from cloud.billing.models import (
    BillingAccount,
    Invoice,
    InvoiceLine,
    Plan,
    Subscription,
    UsageBatch,
    UsageDay,
)
from cloud.billing.proration import next_period, plan_segments
from cloud.billing.subscriptions import announce_plan, plan_changes, site_spans, status_on
from cloud.db.models import utcnow

log = logging.getLogger(__name__)

INVOICES = cast(Table, Invoice.__table__)
LINES = cast(Table, InvoiceLine.__table__)
# pg_try_advisory_lock key of the close ("OUTPOST_BILL" as a number); any constant shared by all workers works.
CLOSE_LOCK_KEY = 0x4F55_5450_4249_4C4C & 0x7FFF_FFFF_FFFF_FFFF


@dataclass(frozen=True)
class CloseResult:
    """What one close run did."""

    ran: bool
    drafted: int = 0
    refreshed: int = 0
    finalized: int = 0


@asynccontextmanager
async def close_lock(db: async_sessionmaker[AsyncSession]) -> AsyncIterator[bool]:
    """Hold the close lock while the block runs; yields False if another worker holds it (PostgreSQL)."""
    async with db() as session:
        if session.get_bind().dialect.name != "postgresql":
            yield True
            return
        got = bool(await session.scalar(text("SELECT pg_try_advisory_lock(:key)"), {"key": CLOSE_LOCK_KEY}))
        await session.commit()  # the lock belongs to the connection, which the session keeps until it closes
        try:
            yield got
        finally:
            if got:
                await session.scalar(text("SELECT pg_advisory_unlock(:key)"), {"key": CLOSE_LOCK_KEY})
                await session.commit()


def _insert_ignoring(dialect: str, table: Table) -> Any:
    return (postgresql.insert(table) if dialect == "postgresql" else sqlite.insert(table)).on_conflict_do_nothing()


async def period_input(
    session: AsyncSession, subscription: Subscription, start: date, end: date
) -> tuple[PeriodInput, list[int]]:
    """Load what the period's lines depend on; also return the ids of the usage batches it bills."""
    tenant_id = subscription.tenant_id
    changes = await plan_changes(session, subscription.id)
    segments = plan_segments(changes, start, end)
    plans = {p.id: p for p in await session.scalars(select(Plan).where(Plan.id.in_({pid for _, pid in changes})))}
    sites = [s for s in await site_spans(session, tenant_id) if s.active_from < end]
    days: dict[tuple[str, date], list[int]] = {}
    day_rows = await session.execute(
        select(UsageDay.site_id, UsageDay.day, UsageDay.cameras, UsageDay.doors).where(
            UsageDay.tenant_id == tenant_id, UsageDay.day >= start, UsageDay.day < end
        )
    )
    for site_id, day, cameras, doors in day_rows:
        days[site_id, day] = [cameras, doors, 0]
    batch_ids: list[int] = []
    batches = await session.execute(
        select(UsageBatch.id, UsageBatch.site_id, UsageBatch.day, UsageBatch.events).where(
            UsageBatch.tenant_id == tenant_id,
            UsageBatch.invoice_id.is_(None),
            UsageBatch.day >= start,
            UsageBatch.day < end,
        )
    )
    for batch_id, site_id, day, events in batches:
        days.setdefault((site_id, day), [0, 0, 0])[2] += events
        batch_ids.append(batch_id)
    usage = [DayRow(site, day, c, d, e) for (site, day), (c, d, e) in sorted(days.items())]
    late = await _late_batches(session, subscription, start)
    period = PeriodInput(
        period_start=start,
        period_end=end,
        interval=subscription.interval,
        trial_ends_on=subscription.trial_ends_on,
        segments=segments,
        plans=plans,
        sites=sites,
        usage=usage,
        late=late,
    )
    return period, batch_ids + [b.id for b in late]


async def _late_batches(session: AsyncSession, subscription: Subscription, before: date) -> list[LateBatch]:
    """Unbilled batches of days that an already finalised invoice of this subscription covered."""
    finalized = list(
        await session.scalars(
            select(Invoice).where(
                Invoice.subscription_id == subscription.id,
                Invoice.status.in_(("finalized", "paid")),
                Invoice.period_start < before,
            )
        )
    )
    if not finalized:
        return []
    rows = list(
        await session.scalars(
            select(UsageBatch).where(
                UsageBatch.tenant_id == subscription.tenant_id,
                UsageBatch.invoice_id.is_(None),
                UsageBatch.day < before,
                UsageBatch.day >= min(i.period_start for i in finalized),
            )
        )
    )
    late: list[LateBatch] = []
    billed_cache: dict[tuple[str, int], int] = {}
    for row in rows:
        invoice = next((i for i in finalized if i.period_start <= row.day < i.period_end), None)
        if invoice is None or invoice.number is None:
            continue
        plan = await session.get(Plan, invoice.plan_id)
        assert plan is not None
        key = (row.site_id, invoice.id)
        if key not in billed_cache:
            billed_cache[key] = int(
                await session.scalar(
                    select(func.coalesce(func.sum(UsageBatch.events), 0)).where(
                        UsageBatch.site_id == row.site_id,
                        UsageBatch.invoice_id.is_not(None),
                        UsageBatch.day >= max(invoice.period_start, subscription.trial_ends_on),
                        UsageBatch.day < invoice.period_end,
                    )
                )
                or 0
            )
        late.append(
            LateBatch(
                id=row.id,
                site_id=row.site_id,
                day=row.day,
                events=row.events,
                first_seq=row.first_seq,
                last_seq=row.last_seq,
                nonce=row.batch_nonce,
                invoice_number=invoice.number,
                period_start=invoice.period_start,
                period_end=invoice.period_end,
                plan=plan,
                interval=subscription.interval,
                trial_ends_on=subscription.trial_ends_on,
                billed_events=billed_cache[key],
            )
        )
    return late


async def _store_lines(session: AsyncSession, invoice_id: int, lines: list[Line], tax_rate_bp: int) -> None:
    await session.execute(delete(LINES).where(LINES.c.invoice_id == invoice_id))
    if lines:
        await session.execute(
            LINES.insert(),
            [
                {
                    "invoice_id": invoice_id,
                    "position": n,
                    "kind": line.kind,
                    "item": line.item,
                    "description": line.description[:300],
                    "site_id": line.site_id,
                    "plan_id": line.plan_id,
                    "first_day": line.first_day,
                    "last_day": line.last_day,
                    "quantity": line.quantity,
                    "unit_price": line.unit_price,
                    "amount": line.amount,
                    "batch_ids": line.batch_ids,
                }
                for n, line in enumerate(lines, start=1)
            ],
        )
    sums = totals(lines, tax_rate_bp)
    await session.execute(
        update(INVOICES)
        .where(INVOICES.c.id == invoice_id)
        .values(subtotal=sums.subtotal, tax=sums.tax, total=sums.total)
    )


async def open_period(
    db: async_sessionmaker[AsyncSession], subscription_id: int, today: date, grace_days: int = 0
) -> bool:
    """Draft the invoice of the subscription's current period if it has ended and move the subscription on.

    A draft already past its grace days gets its lines when it is finalised (in the same close run), not twice.
    Returns False when there was nothing to do (the period has not ended, or another closer claimed it).
    """
    async with db() as session:
        sub = await session.get(Subscription, subscription_id)
        if sub is None or sub.status == "canceled" or sub.period_end > today:
            return False
        start, end = sub.period_start, sub.period_end
        cancel = sub.cancel_at_period_end
    async with db.begin() as session:
        dialect = session.get_bind().dialect.name
        # The claim comes first (a write: SQLite takes its lock now; PostgreSQL locks the row): only the closer
        # whose UPDATE matched the period it read goes on.
        if cancel:
            values: dict[str, Any] = {"status": "canceled", "canceled_on": end}
        else:
            nxt_start, nxt_end = next_period(sub.started_on, sub.interval, end)
            values = {"period_start": nxt_start, "period_end": nxt_end}
        claimed = (
            await session.execute(
                update(Subscription)
                .where(
                    Subscription.id == subscription_id,
                    Subscription.period_start == start,
                    Subscription.status != "canceled",
                )
                .values(**values)
                .returning(Subscription.id)
            )
        ).first()
        if claimed is None:
            return False
        sub = await session.get(Subscription, subscription_id, populate_existing=True)
        assert sub is not None
        account = await session.get(BillingAccount, sub.tenant_id)
        assert account is not None
        if not cancel:
            sub.status = status_on(sub, sub.period_start)
        else:  # the sites' documents drop the plan limits (they see it at their next pull)
            await announce_plan(session, sub.tenant_id)
        changes = await plan_changes(session, sub.id)
        segments = plan_segments(changes, start, end)
        final_plan = segments[-1].plan_id if segments else sub.plan_id
        created = (
            await session.execute(
                _insert_ignoring(dialect, INVOICES)
                .values(
                    tenant_id=sub.tenant_id,
                    subscription_id=sub.id,
                    plan_id=final_plan,
                    period_start=start,
                    period_end=end,
                    status="draft",
                    currency=account.currency,
                    tax_rate_bp=account.tax_rate_bp,
                    subtotal=0,
                    tax=0,
                    total=0,
                    created_at=utcnow(),
                )
                .returning(INVOICES.c.id)
            )
        ).first()
        if created is None:
            log.warning("billing: invoice of subscription %d for %s already exists", subscription_id, start)
            return True
        if end + timedelta(days=grace_days) > today:  # stays draft for a while: show its lines now
            period, _ = await period_input(session, sub, start, end)
            await _store_lines(session, created.id, period_lines(period), account.tax_rate_bp)
    log.info("billing: drafted invoice %d (tenant %s, %s - %s)", created.id, sub.tenant_id, start, end)
    return True


async def refresh_draft(db: async_sessionmaker[AsyncSession], invoice_id: int) -> None:
    """Recompute a draft's lines from the usage known now (late site data within the grace period)."""
    async with db.begin() as session:
        # A write first (SQLite takes its lock now rather than failing a read-to-write upgrade when ingest wrote
        # meanwhile; PostgreSQL locks the row): only a draft is touched.
        claimed = (
            await session.execute(
                update(INVOICES)
                .where(INVOICES.c.id == invoice_id, INVOICES.c.status == "draft")
                .values(subtotal=INVOICES.c.subtotal)
                .returning(INVOICES.c.id)
            )
        ).first()
        if claimed is None:
            return
        invoice = await session.get(Invoice, invoice_id)
        assert invoice is not None
        sub = await session.get(Subscription, invoice.subscription_id)
        assert sub is not None
        period, _ = await period_input(session, sub, invoice.period_start, invoice.period_end)
        await _store_lines(session, invoice.id, period_lines(period), invoice.tax_rate_bp)


class _AlreadyFinal(Exception):
    """Another closer finalised the invoice first (rolls this transaction back, number included)."""


async def finalize(db: async_sessionmaker[AsyncSession], invoice_id: int) -> bool:
    """Number and finalise a draft (recomputed first); return False if it was not a draft any more."""
    async with db() as session:
        tenant_id = await session.scalar(select(Invoice.tenant_id).where(Invoice.id == invoice_id))
    if tenant_id is None:
        return False
    try:
        async with db.begin() as session:
            accounts = cast(Table, BillingAccount.__table__)
            number = await session.scalar(
                update(accounts)
                .where(accounts.c.tenant_id == tenant_id)
                .values(last_invoice_number=accounts.c.last_invoice_number + 1)
                .returning(accounts.c.last_invoice_number)
            )
            assert number is not None
            done = (
                await session.execute(
                    update(INVOICES)
                    .where(INVOICES.c.id == invoice_id, INVOICES.c.status == "draft")
                    .values(
                        status="finalized",
                        number=number,
                        previous_number=number - 1 if number > 1 else None,
                        finalized_at=utcnow(),
                    )
                    .returning(INVOICES.c.id)
                )
            ).first()
            if done is None:
                raise _AlreadyFinal
            invoice = await session.get(Invoice, invoice_id, populate_existing=True)
            assert invoice is not None
            sub = await session.get(Subscription, invoice.subscription_id)
            assert sub is not None
            period, batch_ids = await period_input(session, sub, invoice.period_start, invoice.period_end)
            await _store_lines(session, invoice.id, period_lines(period), invoice.tax_rate_bp)
            for chunk in range(0, len(batch_ids), 5000):
                await session.execute(
                    update(UsageBatch)
                    .where(UsageBatch.id.in_(batch_ids[chunk : chunk + 5000]), UsageBatch.invoice_id.is_(None))
                    .values(invoice_id=invoice.id)
                )
    except _AlreadyFinal:
        return False
    log.info("billing: finalised invoice %d as number %d of tenant %s", invoice_id, number, tenant_id)
    return True


async def close_due(db: async_sessionmaker[AsyncSession], today: date, grace_days: int) -> CloseResult:
    """Run the close for `today`: draft ended periods, refresh drafts, finalise those past the grace days."""
    async with close_lock(db) as acquired:
        if not acquired:
            log.info("billing: another worker is running the close")
            return CloseResult(ran=False)
        async with db() as session:
            due = list(
                await session.scalars(
                    select(Subscription.id).where(Subscription.status != "canceled", Subscription.period_end <= today)
                )
            )
        drafted = 0
        for subscription_id in due:
            while await open_period(
                db, subscription_id, today, grace_days
            ):  # catches up several periods after downtime
                drafted += 1
        async with db() as session:
            drafts = list(
                await session.execute(
                    select(Invoice.id, Invoice.period_end).where(Invoice.status == "draft").order_by(Invoice.id)
                )
            )
        finalized = refreshed = 0
        by_due: dict[bool, list[int]] = defaultdict(list)
        for invoice_id, period_end in drafts:
            by_due[period_end + timedelta(days=grace_days) <= today].append(invoice_id)
        for invoice_id in by_due[False]:
            await refresh_draft(db, invoice_id)
            refreshed += 1
        for invoice_id in by_due[True]:
            finalized += await finalize(db, invoice_id)
    return CloseResult(ran=True, drafted=drafted, refreshed=refreshed, finalized=finalized)
