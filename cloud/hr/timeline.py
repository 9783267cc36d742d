"""A person's attendance timeline: the day grid's computation (cloud/hr/attendance.py) over a date range for one
person, loaded once for the whole range."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy.ext.asyncio import AsyncSession

from cloud.hr import attendance
from cloud.hr.api_models import DEFAULT_TIMELINE_DAYS, TimelineDayOut, TimelineOut, TimelineQuery
from cloud.tenancy import Principal


def parse_query(raw: Mapping[str, str], today: date | None = None) -> TimelineQuery:
    """The range asked for (empty values ignored); a missing end is today (UTC), a missing start the 14 days up
    to the end. Raises pydantic's ValidationError."""
    values = {k: v for k, v in raw.items() if v}
    end = values.get("end") or (today or datetime.now(UTC).date()).isoformat()
    if "start" not in values:
        try:
            values["start"] = (date.fromisoformat(end) - timedelta(days=DEFAULT_TIMELINE_DAYS - 1)).isoformat()
        except ValueError:
            pass  # the model reports the bad end
    return TimelineQuery.model_validate({**values, "end": end})


async def person_timeline(
    session: AsyncSession, principal: Principal, person_id: str, query: TimelineQuery
) -> tuple[TimelineOut, dict[str, ZoneInfo]] | None:
    """The person's days in the range (days they are neither scheduled nor seen at the principal's sites are left
    out) and the principal's site time zones; None when the person is not one of the tenant's current people or
    never visible to the principal."""
    inputs = await attendance.load(session, principal, query.start, query.end)
    person = next((p for p in inputs.people if p.id == person_id), None)
    if person is None:
        return None
    days = []
    for n in range((query.end - query.start).days + 1):
        day = query.start + timedelta(days=n)
        computed = attendance.person_day(inputs, person, day)
        if computed is not None:
            days.append(TimelineDayOut(day=day, **computed.model_dump()))
    if not days:
        return None
    out = TimelineOut(person_id=person.id, name=person.name, start=query.start, end=query.end, days=days)
    return out, inputs.zones
