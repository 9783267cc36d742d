"""Invoice lines of one subscription period, computed from the plan history, the sites and their usage.

Billing is in arrears: a period's invoice is drafted when the period ends and finalised after the grace
period, recomputed from the usage known then. Per site and per plan segment of the period:

- base (whole period) or proration (part of it): the plan's price for the site's billable days,
  ``price * days / period_days`` rounded to the nearest minor unit;
- credit: the trial days of that stretch, at the same rate, negative;
- overage: cameras and doors over the plan's allowance, per camera-day or door-day, at the monthly (or
  yearly) overage price prorated by day; events over the period's allowance (the plan at the period's end,
  twelve months' worth on a yearly plan), per started 100,000 events. Usage on trial days is free, and a plan
  whose policy is "block" bills no camera or door overage;
- adjustment: usage batches of earlier, already finalised periods that arrived after finalisation, one line
  per batch naming the site and the batch, priced as the extra events overage of that period.

Then tax on the subtotal (`money.tax_of`).
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from datetime import date

from cloud.billing.catalogue import EVENTS_UNIT
from cloud.billing.models import Plan
from cloud.billing.money import div_round, tax_of
from cloud.billing.proration import Segment, days_between, overlap_days, prorate
from cloud.billing.subscriptions import SiteSpan, period_price


@dataclass(frozen=True)
class Line:
    """An invoice line before it is stored."""

    kind: str
    item: str
    description: str
    quantity: int
    unit_price: int
    amount: int
    site_id: str | None = None
    plan_id: int | None = None
    first_day: date | None = None
    last_day: date | None = None
    batch_ids: str = ""


@dataclass(frozen=True)
class DayRow:
    """One site-day of usage as the close reads it."""

    site_id: str
    day: date
    cameras: int
    doors: int
    events: int


@dataclass(frozen=True)
class LateBatch:
    """An unbilled usage batch of an earlier, finalised period."""

    id: int
    site_id: str
    day: date
    events: int
    first_seq: int
    last_seq: int
    nonce: str
    invoice_number: int
    period_start: date
    period_end: date
    plan: Plan
    interval: str
    trial_ends_on: date
    billed_events: int  # what that period has billed for the site so far (outside trial days)


@dataclass
class PeriodInput:
    """Everything the lines of one period depend on."""

    period_start: date
    period_end: date
    interval: str
    trial_ends_on: date
    segments: list[Segment]
    plans: dict[int, Plan]
    sites: list[SiteSpan]
    usage: list[DayRow]
    late: list[LateBatch] = field(default_factory=list)


@dataclass(frozen=True)
class Totals:
    """An invoice's sums."""

    subtotal: int
    tax: int
    total: int


def events_allowance(plan: Plan, interval: str) -> int:
    """Return the events a site may sync in one period of `interval` before overage."""
    return plan.included_events * (12 if interval == "year" else 1)


