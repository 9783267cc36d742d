"""Live state of devices and doors, built from what devices report (not from commands sent)."""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from datetime import UTC, datetime

from edge.config import EdgeConfig
from edge.devices.telemetry import TELEMETRY_JOURNAL_INTERVAL_S, significant_changes
from edge.storage.journal import Journal
from firmware_adapters.messages import ContactChange, Status, Telemetry


@dataclass
class DeviceState:
    """What the site knows about one device."""

    device_id: str
    kind: str
    zone: str
    online: bool = False
    last_seen: datetime | None = None
    values: dict[str, float] = field(default_factory=dict)
    firmware: str | None = None  # as the device last reported it in its status
    _journaled_at: float | None = None
    _journaled_values: dict[str, float] = field(default_factory=dict)


ALARM_TEXT = {
    "forced_open": "door forced open",
    "held_open": "door held open",
    "lock_offline": "lock controller unreachable",
    "duress": "duress PIN entered",
    "command_failed": "lock did not carry out a command",
    "lock_jammed": "lock jammed (bolt not fully thrown)",
    "contact_offline": "door contact unreachable",
    "detector_unavailable": "camera detection disabled (no usable detector model)",
    "tailgating": "more people went through than were granted (tailgating)",
    "entry_without_badge": "someone went through without a badge",
    "unknown_plate": "unknown vehicle at the gate out of hours",
}


@dataclass
class DoorState:
    """A door's observed state (from device reports), its operating mode and its active alarms."""

    door_id: str
    name: str
    zone: str
    lock_id: str
    fail_mode: str = "secure"
    lock_online: bool = False
    locked: bool | None = None
    open: bool | None = None
    mode: str = "secure"
    alarms: dict[str, datetime] = field(default_factory=dict)
    fault: str | None = None

    @property
    def status(self) -> str:
        """One word for the console, worst first: offline (or 'unlocked (fail-safe)'), forced, held,
        jammed, fault, open, unlocked, locked, unknown."""
        if not self.lock_online:
            return "unlocked (fail-safe)" if self.fail_mode == "safe" else "offline"
        if "forced_open" in self.alarms:
            return "forced"
        if "held_open" in self.alarms:
            return "held"
        if "lock_jammed" in self.alarms:
            return "jammed"  # not "unlocked": the lock tried to lock and could not
        if "command_failed" in self.alarms:
            return "fault"
        if self.open:
            return "open"
        if self.locked is None:
            return "unknown"
        return "locked" if self.locked else "unlocked"

    @property
    def status_key(self) -> str:
        """The status as a CSS-safe word."""
        return "failsafe" if self.status == "unlocked (fail-safe)" else self.status

    @property
    def faulted(self) -> bool:
        """True while the door cannot be controlled (lock unreachable or not carrying out commands)."""
        return not self.lock_online or "command_failed" in self.alarms

    def as_json(self) -> dict[str, object]:
        """Return the door state for the API."""
        return {
            "door_id": self.door_id,
            "name": self.name,
            "zone": self.zone,
            "lock_id": self.lock_id,
            "fail_mode": self.fail_mode,
            "lock_online": self.lock_online,
            "commandable": self.lock_online,  # the console offers Lock/Unlock only for a reachable lock
            "locked": self.locked,
            "open": self.open,
            "mode": self.mode,
            "status": self.status,
            "status_key": self.status_key,
            "fault": self.faulted,
            "fault_detail": self.fault,
            "alarms": [
                {"alarm": name, "text": ALARM_TEXT.get(name, name), "since": since.isoformat()}
                for name, since in sorted(self.alarms.items())
            ],
        }


