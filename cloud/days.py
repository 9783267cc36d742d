"""`CalendarDay`: a day a query may name, far enough from the ends of Python's calendar that a range built
around it (a week before, a day after, a period's end) still exists. Bad input is then a 400, not an
OverflowError (a 500)."""

from __future__ import annotations

from datetime import date
from typing import Annotated

from pydantic import AfterValidator

FIRST_DAY = date(1970, 1, 1)
LAST_DAY = date(9000, 12, 31)


def _within_calendar(day: date) -> date:
    if not FIRST_DAY <= day <= LAST_DAY:
        raise ValueError(f"a day from {FIRST_DAY} to {LAST_DAY}")
    return day


CalendarDay = Annotated[date, AfterValidator(_within_calendar)]
