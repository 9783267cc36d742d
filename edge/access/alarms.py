"""Latching door alarms: the persisted list of open alarms and operator acknowledgement.

An alarm row (table ``door_alarms``, migration 5) goes active-unacknowledged -> active-acknowledged -> cleared.
A condition that ends before anyone acknowledged it stays listed as cleared-unacknowledged until acknowledged.
A row is "listed" (open) until it is both cleared and acknowledged; then it is closed and kept for reference.
At most one listed row per door and alarm: raising it again while listed updates that row (``occurrences``).

Every change is journaled (kind "event", ``type: "alarm"``, ``state`` "raised" / "cleared" / "acknowledged",
with ``alarm_id``) and so synced with the other records. Changes are serialised by one lock, so the journal
shows them in the order they were applied to the list.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import insert, select, update

from edge.config import EdgeConfig
from edge.devices.state import ALARM_TEXT
from edge.storage.database import Database, inserted_id
from edge.storage.journal import Journal
from edge.storage.schema import door_alarms

log = logging.getLogger(__name__)


class UnknownAlarm(LookupError):
    """No alarm with that id."""


def _aware(value: datetime | None) -> datetime | None:
    if value is None or value.tzinfo is not None:
        return value
    return value.replace(tzinfo=UTC)


def _iso(value: datetime | None) -> str | None:
    return value.isoformat() if value is not None else None


@dataclass(frozen=True)
class AlarmRecord:
    """One row of the alarm list."""

    id: int
    door_id: str
    door_name: str
    alarm: str
    detail: str
    active: bool
    raised_at: datetime
    last_raised_at: datetime
    occurrences: int
    cleared_at: datetime | None
    acknowledged_by: str | None
    acknowledged_at: datetime | None
    acknowledged_comment: str | None
    closed_at: datetime | None

    @property
    def acknowledged(self) -> bool:
        """True once an operator acknowledged it."""
        return self.acknowledged_at is not None

    @property
    def state(self) -> str:
        """active_unacknowledged, active_acknowledged, cleared_unacknowledged or cleared (closed)."""
        if self.active:
            return "active_acknowledged" if self.acknowledged else "active_unacknowledged"
        return "cleared" if self.acknowledged else "cleared_unacknowledged"

    def as_json(self) -> dict[str, object]:
        """Return the alarm for the API."""
        return {
            "id": self.id,
            "alarm": self.alarm,
            "text": ALARM_TEXT.get(self.alarm, self.alarm),
            "door": self.door_id,
            "door_name": self.door_name,
            "state": self.state,
            "detail": self.detail,
            "raised_at": _iso(self.raised_at),
            "last_raised_at": _iso(self.last_raised_at),
            "occurrences": self.occurrences,
            "cleared_at": _iso(self.cleared_at),
            "acknowledged_by": self.acknowledged_by,
            "acknowledged_at": _iso(self.acknowledged_at),
            "acknowledged_comment": self.acknowledged_comment,
        }


class AlarmBook:
    """The open (listed) door alarms in SQLite, with their journal records."""

    def __init__(self, db: Database, journal: Journal, config: EdgeConfig) -> None:
        self._db = db
        self._journal = journal
        self._door_names = {d.id: d.name for d in config.doors}
        self._lock = asyncio.Lock()

    def _record(self, row: Any) -> AlarmRecord:
        return AlarmRecord(
            id=row.id,
            door_id=row.door_id,
            door_name=self._door_names.get(row.door_id, row.door_id),
            alarm=row.alarm,
            detail=row.detail,
            active=bool(row.active),
            raised_at=_aware(row.raised_at) or row.raised_at,
            last_raised_at=_aware(row.last_raised_at) or row.last_raised_at,
            occurrences=row.occurrences,
            cleared_at=_aware(row.cleared_at),
            acknowledged_by=row.acknowledged_by,
            acknowledged_at=_aware(row.acknowledged_at),
            acknowledged_comment=row.acknowledged_comment,
            closed_at=_aware(row.closed_at),
        )

    async def _listed(self, door_id: str, alarm: str) -> AlarmRecord | None:
        query = select(door_alarms).where(
            door_alarms.c.door_id == door_id, door_alarms.c.alarm == alarm, door_alarms.c.closed_at.is_(None)
        )
        async with self._db.engine.connect() as conn:
            row = (await conn.execute(query)).first()
        return self._record(row) if row is not None else None

    async def get(self, alarm_id: int) -> AlarmRecord:
        """Return one alarm (listed or closed); UnknownAlarm if there is none with that id."""
        async with self._db.engine.connect() as conn:
            row = (await conn.execute(select(door_alarms).where(door_alarms.c.id == alarm_id))).first()
        if row is None:
            raise UnknownAlarm(alarm_id)
        return self._record(row)

    async def open_alarms(self) -> list[AlarmRecord]:
        """The listed alarms, most recently raised first."""
        query = (
            select(door_alarms)
            .where(door_alarms.c.closed_at.is_(None))
            .order_by(door_alarms.c.last_raised_at.desc(), door_alarms.c.id.desc())
        )
        async with self._db.engine.connect() as conn:
            rows = (await conn.execute(query)).all()
        return [self._record(r) for r in rows]

    async def _journal_alarm(self, record: AlarmRecord, state: str, summary: str, **extra: object) -> None:
        payload = {
            "type": "alarm",
            "alarm": record.alarm,
            "state": state,
            "door_id": record.door_id,
            "alarm_id": record.id,
            "detail": record.detail if state == "raised" else "",
            **extra,
        }
        await self._journal.record("event", payload, source=record.door_id, summary=summary)

    async def raised(self, door_id: str, alarm: str, detail: str, at: datetime, **extra: object) -> AlarmRecord:
        """Add a raised alarm to the list, or reactivate the one still listed for this door and alarm.

        `extra` goes into the journal record only (e.g. the person and credential of a duress alarm).
        """
        async with self._lock:
            listed = await self._listed(door_id, alarm)
            async with self._db.engine.begin() as conn:
                if listed is None:
                    result = await conn.execute(
                        insert(door_alarms).values(
                            door_id=door_id,
                            alarm=alarm,
                            detail=detail,
                            active=True,
                            raised_at=at,
                            last_raised_at=at,
                            occurrences=1,
                        )
                    )
                    alarm_id = inserted_id(result)
                else:
                    alarm_id = listed.id
                    await conn.execute(
                        update(door_alarms)
                        .where(door_alarms.c.id == alarm_id)
                        .values(
                            detail=detail,
                            active=True,
                            last_raised_at=at,
                            occurrences=door_alarms.c.occurrences + 1,
                            cleared_at=None,
                        )
                    )
            record = await self.get(alarm_id)
            name = self._door_names.get(door_id, door_id)
            text = ALARM_TEXT.get(alarm, alarm)
            summary = f"ALARM {name}: {text}" + (f" ({detail})" if detail else "")
            await self._journal_alarm(record, "raised", summary, **extra)
        return record

    async def cleared(self, door_id: str, alarm: str, at: datetime | None = None) -> AlarmRecord | None:
        """The condition ended: mark the listed alarm cleared (closed if it was acknowledged)."""
        at = at or datetime.now(UTC)
        async with self._lock:
            listed = await self._listed(door_id, alarm)
            if listed is None or not listed.active:
                return listed
            async with self._db.engine.begin() as conn:
                await conn.execute(
                    update(door_alarms)
                    .where(door_alarms.c.id == listed.id)
                    .values(active=False, cleared_at=at, closed_at=at if listed.acknowledged else None)
                )
            record = await self.get(listed.id)
            name = self._door_names.get(door_id, door_id)
            await self._journal_alarm(record, "cleared", f"{name}: {ALARM_TEXT.get(alarm, alarm)} cleared")
        return record

    async def acknowledge(self, alarm_id: int, by: str, comment: str = "") -> AlarmRecord:
        """An operator acknowledged an alarm (journaled once; acknowledging again changes nothing)."""
        async with self._lock:
            record = await self.get(alarm_id)
            if record.acknowledged:
                return record
            at = datetime.now(UTC)
            async with self._db.engine.begin() as conn:
                await conn.execute(
                    update(door_alarms)
                    .where(door_alarms.c.id == alarm_id)
                    .values(
                        acknowledged_by=by,
                        acknowledged_at=at,
                        acknowledged_comment=comment,
                        closed_at=None if record.active else at,
                    )
                )
            record = await self.get(alarm_id)
            summary = f"{record.door_name}: {ALARM_TEXT.get(record.alarm, record.alarm)} acknowledged by {by}"
            await self._journal_alarm(
                record,
                "acknowledged",
                summary + (f" ({comment})" if comment else ""),
                by=by,
                comment=comment,
                condition_active=record.active,
            )
        log.info("alarm %d (%s on %s) acknowledged by %s", alarm_id, record.alarm, record.door_id, by)
        return record

    async def load(self) -> list[AlarmRecord]:
        """At start: return the listed alarms whose condition was still active, to restore the door state.

        An active alarm of a door no longer configured can never clear by itself: it is cleared now.
        """
        active = [r for r in await self.open_alarms() if r.active]
        for record in active:
            if record.door_id not in self._door_names:
                await self.cleared(record.door_id, record.alarm)
        return [r for r in active if r.door_id in self._door_names]
