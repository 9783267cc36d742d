"""A rule made ready to evaluate: compiled time windows, event windows, hysteresis latches, its rate limit."""

from __future__ import annotations

from collections import deque
from collections.abc import Callable
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from edge.access.schedule import Schedule
from edge.rules.events import RuleEvent
from edge.rules.state import EventWindow, Latch, SiteView
from sync.policy import HolidayCalendar, HolidayWindow, ScheduleWindow
from sync.policy import Schedule as ScheduleConfig
from sync.rules import (
    Condition,
    CountCondition,
    DoorCondition,
    EventFilter,
    EventTrigger,
    QuietCondition,
    Rule,
    SensorCondition,
    ThresholdTrigger,
    TimeWindowCondition,
    ZoneCondition,
)


def window_schedule(cond: TimeWindowCondition, tz: ZoneInfo, calendars: dict[str, HolidayCalendar]) -> Schedule:
    """The time window as an access schedule: holidays close it all day ('exclude') or are its only days."""
    if cond.on_holidays == "only":
        config = ScheduleConfig(
            windows=[], holidays=cond.holidays, holiday_windows=[HolidayWindow(start=cond.start, end=cond.end)]
        )
    else:
        window = ScheduleWindow(days=cond.days, start=cond.start, end=cond.end)
        config = ScheduleConfig(windows=[window], holidays=cond.holidays)
    return Schedule.compile(config, tz, calendars)


Check = Callable[[datetime, SiteView], str | None]


class UnknownReference(ValueError):
    """A rule names a door, zone, channel, camera or holiday calendar the site does not have."""


class RateLimiter:
    """At most `max_runs` per `per_s` seconds."""

    def __init__(self, max_runs: int, per_s: float) -> None:
        self.max_runs, self.per_s = max_runs, per_s
        self._runs: deque[datetime] = deque()
        self.suppressed_since_run = 0

    def allow(self, at: datetime) -> bool:
        """Take one run at `at` if the limit allows it."""
        while self._runs and (at - self._runs[0]).total_seconds() >= self.per_s:
            self._runs.popleft()
        if len(self._runs) >= self.max_runs:
            self.suppressed_since_run += 1
            return False
        self._runs.append(at)
        self.suppressed_since_run = 0
        return True


