"""Overtime rules, as a pure function: daily and weekly thresholds over a period's counted minutes.

1. A day's minutes over the daily threshold are daily overtime.
2. In each ISO week (Monday to Sunday, only the period's days of it), the minutes up to the daily threshold
   ("regular" minutes) are added up; what exceeds the weekly threshold is weekly overtime.
3. Overtime = daily + weekly overtime; regular = counted - overtime. No minute is counted twice.
docs/FLEET_HR.md states the same rules in HR words.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date

DEFAULT_DAILY_MINUTES = 8 * 60
DEFAULT_WEEKLY_MINUTES = 40 * 60


@dataclass(frozen=True)
class OvertimeResult:
    """A period's split of counted minutes into regular and overtime, and each day's daily overtime."""

    counted: int
    regular: int
    overtime: int
    daily_overtime: dict[date, int]
    weekly_overtime: dict[tuple[int, int], int]


def split_overtime(counted: Mapping[date, int], daily_minutes: int, weekly_minutes: int) -> OvertimeResult:
    """Split each day's counted minutes into regular and overtime by the daily, then the weekly threshold."""
    daily = {day: max(0, minutes - daily_minutes) for day, minutes in counted.items()}
    regular_by_week: dict[tuple[int, int], int] = {}
    for day, minutes in counted.items():
        iso = day.isocalendar()
        week = (iso.year, iso.week)
        regular_by_week[week] = regular_by_week.get(week, 0) + min(minutes, daily_minutes)
    weekly = {week: max(0, minutes - weekly_minutes) for week, minutes in regular_by_week.items()}
    total = sum(counted.values())
    overtime = sum(daily.values()) + sum(weekly.values())
    return OvertimeResult(total, total - overtime, overtime, daily, weekly)
