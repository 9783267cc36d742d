"""Maintenance rules as pure functions: a schedule falling due by calendar, gate trips and days in service; late
work orders; a lock battery whose trend dies within 14 days (cloud/fleet/maintenance.py)."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

from cloud.fleet.maintenance import (
    ScheduleRule,
    Usage,
    battery_forecast,
    needs_battery_work,
    schedule_status,
    work_order_state,
)

TODAY = date(2026, 12, 7)
NOW = datetime(2026, 12, 7, 12, tzinfo=UTC)


def test_calendar_schedule_falls_due_then_overdue() -> None:
    rule = ScheduleRule(every_days=90, every_trips=None, every_service_days=None, warn_days=7, warn_trips=0)
    states = [schedule_status(rule, TODAY - timedelta(days=ago), Usage(), TODAY).state for ago in (82, 83, 90, 91)]
    assert states == ["ok", "due", "due", "overdue"]
    status = schedule_status(rule, TODAY - timedelta(days=91), Usage(), TODAY)
    assert (status.due_on, status.days_left, status.reason) == (TODAY - timedelta(days=1), -1, "1 days overdue")


def test_usage_schedules_by_trips_and_days_in_service() -> None:
    trips = ScheduleRule(None, every_trips=500, every_service_days=None, warn_days=7, warn_trips=20)
    assert [schedule_status(trips, TODAY, Usage(trips=n), TODAY).state for n in (479, 480, 500, 501)] == [
        "ok",
        "due",
        "due",
        "overdue",
    ]
    both = ScheduleRule(365, None, every_service_days=200, warn_days=7, warn_trips=0)
    status = schedule_status(both, TODAY - timedelta(days=100), Usage(service_days=195), TODAY)
    assert (status.state, status.service_days_left) == ("due", 5)  # the usage limit comes first
    assert schedule_status(both, None, Usage(), TODAY).state == "due"  # nothing to count from


def test_work_order_states() -> None:
    assert work_order_state("open", TODAY - timedelta(days=1), TODAY) == "overdue"
    assert work_order_state("in_progress", TODAY + timedelta(days=7), TODAY) == "due"
    assert work_order_state("open", TODAY + timedelta(days=8), TODAY) == "ok"
    assert work_order_state("done", TODAY - timedelta(days=30), TODAY) == "ok"
    assert work_order_state("open", None, TODAY) == "ok"


def readings(*points: tuple[float, float]) -> list[tuple[datetime, float]]:
    return [(NOW - timedelta(days=days_ago), value) for days_ago, value in points]


def test_a_lock_battery_dying_within_14_days_needs_work() -> None:
    dying = battery_forecast(readings((10, 40), (5, 30), (1, 22)), NOW)
    assert dying is not None and dying.dies_at is not None
    assert round(dying.per_day, 1) == -2.0 and needs_battery_work(dying, NOW)
    assert NOW + timedelta(days=7) < dying.dies_at < NOW + timedelta(days=9)
    slow = battery_forecast(readings((20, 80), (10, 78), (1, 76)), NOW)
    assert slow is not None and not needs_battery_work(slow, NOW)  # about 330 days left
    rising = battery_forecast(readings((3, 20), (2, 60), (1, 100)), NOW)  # batteries changed
    assert rising is not None and rising.dies_at is None and not needs_battery_work(rising, NOW)
    assert battery_forecast(readings((2, 40), (1, 30)), NOW) is None  # too few readings
    assert battery_forecast(readings((0.5, 40), (0.3, 30), (0.1, 20)), NOW) is None  # less than a day
    assert battery_forecast(readings((40, 90), (35, 50), (31, 10)), NOW) is None  # older than 30 days
