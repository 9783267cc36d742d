"""Schedules on the site's wall clock: midnight-spanning windows, holidays, and both DST changes in Berlin."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import pytest

from edge.access.schedule import Schedule
from edge.config import HolidayCalendarConfig, ScheduleConfig
from tests.edge.access.harness import BERLIN


def schedule(*windows: tuple[list[str], str, str], calendars: dict | None = None, **extra) -> Schedule:
    config = ScheduleConfig.model_validate(
        {
            "windows": [{"days": d, "start": s, "end": e} for d, s, e in windows],
            "holidays": list(calendars or {}),
            **extra,
        }
    )
    calendars = {k: HolidayCalendarConfig.model_validate(v) for k, v in (calendars or {}).items()}
    return Schedule.compile(config, BERLIN, calendars)


def berlin(*args: int, fold: int = 0) -> datetime:
    return datetime(*args, tzinfo=BERLIN).replace(fold=fold)


def utc(*args: int) -> datetime:
    return datetime(*args, tzinfo=UTC)


def test_window_across_midnight_belongs_to_its_start_day() -> None:
    night = schedule((["fri"], "22:00", "06:00"))
    assert not night.is_open(berlin(2026, 6, 12, 21, 59, 59))  # Friday
    assert night.is_open(berlin(2026, 6, 12, 22, 0))
    assert night.is_open(berlin(2026, 6, 13, 0, 0))  # Saturday, carried over from Friday
    assert night.is_open(berlin(2026, 6, 13, 5, 59, 59))
    assert not night.is_open(berlin(2026, 6, 13, 6, 0))  # end is exclusive
    assert not night.is_open(berlin(2026, 6, 13, 22, 30))  # Saturday does not start a window
    assert not night.is_open(berlin(2026, 6, 12, 3, 0))  # Friday early morning: Thursday had no window


def test_equal_start_and_end_is_a_full_day() -> None:
    day = schedule((["mon"], "00:00", "00:00"))
    assert day.is_open(berlin(2026, 6, 8, 0, 0))
    assert day.is_open(berlin(2026, 6, 8, 23, 59, 59))
    assert not day.is_open(berlin(2026, 6, 9, 0, 0))


def test_naive_datetimes_are_refused() -> None:
    with pytest.raises(ValueError, match="aware"):
        schedule((["mon"], "08:00", "17:00")).is_open(datetime(2026, 6, 8, 9, 0))


def test_holidays_replace_the_weekly_windows() -> None:
    office = schedule(
        (["mon", "tue", "wed", "thu", "fri"], "08:00", "18:00"),
        (["thu"], "22:00", "02:00"),
        calendars={"de": {"dates": ["2026-12-24"], "annual": ["12-25"]}},
        holiday_windows=[{"start": "10:00", "end": "12:00"}],
    )
    assert office.is_holiday(date(2026, 12, 24)) and office.is_holiday(date(2031, 12, 25))
    assert office.is_open(berlin(2026, 12, 23, 9, 0))  # Wednesday, normal
    assert not office.is_open(berlin(2026, 12, 24, 9, 0))  # Thursday, holiday: weekly window gone
    assert office.is_open(berlin(2026, 12, 24, 11, 0))  # ...holiday window instead
    assert not office.is_open(berlin(2026, 12, 24, 23, 0))  # the Thursday night window does not start
    assert not office.is_open(berlin(2026, 12, 25, 9, 0))  # annual holiday, a Friday
    # A window that started the day before a holiday runs to its end.
    thursday_night = schedule((["thu"], "22:00", "02:00"), calendars={"de": {"dates": ["2026-12-25"]}})
    assert thursday_night.is_open(berlin(2026, 12, 25, 1, 30))


def test_spring_forward_berlin_2026_03_29() -> None:
    # 02:00 CET jumps to 03:00 CEST at 01:00 UTC; 02:xx does not exist that night.
    ends_in_gap = schedule((["sun"], "01:30", "02:30"))
    assert ends_in_gap.is_open(utc(2026, 3, 29, 0, 59, 59))  # 01:59:59 CET
    assert not ends_in_gap.is_open(utc(2026, 3, 29, 1, 0))  # 03:00 CEST: the window is over
    assert ends_in_gap.next_change(utc(2026, 3, 29, 0, 40)) == utc(2026, 3, 29, 1, 0)

    starts_in_gap = schedule((["sun"], "02:30", "05:00"))
    assert not starts_in_gap.is_open(utc(2026, 3, 29, 0, 59, 59))
    assert starts_in_gap.is_open(utc(2026, 3, 29, 1, 0))  # opens when the clock jumps
    assert starts_in_gap.next_change(utc(2026, 3, 28, 23, 0)) == utc(2026, 3, 29, 1, 0)
    assert starts_in_gap.next_change(utc(2026, 3, 29, 1, 0)) == utc(2026, 3, 29, 3, 0)  # 05:00 CEST

    # A night window across the change is one hour shorter in real time.
    night = schedule((["sat"], "22:00", "06:00"))
    opened = night.next_change(utc(2026, 3, 28, 12, 0))
    closed = night.next_change(opened)
    assert (opened, closed) == (utc(2026, 3, 28, 21, 0), utc(2026, 3, 29, 4, 0))
    assert closed - opened == timedelta(hours=7)


def test_fall_back_berlin_2026_10_25() -> None:
    # 03:00 CEST goes back to 02:00 CET at 01:00 UTC; 02:xx happens twice.
    repeated = schedule((["sun"], "02:15", "02:45"))
    edges = []
    t = utc(2026, 10, 24, 22, 0)
    for _ in range(4):
        t = repeated.next_change(t)
        edges.append(t)
    assert edges == [
        utc(2026, 10, 25, 0, 15),  # 02:15 CEST
        utc(2026, 10, 25, 0, 45),
        utc(2026, 10, 25, 1, 15),  # 02:15 CET, the second pass
        utc(2026, 10, 25, 1, 45),
    ]
    assert repeated.is_open(berlin(2026, 10, 25, 2, 30, fold=0))
    assert repeated.is_open(berlin(2026, 10, 25, 2, 30, fold=1))

    night = schedule((["sat"], "22:00", "06:00"))
    opened = night.next_change(utc(2026, 10, 24, 12, 0))
    closed = night.next_change(opened)
    assert (opened, closed) == (utc(2026, 10, 24, 20, 0), utc(2026, 10, 25, 5, 0))
    assert closed - opened == timedelta(hours=9)


def test_next_change_over_a_week_and_always() -> None:
    office = schedule((["mon", "tue", "wed", "thu", "fri"], "08:00", "18:00"))
    friday_evening = berlin(2026, 6, 12, 18, 0)
    assert office.next_change(friday_evening) == berlin(2026, 6, 15, 8, 0).astimezone(UTC)  # Monday
    assert Schedule.always_open(BERLIN).next_change(friday_evening) is None
    assert schedule().next_change(friday_evening) is None  # never open
