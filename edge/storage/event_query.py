"""Reading the journal as a timeline: filtered, newest first, in keyset pages (never OFFSET).

Records are ordered by (occurred_at, id), newest first; a page ends with a `Cursor` naming its last record and the
next page starts strictly after it, so paging through months of history costs the same on page 1 and page 1,000,
and records written meanwhile never shift a page. The indexes behind the filters are edge migration 15.
``door_snapshot`` events are not listed: each belongs to the record it pictures (`snapshots_of`).
"""

from __future__ import annotations

import re
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import ColumnElement, Select, func, literal, literal_column, or_, select, tuple_

from edge.storage.database import Database
from edge.storage.journal import JournalEntry
from edge.storage.schema import events

_CURSOR = re.compile(r"(\d{8}T\d{12})Z-(\d{1,19})")
_CURSOR_TIME = "%Y%m%dT%H%M%S%f"


def payload_key(key: str) -> ColumnElement[Any]:
    """``json_extract(payload, '$.<key>')`` with the path as a literal, as the expression indexes spell it."""
    if not key.isidentifier():
        raise ValueError(f"not a payload key: {key!r}")
    return func.json_extract(events.c.payload, literal_column(f"'$.{key}'"))


_DOOR, _CAMERA, _PERSON_ID = payload_key("door_id"), payload_key("camera_id"), payload_key("person_id")
_PERSON, _ZONE, _TYPE, _OF = (
    payload_key("person"),
    payload_key("zone"),
    payload_key("type"),
    payload_key("of_journal_id"),
)


@dataclass(frozen=True)
class Cursor:
    """Where a page ended: the last record's time and id (the next page starts after it)."""

    occurred_at: datetime
    id: int

    def encode(self) -> str:
        """The cursor as a URL-safe token, e.g. ``20260107T101112123456Z-1234``."""
        return f"{self.occurred_at.astimezone(UTC).strftime(_CURSOR_TIME)}Z-{self.id}"

    @classmethod
    def decode(cls, token: str) -> Cursor:
        """Parse a token made by `encode`; ValueError if it is not one."""
        match = _CURSOR.fullmatch(token)
        if match is None:
            raise ValueError("not a page cursor")
        when = datetime.strptime(match[1], _CURSOR_TIME).replace(tzinfo=UTC)
        record_id = int(match[2])
        if record_id >= 2**63:
            raise ValueError("not a page cursor")
        return cls(when, record_id)


@dataclass(frozen=True)
class EventFilter:
    """Which records to list; every field that is set must match (times are aware, `until` exclusive)."""

    kind: str | None = None
    door: str | None = None
    camera: str | None = None
    person_id: int | None = None
    person: str | None = None  # part of the person's name, any case
    zone: str | None = None
    zone_doors: tuple[str, ...] = ()  # the doors of `zone` (records at a door name the door, not its zone)
    since: datetime | None = None
    until: datetime | None = None

    def conditions(self) -> list[ColumnElement[bool]]:
        """The WHERE terms of this filter."""
        terms: list[ColumnElement[bool]] = [or_(_TYPE.is_(None), _TYPE != "door_snapshot")]
        if self.kind is not None:
            terms.append(events.c.kind == self.kind)
        if self.door is not None:
            terms.append(_DOOR == self.door)
        if self.camera is not None:
            terms.append(_CAMERA == self.camera)
        if self.person_id is not None:
            terms.append(_PERSON_ID == self.person_id)
        if self.person:
            pattern = "%" + re.sub(r"([\\%_])", r"\\\1", self.person) + "%"
            terms.append(_PERSON.like(pattern, escape="\\"))
        if self.zone is not None:
            terms.append(or_(_ZONE == self.zone, _DOOR.in_(self.zone_doors)) if self.zone_doors else _ZONE == self.zone)
        if self.since is not None:
            terms.append(events.c.occurred_at >= self.since.astimezone(UTC))
        if self.until is not None:
            terms.append(events.c.occurred_at < self.until.astimezone(UTC))
        return terms


