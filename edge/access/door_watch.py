"""Doors that see: people crossing a door's camera line counted against the grants at that door.

A door with a `camera` and a `camera_line` (or `camera_zone`) has its inward crossings matched to unlock
windows. A granted badge opens a window of `unlock_s` plus the sensitivity's grace and counts one grant (two
with a two-person companion); a console unlock or a schedule's free access opens a window with no limit.
More inward crossings in a window than its grants raise ``tailgating``; an inward crossing in no window raises
``entry_without_badge`` (door held open, or someone let in from inside). A crossing that finds no window waits
`settle_s` for a grant record still on its way before it is judged. Alarms are momentary (raised and cleared
at once, listed until acknowledged); `edge.vision.door_snapshots` adds the frame and the clip.
"""

from __future__ import annotations

import asyncio
import logging
import math
from collections import deque
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Literal

from edge.access.alarms import AlarmBook
from edge.config import DoorConfig
from edge.storage.journal import Journal, JournalEntry

log = logging.getLogger(__name__)

GRACE_S = {"high": 0.0, "normal": 2.0, "low": 5.0}
EARLY_S = 0.5  # a crossing this much before the badge record's time still belongs to its window
KEEP_S = 300.0  # windows older than this are forgotten
SETTLE_S = 2.0

Verdict = Literal["ok", "tailgating", "entry_without_badge"]


@dataclass(slots=True)
class UnlockWindow:
    """One unlock of a door: from `start` to `end` (epoch seconds), the people granted, the people who crossed."""

    start: float
    end: float
    grants: float  # math.inf for free access
    crossings: int = 0


class PassageCounter:
    """One door's unlock windows and the crossings counted against them (pure; times are datetimes)."""

    def __init__(self, unlock_s: float, sensitivity: str = "normal") -> None:
        self.unlock_s = unlock_s
        self.grace_s = GRACE_S.get(sensitivity, GRACE_S["normal"])
        self.sensitivity = sensitivity
        self.windows: deque[UnlockWindow] = deque()

    def grant(self, at: datetime, people: int = 1) -> None:
        """A badge (or two) granted at `at`: extend the open window or open a new one."""
        self._open(at.timestamp(), self.unlock_s, float(people))

    def free(self, at: datetime, seconds: float) -> None:
        """The door was unlocked without a badge (console, schedule): no one crossing meanwhile is counted."""
        self._open(at.timestamp(), seconds, math.inf)

    def _open(self, start: float, seconds: float, grants: float) -> None:
        end = start + seconds + self.grace_s
        window = self.window_at(start)
        if window is not None:
            window.end = max(window.end, end)
            window.grants += grants
        else:
            self.windows.append(UnlockWindow(start, end, grants))
        while self.windows and self.windows[0].end < start - KEEP_S:
            self.windows.popleft()

    def window_at(self, ts: float) -> UnlockWindow | None:
        """The window a moment (epoch seconds) falls in, if any."""
        for window in reversed(self.windows):
            if window.start - EARLY_S <= ts <= window.end:
                return window
        return None

    def crossing(self, at: datetime) -> tuple[Verdict, UnlockWindow | None]:
        """Count an inward crossing at `at`; return what it means and the window it fell in."""
        window = self.window_at(at.timestamp())
        if window is None:
            return ("ok" if self.sensitivity == "low" else "entry_without_badge"), None
        window.crossings += 1
        return ("tailgating" if window.crossings > window.grants else "ok"), window


@dataclass(frozen=True, slots=True)
class _Watched:
    door: DoorConfig
    counter: PassageCounter


