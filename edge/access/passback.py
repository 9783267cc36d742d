"""Anti-passback: where each person is, per zone that tracks it, from granted entry and exit reads.

A zone with `passback = "hard"` denies an entry while the person is already inside (their card was passed
back to someone else) and an exit while they are outside; `"soft"` grants but flags the decision. A person
never seen in the zone may move either way (first use, or after a reset). Presence is updated on the grant
(the door may then stay shut; an operator resets a person with `forget`) and persisted, so a restart does
not open a passback hole.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime

from sqlalchemy import delete, insert, select, update

from edge.access.decision import PassbackViolation
from edge.config import PassbackMode
from edge.storage.database import Database
from edge.storage.schema import passback_presence


class PassbackTracker:
    """Presence per (person, zone) for zones with anti-passback; write-through to the database."""

    def __init__(self, db: Database, zones: Mapping[str, PassbackMode]) -> None:
        self._db = db
        self._modes = {zone: mode for zone, mode in zones.items() if mode != "off"}
        self._inside: dict[tuple[int, str], bool] = {}

    async def load(self) -> None:
        """Read persisted presence (at start)."""
        async with self._db.engine.connect() as conn:
            rows = (await conn.execute(select(passback_presence))).all()
        self._inside = {(r.person_id, r.zone_id): bool(r.inside) for r in rows if r.zone_id in self._modes}

    def check(self, person_id: int, zone: str, direction: str) -> PassbackViolation:
        """Return the violation a move would be ('soft'/'hard'), or None if allowed or untracked."""
        mode = self._modes.get(zone)
        if mode is None:
            return None
        inside = self._inside.get((person_id, zone))
        if inside is None or inside != (direction == "in"):
            return None
        return "hard" if mode == "hard" else "soft"

    def inside(self, person_id: int, zone: str) -> bool | None:
        """Return whether the person is known to be inside `zone` (None: unknown or untracked)."""
        return self._inside.get((person_id, zone))

    async def record(self, person_id: int, zone: str, direction: str, at: datetime) -> None:
        """Note a granted move through a door of `zone` and persist it."""
        if self.note(person_id, zone, direction):
            await self.persist(person_id, zone, at)

    def note(self, person_id: int, zone: str, direction: str) -> bool:
        """Note a granted move in memory at once (the next decision sees it); return True if `persist` is due."""
        if zone not in self._modes:
            return False
        inside = direction == "in"
        key = (person_id, zone)
        if self._inside.get(key) == inside:
            return False
        self._inside[key] = inside
        return True

    async def persist(self, person_id: int, zone: str, at: datetime) -> None:
        """Write the presence `note` recorded for (person, zone) to the database."""
        inside = self._inside.get((person_id, zone))
        if inside is None:  # forgotten meanwhile
            return
        async with self._db.engine.begin() as conn:
            where = (passback_presence.c.person_id == person_id) & (passback_presence.c.zone_id == zone)
            result = await conn.execute(update(passback_presence).where(where).values(inside=inside, at=at))
            if result.rowcount == 0:
                await conn.execute(
                    insert(passback_presence).values(person_id=person_id, zone_id=zone, inside=inside, at=at)
                )

    async def forget(self, person_id: int) -> None:
        """Reset a person's presence in every zone (operator 'forgive')."""
        self._inside = {k: v for k, v in self._inside.items() if k[0] != person_id}
        async with self._db.engine.begin() as conn:
            await conn.execute(delete(passback_presence).where(passback_presence.c.person_id == person_id))
