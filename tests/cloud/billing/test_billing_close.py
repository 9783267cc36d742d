"""The period close: drafts, grace, finalisation with gap-free numbers, late usage billed once, concurrency."""

from __future__ import annotations

import asyncio
from datetime import date

import pytest
from billing_helpers import add_site, add_tenant
from billing_scenarios import BASIC, invoices_of, lines_of, publish, subscribe, sync_usage
from sqlalchemy import func, insert, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from cloud.billing import documents, views
from cloud.billing.close import close_due, finalize, open_period
from cloud.billing.models import Invoice, UsageBatch
from cloud.billing.subscriptions import BillingError

JAN = date(2027, 1, 1)
FEB = date(2027, 2, 1)
MAR = date(2027, 3, 1)


async def test_close_drafts_then_finalises_after_grace_and_bills_late_usage_once_on_the_next_invoice(
    billing_db: async_sessionmaker[AsyncSession],
) -> None:
    db = billing_db
    (basic,) = await publish(db, BASIC)
    tenant = await add_tenant(db, "Acme")
    north = await add_site(db, tenant, "North", JAN)
    south = await add_site(db, tenant, "South", date(2027, 1, 17))  # 15 of 31 days in January
    await subscribe(db, tenant, basic, JAN, tax=2000)
    await sync_usage(db, north, date(2027, 1, 5), 3, 1, inventory=(4, 2, 5))  # 2 cameras over, 1 day
    await sync_usage(db, south, date(2027, 1, 20), 2, 1)

    assert (await close_due(db, date(2027, 1, 31), grace_days=3)).drafted == 0  # the period has not ended
    first = await close_due(db, FEB, grace_days=3)
    again = await close_due(db, FEB, grace_days=3)
    assert (first.drafted, first.finalized, again.drafted, again.refreshed) == (1, 0, 0, 1)
    # Within the grace period: a batch for January still lands on January's invoice.
    await sync_usage(db, north, date(2027, 1, 30), 1, 10)
    assert (await close_due(db, date(2027, 2, 4), grace_days=3)).finalized == 1
    (january,) = await invoices_of(db, tenant)
    assert (january.status, january.number, january.previous_number) == ("finalized", 1, None)
    lines = await lines_of(db, january.id)
    assert [(line.kind, line.item, line.site_id, line.quantity, line.amount) for line in lines] == [
        ("base", "site", north, 31, 3_100),
        ("overage", "cameras", north, 2, 20),  # 2 camera-days x 310 / 31
        ("proration", "site", south, 15, 1_500),
    ]
    assert (january.subtotal, january.tax, january.total) == (4_620, 924, 5_544)
    async with db() as session:
        billed = await session.scalar(select(func.count()).where(UsageBatch.invoice_id == january.id))
    assert billed == 3  # every January batch is tied to the invoice: the drill-down
    async with db() as session:  # every line drills down to the usage rows and synced batches behind it
        for line in lines:
            drill = await views.line_drill_down(session, tenant, january.id, line.id)
            assert drill.days and drill.batches, line.description
            assert all(row.site_id == line.site_id for row in drill.days + drill.batches)

    # North was offline: 150,000 January events arrive in March, after January was finalised.
    late = await sync_usage(db, north, date(2027, 1, 25), 150_000, 100)
    for _ in range(2):
        await close_due(db, MAR, grace_days=0)
    await close_due(db, date(2027, 4, 1), grace_days=0)
    january, february, march = await invoices_of(db, tenant)
    assert [i.number for i in (january, february, march)] == [1, 2, 3]
    adjustments = [
        line for inv in (february, march) for line in await lines_of(db, inv.id) if line.kind == "adjustment"
    ]
    assert len(adjustments) == 1  # billed once, on February's invoice (the next one closed)
    (adjustment,) = adjustments
    assert adjustment.site_id == north and late[:12] in adjustment.description and "North" in adjustment.description
    assert adjustment.amount == 1_000  # 150,004 events: one started block of 100,000 over the allowance
    async with db() as session:
        batch = await session.scalar(select(UsageBatch).where(UsageBatch.batch_nonce == late))
    assert batch is not None and str(batch.id) == adjustment.batch_ids and batch.invoice_id == february.id


