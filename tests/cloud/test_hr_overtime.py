"""The overtime rules as pure functions: daily threshold first, then the weekly one on the regular minutes."""

from __future__ import annotations

from datetime import date, timedelta

from cloud.hr.overtime import split_overtime

MONDAY = date(2026, 11, 30)


def week(*minutes: int, start: date = MONDAY) -> dict[date, int]:
    return {start + timedelta(days=n): m for n, m in enumerate(minutes)}


def test_a_long_day_is_daily_overtime_and_a_normal_week_has_none() -> None:
    split = split_overtime(week(600, 480, 480, 480, 0), 480, 2400)
    assert (split.counted, split.regular, split.overtime) == (2040, 1920, 120)
    assert split.daily_overtime[MONDAY] == 120 and sum(split.weekly_overtime.values()) == 0


def test_six_normal_days_are_weekly_overtime_and_no_minute_counts_twice() -> None:
    split = split_overtime(week(480, 480, 480, 480, 480, 540), 480, 2400)
    # Saturday's 60 minutes over 8 h are daily overtime; its remaining 480 push the week 480 over 40 h.
    assert (split.overtime, split.regular) == (60 + 480, 2400)
    assert split.counted == split.regular + split.overtime


def test_weeks_are_iso_weeks_so_a_month_judges_each_week_apart() -> None:
    days = week(600, 600, 600, 600, 600) | week(300, start=MONDAY + timedelta(days=7))
    split = split_overtime(days, 480, 2400)
    assert split.overtime == 5 * 120 and len(split.weekly_overtime) == 2