class DoorWatch:
    """Follows the journal: grants and unlocks open windows, camera crossings are judged (module docstring)."""

    def __init__(
        self,
        journal: Journal,
        alarms: AlarmBook,
        doors: Iterable[DoorConfig],
        *,
        held_unlocked: Callable[[str], bool] = lambda _door: False,
        settle_s: float = SETTLE_S,
    ) -> None:
        self._journal = journal
        self._alarms = alarms
        self._held_unlocked = held_unlocked
        self._settle_s = settle_s
        self._doors: dict[str, _Watched] = {}
        self._by_region: dict[tuple[str, str], _Watched] = {}
        for door in doors:
            if door.camera is None or not (door.camera_line or door.camera_zone):
                continue
            watched = _Watched(door, PassageCounter(door.unlock_s, door.tailgate_sensitivity))
            self._doors[door.id] = watched
            self._by_region[(door.camera, door.camera_line or door.camera_zone or "")] = watched
        self._tasks: set[asyncio.Task[None]] = set()
        self._unsubscribe: Callable[[], None] | None = None
        self.alarms_raised: list[tuple[str, str]] = []  # (door, alarm), for tests and diagnostics

    @property
    def watching(self) -> list[str]:
        """The doors whose crossings are counted."""
        return list(self._doors)

    @property
    def pending(self) -> int:
        """Crossings not judged yet."""
        return len(self._tasks)

    def counter(self, door_id: str) -> PassageCounter:
        """A watched door's counter."""
        return self._doors[door_id].counter

    def start(self) -> None:
        """Listen to the journal."""
        if self._doors:
            self._unsubscribe = self._journal.subscribe(self._on_entry)

    async def stop(self) -> None:
        """Stop listening; cancel judgements still settling."""
        if self._unsubscribe is not None:
            self._unsubscribe()
            self._unsubscribe = None
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)

    def _on_entry(self, entry: JournalEntry) -> None:
        payload = entry.payload
        if entry.kind == "detection":
            self._on_detection(entry)
            return
        watched = self._doors.get(str(payload.get("door_id")))
        if watched is None or entry.kind != "audit":
            return
        kind = payload.get("type")
        if kind in ("access_decision", "plate_decision") and payload.get("granted") is True:
            people = 1 + (payload.get("companion_id") is not None)
            watched.counter.grant(entry.occurred_at, people)
        elif kind == "manual_command" and payload.get("action") == "unlock":
            seconds = KEEP_S if payload.get("hold") else watched.door.unlock_s
            watched.counter.free(entry.occurred_at, seconds)

    def _on_detection(self, entry: JournalEntry) -> None:
        payload = entry.payload
        camera, region = payload.get("camera_id"), payload.get("region")
        if not isinstance(camera, str) or not isinstance(region, str):
            return
        watched = self._by_region.get((camera, region))
        if watched is None:
            return
        door = watched.door
        if door.camera_line is not None:
            inward = payload.get("kind") == "line_crossed" and payload.get("direction") == door.entry_direction
        else:
            inward = payload.get("kind") == "zone_entered"
        if not inward or self._held_unlocked(door.id):
            return
        task = asyncio.create_task(self._judge(watched, entry), name=f"door-watch-{door.id}-{entry.id}")
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _judge(self, watched: _Watched, entry: JournalEntry) -> None:
        at = entry.occurred_at
        counter = watched.counter
        if counter.window_at(at.timestamp()) is None and self._settle_s > 0:
            await asyncio.sleep(self._settle_s)  # a grant record may still be on its way
        verdict, window = counter.crossing(at)
        if verdict == "ok":
            return
        door = watched.door
        track = entry.payload.get("track_id")
        if verdict == "tailgating" and window is not None:
            detail = f"{window.crossings} people through on {window.grants:.0f} grant(s)"
            extra: dict[str, object] = {"crossings": window.crossings, "grants": int(window.grants)}
        else:
            detail = f"crossing {door.camera_line or door.camera_zone} with no unlock"
            extra = {}
        await self._raise(door, verdict, detail, at, camera_id=door.camera, track_id=track, **extra)

    async def _raise(self, door: DoorConfig, alarm: str, detail: str, at: datetime, **extra: object) -> None:
        log.warning("door %s: %s (%s)", door.id, alarm, detail)
        self.alarms_raised.append((door.id, alarm))
        await self._alarms.raised(door.id, alarm, detail, at, **extra)
        await self._alarms.cleared(door.id, alarm, at + timedelta(microseconds=1))