def events_overage(plan: Plan, interval: str, events: int) -> tuple[int, int]:
    """Return (started blocks of 100,000 events over the allowance, their price)."""
    over = max(events - events_allowance(plan, interval), 0)
    blocks = -(-over // EVENTS_UNIT)
    return blocks, blocks * plan.events_overage_price


def _fmt_days(start: date, end_exclusive: date) -> str:
    last = date.fromordinal(end_exclusive.toordinal() - 1)
    return f"{start:%d %b %Y}" if start == last else f"{start:%d %b} - {last:%d %b %Y}"


def _plan_label(plan: Plan) -> str:
    return f"{plan.name} v{plan.version}"


def plan_on(segments: list[Segment], day: date) -> int | None:
    """Return the plan id in force on `day`, or None outside the segments."""
    for segment in segments:
        if segment.start <= day < segment.end:
            return segment.plan_id
    return None


def _base_lines(period: PeriodInput, site: SiteSpan, period_days: int) -> list[Line]:
    lines = []
    for segment in period.segments:
        plan = period.plans[segment.plan_id]
        price = period_price(plan, period.interval)
        days = overlap_days(segment.start, segment.end, site.active_from, site.active_until)
        if days == 0:
            continue
        start = max(segment.start, site.active_from)
        end = segment.end if site.active_until is None else min(segment.end, site.active_until)
        kind = "base" if days == period_days else "proration"
        what = "Base" if kind == "base" else "Prorated base"
        lines.append(
            Line(
                kind=kind,
                item="site",
                description=f"{what}: site {site.name}, {_plan_label(plan)}, {_fmt_days(start, end)} "
                f"({days}/{period_days} days)",
                quantity=days,
                unit_price=price,
                amount=prorate(price, days, period_days),
                site_id=site.site_id,
                plan_id=plan.id,
                first_day=start,
                last_day=date.fromordinal(end.toordinal() - 1),
            )
        )
        trial = overlap_days(start, end, start, period.trial_ends_on)
        if trial:
            trial_end = min(end, period.trial_ends_on)
            lines.append(
                Line(
                    kind="credit",
                    item="trial",
                    description=f"Trial: site {site.name}, {_fmt_days(start, trial_end)} ({trial} days free)",
                    quantity=trial,
                    unit_price=price,
                    amount=-prorate(price, trial, period_days),
                    site_id=site.site_id,
                    plan_id=plan.id,
                    first_day=start,
                    last_day=date.fromordinal(trial_end.toordinal() - 1),
                )
            )
    return lines


def _overage_lines(period: PeriodInput, site: SiteSpan, rows: list[DayRow], period_days: int) -> list[Line]:
    over_days: dict[tuple[str, int], int] = defaultdict(int)
    events = 0
    for row in rows:
        if row.day < period.trial_ends_on:
            continue  # usage on trial days is free
        plan_id = plan_on(period.segments, row.day)
        if plan_id is None:
            continue
        plan = period.plans[plan_id]
        events += row.events
        if plan.overage_policy == "bill":
            over_days["cameras", plan_id] += max(row.cameras - plan.included_cameras, 0)
            over_days["doors", plan_id] += max(row.doors - plan.included_doors, 0)
    first, last = period.period_start, date.fromordinal(period.period_end.toordinal() - 1)
    lines = []
    for (item, plan_id), units in sorted(over_days.items()):
        if units == 0:
            continue
        plan = period.plans[plan_id]
        monthly = plan.camera_overage_price if item == "cameras" else plan.door_overage_price
        price = monthly * (12 if period.interval == "year" else 1)
        included = plan.included_cameras if item == "cameras" else plan.included_doors
        lines.append(
            Line(
                kind="overage",
                item=item,
                description=f"Extra {item}: site {site.name}, {units} {item[:-1]}-days over the {included} "
                f"included by {_plan_label(plan)}",
                quantity=units,
                unit_price=price,
                amount=div_round(units * price, period_days),
                site_id=site.site_id,
                plan_id=plan_id,
                first_day=first,
                last_day=last,
            )
        )
    if period.segments:
        final_plan = period.plans[period.segments[-1].plan_id]
        blocks, amount = events_overage(final_plan, period.interval, events)
        if blocks:
            allowance = events_allowance(final_plan, period.interval)
            lines.append(
                Line(
                    kind="overage",
                    item="events",
                    description=f"Extra events: site {site.name}, {events:,} synced, {allowance:,} included by "
                    f"{_plan_label(final_plan)}: {blocks} x 100,000",
                    quantity=blocks,
                    unit_price=final_plan.events_overage_price,
                    amount=amount,
                    site_id=site.site_id,
                    plan_id=final_plan.id,
                    first_day=first,
                    last_day=last,
                )
            )
    return lines


def _late_lines(late: list[LateBatch], names: dict[str, str]) -> list[Line]:
    lines = []
    billed: dict[tuple[str, date], int] = {}
    for batch in sorted(late, key=lambda b: (b.period_start, b.site_id, b.id)):
        key = (batch.site_id, batch.period_start)
        before = billed.get(key, batch.billed_events)
        counted = 0 if batch.day < batch.trial_ends_on else batch.events
        _, old = events_overage(batch.plan, batch.interval, before)
        _, new = events_overage(batch.plan, batch.interval, before + counted)
        billed[key] = before + counted
        lines.append(
            Line(
                kind="adjustment",
                item="late_usage",
                description=f"Late usage: site {names.get(batch.site_id, batch.site_id)}, batch {batch.nonce[:12]} "
                f"(seq {batch.first_seq}-{batch.last_seq}), {batch.events:,} events on {batch.day:%d %b %Y}, "
                f"received after invoice {batch.invoice_number} was finalised",
                quantity=batch.events,
                unit_price=batch.plan.events_overage_price,
                amount=new - old,
                site_id=batch.site_id,
                plan_id=batch.plan.id,
                first_day=batch.day,
                last_day=batch.day,
                batch_ids=str(batch.id),
            )
        )
    return lines


def period_lines(period: PeriodInput) -> list[Line]:
    """Return the lines of one period, site by site (by name), then late-usage adjustments."""
    period_days = days_between(period.period_start, period.period_end)
    by_site: dict[str, list[DayRow]] = defaultdict(list)
    for row in period.usage:
        by_site[row.site_id].append(row)
    lines: list[Line] = []
    for site in period.sites:
        lines += _base_lines(period, site, period_days)
        lines += _overage_lines(period, site, by_site.get(site.site_id, []), period_days)
    lines += _late_lines(period.late, {s.site_id: s.name for s in period.sites})
    return lines


def totals(lines: list[Line], tax_rate_bp: int) -> Totals:
    """Return subtotal, tax on it and total."""
    subtotal = sum(line.amount for line in lines)
    tax = tax_of(subtotal, tax_rate_bp)
    return Totals(subtotal, tax, subtotal + tax)