@dataclass(frozen=True)
class EventPage:
    """One page of records, newest first, with the cursors of the pages on either side (None: no such page)."""

    entries: list[JournalEntry]
    older: Cursor | None
    newer: Cursor | None


def _aware(value: datetime) -> datetime:
    return value.astimezone(UTC) if value.tzinfo else value.replace(tzinfo=UTC)


def _entry(row: Any) -> JournalEntry:
    return JournalEntry(row.id, row.kind, _aware(row.occurred_at), row.source, row.summary, row.payload)


def _cursor(entry: JournalEntry) -> Cursor:
    return Cursor(entry.occurred_at, entry.id)


def page_query(
    flt: EventFilter, limit: int, older_than: Cursor | None = None, newer_than: Cursor | None = None
) -> Select[Any]:
    """The SELECT of `limit` records of `flt` older than `older_than`, newest first; or, given `newer_than`, the
    `limit` records just newer than it, oldest first."""
    query = select(events).where(*flt.conditions())
    key = tuple_(events.c.occurred_at, events.c.id)
    for cursor, newer in ((older_than, False), (newer_than, True)):
        if cursor is not None:
            bound = tuple_(literal(cursor.occurred_at.astimezone(UTC), events.c.occurred_at.type), literal(cursor.id))
            query = query.where(key > bound if newer else key < bound)
    if newer_than is not None:
        query = query.order_by(events.c.occurred_at.asc(), events.c.id.asc())
    else:
        query = query.order_by(events.c.occurred_at.desc(), events.c.id.desc())
    # A LIMIT of our own: SQLAlchemy's SQLite LIMIT always adds "OFFSET 0", and this query never skips rows.
    return query.suffix_with(f"LIMIT {int(limit)}")


async def page(
    db: Database, flt: EventFilter, limit: int, older_than: Cursor | None = None, newer_than: Cursor | None = None
) -> EventPage:
    """Up to `limit` records matching `flt`, newest first: the newest, those older than `older_than`, or those
    just newer than `newer_than` (one page back)."""
    async with db.engine.connect() as conn:
        rows = (await conn.execute(page_query(flt, limit + 1, older_than, newer_than))).all()
    more = len(rows) > limit
    entries = [_entry(r) for r in rows[:limit]]
    if newer_than is not None:
        entries.reverse()
        # An empty page (its records gone since, or filtered out): the older page starts at the cursor's record.
        older = _cursor(entries[-1]) if entries else Cursor(newer_than.occurred_at, newer_than.id + 1)
        return EventPage(entries, older, _cursor(entries[0]) if more else None)
    newer = _cursor(entries[0]) if older_than is not None and entries else None
    return EventPage(entries, _cursor(entries[-1]) if more else None, newer)


async def every_page(db: Database, flt: EventFilter, size: int = 500) -> AsyncIterator[list[JournalEntry]]:
    """Every record matching `flt`, newest first, a page at a time (for exports: memory stays one page)."""
    after: Cursor | None = None
    while True:
        result = await page(db, flt, size, after)
        if result.entries:
            yield result.entries
        if result.older is None:
            return
        after = result.older


async def get(db: Database, record_id: int) -> JournalEntry | None:
    """One record by id, or None."""
    async with db.engine.connect() as conn:
        row = (await conn.execute(select(events).where(events.c.id == record_id))).first()
    return None if row is None else _entry(row)


async def snapshots_of(db: Database, record_ids: Sequence[int]) -> list[JournalEntry]:
    """The ``door_snapshot`` events that picture any of `record_ids` (through their ``of_journal_id``)."""
    if not record_ids:
        return []
    query = select(events).where(_OF.in_(list(record_ids)), events.c.kind == "event", _TYPE == "door_snapshot")
    async with db.engine.connect() as conn:
        return [_entry(r) for r in (await conn.execute(query)).all()]
