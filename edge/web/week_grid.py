"""The week grid editor's form: per-day rows of time ranges <-> a `sync.policy.Schedule` (pure functions).

Fields: ``<day>-start-<n>`` / ``<day>-end-<n>`` for each range of a day (``mon`` .. ``sun``), ``hol-start-<n>`` /
``hol-end-<n>`` for the windows on holidays, ``holidays`` (repeated) for the calendars honoured. A range left
blank is ignored; a range with one end only, a time that does not parse or ranges of one day that overlap are
errors on that range (key ``<day>-<n>``), shown next to it. End before start runs past midnight; end equal to
start is the whole day (the model's rule).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import time
from typing import get_args

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from sync.policy import HolidayWindow, Schedule, ScheduleWindow, Weekday

DAYS: tuple[Weekday, ...] = get_args(Weekday)
DAY_NAMES = dict(zip(DAYS, ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday"), strict=True))
HOLIDAY_ROW = "hol"
BLANK_ROWS = 2  # empty ranges offered under each day's ranges (more appear after saving)
MAX_RANGES = 24  # per day


class TimeRange(BaseModel):
    """One range of a day, as typed."""

    model_config = ConfigDict(extra="forbid")

    start: time = Field(description="Local start, HH:MM")
    end: time = Field(description="Local end, HH:MM (exclusive); before start runs past midnight")


@dataclass(frozen=True)
class Row:
    """A range in the grid as shown: the typed text, its error if any."""

    start: str
    end: str
    error: str = ""


def _minutes(value: time) -> int:
    return value.hour * 60 + value.minute


def _spans(r: TimeRange) -> list[tuple[int, int]]:
    """The minutes of the week-day a range covers (past midnight: split; end == start: the whole day)."""
    start, end = _minutes(r.start), _minutes(r.end)
    if end == start:
        return [(0, 1440)]
    if end < start:
        return [(start, 1440), (0, end)]
    return [(start, end)]


def _hhmm(value: time) -> str:
    return value.strftime("%H:%M" if value.second == 0 else "%H:%M:%S")


def rows_of(schedule: Schedule) -> dict[str, list[Row]]:
    """The grid of a schedule: each day's ranges (a window on several days appears on each), and holidays."""
    grid: dict[str, list[Row]] = {day: [] for day in (*DAYS, HOLIDAY_ROW)}
    for window in schedule.windows:
        for day in window.days:
            grid[day].append(Row(_hhmm(window.start), _hhmm(window.end)))
    for hw in schedule.holiday_windows:
        grid[HOLIDAY_ROW].append(Row(_hhmm(hw.start), _hhmm(hw.end)))
    for rows in grid.values():
        rows.sort(key=lambda r: r.start)
    return grid


def with_blanks(grid: Mapping[str, list[Row]]) -> dict[str, list[Row]]:
    """The grid with empty ranges to type into under each day."""
    return {day: [*rows, *[Row("", "")] * BLANK_ROWS] for day, rows in grid.items()}


def parse_grid(form: Mapping[str, str]) -> tuple[dict[str, list[Row]], dict[str, list[TimeRange]], dict[str, str]]:
    """Read the typed grid: (rows as typed, valid ranges by day, errors by ``<day>-<n>``)."""
    typed: dict[str, list[Row]] = {}
    ranges: dict[str, list[TimeRange]] = {}
    errors: dict[str, str] = {}
    for day in (*DAYS, HOLIDAY_ROW):
        rows: list[Row] = []
        valid: list[tuple[int, TimeRange]] = []
        for n in range(MAX_RANGES + BLANK_ROWS):
            start = form.get(f"{day}-start-{n}", "").strip()
            end = form.get(f"{day}-end-{n}", "").strip()
            if not start and not end:
                continue
            error = ""
            if not start or not end:
                error = "give both a start and an end (or clear both)"
            else:
                try:
                    valid.append((len(rows), TimeRange.model_validate({"start": start, "end": end})))
                except ValidationError as err:
                    field = str(err.errors()[0]["loc"][0])
                    error = f"{field}: not a time of day (HH:MM)"
            rows.append(Row(start, end, error))
        for i, (row_i, a) in enumerate(valid):
            for row_j, b in valid[:i]:
                if any(s1 < e2 and s2 < e1 for s1, e1 in _spans(a) for s2, e2 in _spans(b)):
                    rows[row_i] = Row(
                        rows[row_i].start, rows[row_i].end, f"overlaps {rows[row_j].start}-{rows[row_j].end}"
                    )
        if len(valid) > MAX_RANGES:
            errors[f"{day}-0"] = f"at most {MAX_RANGES} ranges a day"
        for n, row in enumerate(rows):
            if row.error:
                errors[f"{day}-{n}"] = row.error
        typed[day] = rows
        ranges[day] = [r for _, r in valid]
    return typed, ranges, errors


def schedule_of(ranges: Mapping[str, list[TimeRange]], holidays: list[str]) -> Schedule:
    """The schedule of valid ranges: one window per distinct range, listing the days it starts on."""
    by_range: dict[tuple[time, time], list[Weekday]] = {}
    for day in DAYS:
        for r in ranges.get(day, []):
            by_range.setdefault((r.start, r.end), []).append(day)
    windows = [ScheduleWindow(days=days, start=s, end=e) for (s, e), days in sorted(by_range.items())]
    holiday_windows = [HolidayWindow(start=r.start, end=r.end) for r in ranges.get(HOLIDAY_ROW, [])]
    return Schedule(windows=windows, holidays=holidays, holiday_windows=holiday_windows)


def bars_of(schedule: Schedule) -> dict[str, list[tuple[float, float]]]:
    """Per day, the open spans as (left %, width %) of a 24 h bar (a range past midnight continues next day)."""
    bars: dict[str, list[tuple[float, float]]] = {day: [] for day in DAYS}
    for window in schedule.windows:
        for day in window.days:
            r = TimeRange(start=window.start, end=window.end)
            spans = _spans(r)
            if len(spans) == 2:  # past midnight: the morning part belongs on the next day's bar
                bars[day].append(spans[0])
                bars[DAYS[(DAYS.index(day) + 1) % 7]].append(spans[1])
            else:
                bars[day].append(spans[0])
    return {day: [(s / 14.4, (e - s) / 14.4) for s, e in sorted(spans)] for day, spans in bars.items()}
