"""The attendance rules, as pure functions: one person's day from their badge punches and their shift.

No database here (cloud/hr/attendance.py loads the inputs). All times are aware datetimes; durations are computed
in real elapsed time (UTC), so a day whose clocks change for DST counts the hours actually worked. The rules, in
words an HR manager can check, are in docs/FLEET_HR.md.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from typing import Literal
from zoneinfo import ZoneInfo

Direction = Literal["in", "out"]
Status = Literal["present", "incomplete", "absent", "off"]

# Punches this long before a shift starts or after it ends still belong to that shift's day.
MARGIN = timedelta(hours=4)


@dataclass(frozen=True)
class Punch:
    """A granted badge at a door marked entry (`in`) or exit (`out`)."""

    at: datetime
    site_id: str
    door_id: str
    direction: Direction


@dataclass(frozen=True)
class Shift:
    """A weekly shift: local start and end at its site (end <= start: ends the next day), ISO weekdays, grace."""

    start: time
    end: time
    weekdays: frozenset[int]
    grace: timedelta
    zone: ZoneInfo

    def window(self, day: date) -> tuple[datetime, datetime] | None:
        """The shift's start and end on `day` (UTC), or None when it is not worked that weekday."""
        if day.isoweekday() not in self.weekdays:
            return None
        end_day = day + timedelta(days=1) if self.end <= self.start else day
        start = datetime.combine(day, self.start, self.zone)
        end = datetime.combine(end_day, self.end, self.zone)
        return start.astimezone(UTC), end.astimezone(UTC)


@dataclass(frozen=True)
class Interval:
    """Time on site between an entry and the matching exit at the same site."""

    site_id: str
    start: datetime
    end: datetime

    @property
    def minutes(self) -> float:
        return (self.end - self.start).total_seconds() / 60


@dataclass(frozen=True)
class MissingPunch:
    """A punch whose pair is missing: `missing` says which one (the engine never guesses its time)."""

    missing: Direction
    at: datetime
    site_id: str
    door_id: str


@dataclass
class DayResult:
    """One person's attendance on one day."""

    day: date
    status: Status
    scheduled_start: datetime | None = None
    scheduled_end: datetime | None = None
    first_in: datetime | None = None
    last_out: datetime | None = None
    worked_minutes: int = 0
    break_minutes: int = 0
    late_minutes: int = 0
    early_leave_minutes: int = 0
    sites: list[str] = field(default_factory=list)
    intervals: list[Interval] = field(default_factory=list)
    missing: list[MissingPunch] = field(default_factory=list)


def shift_bounds(day: date, shift: Shift | None) -> tuple[datetime, datetime] | None:
    """The bounds of `day`'s shift widened by MARGIN (UTC), or None on a day without one."""
    window = shift.window(day) if shift is not None else None
    return (window[0] - MARGIN, window[1] + MARGIN) if window is not None else None


def day_bounds(day: date, shift: Shift | None, zone: ZoneInfo) -> tuple[datetime, datetime]:
    """Which punches belong to `day` (UTC, end excluded): the shift's start and end widened by MARGIN, or the
    local calendar day in `zone` (the home site's) on a day without a shift."""
    window = shift.window(day) if shift is not None else None
    if window is not None:
        return window[0] - MARGIN, window[1] + MARGIN
    start = datetime.combine(day, time(0), zone).astimezone(UTC)
    end = datetime.combine(day + timedelta(days=1), time(0), zone).astimezone(UTC)
    return start, end


def pair(punches: Iterable[Punch]) -> tuple[list[Interval], list[MissingPunch]]:
    """Pair entries with the next exit at the same site; an unpaired punch is reported, never completed."""
    intervals: list[Interval] = []
    missing: list[MissingPunch] = []
    open_in: Punch | None = None
    for punch in sorted(punches, key=lambda p: p.at):
        if punch.direction == "in":
            if open_in is not None:
                missing.append(MissingPunch("out", open_in.at, open_in.site_id, open_in.door_id))
            open_in = punch
        elif open_in is not None and open_in.site_id == punch.site_id:
            intervals.append(Interval(punch.site_id, open_in.at, punch.at))
            open_in = None
        else:
            if open_in is not None:
                missing.append(MissingPunch("out", open_in.at, open_in.site_id, open_in.door_id))
                open_in = None
            missing.append(MissingPunch("in", punch.at, punch.site_id, punch.door_id))
    if open_in is not None:
        missing.append(MissingPunch("out", open_in.at, open_in.site_id, open_in.door_id))
    missing.sort(key=lambda m: m.at)
    return intervals, missing


def _minutes(delta: timedelta) -> int:
    return max(0, int(delta.total_seconds() // 60))


def attendance_day(
    day: date,
    punches: Sequence[Punch],
    shift: Shift | None,
    zone: ZoneInfo,
    taken: Sequence[tuple[datetime, datetime]] = (),
) -> DayResult:
    """Compute `day` from the person's punches (any site, any time: those outside the day are left out).

    `taken`: the bounds of the neighbouring days' shifts; on a day without a shift, punches inside them belong to
    those days (Saturday 06:00, the end of Friday's night shift, is not counted again on Saturday)."""
    lo, hi = day_bounds(day, shift, zone)
    window = shift.window(day) if shift is not None else None
    mine = [p for p in punches if lo <= p.at < hi and (window is not None or not any(a <= p.at < b for a, b in taken))]
    result = DayResult(day=day, status="off")
    if window is not None:
        result.scheduled_start, result.scheduled_end = window
    if not mine:
        result.status = "absent" if window is not None else "off"
        return result
    intervals, missing = pair(mine)
    ins = [p.at for p in mine if p.direction == "in"]
    outs = [p.at for p in mine if p.direction == "out"]
    result.first_in = min(ins) if ins else None
    result.last_out = max(outs) if outs else None
    result.intervals = intervals
    result.missing = missing
    result.sites = sorted({p.site_id for p in mine})
    result.worked_minutes = _minutes(sum((i.end - i.start for i in intervals), timedelta()))
    result.break_minutes = _minutes(
        sum((b.start - a.end for a, b in zip(intervals, intervals[1:], strict=False)), timedelta())
    )
    result.status = "incomplete" if missing else "present"
    if window is not None and shift is not None:
        start, end = window
        if result.first_in is not None and result.first_in > start + shift.grace:
            result.late_minutes = _minutes(result.first_in - start)
        if result.last_out is not None and result.last_out < end - shift.grace:
            result.early_leave_minutes = _minutes(end - result.last_out)
    return result
