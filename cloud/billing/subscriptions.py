"""Subscriptions: start (with the plan's trial), change plan mid-period, cancel at period end, reactivate.

A change takes effect on the day it is made: the days before stay billed at the old plan, the rest of the period
at the new one (`proration`). The history lives in `billing_subscription_plans`, so a period closed later is
billed by the plans that were in force day by day.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta

from sqlalchemy import delete, select
from sqlalchemy.ext.asyncio import AsyncSession

from cloud.billing.limits import enrolled_sites, limit_message
from cloud.billing.models import BillingAccount, Plan, Subscription, SubscriptionPlan
from cloud.billing.proration import change_preview, days_between, period_bounds
from cloud.db.models import Site
from cloud.siteconfig import bump_versions
from cloud.tenancy import tenant_sites


class BillingError(Exception):
    """A billing request that cannot be done as asked; the message says why (shown to the user as 4xx)."""


@dataclass(frozen=True)
class SiteSpan:
    """A site and the days it is billable: [active_from, active_until) (until None: still enrolled)."""

    site_id: str
    name: str
    active_from: date
    active_until: date | None


def period_price(plan: Plan, interval: str) -> int:
    """Return the plan's price per site for one period of `interval`."""
    return plan.yearly_price if interval == "year" else plan.monthly_price


async def site_spans(session: AsyncSession, tenant_id: str) -> list[SiteSpan]:
    """Return the tenant's sites with their billable days (a site is billed from its enrolment day until it is
    revoked)."""
    sites = await session.scalars(tenant_sites(tenant_id).order_by(Site.name, Site.id))
    return [
        SiteSpan(
            s.id,
            s.name,
            s.enrolled_at.date(),
            s.revoked_at.date() if s.revoked_at is not None else None,
        )
        for s in sites
    ]


def active_on(spans: list[SiteSpan], day: date) -> int:
    """Return how many sites are billable on `day`."""
    return sum(1 for s in spans if s.active_from <= day and (s.active_until is None or day < s.active_until))


async def subscription_of(session: AsyncSession, tenant_id: str, *, for_update: bool = False) -> Subscription | None:
    """Return the tenant's subscription (row-locked on PostgreSQL with `for_update`), or None."""
    query = select(Subscription).where(Subscription.tenant_id == tenant_id)
    if for_update:
        query = query.with_for_update()
    return await session.scalar(query)


async def account_of(session: AsyncSession, tenant_id: str) -> BillingAccount | None:
    """Return the tenant's billing account (currency, tax rate), or None."""
    return await session.get(BillingAccount, tenant_id)


async def plan_changes(session: AsyncSession, subscription_id: int) -> list[tuple[date, int]]:
    """Return the subscription's plan history as (effective_on, plan_id), oldest first."""
    rows = await session.execute(
        select(SubscriptionPlan.effective_on, SubscriptionPlan.plan_id)
        .where(SubscriptionPlan.subscription_id == subscription_id)
        .order_by(SubscriptionPlan.effective_on)
    )
    return [(row.effective_on, row.plan_id) for row in rows]


async def _set_plan_from(session: AsyncSession, subscription: Subscription, plan: Plan, day: date) -> None:
    # Two changes on one day: the last one holds for that day (a day is billed at one plan).
    await session.execute(
        delete(SubscriptionPlan).where(
            SubscriptionPlan.subscription_id == subscription.id, SubscriptionPlan.effective_on == day
        )
    )
    session.add(SubscriptionPlan(subscription_id=subscription.id, effective_on=day, plan_id=plan.id))
    subscription.plan_id = plan.id


async def start(
    session: AsyncSession, tenant_id: str, plan: Plan, interval: str, today: date, tax_rate_bp: int
) -> Subscription:
    """Subscribe the tenant to `plan` from `today` (trial included); the account takes the plan's currency."""
    if interval not in ("month", "year"):
        raise BillingError("the billing interval is 'month' or 'year'")
    if await subscription_of(session, tenant_id) is not None:
        raise BillingError("this tenant already has a subscription; change its plan instead")
    account = await account_of(session, tenant_id)
    if account is None:
        account = BillingAccount(tenant_id=tenant_id, currency=plan.currency, tax_rate_bp=tax_rate_bp)
        session.add(account)
    elif account.currency != plan.currency:
        raise BillingError(f"plan {plan.name} is priced in {plan.currency}, the account bills in {account.currency}")
    else:
        account.tax_rate_bp = tax_rate_bp
    await _check_site_limit(session, tenant_id, plan)
    period_start, period_end = period_bounds(today, interval, today)
    subscription = Subscription(
        tenant_id=tenant_id,
        plan_id=plan.id,
        interval=interval,
        status="trialing" if plan.trial_days else "active",
        started_on=today,
        trial_ends_on=today + timedelta(days=plan.trial_days),
        period_start=period_start,
        period_end=period_end,
        cancel_at_period_end=False,
    )
    session.add(subscription)
    await session.flush()
    await _set_plan_from(session, subscription, plan, today)
    await session.flush()
    return subscription


