"""Door operating modes over time: secure, held unlocked on schedule, first-person-in, lockdown.

- **secure**: a credential is needed; the site sends nothing on its own.
- **unlocked (schedule)**: during the door's ``unlock_schedule`` the site sends ``unlock`` without a duration
  at the window's start (and again when the lock reconnects) and ``lock`` at its end.
- **awaiting first person**: with ``first_person_in``, the window only arms the door; the first authorised
  badge inside the window starts the hold. The arming ends with the window.
- **lockdown**: the site or the door's zone is locked down; the site sends ``lock`` and holds nothing.

One task per site owns the timing: it sleeps until the next schedule edge (computed by
`Schedule.next_change`, exact across DST changes), at most `MAX_SLEEP_S` so a stepped clock is noticed.
Lockdown changes and first-person grants apply at once through `reevaluate`.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from typing import Literal

from edge.access.commands import LockCommander
from edge.access.lockdown import LockdownState
from edge.access.schedule import Schedule
from edge.config import DoorConfig
from edge.devices.state import SiteState
from firmware_adapters.messages import Command

log = logging.getLogger(__name__)
MAX_SLEEP_S = 300.0

Mode = Literal["secure", "unlocked (schedule)", "awaiting first person", "lockdown"]
Hold = Literal["unlocked", "locked", "none"]


def door_mode(
    door: DoorConfig, unlock_schedule: Schedule | None, now: datetime, *, lockdown: bool, armed: bool
) -> Mode:
    """Return the mode a door should be in at `now` (pure)."""
    if lockdown:
        return "lockdown"
    if unlock_schedule is None or not unlock_schedule.is_open(now):
        return "secure"
    if door.first_person_in and not armed:
        return "awaiting first person"
    return "unlocked (schedule)"


_HOLD: dict[Mode, Hold] = {
    "secure": "none",
    "awaiting first person": "none",
    "unlocked (schedule)": "unlocked",
    "lockdown": "locked",
}


class DoorModeRunner:
    """Applies door modes at schedule edges and on lockdown changes; owns one timing task."""

    def __init__(
        self,
        doors: list[DoorConfig],
        schedules: Mapping[str, Schedule],
        lockdowns: LockdownState,
        commander: LockCommander,
        state: SiteState,
        *,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
        on_hold_ended: Callable[[str], None] = lambda _door: None,
    ) -> None:
        self._doors = {d.id: d for d in doors}
        self._unlock = {d.id: schedules[d.unlock_schedule] for d in doors if d.unlock_schedule}
        self._lockdowns = lockdowns
        self._commander = commander
        self._state = state
        self._clock = clock
        self._on_hold_ended = on_hold_ended
        self._armed: set[str] = set()
        self._hold: dict[str, Hold] = {d.id: "none" for d in doors}
        self._task: asyncio.Task[None] | None = None
        self._lock = asyncio.Lock()
        self._stepped = asyncio.Event()

    async def use_doors(self, doors: list[DoorConfig], schedules: Mapping[str, Schedule]) -> None:
        """Operate by new door settings (a cloud document changed unlock schedules): apply them now, then follow
        the new schedules' edges."""
        async with self._lock:
            self._doors = {d.id: d for d in doors}
            self._unlock = {d.id: schedules[d.unlock_schedule] for d in doors if d.unlock_schedule}
        await self.reevaluate()
        if self._task is not None:  # it may be asleep until an edge of the old schedules
            await self.stop()
            self._task = asyncio.create_task(self._run(), name="door-modes")

    def held_unlocked(self, door_id: str) -> bool:
        """True while the site holds the door unlocked by schedule."""
        return self._hold.get(door_id) == "unlocked"

    async def start(self) -> None:
        """Apply the current modes, then follow the schedules."""
        await self.reevaluate()
        self._task = asyncio.create_task(self._run(), name="door-modes")

    async def stop(self) -> None:
        """Stop following the schedules (locks keep their last state)."""
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)
            self._task = None

    def clock_stepped(self, _step_s: float) -> None:
        """The wall clock stepped (edge.clock): wake up and bring the doors to the new time's modes at once."""
        self._stepped.set()

    async def _run(self) -> None:
        while True:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._stepped.wait(), self._next_delay())
            self._stepped.clear()
            try:
                await self.reevaluate()
            except Exception:  # supervision point: a failed pass must not stop door schedules; retried next edge
                log.exception("applying door modes failed")

    def _next_delay(self) -> float:
        now = self._clock()
        edges = [edge for s in self._unlock.values() if (edge := s.next_change(now)) is not None]
        if not edges:
            return MAX_SLEEP_S
        return max(0.0, min(MAX_SLEEP_S, (min(edges) - now).total_seconds()))

    async def reevaluate(self) -> None:
        """Bring every door to the mode it should be in now."""
        async with self._lock:
            now = self._clock()
            for door in self._doors.values():
                await self._apply(door, now)

    async def _apply(self, door: DoorConfig, now: datetime) -> None:
        schedule = self._unlock.get(door.id)
        if door.id in self._armed and (schedule is None or not schedule.is_open(now)):
            self._armed.discard(door.id)
        mode = door_mode(door, schedule, now, lockdown=self._lockdowns.applies(door.zone), armed=door.id in self._armed)
        self._state.doors[door.id].mode = mode
        hold = _HOLD[mode]
        previous = self._hold[door.id]
        if hold == previous:
            return
        self._hold[door.id] = hold
        if hold == "unlocked":
            log.info("door %s: %s", door.id, mode)
            await self._commander.send(door.lock, Command(action="unlock", duration_s=None))
        elif hold == "locked" or previous == "unlocked":
            log.info("door %s: %s", door.id, mode)
            await self._commander.send(door.lock, Command(action="lock"))
        if previous == "unlocked":
            self._on_hold_ended(door.id)

    async def on_grant(self, door_id: str) -> bool:
        """An authorised badge at a first-person-in door inside its window arms it; return True if it did."""
        door = self._doors.get(door_id)
        schedule = self._unlock.get(door_id)
        if door is None or not door.first_person_in or schedule is None or door_id in self._armed:
            return False
        if not schedule.is_open(self._clock()):
            return False
        self._armed.add(door_id)
        await self.reevaluate()
        return True

    async def reassert(self, door_id: str) -> None:
        """Send a held state again (the lock reconnected and may have rebooted locked)."""
        door = self._doors.get(door_id)
        hold = self._hold.get(door_id)
        if door is None or hold is None or hold == "none":
            return
        action: Literal["unlock", "lock"] = "unlock" if hold == "unlocked" else "lock"
        await self._commander.send(door.lock, Command(action=action, duration_s=None))
