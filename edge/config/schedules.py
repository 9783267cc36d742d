"""Weekly schedules and holiday calendars (the models live in `sync.policy`, shared with the cloud's documents)."""

from __future__ import annotations

from sync.policy import HolidayCalendar as HolidayCalendarConfig
from sync.policy import HolidayWindow, ScheduleWindow, Weekday
from sync.policy import Schedule as ScheduleConfig

__all__ = ["HolidayCalendarConfig", "HolidayWindow", "ScheduleConfig", "ScheduleWindow", "Weekday"]
