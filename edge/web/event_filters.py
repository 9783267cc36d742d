"""The event filters of the console: one query model for the JSON API, the events page and the CSV export.

Times without an offset (the page's date and time fields) are in the site's time zone; a date alone as ``to``
includes that whole day. ``before`` / ``after`` are page cursors (`edge.storage.event_query.Cursor`).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from datetime import date, datetime, time, timedelta
from typing import Any, get_args
from zoneinfo import ZoneInfo

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from edge.config import EdgeConfig
from edge.storage.event_query import Cursor, EventFilter
from sync.wire import RecordKind
from webguard.params import parse_id

KINDS: tuple[str, ...] = get_args(RecordKind)
DEFAULT_LIMIT = 50
MAX_LIMIT = 500
_ID = r"^[A-Za-z0-9_.:-]{1,64}$"
_DATE = re.compile(r"\d{4}-\d{2}-\d{2}")


class EventQueryIn(BaseModel):
    """The filters and page of an event listing (every field optional; an empty field is no filter)."""

    model_config = ConfigDict(extra="forbid", populate_by_name=True)

    kind: RecordKind | None = Field(default=None, description="Record kind: event, audit, detection, ...")
    door: str | None = Field(default=None, pattern=_ID, description="Door id: records at this door")
    camera: str | None = Field(default=None, pattern=_ID, description="Camera id: records of this camera")
    zone: str | None = Field(default=None, pattern=_ID, description="Zone id: records in the zone or at its doors")
    person: str | None = Field(default=None, min_length=1, max_length=120, description="Part of a person's name")
    person_id: int | None = Field(default=None, description="Person id (ASCII digits)")
    since: datetime | date | None = Field(default=None, alias="from", description="From this time or day")
    until: datetime | date | None = Field(default=None, alias="to", description="Before this time; a day: to its end")
    before: Cursor | None = Field(default=None, description="Page cursor: records older than this one")
    after: Cursor | None = Field(default=None, description="Page cursor: records newer than this one")
    limit: int = Field(default=DEFAULT_LIMIT, description=f"Records per page, 1-{MAX_LIMIT} (clamped)")

    @field_validator("person_id", mode="before")
    @classmethod
    def _strict_id(cls, value: Any) -> Any:
        if isinstance(value, str):
            parsed = parse_id(value)
            if parsed is None:
                raise ValueError("must be an id (1-19 ASCII digits)")
            return parsed
        return value

    @field_validator("limit", mode="before")
    @classmethod
    def _clamped(cls, value: Any) -> Any:
        if isinstance(value, str):
            parsed = parse_id(value)
            if parsed is None:
                raise ValueError("must be an integer (ASCII digits)")
            value = parsed
        return max(1, min(MAX_LIMIT, value)) if isinstance(value, int) else value

    @field_validator("before", "after", mode="before")
    @classmethod
    def _cursor(cls, value: Any) -> Any:
        return Cursor.decode(value) if isinstance(value, str) else value

    @field_validator("since", "until", mode="before")
    @classmethod
    def _time(cls, value: Any) -> Any:
        if not isinstance(value, str):
            return value
        when = date.fromisoformat(value) if _DATE.fullmatch(value) else datetime.fromisoformat(value)
        if not 1970 <= when.year < 9999:  # and so every offset stays representable in UTC
            raise ValueError("year must be within 1970-9998")
        return when

    @classmethod
    def from_query(cls, query: Mapping[str, str]) -> EventQueryIn:
        """Validate a query string (empty fields dropped); ValidationError names what is wrong."""
        return cls.model_validate({k: v for k, v in query.items() if v != ""})

    def to_filter(self, config: EdgeConfig) -> EventFilter:
        """The storage filter: naive times in the site's zone, a zone's doors looked up in the config."""
        tz = ZoneInfo(config.site.timezone)
        return EventFilter(
            kind=self.kind,
            door=self.door,
            camera=self.camera,
            person_id=self.person_id,
            person=self.person,
            zone=self.zone,
            zone_doors=tuple(d.id for d in config.doors if self.zone is not None and d.zone == self.zone),
            since=_instant(self.since, tz),
            until=_instant(self.until, tz, day_end=True),
        )

    def query_string_items(self) -> dict[str, str]:
        """The filters (not the page) as query parameters, for links to other pages and the CSV."""
        items = self.model_dump(by_alias=True, exclude={"before", "after", "limit"}, exclude_none=True)
        return {k: v.isoformat() if isinstance(v, date) else str(v) for k, v in items.items()}


def _instant(value: datetime | date | None, tz: ZoneInfo, *, day_end: bool = False) -> datetime | None:
    """An aware instant: a naive time is in `tz`; a day is its start (or, with `day_end`, the next day's)."""
    if value is None:
        return None
    if not isinstance(value, datetime):
        value = datetime.combine(value + timedelta(days=1) if day_end else value, time(0))
    return value if value.tzinfo is not None else value.replace(tzinfo=tz)


def invalid_detail(err: ValidationError) -> str:
    """One line naming each bad parameter, e.g. ``from: Input should be a valid datetime``."""
    return "; ".join(f"{'.'.join(str(p) for p in e['loc']) or 'query'}: {e['msg']}" for e in err.errors())


# The query parameters in the OpenAPI document (edge.web.openapi); tests/edge/web/test_events_api.py checks that
# they name exactly the fields of EventQueryIn.
OPENAPI_PARAMETERS: tuple[dict[str, Any], ...] = (
    {"name": "limit", "schema": {"type": "integer", "minimum": 1, "maximum": MAX_LIMIT}},
    {"name": "kind", "schema": {"type": "string", "enum": list(KINDS)}},
    {"name": "door", "schema": {"type": "string", "pattern": _ID}},
    {"name": "camera", "schema": {"type": "string", "pattern": _ID}},
    {"name": "zone", "schema": {"type": "string", "pattern": _ID}},
    {"name": "person", "schema": {"type": "string", "minLength": 1, "maxLength": 120}},
    {"name": "person_id", "schema": {"type": "integer", "minimum": 0}},
    {"name": "from", "schema": {"type": "string", "description": "ISO 8601 date or date-time"}},
    {"name": "to", "schema": {"type": "string", "description": "ISO 8601 date or date-time"}},
    {"name": "before", "schema": {"type": "string"}},
    {"name": "after", "schema": {"type": "string"}},
)
