"""What the billing pages and API show: the subscription, usage to date with a forecast, invoices, drill-down.

Every query here is for one tenant, the principal's: it filters on `tenant_id` (billing rows all carry it) or
goes through `cloud.tenancy` for sites.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from cloud.billing.catalogue import current_plans
from cloud.billing.close import period_input
from cloud.billing.invoicing import Totals, period_lines, totals
from cloud.billing.models import (
    BillingAccount,
    CreditNote,
    Invoice,
    InvoiceLine,
    Plan,
    Subscription,
    UsageBatch,
    UsageDay,
)
from cloud.billing.proration import day_range, days_between
from cloud.billing.subscriptions import account_of, active_on, site_spans, status_on, subscription_of
from cloud.db.models import Tenant


class InvoiceNotFound(LookupError):
    """No such invoice in the tenant (another tenant's answers the same)."""


@dataclass(frozen=True)
class SubscriptionView:
    """The subscription page's data."""

    account: BillingAccount | None
    subscription: Subscription | None
    plan: Plan | None
    status: str
    plans: list[Plan]
    enrolled_sites: int
    active_sites: int


async def subscription_view(session: AsyncSession, tenant_id: str, today: date) -> SubscriptionView:
    """Return the tenant's account, subscription and plan, and the plans it can move to."""
    account = await account_of(session, tenant_id)
    subscription = await subscription_of(session, tenant_id)
    plan = await session.get(Plan, subscription.plan_id) if subscription else None
    spans = await site_spans(session, tenant_id)
    currency = account.currency if account else None
    return SubscriptionView(
        account=account,
        subscription=subscription,
        plan=plan,
        status=status_on(subscription, today) if subscription else "none",
        plans=await current_plans(session, currency),
        enrolled_sites=sum(1 for s in spans if s.active_until is None),
        active_sites=active_on(spans, today),
    )


@dataclass
class SiteUsage:
    """One site's usage in the period so far."""

    site_id: str
    name: str
    events: int = 0
    cameras: int = 0
    doors: int = 0
    devices: int = 0
    snapshot_bytes: int = 0
    over: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class UsageView:
    """Usage to date in the current period, per site and per day, with a forecast."""

    period_start: date
    period_end: date
    elapsed_days: int
    period_days: int
    sites: list[SiteUsage]
    daily: list[tuple[date, int]]
    events: int
    forecast_events: int
    estimate: Totals
    currency: str


async def usage_view(session: AsyncSession, tenant_id: str, today: date) -> UsageView | None:
    """Return usage to date for the current period (None without a subscription)."""
    subscription = await subscription_of(session, tenant_id)
    account = await account_of(session, tenant_id)
    if subscription is None or account is None:
        return None
    start, end = subscription.period_start, subscription.period_end
    plan = await session.get(Plan, subscription.plan_id)
    spans = await site_spans(session, tenant_id)
    sites = {s.site_id: SiteUsage(s.site_id, s.name) for s in spans}
    per_day: dict[date, int] = {}
    rows = await session.scalars(
        select(UsageDay).where(UsageDay.tenant_id == tenant_id, UsageDay.day >= start, UsageDay.day < end)
    )
    for row in rows:
        site = sites.setdefault(row.site_id, SiteUsage(row.site_id, row.site_id))
        site.events += row.events
        site.snapshot_bytes += row.snapshot_bytes
        site.cameras = max(site.cameras, row.cameras)
        site.doors = max(site.doors, row.doors)
        site.devices = max(site.devices, row.devices)
        per_day[row.day] = per_day.get(row.day, 0) + row.events
    if plan is not None:
        for site in sites.values():
            site.over = [
                f"{name} {have}/{limit}"
                for name, have, limit in (
                    ("cameras", site.cameras, plan.included_cameras),
                    ("doors", site.doors, plan.included_doors),
                    ("devices", site.devices, plan.included_devices),
                    ("snapshot bytes", site.snapshot_bytes, plan.snapshot_bytes),
                )
                if have > limit
            ]
    period_days = days_between(start, end)
    elapsed = min(max(days_between(start, today) + 1, 1), period_days)
    events = sum(per_day.values())
    period, _ = await period_input(session, subscription, start, end)
    return UsageView(
        period_start=start,
        period_end=end,
        elapsed_days=elapsed,
        period_days=period_days,
        sites=sorted(sites.values(), key=lambda s: (s.name, s.site_id)),
        daily=[(day, per_day.get(day, 0)) for day in day_range(start, end)],
        events=events,
        forecast_events=events * period_days // elapsed,
        estimate=totals(period_lines(period), account.tax_rate_bp),
        currency=account.currency,
    )


async def invoices(session: AsyncSession, tenant_id: str) -> list[Invoice]:
    """Return the tenant's invoices, newest period first."""
    query = select(Invoice).where(Invoice.tenant_id == tenant_id)
    return list(await session.scalars(query.order_by(Invoice.period_start.desc(), Invoice.id.desc())))


@dataclass(frozen=True)
class InvoiceView:
    """An invoice with its lines, credit notes and plan."""

    invoice: Invoice
    lines: list[InvoiceLine]
    credit_notes: list[CreditNote]
    plan: Plan | None
    site_names: dict[str, str]
    tenant_name: str


async def invoice_view(session: AsyncSession, tenant_id: str, invoice_id: int) -> InvoiceView:
    """Return one of the tenant's invoices, or raise InvoiceNotFound."""
    invoice = await session.scalar(select(Invoice).where(Invoice.tenant_id == tenant_id, Invoice.id == invoice_id))
    if invoice is None:
        raise InvoiceNotFound(invoice_id)
    lines = list(
        await session.scalars(
            select(InvoiceLine).where(InvoiceLine.invoice_id == invoice.id).order_by(InvoiceLine.position)
        )
    )
    notes = list(
        await session.scalars(select(CreditNote).where(CreditNote.invoice_id == invoice.id).order_by(CreditNote.number))
    )
    tenant = await session.get(Tenant, tenant_id)
    spans = await site_spans(session, tenant_id)
    return InvoiceView(
        invoice=invoice,
        lines=lines,
        credit_notes=notes,
        plan=await session.get(Plan, invoice.plan_id),
        site_names={s.site_id: s.name for s in spans},
        tenant_name=tenant.name if tenant else tenant_id,
    )


@dataclass(frozen=True)
class LineDrillDown:
    """The usage rows and synced batches behind one invoice line."""

    view: InvoiceView
    line: InvoiceLine
    days: list[UsageDay]
    batches: list[UsageBatch]


async def line_drill_down(session: AsyncSession, tenant_id: str, invoice_id: int, line_id: int) -> LineDrillDown:
    """Return the usage rows of the line's site and days, and the batches (a late-usage line: its batch)."""
    view = await invoice_view(session, tenant_id, invoice_id)
    line = next((item for item in view.lines if item.id == line_id), None)
    if line is None:
        raise InvoiceNotFound(line_id)
    days: list[UsageDay] = []
    batches: list[UsageBatch] = []
    if line.site_id is not None and line.first_day is not None and line.last_day is not None:
        days = list(
            await session.scalars(
                select(UsageDay)
                .where(
                    UsageDay.tenant_id == tenant_id,
                    UsageDay.site_id == line.site_id,
                    UsageDay.day >= line.first_day,
                    UsageDay.day <= line.last_day,
                )
                .order_by(UsageDay.day)
            )
        )
        query = select(UsageBatch).where(UsageBatch.tenant_id == tenant_id, UsageBatch.site_id == line.site_id)
        if line.batch_ids:
            ids = [int(part) for part in line.batch_ids.split(",") if part.isdigit()]
            query = query.where(UsageBatch.id.in_(ids))
        else:
            query = query.where(
                UsageBatch.day >= line.first_day, UsageBatch.day <= line.last_day, UsageBatch.invoice_id == invoice_id
            )
        batches = list(await session.scalars(query.order_by(UsageBatch.day, UsageBatch.first_seq)))
    return LineDrillDown(view, line, days, batches)
