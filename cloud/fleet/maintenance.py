"""Maintenance rules, as pure functions: when a schedule falls due, when a work order is late, and when a
device's battery trend says it will die (docs/FLEET_HR.md, "Maintenance").

No database here (cloud/fleet/maintenance_load.py loads the inputs).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Literal

State = Literal["ok", "due", "overdue"]
_RANK: dict[State, int] = {"ok": 0, "due": 1, "overdue": 2}

# A battery is dead at this percentage (locks stop working reliably below it).
BATTERY_DEAD_AT = 5.0
# A device whose battery is forecast to die within this many days gets a work-order suggestion.
BATTERY_HORIZON = timedelta(days=14)
# The readings the trend is fitted to: the last 30 days, at least 3 readings spanning at least a day.
BATTERY_WINDOW = timedelta(days=30)
BATTERY_MIN_READINGS = 3
WORK_ORDER_WARN_DAYS = 7


def worst(*states: State) -> State:
    """The most urgent of the states."""
    return max(states, key=lambda s: _RANK[s], default="ok")


@dataclass(frozen=True)
class Usage:
    """A schedule's subject since it was last done: gate trips and days with a gate trip (days in service)."""

    trips: int = 0
    service_days: int = 0


@dataclass(frozen=True)
class ScheduleRule:
    """A schedule's limits: every N days (calendar), every N gate trips, every N days in service."""

    every_days: int | None
    every_trips: int | None
    every_service_days: int | None
    warn_days: int
    warn_trips: int


@dataclass(frozen=True)
class ScheduleStatus:
    """Where a schedule stands: its state, the calendar due date, what is left of each limit, and why."""

    state: State
    due_on: date | None
    days_left: int | None
    trips_left: int | None
    service_days_left: int | None
    reason: str


def _by_count(left: int | None, warn: int) -> State:
    if left is None:
        return "ok"
    return "overdue" if left < 0 else "due" if left <= warn else "ok"


def schedule_status(rule: ScheduleRule, since: date | None, usage: Usage, today: date) -> ScheduleStatus:
    """Where a schedule stands on `today`, counted from `since` (last done, else first day in service).

    Calendar: due from `warn_days` before the due date up to it, overdue after it. Trips and days in service:
    due when `warn_trips` (or `warn_days`) or fewer are left, overdue past the limit. Never done and no first day
    in service: due now (nothing to count from). The state is the most urgent of the limits."""
    if since is None:
        return ScheduleStatus("due", None, None, None, None, "never done, no start date to count from")
    due_on = since + timedelta(days=rule.every_days) if rule.every_days else None
    days_left = (due_on - today).days if due_on else None
    trips_left = rule.every_trips - usage.trips if rule.every_trips else None
    service_left = rule.every_service_days - usage.service_days if rule.every_service_days else None
    states = {
        "calendar": _by_count(days_left, rule.warn_days),
        "trips": _by_count(trips_left, rule.warn_trips),
        "days in service": _by_count(service_left, rule.warn_days),
    }
    state = worst(*states.values())
    reasons = []
    if days_left is not None:
        reasons.append(f"{-days_left} days overdue" if days_left < 0 else f"due in {days_left} days")
    if trips_left is not None:
        reasons.append(f"{usage.trips} of {rule.every_trips} trips")
    if service_left is not None:
        reasons.append(f"{usage.service_days} of {rule.every_service_days} days in service")
    return ScheduleStatus(state, due_on, days_left, trips_left, service_left, "; ".join(reasons))


def work_order_state(status: str, due_on: date | None, today: date) -> State:
    """An open work order is overdue after its due date and due within WORK_ORDER_WARN_DAYS of it."""
    if status in ("done", "cancelled") or due_on is None:
        return "ok"
    days_left = (due_on - today).days
    return "overdue" if days_left < 0 else "due" if days_left <= WORK_ORDER_WARN_DAYS else "ok"


@dataclass(frozen=True)
class BatteryForecast:
    """A battery's fitted trend: the last reading, the change per day, and when it reaches BATTERY_DEAD_AT."""

    last: float
    per_day: float
    dies_at: datetime | None


def battery_forecast(readings: Sequence[tuple[datetime, float]], now: datetime) -> BatteryForecast | None:
    """Fit a straight line (least squares) to the readings of the last BATTERY_WINDOW; None when there are too
    few (under BATTERY_MIN_READINGS, or spanning less than a day). `dies_at` is None unless it is falling."""
    recent = sorted((at, value) for at, value in readings if now - BATTERY_WINDOW <= at <= now)
    if len(recent) < BATTERY_MIN_READINGS or recent[-1][0] - recent[0][0] < timedelta(days=1):
        return None
    origin = recent[0][0]
    xs = [(at - origin).total_seconds() / 86400 for at, _ in recent]
    ys = [value for _, value in recent]
    mean_x, mean_y = sum(xs) / len(xs), sum(ys) / len(ys)
    spread = sum((x - mean_x) ** 2 for x in xs)
    slope = sum((x - mean_x) * (y - mean_y) for x, y in zip(xs, ys, strict=True)) / spread
    if slope >= 0:
        return BatteryForecast(ys[-1], slope, None)
    intercept = mean_y - slope * mean_x
    days = (BATTERY_DEAD_AT - intercept) / slope
    return BatteryForecast(ys[-1], slope, origin + timedelta(days=days))


def needs_battery_work(forecast: BatteryForecast | None, now: datetime) -> bool:
    """Whether the forecast dies within BATTERY_HORIZON of `now` (already dead counts)."""
    return forecast is not None and forecast.dies_at is not None and forecast.dies_at - now <= BATTERY_HORIZON
