"""Muster roll: who badged into each zone and has not badged out, from the journal's granted decisions.

For a lockdown or an evacuation the guard needs who may still be inside: a granted decision through an entry
reader puts the person in the door's zone, through an exit reader takes them out. Kept in memory, rebuilt at
start from the latest audit records (`load`), and followed live from the journal.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import datetime

from edge.config import DoorConfig
from edge.storage.journal import Journal, JournalEntry

LOAD_RECORDS = 20_000  # audit records read back at start


@dataclass(frozen=True, slots=True)
class Present:
    """A person who badged into a zone and has not badged out."""

    person_id: int
    person: str
    since: datetime
    door_id: str

    def as_json(self) -> dict[str, object]:
        """JSON-ready form."""
        return {
            "person_id": self.person_id,
            "person": self.person,
            "since": self.since.isoformat(),
            "door": self.door_id,
        }


class MusterRoll:
    """Presence per zone from granted badges (see the module docstring)."""

    def __init__(self, journal: Journal, doors: Iterable[DoorConfig]) -> None:
        self._journal = journal
        self._zones = {d.id: d.zone for d in doors}
        self._inside: dict[str, dict[int, Present]] = {}
        self._unsubscribe: Callable[[], None] | None = None

    async def load(self) -> None:
        """Replay the latest audit records, oldest first, then follow the journal."""
        for entry in reversed(await self._journal.recent(LOAD_RECORDS, kind="audit")):
            self._on_entry(entry)
        self._unsubscribe = self._journal.subscribe(self._on_entry)

    def stop(self) -> None:
        """Stop following the journal."""
        if self._unsubscribe is not None:
            self._unsubscribe()
            self._unsubscribe = None

    def inside(self, zone: str) -> list[Present]:
        """Who is inside `zone`, longest there first."""
        return sorted(self._inside.get(zone, {}).values(), key=lambda p: p.since)

    def _on_entry(self, entry: JournalEntry) -> None:
        payload = entry.payload
        if entry.kind != "audit" or payload.get("type") != "access_decision" or payload.get("granted") is not True:
            return
        zone = self._zones.get(str(payload.get("door_id")))
        person_id = payload.get("person_id")
        if zone is None or not isinstance(person_id, int):
            return
        people = self._inside.setdefault(zone, {})
        if payload.get("direction") == "out":
            people.pop(person_id, None)
        else:
            name = payload.get("person")
            people[person_id] = Present(
                person_id, name if isinstance(name, str) else str(person_id), entry.occurred_at, str(payload["door_id"])
            )
