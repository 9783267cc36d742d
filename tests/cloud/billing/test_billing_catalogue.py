"""The versioned catalogue and subscriptions: publishing, plan changes with proration preview, cancel, limits."""

from __future__ import annotations

import asyncio
from datetime import date, timedelta

import pytest
from billing_helpers import add_site, add_tenant
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from cloud.billing import catalogue, subscriptions
from cloud.billing.catalogue import DEFAULT_CATALOGUE
from cloud.billing.limits import SiteLimitReached, check_can_enroll
from cloud.billing.models import Plan
from cloud.billing.schedule import publish_default_plans
from cloud.billing.subscriptions import BillingError

START = date(2027, 1, 1)


async def test_publishing_a_changed_plan_adds_a_version_and_keeps_the_old_one(
    billing_db: async_sessionmaker[AsyncSession],
) -> None:
    async with billing_db.begin() as session:
        first = await catalogue.publish_defaults(session)
        again = await catalogue.publish_defaults(session)
        assert [p.id for p in again] == [p.id for p in first]  # unchanged specs keep their version
        standard = DEFAULT_CATALOGUE[1]
        dearer = await catalogue.publish(session, standard.model_copy(update={"monthly_price": 8_900}))
    assert dearer.version == 2
    async with billing_db() as session:
        old = await session.get(type(dearer), first[1].id)
        assert old is not None and old.monthly_price == 7_900 and old.version == 1
        current = {p.code: p for p in await catalogue.current_plans(session)}
        assert current["standard"].id == dearer.id
        assert list(current) == ["starter", "standard", "enterprise"]


async def test_mid_period_upgrade_previews_the_prorated_difference_and_limits_hold(
    billing_db: async_sessionmaker[AsyncSession],
) -> None:
    tenant = await add_tenant(billing_db, "Acme")
    for n in range(3):
        await add_site(billing_db, tenant, f"Site {n}", START)
    async with billing_db.begin() as session:
        starter, standard, _ = await catalogue.publish_defaults(session)
        sub = await subscriptions.start(session, tenant, starter, "month", START, tax_rate_bp=2000)
        assert (sub.period_start, sub.period_end) == (START, date(2027, 2, 1))
        assert subscriptions.status_on(sub, START) == "trialing"
        assert subscriptions.status_on(sub, START + timedelta(days=14)) == "active"
        with pytest.raises(SiteLimitReached, match=r"plan Starter \(v1\) allows 3 site\(s\)"):
            await check_can_enroll(session, tenant)
        # Upgrade on Jan 11: 21 of 31 days at the new price, for 3 sites.
        preview = await subscriptions.change_plan(session, sub, standard, date(2027, 1, 11))
        assert (preview.sites, preview.remaining_days, preview.period_days) == (3, 21, 31)
        assert preview.amount == 3 * (round(7_900 * 21 / 31) - round(2_900 * 21 / 31))  # 3 * (5352 - 1965)
        assert preview.amount == 10_161
        await check_can_enroll(session, tenant)  # Standard allows 50
        changes = await subscriptions.plan_changes(session, sub.id)
        assert changes == [(START, starter.id), (date(2027, 1, 11), standard.id)]
        subscriptions.cancel(sub)
        assert sub.cancel_at_period_end
        await subscriptions.reactivate(session, sub, date(2027, 1, 12))
        assert not sub.cancel_at_period_end
        with pytest.raises(BillingError, match="not canceled"):
            await subscriptions.reactivate(session, sub, date(2027, 1, 12))


async def test_a_downgrade_below_the_enrolled_sites_is_refused_naming_the_plan(
    billing_db: async_sessionmaker[AsyncSession],
) -> None:
    tenant = await add_tenant(billing_db, "Acme")
    for n in range(4):
        await add_site(billing_db, tenant, f"Site {n}", START)
    async with billing_db.begin() as session:
        starter, standard, _ = await catalogue.publish_defaults(session)
        sub = await subscriptions.start(session, tenant, standard, "year", START, tax_rate_bp=0)
        assert sub.period_end == date(2028, 1, 1)
        with pytest.raises(BillingError, match="plan Starter"):
            await subscriptions.change_plan(session, sub, starter, date(2027, 3, 1))


async def test_workers_starting_together_publish_the_default_plans_once(
    billing_db: async_sessionmaker[AsyncSession],
) -> None:
    await asyncio.gather(*(publish_default_plans(billing_db) for _ in range(4)))
    async with billing_db() as session:
        assert [(p.code, p.version) for p in await catalogue.current_plans(session)] == [
            ("starter", 1),
            ("standard", 1),
            ("enterprise", 1),
        ]
        assert len(list(await session.scalars(select(Plan)))) == 3