class CompiledRule:
    """One rule's evaluation state."""

    def __init__(self, rule: Rule, tz: ZoneInfo, calendars: dict[str, HolidayCalendar]) -> None:
        self.rule = rule
        self.calendars = calendars
        self.limiter = RateLimiter(rule.rate_limit.max_runs, rule.rate_limit.per_s)
        self.schedules: dict[int, Schedule] = {}
        self.windows: dict[int, EventWindow] = {}
        self.latches: dict[int, Latch] = {}
        self._open_until: dict[int, tuple[bool, datetime, datetime]] = {}
        for index, cond in enumerate(rule.conditions):
            if isinstance(cond, TimeWindowCondition):
                missing = sorted(set(cond.holidays) - set(calendars))
                if missing:
                    raise UnknownReference(f"conditions.{index}.holidays: unknown calendar(s) {', '.join(missing)}")
                self.schedules[index] = window_schedule(cond, tz, calendars)
            elif isinstance(cond, CountCondition):
                self.windows[index] = EventWindow(cond.within_s)
            elif isinstance(cond, QuietCondition):
                self.windows[index] = EventWindow(cond.minutes * 60)
            elif isinstance(cond, SensorCondition):
                self.latches[index] = Latch(cond.above, cond.below, cond.hysteresis)
        trigger = rule.trigger
        self.trigger_latch = (
            Latch(trigger.above, trigger.below, trigger.hysteresis) if isinstance(trigger, ThresholdTrigger) else None
        )
        # Each condition as a ready check, so an evaluation does not dispatch on its type again.
        self._checks: tuple[Check, ...] = tuple(self._check(i, c) for i, c in enumerate(rule.conditions))
        self.waits = isinstance(trigger, EventTrigger) and trigger.for_s is not None

    def window_filters(self) -> list[tuple[int, EventFilter, bool]]:
        """The filters of the count and quiet conditions: (condition index, filter, is a quiet condition)."""
        return [
            (i, c.filter, isinstance(c, QuietCondition))
            for i, c in enumerate(self.rule.conditions)
            if isinstance(c, CountCondition | QuietCondition)
        ]

    def sensors(self) -> set[str]:
        """Sensor ids whose readings feed this rule's latches."""
        found = {c.sensor for c in self.rule.conditions if isinstance(c, SensorCondition)}
        if isinstance(self.rule.trigger, ThresholdTrigger):
            found.add(self.rule.trigger.sensor)
        return found

    def feed_readings(self, event: RuleEvent) -> bool:
        """Update the latches from a telemetry event; return True if the threshold trigger just crossed."""
        sensor = event.attrs.get("sensor")
        for index, latch in self.latches.items():
            cond = self.rule.conditions[index]
            assert isinstance(cond, SensorCondition)
            if cond.sensor == sensor and cond.metric in event.values:
                latch.feed(event.values[cond.metric])
        trigger = self.rule.trigger
        if self.trigger_latch is not None and isinstance(trigger, ThresholdTrigger) and trigger.sensor == sensor:
            if trigger.metric in event.values:
                return self.trigger_latch.feed(event.values[trigger.metric])
        return False

    def _window_open(self, index: int, now: datetime) -> bool:
        """`Schedule.is_open`, remembered until the window's next edge (busy sites evaluate it per event)."""
        cached = self._open_until.get(index)
        if cached is not None and cached[1] <= now < cached[2]:
            return cached[0]
        schedule = self.schedules[index]
        is_open = schedule.is_open(now)
        until = schedule.next_change(now) or now + timedelta(minutes=1)
        self._open_until[index] = (is_open, now, min(until, now + timedelta(hours=1)))
        return is_open

    def holds(self, now: datetime, view: SiteView) -> str | None:
        """None if every condition holds at `now`; else which one does not (for the history)."""
        for check in self._checks:
            why = check(now, view)
            if why is not None:
                return why
        return None

    def _check(self, index: int, cond: Condition) -> Check:
        """The check of condition `index`: None if it holds, else why not."""
        where = f"conditions.{index}"
        if isinstance(cond, TimeWindowCondition):
            outside = f"{where}: outside the time window"
            return lambda now, _view: None if self._window_open(index, now) else outside
        if isinstance(cond, DoorCondition):
            door_not = f"{where}: door {cond.door} is not {cond.state}"
            return lambda _now, view: None if _door_state(cond, view) else door_not
        if isinstance(cond, ZoneCondition):
            zone_not = f"{where}: zone {cond.zone} is not {cond.state}"
            return lambda _now, view: None if _zone_state(cond, view) else zone_not
        if isinstance(cond, SensorCondition):
            latch, below = self.latches[index], f"{where}: {cond.sensor} {cond.metric} not past its threshold"
            return lambda _now, _view: None if latch.on else below
        if isinstance(cond, CountCondition):
            window, at_least = self.windows[index], cond.at_least
            fewer = f"{where}: fewer than {at_least} events in {cond.within_s:g} s"
            return lambda now, _view: None if window.count(now) >= at_least else fewer
        # Quiet windows take an event only after its evaluation (RulesEngine), so the triggering event never
        # breaks its own rule's quiet.
        quiet, quiet_s = self.windows[index], cond.minutes * 60
        noisy = f"{where}: an event in the last {cond.minutes:g} min"

        def check_quiet(now: datetime, _view: SiteView) -> str | None:
            last = quiet.last()
            return noisy if last is not None and (now - last).total_seconds() <= quiet_s else None

        return check_quiet


def _door_state(cond: DoorCondition, view: SiteView) -> bool:
    if cond.state in ("lockdown", "not_lockdown"):
        locked = view.locked_down(view.door_zones.get(cond.door))
        return locked if cond.state == "lockdown" else not locked
    is_open = view.door_open.get(cond.door)
    return is_open is True if cond.state == "open" else is_open is False


def _zone_state(cond: ZoneCondition, view: SiteView) -> bool:
    if cond.state == "lockdown":
        return view.locked_down(cond.zone)
    if cond.state == "not_lockdown":
        return not view.locked_down(cond.zone)
    occupied = view.people.get(cond.zone, 0) > 0
    return occupied if cond.state == "occupied" else not occupied