async def test_paid_void_and_credit_notes_keep_their_own_gap_free_numbers(
    billing_db: async_sessionmaker[AsyncSession],
) -> None:
    db = billing_db
    (basic,) = await publish(db, BASIC)
    tenant = await add_tenant(db, "Acme")
    await add_site(db, tenant, "North", JAN)
    await subscribe(db, tenant, basic, JAN, tax=1000)
    await close_due(db, MAR, grace_days=0)
    january, february = await invoices_of(db, tenant)
    assert january.total == 3_410 and february.total == 3_410
    async with db.begin() as session:
        await documents.mark_paid(session, tenant, january.id)
        note = await documents.issue_credit_note(session, tenant, january.id, 1_000, "door offline a week", "admin")
        assert (note.number, note.amount, note.tax) == (1, 1_000, 100)
        await documents.void(session, tenant, february.id)
    async with db.begin() as session:
        with pytest.raises(BillingError, match="exceeds what the invoice still stands for"):
            await documents.issue_credit_note(session, tenant, january.id, 3_000, "too much", "admin")
    async with db.begin() as session:
        with pytest.raises(BillingError, match="this one is void"):
            await documents.issue_credit_note(session, tenant, february.id, 10, "void", "admin")
    async with db.begin() as session:
        second = await documents.issue_credit_note(session, tenant, january.id, 2_000, "rest", "admin")
        assert (second.number, second.previous_number) == (2, 1)
        with pytest.raises(BillingError, match="is paid, not finalized"):
            await documents.void(session, tenant, january.id)
    # The database itself refuses a gap: number 5 does not follow 2.
    async with db.begin() as session:
        with pytest.raises(IntegrityError):
            await session.execute(
                insert(Invoice).values(
                    tenant_id=tenant,
                    subscription_id=january.subscription_id,
                    plan_id=basic.id,
                    period_start=date(2030, 1, 1),
                    period_end=date(2030, 2, 1),
                    status="finalized",
                    number=5,
                    previous_number=4,
                    currency="EUR",
                    tax_rate_bp=0,
                    subtotal=0,
                    tax=0,
                    total=0,
                )
            )
    # Nor a second invoice for a subscription and period.
    async with db.begin() as session:
        with pytest.raises(IntegrityError):
            await session.execute(
                insert(Invoice).values(
                    tenant_id=tenant,
                    subscription_id=january.subscription_id,
                    plan_id=basic.id,
                    period_start=JAN,
                    period_end=FEB,
                    status="draft",
                    currency="EUR",
                    tax_rate_bp=0,
                    subtotal=0,
                    tax=0,
                    total=0,
                )
            )


async def test_six_concurrent_closers_make_exactly_one_invoice_per_subscription_and_period(
    billing_db: async_sessionmaker[AsyncSession],
) -> None:
    db = billing_db
    (basic,) = await publish(db, BASIC)
    tenants = [await add_tenant(db, f"Tenant {n}") for n in range(3)]
    subs = []
    for tenant in tenants:
        await add_site(db, tenant, "Only", JAN)
        subs.append(await subscribe(db, tenant, basic, JAN))
    # Six whole closes at once (the lock lets one run on PostgreSQL), then six closers that bypass the lock and
    # race on each subscription directly: the database key is what guarantees one invoice.
    results = await asyncio.gather(*(close_due(db, FEB, grace_days=0) for _ in range(6)))
    assert sum(r.drafted for r in results) == 3 and sum(r.finalized for r in results) == 3
    raced = await asyncio.gather(*(open_period(db, sub, MAR) for sub in subs for _ in range(6)))
    assert sum(raced) == 3
    async with db() as session:
        drafts = list(await session.scalars(select(Invoice.id).where(Invoice.status == "draft")))
    finals = await asyncio.gather(*(finalize(db, invoice_id) for invoice_id in drafts for _ in range(6)))
    assert sum(finals) == 3
    for tenant in tenants:
        invoices = await invoices_of(db, tenant)
        assert [(i.period_start, i.number, i.status) for i in invoices] == [
            (JAN, 1, "finalized"),
            (FEB, 2, "finalized"),
        ]
