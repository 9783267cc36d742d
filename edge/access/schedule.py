"""Weekly schedules with holidays, evaluated on the site's wall clock; pure functions of an aware instant.

Rules (also in `ScheduleWindow`'s docstring):
- A window belongs to the local day it starts on; `end <= start` runs past midnight (`end == start`: 24 h).
- On a holiday of the schedule the weekly windows do not start; its `holiday_windows` do instead. A window
  that started the day before runs to its end.
- Times are wall-clock in the site zone. When DST skips an hour (Europe/Berlin 2026-03-29 02:00 -> 03:00)
  a window starting inside the gap opens at 03:00 and one ending inside it closes at 03:00; when DST
  repeats an hour (2026-10-25 03:00 -> 02:00) a window covering 02:xx is open during both passes.

`next_change` finds the next instant the state flips, so the door mode runner can sleep until exactly then.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from edge.config import HolidayCalendarConfig, ScheduleConfig

_DAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
_RESOLUTION = timedelta(seconds=1)
HORIZON = timedelta(days=8)


@dataclass(frozen=True)
class _Window:
    start: time
    end: time
    days: frozenset[str] | None  # None: a holiday window


@dataclass(frozen=True)
class Schedule:
    """A compiled schedule: weekly windows, holiday dates and holiday windows in one time zone."""

    tz: ZoneInfo
    windows: tuple[_Window, ...] = ()
    holiday_windows: tuple[_Window, ...] = ()
    holiday_dates: frozenset[date] = frozenset()
    annual_holidays: frozenset[tuple[int, int]] = frozenset()
    always: bool = False
    name: str = field(default="", compare=False)

    @classmethod
    def always_open(cls, tz: ZoneInfo) -> Schedule:
        """The schedule named 'always'."""
        return cls(tz=tz, always=True, name="always")

    @classmethod
    def compile(
        cls,
        config: ScheduleConfig,
        tz: ZoneInfo,
        calendars: Mapping[str, HolidayCalendarConfig] | None = None,
        name: str = "",
    ) -> Schedule:
        """Build a schedule from its config and the holiday calendars it names."""
        calendars = calendars or {}
        dates: set[date] = set()
        annual: set[tuple[int, int]] = set()
        for calendar_id in config.holidays:
            calendar = calendars[calendar_id]
            dates.update(calendar.dates)
            for month_day in calendar.annual:
                month, day = (int(p) for p in month_day.split("-"))
                annual.add((month, day))
        return cls(
            tz=tz,
            windows=tuple(_Window(w.start, w.end, frozenset(w.days)) for w in config.windows),
            holiday_windows=tuple(_Window(w.start, w.end, None) for w in config.holiday_windows),
            holiday_dates=frozenset(dates),
            annual_holidays=frozenset(annual),
            name=name,
        )

    def is_holiday(self, day: date) -> bool:
        """Return True if `day` (local) is a holiday of this schedule."""
        return day in self.holiday_dates or (day.month, day.day) in self.annual_holidays

    def _windows_starting_on(self, day: date) -> Iterable[_Window]:
        if self.is_holiday(day):
            return self.holiday_windows
        weekday = _DAYS[day.weekday()]
        return (w for w in self.windows if w.days is not None and weekday in w.days)

    def is_open(self, now: datetime) -> bool:
        """Return True if the aware instant `now` falls in a window."""
        if self.always:
            return True
        if now.tzinfo is None:
            raise ValueError("is_open needs an aware datetime")
        local = now.astimezone(self.tz)
        today = local.date()
        t = local.time()
        for window in self._windows_starting_on(today):
            if window.start < window.end:
                if window.start <= t < window.end:
                    return True
            elif t >= window.start:  # spans midnight, or 24 h when start == end
                return True
        for window in self._windows_starting_on(today - timedelta(days=1)):
            if window.end <= window.start and t < window.end:
                return True
        return False

    def next_change(self, now: datetime, horizon: timedelta = HORIZON) -> datetime | None:
        """Return the first instant after `now` at which `is_open` differs from `is_open(now)`, in UTC.

        None if the state does not change within `horizon` (e.g. 'always').
        """
        if self.always:
            return None
        state = self.is_open(now)
        previous = now
        for candidate in self._candidates(now, horizon):
            if self.is_open(candidate) != state:
                return self._first_flip(previous, candidate, state)
            previous = candidate
        return None

    def _candidates(self, now: datetime, horizon: timedelta) -> list[datetime]:
        # Every window edge on each local day, at both folds (the repeated hour), plus local midnights
        # (holidays begin and end there). A flip caused by a DST gap lies between two candidates and is
        # found by bisection.
        edges = {time(0, 0)}
        for window in (*self.windows, *self.holiday_windows):
            edges.update((window.start, window.end))
        first = now.astimezone(self.tz).date() - timedelta(days=1)
        end = now + horizon
        found: set[datetime] = set()
        for offset in range((horizon.days or 1) + 2):
            day = first + timedelta(days=offset)
            for edge in edges:
                for fold in (0, 1):
                    instant = datetime.combine(day, edge, tzinfo=self.tz).replace(fold=fold).astimezone(UTC)
                    if now < instant <= end:
                        found.add(instant)
        return sorted(found)

    def _first_flip(self, before: datetime, after: datetime, state: bool) -> datetime:
        # Invariant: is_open(before) == state, is_open(after) != state.
        while after - before > _RESOLUTION:
            middle = before + (after - before) / 2
            if self.is_open(middle) == state:
                before = middle
            else:
                after = middle
        whole = after.replace(microsecond=0)  # real flips fall on whole seconds (window edges, DST changes)
        if whole > before and self.is_open(whole) != state:
            after = whole
        return after.astimezone(UTC)


def compile_schedules(
    schedules: Mapping[str, ScheduleConfig],
    tz: ZoneInfo,
    calendars: Mapping[str, HolidayCalendarConfig],
) -> dict[str, Schedule]:
    """Compile every named schedule, plus 'always'."""
    compiled = {name: Schedule.compile(cfg, tz, calendars, name) for name, cfg in schedules.items()}
    compiled["always"] = Schedule.always_open(tz)
    return compiled


def is_open(schedule: ScheduleConfig | None, now: datetime, tz: ZoneInfo) -> bool:
    """Return True if `now` (aware) falls in a window of `schedule`; None means always open."""
    if schedule is None:
        return True
    return Schedule.compile(schedule, tz).is_open(now)
