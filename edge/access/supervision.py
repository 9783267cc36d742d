"""Door supervision: forced-open, held-open, unreachable-lock and command-fault alarms.

Alarms are journal records of kind "event" with ``type: "alarm"``, ``alarm`` (forced_open, held_open,
lock_offline, contact_offline, command_failed, lock_jammed) and ``state`` ("raised" / "cleared"); the door's
state shows them until cleared.

- **Forced open**: the contact opens while the lock reports locked and no release is in progress (a grant,
  a manual unlock or a request-to-exit within the door's ``unlock_s`` plus ``access.release_grace_s``, or the
  door held unlocked by its mode). Cleared when the door closes.
- **Held open**: the contact stays open longer than ``held_open_s`` (not while the door is held unlocked by
  its mode). Cleared when the door closes.
- **Lock offline**: the lock's controller went offline (MQTT Last Will). A fail-safe door is then reported as
  "unlocked (fail-safe)". Cleared when it is back online.
- **Command failed**: a lock command was not acknowledged after its retries. Cleared by the next ack.
- **Contact offline**: the door contact's controller went offline (MQTT Last Will): opening the door would go
  unnoticed. The door's open/closed state is unknown until it reports again. Cleared when it is back online.
- **Lock jammed**: the lock reports its bolt not fully thrown (telemetry ``lock_jammed`` = 1, e.g. Zigbee
  ``lock_state: not_fully_locked``). Cleared when it reports a clean locked or unlocked state.

Alarms latch (`edge.access.alarms`): each is also a row of the persisted alarm list, listed until the condition
has ended and an operator acknowledged it; the journal records come from there.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from datetime import UTC, datetime

from edge.access.alarms import AlarmBook, AlarmRecord
from edge.access.commands import CommandOutcome
from edge.config import DoorConfig, EdgeConfig
from edge.devices.state import SiteState
from edge.storage.database import Database
from edge.storage.journal import Journal
from firmware_adapters.messages import Command, ContactChange

log = logging.getLogger(__name__)


class DoorSupervisor:
    """Raises and clears door alarms from contact, REX and lock reports; owns the held-open timers."""

    def __init__(
        self,
        config: EdgeConfig,
        state: SiteState,
        journal: Journal,
        held_unlocked: Callable[[str], bool] = lambda _door: False,
        *,
        db: Database,
    ) -> None:
        self._doors = {d.id: d for d in config.doors}
        self._by_contact = {d.contact: d for d in config.doors if d.contact}
        self._by_rex = {d.rex: d for d in config.doors if d.rex}
        self._grace_s = config.access.release_grace_s
        self._state = state
        self._journal = journal
        self.held_unlocked = held_unlocked
        self._release_until: dict[str, float] = {}
        self._held_timers: dict[str, asyncio.Task[None]] = {}
        self._firing: set[asyncio.Task[None]] = set()  # held-open timers past their sleep, raising the alarm
        self._stopped = False
        self.alarms = AlarmBook(db, journal, config)

    async def load(self) -> None:
        """Restore the alarms still active at the last stop (the door shows them until the condition ends)."""
        for record in await self.alarms.load():
            state = self._state.doors[record.door_id]
            state.alarms.setdefault(record.alarm, record.last_raised_at)
            if record.alarm == "command_failed" and state.fault is None:
                state.fault = record.detail  # so the next acknowledged command clears it

    async def acknowledge(self, alarm_id: int, by: str, comment: str = "") -> AlarmRecord:
        """An operator acknowledged an alarm (UnknownAlarm if there is none with that id)."""
        return await self.alarms.acknowledge(alarm_id, by, comment)

    def use_doors(self, doors: list[DoorConfig]) -> None:
        """Supervise by new door settings (a cloud document changed unlock_s or held_open_s); a held-open timer
        already running keeps its duration."""
        self._doors = {d.id: d for d in doors}
        self._by_contact = {d.contact: d for d in doors if d.contact}
        self._by_rex = {d.rex: d for d in doors if d.rex}

    def note_release(self, door_id: str) -> None:
        """An authorised release (grant, manual unlock, REX): opening within unlock_s + grace is not forced."""
        door = self._doors.get(door_id)
        if door is not None:
            self._release_until[door_id] = time.monotonic() + door.unlock_s + self._grace_s

    async def on_contact(self, device_id: str, change: ContactChange) -> None:
        """Supervise a door contact or REX input change."""
        rex_door = self._by_rex.get(device_id)
        if rex_door is not None:
            if change.open:
                self.note_release(rex_door.id)
            return
        door = self._by_contact.get(device_id)
        if door is None:
            return
        if change.open:
            await self._opened(door)
        else:
            self._cancel_timer(door.id)
            await self.clear_alarm(door.id, "forced_open")
            await self.clear_alarm(door.id, "held_open")

    async def _opened(self, door: DoorConfig) -> None:
        state = self._state.doors[door.id]
        released = time.monotonic() <= self._release_until.get(door.id, 0.0)
        if state.lock_online and state.locked is True and not released and not self.held_unlocked(door.id):
            await self.raise_alarm(door.id, "forced_open", "opened while locked, without a grant or exit request")
        self.start_held_timer(door.id)

    def start_held_timer(self, door_id: str) -> None:
        """(Re)start the held-open timer of an open door, unless it is held unlocked by its mode."""
        door = self._doors[door_id]
        self._cancel_timer(door_id)
        if self._stopped or not self._state.doors[door_id].open or self.held_unlocked(door_id):
            return
        timer = asyncio.create_task(self._held_after(door), name=f"held-open-{door_id}")
        self._held_timers[door_id] = timer
        timer.add_done_callback(lambda done: self._timer_done(door_id, done))

    def _timer_done(self, door_id: str, timer: asyncio.Task[None]) -> None:
        if self._held_timers.get(door_id) is timer:
            del self._held_timers[door_id]
        if not timer.cancelled() and timer.exception() is not None:
            log.error("%s failed", timer.get_name(), exc_info=timer.exception())

    async def _held_after(self, door: DoorConfig) -> None:
        await asyncio.sleep(door.held_open_s)
        if self._state.doors[door.id].open:
            # Fired: the door closing now must not cancel the raise half-way (its clear waits for the raise).
            me = asyncio.current_task()
            assert me is not None
            if self._held_timers.get(door.id) is me:
                del self._held_timers[door.id]
            self._firing.add(me)
            try:
                await self.raise_alarm(door.id, "held_open", f"open longer than {door.held_open_s:g}s")
            finally:
                self._firing.discard(me)

    def _cancel_timer(self, door_id: str) -> None:
        timer = self._held_timers.pop(door_id, None)
        if timer is not None:
            timer.cancel()

    async def on_lock_online(self, door_id: str, online: bool) -> None:
        """The lock's controller came back or went away."""
        if online:
            await self.clear_alarm(door_id, "lock_offline")
        else:
            door = self._doors[door_id]
            shown = "unlocked (fail-safe)" if door.fail_mode == "safe" else "fail-secure, stays locked"
            await self.raise_alarm(door_id, "lock_offline", f"lock {door.lock} unreachable ({shown})")

    async def on_contact_online(self, door_id: str, online: bool) -> None:
        """The door contact's controller came back or went away."""
        if online:
            await self.clear_alarm(door_id, "contact_offline")
        else:
            contact = self._doors[door_id].contact
            await self.raise_alarm(door_id, "contact_offline", f"contact {contact} unreachable: openings go unseen")

    async def on_lock_telemetry(self, door_id: str, values: dict[str, float]) -> None:
        """A lock reported readings: raise or clear `lock_jammed`."""
        jammed = values.get("lock_jammed")
        if jammed is None:
            return
        if jammed >= 0.5:
            lock = self._doors[door_id].lock
            await self.raise_alarm(door_id, "lock_jammed", f"lock {lock} reports its bolt not fully thrown")
        else:
            await self.clear_alarm(door_id, "lock_jammed")

    async def command_failed(self, lock_id: str, command: Command, outcome: CommandOutcome) -> None:
        """A lock command was refused or never acknowledged: fault the door and raise command_failed."""
        door = self._state.door_for_lock(lock_id)
        detail = f"{command.action} {command.id}: " + (
            f"refused ({outcome.detail})" if outcome.acked else outcome.detail
        )
        log.error("lock %s: %s", lock_id, detail)
        if door is not None:
            door.fault = detail
            await self.raise_alarm(door.door_id, "command_failed", detail)

    async def command_acked(self, lock_id: str, command: Command, outcome: CommandOutcome) -> None:
        """A lock acknowledged a command: its door's command fault (if any) is over."""
        door = self._state.door_for_lock(lock_id)
        if door is not None and door.fault is not None:
            door.fault = None
            await self.clear_alarm(door.door_id, "command_failed")

    async def raise_alarm(self, door_id: str, alarm: str, detail: str = "") -> None:
        """Raise `alarm` on a door (listed and journaled once until cleared)."""
        state = self._state.doors[door_id]
        if alarm in state.alarms:
            return
        now = datetime.now(UTC)
        state.alarms[alarm] = now  # before the list and journal writes, so a concurrent raise is a no-op
        await self.alarms.raised(door_id, alarm, detail, now)
        log.warning("alarm %s on door %s: %s", alarm, door_id, detail)

    async def clear_alarm(self, door_id: str, alarm: str) -> None:
        """Clear `alarm` on a door if it is active."""
        state = self._state.doors[door_id]
        if state.alarms.pop(alarm, None) is None:
            return
        await self.alarms.cleared(door_id, alarm)

    async def stop(self) -> None:
        """Cancel the held-open timers."""
        self._stopped = True
        timers = list(self._held_timers.values())
        self._held_timers.clear()
        for timer in timers:
            timer.cancel()
        await asyncio.gather(*timers, *self._firing, return_exceptions=True)
