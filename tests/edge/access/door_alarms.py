"""Read a door's alarm records back from a running edge's journal."""

from __future__ import annotations

from edge import keys
from edge.app import EdgeRunner


async def door_alarms(runner: EdgeRunner, door: str) -> list[tuple[str, str]]:
    """(alarm, raised/cleared) of `door`, oldest first."""
    entries = await runner.app[keys.JOURNAL].recent(100, "event")
    return [
        (e.payload["alarm"], e.payload["state"])
        for e in reversed(entries)
        if e.payload.get("type") == "alarm" and e.payload["door_id"] == door
    ]
