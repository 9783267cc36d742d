"""The device event ids the journal holds: what a restarted edge has already handled (edge.devices.router).

A badge read's audit record, a door contact change and a request-to-exit input carry the device's ``event_id``
in their payload, with the device as the record's source. Read through the partial index of edge migration 16,
(source, id) over the records that have an event id: one seek per device, then its newest ids, never a scan.
"""

from __future__ import annotations

from sqlalchemy import text

from edge.storage.database import Database

# The WHERE clause spelled as the index's (SQLite matches a partial index by the expression's text).
_HAS_EVENT_ID = "json_extract(payload, '$.event_id') IS NOT NULL"
# The distinct devices, one index seek each (a recursive skip scan): the journal may hold millions of records.
_DEVICES = text(
    f"""WITH RECURSIVE device(source) AS (
        SELECT min(source) FROM events WHERE {_HAS_EVENT_ID}
        UNION ALL
        SELECT (SELECT min(source) FROM events WHERE {_HAS_EVENT_ID} AND source > device.source)
        FROM device WHERE device.source IS NOT NULL
    )
    SELECT source FROM device WHERE source IS NOT NULL"""
)
_NEWEST = text(
    f"""SELECT json_extract(payload, '$.event_id') FROM events
    WHERE source = :source AND {_HAS_EVENT_ID} ORDER BY id DESC LIMIT :limit"""
)


async def recent_device_event_ids(db: Database, per_device: int) -> dict[str, list[str]]:
    """The last `per_device` event ids journaled for each device, oldest first."""
    recent: dict[str, list[str]] = {}
    async with db.engine.connect() as conn:
        for source in (await conn.execute(_DEVICES)).scalars().all():
            newest = (await conn.execute(_NEWEST, {"source": source, "limit": per_device})).scalars().all()
            recent[source] = [str(event_id) for event_id in reversed(newest)]
    return recent
