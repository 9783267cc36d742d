"""The versioned plan catalogue: a plan is published as a new version, never edited in place.

Invoices and subscriptions reference a plan row (one version), so publishing new prices never changes what a
past invoice said; subscribers move to a new version only when they change plan.
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from cloud.billing.models import Plan

PLAN_FIELDS = (
    "name",
    "currency",
    "monthly_price",
    "yearly_price",
    "included_cameras",
    "included_doors",
    "included_devices",
    "included_events",
    "snapshot_bytes",
    "retention_days",
    "camera_overage_price",
    "door_overage_price",
    "events_overage_price",
    "trial_days",
    "site_limit",
    "overage_policy",
)
EVENTS_UNIT = 100_000  # events overage is priced per started block of this many events
GIB = 1 << 30


class PlanSpec(BaseModel):
    """What a plan version says; prices are integer minor units of `currency`, per site."""

    model_config = ConfigDict(extra="forbid")

    code: str = Field(pattern=r"^[a-z][a-z0-9-]{1,31}$", description="Stable plan identifier, e.g. 'standard'")
    name: str = Field(min_length=1, max_length=100, description="Name shown to customers")
    currency: str = Field(pattern=r"^[A-Z]{3}$", description="ISO 4217 currency code of the prices")
    monthly_price: int = Field(ge=0, description="Price per site per month, minor units")
    yearly_price: int = Field(ge=0, description="Price per site per year, minor units")
    included_cameras: int = Field(ge=0, description="Cameras included per site")
    included_doors: int = Field(ge=0, description="Doors included per site")
    included_devices: int = Field(ge=0, description="Devices included per site")
    included_events: int = Field(ge=0, description="Synced events included per site per month")
    snapshot_bytes: int = Field(ge=0, description="Snapshot storage included per site, bytes")
    retention_days: int = Field(ge=1, description="Days synced records and snapshots are kept")
    camera_overage_price: int = Field(ge=0, description="Per extra camera per site per month, minor units")
    door_overage_price: int = Field(ge=0, description="Per extra door per site per month, minor units")
    events_overage_price: int = Field(ge=0, description="Per started 100,000 events over the allowance")
    trial_days: int = Field(ge=0, le=365, description="Free days at the start of a new subscription")
    site_limit: int | None = Field(default=None, ge=1, description="Most sites a tenant may enroll (None: any)")
    overage_policy: Literal["bill", "block"] = Field(
        default="bill", description="Extra cameras/doors are billed as overage, or blocked (shown, not billed)"
    )


DEFAULT_CATALOGUE = (
    PlanSpec(
        code="starter",
        name="Starter",
        currency="EUR",
        monthly_price=2_900,
        yearly_price=29_000,
        included_cameras=2,
        included_doors=2,
        included_devices=10,
        included_events=100_000,
        snapshot_bytes=5 * GIB,
        retention_days=30,
        camera_overage_price=900,
        door_overage_price=500,
        events_overage_price=1_000,
        trial_days=14,
        site_limit=3,
        overage_policy="block",
    ),
    PlanSpec(
        code="standard",
        name="Standard",
        currency="EUR",
        monthly_price=7_900,
        yearly_price=79_000,
        included_cameras=8,
        included_doors=8,
        included_devices=40,
        included_events=1_000_000,
        snapshot_bytes=50 * GIB,
        retention_days=90,
        camera_overage_price=700,
        door_overage_price=400,
        events_overage_price=800,
        trial_days=14,
        site_limit=50,
    ),
    PlanSpec(
        code="enterprise",
        name="Enterprise",
        currency="EUR",
        monthly_price=19_900,
        yearly_price=199_000,
        included_cameras=32,
        included_doors=32,
        included_devices=200,
        included_events=10_000_000,
        snapshot_bytes=500 * GIB,
        retention_days=365,
        camera_overage_price=500,
        door_overage_price=300,
        events_overage_price=500,
        trial_days=30,
        site_limit=None,
    ),
)


def spec_of(plan: Plan) -> PlanSpec:
    """Return the spec a stored plan version was published from."""
    return PlanSpec.model_validate({"code": plan.code, **{name: getattr(plan, name) for name in PLAN_FIELDS}})


async def latest(session: AsyncSession, code: str) -> Plan | None:
    """Return the newest version of the plan `code`, or None."""
    return await session.scalar(select(Plan).where(Plan.code == code).order_by(Plan.version.desc()).limit(1))


async def publish(session: AsyncSession, spec: PlanSpec) -> Plan:
    """Publish `spec` as the plan's next version (the caller commits); an unchanged spec keeps its version."""
    current = await latest(session, spec.code)
    if current is not None and spec_of(current) == spec:
        return current
    plan = Plan(code=spec.code, version=(current.version + 1) if current else 1, **spec.model_dump(exclude={"code"}))
    session.add(plan)
    await session.flush()
    return plan


async def publish_defaults(session: AsyncSession) -> list[Plan]:
    """Publish the built-in catalogue (idempotent); return the current versions."""
    return [await publish(session, spec) for spec in DEFAULT_CATALOGUE]


async def current_plans(session: AsyncSession, currency: str | None = None) -> list[Plan]:
    """Return the newest version of every plan, cheapest first (optionally only those priced in `currency`)."""
    newest = select(Plan.code, func.max(Plan.version).label("version")).group_by(Plan.code).subquery()
    query = select(Plan).join(newest, (Plan.code == newest.c.code) & (Plan.version == newest.c.version))
    if currency is not None:
        query = query.where(Plan.currency == currency)
    return list(await session.scalars(query.order_by(Plan.monthly_price, Plan.code)))