class SiteState:
    """Tracks devices and doors; journals status changes and sampled telemetry."""

    def __init__(self, config: EdgeConfig, journal: Journal) -> None:
        self._journal = journal
        self.devices = {d.id: DeviceState(d.id, d.kind, d.zone) for d in config.devices}
        self.doors = {d.id: DoorState(d.id, d.name, d.zone, d.lock, d.fail_mode) for d in config.doors}
        self._door_by_lock = {d.lock: d.id for d in config.doors}
        self._door_by_contact = {d.contact: d.id for d in config.doors if d.contact}
        self._door_by_rex = {d.rex: d.id for d in config.doors if d.rex}

    def door_for_lock(self, lock_id: str) -> DoorState | None:
        """Return the door whose lock is `lock_id`."""
        door_id = self._door_by_lock.get(lock_id)
        return self.doors[door_id] if door_id else None

    def door_for_contact(self, contact_id: str) -> DoorState | None:
        """Return the door whose contact is `contact_id`."""
        door_id = self._door_by_contact.get(contact_id)
        return self.doors[door_id] if door_id else None

    def _touch(self, device_id: str) -> DeviceState | None:
        dev = self.devices.get(device_id)
        if dev is not None:
            dev.last_seen = datetime.now(UTC)
        return dev

    async def on_status(self, device_id: str, status: Status) -> bool:
        """Record a device going online/offline (LWT); return True if that changed."""
        dev = self._touch(device_id)
        if dev is None:
            return False
        online = status.state == "online"
        if status.firmware:
            dev.firmware = status.firmware
        changed = dev.online != online
        dev.online = online
        door_id = self._door_by_lock.get(device_id)
        if door_id is not None:
            self.doors[door_id].lock_online = online
        contact_door = self._door_by_contact.get(device_id)
        if contact_door is not None and not online:
            self.doors[contact_door].open = None  # unknown until the contact reports again
        if changed:
            await self._journal.record(
                "device_status",
                {"device_id": device_id, "kind": dev.kind, "online": online, "firmware": status.firmware},
                source=device_id,
                summary=f"{device_id} {'online' if online else 'offline'}",
            )
        return changed

    async def on_telemetry(self, device_id: str, telemetry: Telemetry) -> None:
        """Keep the latest readings; journal them on a significant change, else at most once a minute per device."""
        dev = self._touch(device_id)
        if dev is None:
            return
        dev.values.update(telemetry.values)
        door_id = self._door_by_lock.get(device_id)
        if door_id is not None and "locked" in telemetry.values:
            self.doors[door_id].locked = telemetry.values["locked"] >= 0.5
        now = time.monotonic()
        changed = significant_changes(dev._journaled_values, dev.values)
        due = dev._journaled_at is None or now - dev._journaled_at >= TELEMETRY_JOURNAL_INTERVAL_S
        if changed or due:
            dev._journaled_at = now
            dev._journaled_values = dict(dev.values)
            await self._journal.record(
                "telemetry",
                {"device_id": device_id, "values": dict(dev.values), "changed": changed},
                source=device_id,
                summary=", ".join(f"{k}={v:g}" for k, v in sorted(dev.values.items())),
                occurred_at=telemetry.ts,
            )

    async def on_contact(self, device_id: str, change: ContactChange) -> None:
        """Record a door opening or closing, or a request-to-exit input."""
        self._touch(device_id)
        rex_door = self._door_by_rex.get(device_id)
        if rex_door is not None:
            await self._journal.record(
                "event",
                {
                    "type": "request_to_exit",
                    "device_id": device_id,
                    "door_id": rex_door,
                    "active": change.open,
                    "event_id": change.id,
                },
                source=device_id,
                summary=f"{rex_door} request to exit {'pressed' if change.open else 'released'}",
                occurred_at=change.ts,
            )
            return
        door_id = self._door_by_contact.get(device_id)
        if door_id is not None:
            self.doors[door_id].open = change.open
        await self._journal.record(
            "event",
            {
                "type": "door_contact",
                "device_id": device_id,
                "door_id": door_id,
                "open": change.open,
                "event_id": change.id,
            },
            source=device_id,
            summary=f"{door_id or device_id} {'opened' if change.open else 'closed'}",
            occurred_at=change.ts,
        )
