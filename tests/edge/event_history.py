"""A seeded site history for timeline tests: months of access decisions, camera records, alarms and telemetry
written through the real journal, and the reference filter the tests compare the database's answers with."""

from __future__ import annotations

import asyncio
import random
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

from edge.access.decision import Reason
from edge.storage.journal import Journal, JournalEntry

START = datetime(2026, 3, 1, tzinfo=UTC)
SPAN = timedelta(days=150)
PEOPLE = {1: "Ada Lovelace", 2: "Grace Hopper", 3: "Linus Torvalds", 4: "Margaret Hamilton"}
DOORS = {"front": "lobby", "dock": "yard"}  # door -> zone
CAMERAS = {"plaza": "lobby", "yard-cam": "yard"}  # camera -> zone


def _record(rng: random.Random, when: datetime) -> tuple[str, dict[str, Any], str, str]:
    """(kind, payload, source, summary) of one seeded record."""
    roll = rng.random()
    if roll < 0.45:
        door = rng.choice(sorted(DOORS))
        person_id = rng.choice([*PEOPLE, None])
        reason = Reason.GRANTED if rng.random() < 0.6 or person_id is None else rng.choice(list(Reason))
        if person_id is None:
            reason = Reason.UNKNOWN_CREDENTIAL
        person = PEOPLE.get(person_id) if person_id else None
        verdict = "GRANTED" if reason == Reason.GRANTED else "DENIED"
        payload = {
            "type": "access_decision",
            "door_id": door,
            "reader_id": f"reader-{door}",
            "direction": "in",
            "credential": f"{rng.randrange(10_000):04d}",
            "person_id": person_id,
            "person": person,
            "granted": reason == Reason.GRANTED,
            "reason": reason.value,
        }
        return "audit", payload, f"reader-{door}", f"{verdict} {person or 'unknown'} at {door} ({reason.value})"
    if roll < 0.75:
        camera = rng.choice(sorted(CAMERAS))
        payload = {
            "kind": rng.choice(["track_started", "zone_entered", "loitering"]),
            "camera_id": camera,
            "zone": CAMERAS[camera],
            "category": "person",
            "snapshot": None,
        }
        return "detection", payload, camera, f"person on {camera}"
    if roll < 0.85:
        door = rng.choice(sorted(DOORS))
        payload = {"type": "alarm", "alarm": "forced", "door_id": door, "state": rng.choice(["raised", "cleared"])}
        return "event", payload, door, f"alarm forced at {door}"
    return "telemetry", {"device_id": "temp-lobby", "values": {"temperature": rng.uniform(15, 25)}}, "temp-lobby", ""


async def seed_history(journal: Journal, count: int, seed: int = 17) -> list[JournalEntry]:
    """Write `count` records over `SPAN` from `START` (times jittered, some shared) and a door_snapshot for every
    seventh access decision; return the records (the door snapshots are not among them)."""
    rng = random.Random(seed)
    step = SPAN / count
    written: list[JournalEntry] = []
    for chunk in range(0, count, 500):
        futures = []
        for i in range(chunk, min(count, chunk + 500)):
            # Records a few minutes out of order, and every 50th at the same instant as the one before it.
            when = START + step * i + timedelta(seconds=rng.uniform(-300, 300))
            if i % 50 == 1 and written:
                when = written[-1].occurred_at
            kind, payload, source, summary = _record(rng, when)
            futures.append(journal.submit(kind, payload, source=source, summary=summary, occurred_at=when))  # type: ignore[arg-type]
            if i % 50 == 0:
                written.extend(await asyncio.gather(*futures))
                futures = []
        written.extend(await asyncio.gather(*futures))
    decisions = [e for e in written if e.payload.get("type") == "access_decision"]
    await asyncio.gather(
        *(
            journal.submit(
                "event",
                {
                    "type": "door_snapshot",
                    "door_id": e.payload["door_id"],
                    "camera_id": "plaza",
                    "door_snapshot": f"door-{e.payload['door_id']}-{e.id}.jpg",
                    "of_journal_id": e.id,
                },
                source=e.payload["door_id"],
                summary="snapshot",
            )
            for e in decisions[::7]
        )
    )
    return written


def newest_first(entries: list[JournalEntry], keep: Callable[[JournalEntry], bool]) -> list[int]:
    """The ids of the entries `keep` accepts, in timeline order (time, then id, newest first)."""
    return [e.id for e in sorted((e for e in entries if keep(e)), key=lambda e: (e.occurred_at, e.id), reverse=True)]
