"""A year of simulated usage for three tenants with plan changes, checked against totals computed by hand.

Prices (BASIC 3,100 / PRO 6,200 minor units per site per month; yearly 36,500 / 73,000) make the day rates
round numbers in 31-day months and in a 365-day year, so every amount below can be checked on paper.
"""

from __future__ import annotations

from datetime import date, timedelta

from billing_helpers import add_site, add_tenant
from billing_scenarios import BASIC, PRO, bulk_events, change, invoices_of, lines_of, publish, subscribe, sync_usage
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from cloud.billing import subscriptions
from cloud.billing.close import close_due

YEAR = 2027
GRACE = 2


def close_days() -> list[date]:
    """The 1st to 4th of every month of the year, and of January after it (periods end on the 1st)."""
    return [date(YEAR + (m // 12), m % 12 + 1, d) for m in range(13) for d in (1, 2, 3, 4)]


async def test_a_year_of_three_tenants_matches_the_hand_computed_invoices(
    billing_db: async_sessionmaker[AsyncSession],
) -> None:
    db = billing_db
    trial = BASIC.model_copy(update={"code": "basic-trial", "name": "Basic with trial", "trial_days": 14})
    basic, pro, basic_trial = await publish(db, BASIC, PRO, trial)

    # A: monthly Basic, upgrade to Pro on 11 March, back to Basic from 1 July; 250,000 events in May; tax 20 %.
    a = await add_tenant(db, "A")
    a_site = await add_site(db, a, "A-1", date(YEAR, 1, 1))
    await subscribe(db, a, basic, date(YEAR, 1, 1), tax=2000)
    # B: yearly Pro, a second site from 2 July, 4 cameras at site 1 for 10 days of March; no tax.
    b = await add_tenant(db, "B")
    b_site = await add_site(db, b, "B-1", date(YEAR, 1, 1))
    await add_site(db, b, "B-2", date(YEAR, 7, 2))
    await subscribe(db, b, pro, date(YEAR, 1, 1), interval="year")
    # C: monthly Basic with a 14-day trial from 1 February, canceled in May (effective 1 June), reactivated on
    # 1 August; tax 10 %.
    c = await add_tenant(db, "C")
    await add_site(db, c, "C-1", date(YEAR, 2, 1))

    actions = {
        date(YEAR, 2, 1): lambda: subscribe(db, c, basic_trial, date(YEAR, 2, 1), tax=1000),
        date(YEAR, 3, 11): lambda: change(db, a, pro, date(YEAR, 3, 11)),
        date(YEAR, 5, 10): lambda: _cancel(db, c),
        date(YEAR, 5, 20): lambda: bulk_events(db, a_site, date(YEAR, 5, 20), 250_000, 1),
        date(YEAR, 7, 1): lambda: change(db, a, basic, date(YEAR, 7, 1)),
        date(YEAR, 8, 1): lambda: _reactivate(db, c, date(YEAR, 8, 1)),
    }
    camera_days = {date(YEAR, 3, 5) + timedelta(days=offset) for offset in range(10)}
    for day in sorted(set(close_days()) | set(actions) | camera_days):
        if day in actions:
            await actions[day]()
        if day in camera_days:
            await sync_usage(db, b_site, day, 0, day.toordinal(), inventory=(4, 1, 3))
        await close_due(db, day, grace_days=GRACE)

    a_invoices = await invoices_of(db, a)
    assert [(i.period_start.month, i.number, i.status) for i in a_invoices] == [
        (m, m, "finalized") for m in range(1, 13)
    ]
    # Subtotals by hand: Jan, Feb 3,100; Mar 10 days Basic (1,000) + 21 days Pro (4,200); Apr-Jun 6,200, May plus
    # 150,000 events over the 100,000 included = 2 started blocks x 1,000; Jul-Dec 3,100.
    assert [i.subtotal for i in a_invoices] == [3100, 3100, 5200, 6200, 8200, 6200] + [3100] * 6
    assert [i.tax for i in a_invoices] == [620, 620, 1040, 1240, 1640, 1240] + [620] * 6
    assert sum(i.total for i in a_invoices) == 60_720
    march = await lines_of(db, a_invoices[2].id)
    assert [(line.kind, line.quantity, line.amount) for line in march] == [
        ("proration", 10, 1000),
        ("proration", 21, 4200),
    ]

    (b_invoice,) = await invoices_of(db, b)
    # 73,000 for site 1; site 2 for 183 of 365 days = 36,600; 20 camera-days over at 3,720 a year: 203.8 -> 204.
    assert [(line.kind, line.item, line.amount) for line in await lines_of(db, b_invoice.id)] == [
        ("base", "site", 73_000),
        ("overage", "cameras", 204),
        ("proration", "site", 36_600),
    ]
    assert (b_invoice.period_end, b_invoice.total, b_invoice.number) == (date(YEAR + 1, 1, 1), 109_804, 1)

    c_invoices = await invoices_of(db, c)
    assert [i.period_start.month for i in c_invoices] == [2, 3, 4, 5, 8, 9, 10, 11, 12]
    # February: 3,100 less the 14 trial days of 28 (1,550), tax 155; then 3,100 + 310 a month.
    assert [i.total for i in c_invoices] == [1705] + [3410] * 8
    assert [i.number for i in c_invoices] == list(range(1, 10))
    assert sum(i.total for i in c_invoices) == 28_985

    # A new price for Basic changes no past invoice.
    before = [(i.id, i.total) for i in a_invoices]
    await publish(db, BASIC.model_copy(update={"monthly_price": 9_900}))
    await close_due(db, date(YEAR + 1, 1, 5), grace_days=GRACE)
    assert [(i.id, i.total) for i in (await invoices_of(db, a))[:12]] == before


async def _cancel(db: async_sessionmaker[AsyncSession], tenant_id: str) -> None:
    async with db.begin() as session:
        sub = await subscriptions.subscription_of(session, tenant_id)
        assert sub is not None
        subscriptions.cancel(sub)


async def _reactivate(db: async_sessionmaker[AsyncSession], tenant_id: str, day: date) -> None:
    async with db.begin() as session:
        sub = await subscriptions.subscription_of(session, tenant_id)
        assert sub is not None and sub.status == "canceled"
        await subscriptions.reactivate(session, sub, day)
