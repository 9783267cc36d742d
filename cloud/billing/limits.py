"""Plan limits checked outside billing: enrolling a site beyond the plan's site limit is refused.

Imported by enrollment, so it imports nothing of the portal or tenancy layers (enrollment acts for the tenant the
one-time code names; no user session is involved).
"""

from __future__ import annotations

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from cloud.billing.models import Plan, Subscription
from cloud.db.models import Site
from sync.downlink import PlanLimits


class SiteLimitReached(Exception):
    """The tenant's plan allows no more sites; the message names the plan and the limit."""


async def enrolled_sites(session: AsyncSession, tenant_id: str) -> int:
    """Return how many sites of the tenant are enrolled and not revoked."""
    count = await session.scalar(
        select(func.count()).select_from(Site).where(Site.tenant_id == tenant_id, Site.revoked_at.is_(None))
    )
    return int(count or 0)


def limit_message(plan: Plan, enrolled: int) -> str:
    """Return the refusal naming the plan."""
    return (
        f"plan {plan.name} (v{plan.version}) allows {plan.site_limit} site(s) and this tenant has {enrolled}; "
        "change to a larger plan or revoke a site first"
    )


async def check_can_enroll(session: AsyncSession, tenant_id: str) -> None:
    """Raise SiteLimitReached if the tenant's plan allows no further site (no subscription: no limit).

    The subscription row is locked (PostgreSQL) so two enrollments racing for the last place cannot both pass.
    """
    subscription = await session.scalar(
        select(Subscription).where(Subscription.tenant_id == tenant_id).with_for_update()
    )
    if subscription is None or subscription.status == "canceled":
        return
    plan = await session.get(Plan, subscription.plan_id)
    if plan is None or plan.site_limit is None:
        return
    enrolled = await enrolled_sites(session, tenant_id)
    if enrolled + 1 > plan.site_limit:
        raise SiteLimitReached(limit_message(plan, enrolled))


async def site_limits(session: AsyncSession, tenant_id: str) -> PlanLimits | None:
    """Return the per-site allowances of the tenant's plan for its sites' documents (None: no live plan)."""
    subscription = await session.scalar(select(Subscription).where(Subscription.tenant_id == tenant_id))
    if subscription is None or subscription.status == "canceled":
        return None
    plan = await session.get(Plan, subscription.plan_id)
    if plan is None:
        return None
    return PlanLimits(
        plan=f"{plan.name} v{plan.version}",
        cameras=plan.included_cameras,
        doors=plan.included_doors,
        devices=plan.included_devices,
        overage_policy="block" if plan.overage_policy == "block" else "bill",
    )
