"""Live state of devices and doors, built from what devices report (not from commands sent)."""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from datetime import UTC, datetime

from edge.config import EdgeConfig
from edge.storage.journal import Journal
from firmware_adapters.outpost_mqtt.codec import ContactChange, Status, Telemetry

TELEMETRY_JOURNAL_INTERVAL_S = 60.0


@dataclass
class DeviceState:
    """What the site knows about one device."""

    device_id: str
    kind: str
    zone: str
    online: bool = False
    last_seen: datetime | None = None
    values: dict[str, float] = field(default_factory=dict)
    _journaled_at: float = 0.0


@dataclass
class DoorState:
    """A door's observed state."""

    door_id: str
    name: str
    zone: str
    lock_id: str
    lock_online: bool = False
    locked: bool | None = None
    open: bool | None = None

    @property
    def status(self) -> str:
        """One word for the console: offline, open, unlocked, locked or unknown."""
        if not self.lock_online:
            return "offline"
        if self.open:
            return "open"
        if self.locked is None:
            return "unknown"
        return "locked" if self.locked else "unlocked"


class SiteState:
    """Tracks devices and doors; journals status changes and sampled telemetry."""

    def __init__(self, config: EdgeConfig, journal: Journal) -> None:
        self._journal = journal
        self.devices = {d.id: DeviceState(d.id, d.kind, d.zone) for d in config.devices}
        self.doors = {d.id: DoorState(d.id, d.name, d.zone, d.lock) for d in config.doors}
        self._door_by_lock = {d.lock: d.id for d in config.doors}
        self._door_by_contact = {d.contact: d.id for d in config.doors if d.contact}

    def _touch(self, device_id: str) -> DeviceState | None:
        dev = self.devices.get(device_id)
        if dev is not None:
            dev.last_seen = datetime.now(UTC)
        return dev

    async def on_status(self, device_id: str, status: Status) -> None:
        """Record a device going online/offline (LWT)."""
        dev = self._touch(device_id)
        if dev is None:
            return
        online = status.state == "online"
        changed = dev.online != online
        dev.online = online
        door_id = self._door_by_lock.get(device_id)
        if door_id is not None:
            self.doors[door_id].lock_online = online
        if changed:
            await self._journal.record(
                "device_status",
                {"device_id": device_id, "kind": dev.kind, "online": online, "firmware": status.firmware},
                source=device_id,
                summary=f"{device_id} {'online' if online else 'offline'}",
            )

    async def on_telemetry(self, device_id: str, telemetry: Telemetry) -> None:
        """Keep the latest readings; journal a sample at most once a minute per device."""
        dev = self._touch(device_id)
        if dev is None:
            return
        dev.values.update(telemetry.values)
        door_id = self._door_by_lock.get(device_id)
        if door_id is not None and "locked" in telemetry.values:
            self.doors[door_id].locked = telemetry.values["locked"] >= 0.5
        now = time.monotonic()
        if now - dev._journaled_at >= TELEMETRY_JOURNAL_INTERVAL_S:
            dev._journaled_at = now
            await self._journal.record(
                "telemetry",
                {"device_id": device_id, "values": dict(dev.values)},
                source=device_id,
                summary=", ".join(f"{k}={v:g}" for k, v in sorted(dev.values.items())),
                occurred_at=telemetry.ts,
            )

    async def on_contact(self, device_id: str, change: ContactChange) -> None:
        """Record a door opening or closing."""
        self._touch(device_id)
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
