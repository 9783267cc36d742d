"""Billing periods and day-based proration (pure functions on dates and integers).

A period runs from its start (inclusive) to its end (exclusive). Monthly periods are anchored on the day of
the month the subscription started (the 31st becomes the month's last day when a month is shorter, and comes
back the month after); yearly ones on the start date. A price for the period is prorated by days:
``price * days / period_days``, rounded to the nearest minor unit (`money.div_round`).
"""

from __future__ import annotations

import calendar
from dataclasses import dataclass
from datetime import date, timedelta

from cloud.billing.money import div_round


def add_months(anchor: date, months: int) -> date:
    """Return the date `months` after `anchor`, on the anchor's day or the month's last day if shorter."""
    index = anchor.year * 12 + anchor.month - 1 + months
    year, month0 = divmod(index, 12)
    last = calendar.monthrange(year, month0 + 1)[1]
    return date(year, month0 + 1, min(anchor.day, last))


def period_bounds(anchor: date, interval: str, on: date) -> tuple[date, date]:
    """Return the (start, end) of the period of a subscription anchored on `anchor` that contains `on`."""
    step = 12 if interval == "year" else 1
    if on < anchor:
        raise ValueError("the day is before the subscription started")
    # Estimate the index, then step to the exact period (month lengths differ).
    index = ((on.year - anchor.year) * 12 + on.month - anchor.month) // step
    index = max(index, 0)
    while add_months(anchor, index * step) > on:
        index -= 1
    while add_months(anchor, (index + 1) * step) <= on:
        index += 1
    return add_months(anchor, index * step), add_months(anchor, (index + 1) * step)


def next_period(anchor: date, interval: str, end: date) -> tuple[date, date]:
    """Return the period that starts where the one ending at `end` stops."""
    return period_bounds(anchor, interval, end)


def days_between(start: date, end: date) -> int:
    """Return the number of days in [start, end) (0 if end is not after start)."""
    return max((end - start).days, 0)


def prorate(price: int, days: int, period_days: int) -> int:
    """Return `price` for `days` of a `period_days` period, rounded to the nearest minor unit."""
    if not 0 <= days <= period_days:
        raise ValueError("days must lie within the period")
    return div_round(price * days, period_days)


@dataclass(frozen=True)
class Segment:
    """A stretch [start, end) of a period during which one plan was in force."""

    plan_id: int
    start: date
    end: date

    @property
    def days(self) -> int:
        """How many days the segment covers."""
        return days_between(self.start, self.end)


def plan_segments(changes: list[tuple[date, int]], start: date, end: date) -> list[Segment]:
    """Split [start, end) by plan: `changes` are (effective_on, plan_id), a plan holding from its day on.

    The plan in force at `start` is the last change on or before it; changes inside the period cut it.
    """
    ordered = sorted(changes)
    current: int | None = None
    cuts: list[tuple[date, int]] = []
    for effective_on, plan_id in ordered:
        if effective_on <= start:
            current = plan_id
        elif effective_on < end:
            cuts.append((effective_on, plan_id))
    if current is None:
        if not cuts:
            return []
        start, current = cuts.pop(0)
    segments: list[Segment] = []
    segment_start = start
    for effective_on, plan_id in cuts:
        if plan_id != current:
            segments.append(Segment(current, segment_start, effective_on))
            segment_start, current = effective_on, plan_id
    segments.append(Segment(current, segment_start, end))
    return [s for s in segments if s.days > 0]


def overlap_days(start: date, end: date, active_from: date, active_until: date | None) -> int:
    """Return the days of [start, end) within [active_from, active_until) (open-ended when None)."""
    lo = max(start, active_from)
    hi = end if active_until is None else min(end, active_until)
    return days_between(lo, hi)


def day_range(start: date, end: date) -> list[date]:
    """Return every day in [start, end)."""
    return [start + timedelta(days=offset) for offset in range(days_between(start, end))]


def change_preview(old_price: int, new_price: int, sites: int, remaining_days: int, period_days: int) -> int:
    """Return what a plan change today adds to (or, negative, removes from) this period's base charge.

    The rest of the period is billed at the new price instead of the old one, for each active site.
    """
    return sites * (prorate(new_price, remaining_days, period_days) - prorate(old_price, remaining_days, period_days))