async def _check_site_limit(session: AsyncSession, tenant_id: str, plan: Plan) -> None:
    if plan.site_limit is None:
        return
    enrolled = await enrolled_sites(session, tenant_id)
    if enrolled > plan.site_limit:
        raise BillingError(limit_message(plan, enrolled))


@dataclass(frozen=True)
class ChangePreview:
    """What changing plan today would do to this period's base charge."""

    old_plan: Plan
    new_plan: Plan
    sites: int
    remaining_days: int
    period_days: int
    amount: int


async def preview_change(session: AsyncSession, subscription: Subscription, plan: Plan, today: date) -> ChangePreview:
    """Return the prorated difference of moving to `plan` today, for the rest of the current period."""
    old = await session.get(Plan, subscription.plan_id)
    if old is None:
        raise BillingError("the subscription's plan is missing")
    if plan.currency != old.currency:
        raise BillingError(f"plan {plan.name} is priced in {plan.currency}, the subscription in {old.currency}")
    period_days = days_between(subscription.period_start, subscription.period_end)
    remaining = days_between(max(today, subscription.period_start), subscription.period_end)
    sites = active_on(await site_spans(session, subscription.tenant_id), today)
    amount = change_preview(
        period_price(old, subscription.interval),
        period_price(plan, subscription.interval),
        sites,
        remaining,
        period_days,
    )
    return ChangePreview(old, plan, sites, remaining, period_days, amount)


async def change_plan(session: AsyncSession, subscription: Subscription, plan: Plan, today: date) -> ChangePreview:
    """Move the subscription to `plan` from today (the caller commits); return the prorated preview."""
    if subscription.status == "canceled":
        raise BillingError("the subscription is canceled; reactivate it first")
    preview = await preview_change(session, subscription, plan, today)
    await _check_site_limit(session, subscription.tenant_id, plan)
    await _set_plan_from(session, subscription, plan, max(today, subscription.period_start))
    return preview


def cancel(subscription: Subscription) -> None:
    """Cancel at the end of the current period (billing continues until then)."""
    if subscription.status == "canceled":
        raise BillingError("the subscription is already canceled")
    subscription.cancel_at_period_end = True


async def reactivate(session: AsyncSession, subscription: Subscription, today: date) -> None:
    """Undo a pending cancellation, or restart a canceled subscription from today (no new trial)."""
    if subscription.status != "canceled":
        if not subscription.cancel_at_period_end:
            raise BillingError("the subscription is not canceled")
        subscription.cancel_at_period_end = False
        return
    plan = await session.get(Plan, subscription.plan_id)
    if plan is None:
        raise BillingError("the subscription's plan is missing")
    subscription.status = "active"
    subscription.cancel_at_period_end = False
    subscription.canceled_on = None
    subscription.started_on = today
    subscription.trial_ends_on = today
    subscription.period_start, subscription.period_end = period_bounds(today, subscription.interval, today)
    await _set_plan_from(session, subscription, plan, today)


def status_on(subscription: Subscription, day: date) -> str:
    """Return the subscription's status as of `day` (a trial ends by itself)."""
    if subscription.status == "canceled":
        return "canceled"
    return "trialing" if day < subscription.trial_ends_on else "active"


async def announce_plan(session: AsyncSession, tenant_id: str) -> set[str]:
    """Bump the configuration version of the tenant's enrolled sites so they pull their new plan limits.

    Returns the bumped site ids (the caller wakes their long-polls after the commit).
    """
    spans = await site_spans(session, tenant_id)
    return set(await bump_versions(session, tenant_id, [s.site_id for s in spans if s.active_until is None]))
