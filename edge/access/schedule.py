"""Weekly schedules evaluated in the site's local time."""

from __future__ import annotations

from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from edge.config import ScheduleConfig

_DAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")


def is_open(schedule: ScheduleConfig | None, now: datetime, tz: ZoneInfo) -> bool:
    """Return True if `now` (aware) falls in a window; None means always open."""
    if schedule is None:
        return True
    local = now.astimezone(tz)
    today = _DAYS[local.weekday()]
    yesterday = _DAYS[(local - timedelta(days=1)).weekday()]
    t = local.time()
    for window in schedule.windows:
        if window.start < window.end:
            if today in window.days and window.start <= t < window.end:
                return True
        else:  # spans midnight (or 24 h when start == end)
            if today in window.days and t >= window.start:
                return True
            if yesterday in window.days and t < window.end:
                return True
    return False
