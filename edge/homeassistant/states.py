"""State payloads the discovery configs promise, from the site's live state (pure)."""

from __future__ import annotations

from typing import Literal

from edge.devices.state import ALARM_TEXT, DeviceState, DoorState

Pending = Literal["LOCKING", "UNLOCKING"]
# Home Assistant's payload for "state unknown" (payload_reset of lock, None of binary_sensor).
UNKNOWN = "None"


def lock_state(door: DoorState, pending: Pending | None = None) -> str:
    """LOCKED, UNLOCKED, JAMMED, LOCKING/UNLOCKING (a command on its way) or None (never reported)."""
    if "lock_jammed" in door.alarms:
        return "JAMMED"
    if pending is not None:
        return pending
    if door.locked is None:
        return UNKNOWN
    return "LOCKED" if door.locked else "UNLOCKED"


def contact_state(door: DoorState) -> str:
    """ON while the door stands open (Home Assistant's door class), OFF closed, None unknown."""
    if door.open is None:
        return UNKNOWN
    return "ON" if door.open else "OFF"


def door_alarms(door: DoorState) -> dict[str, object]:
    """The door's alarm flags as ON/OFF and the active alarms (also the alarm entity's attributes)."""
    return {
        "any": "ON" if door.alarms else "OFF",
        "forced_open": "ON" if "forced_open" in door.alarms else "OFF",
        "held_open": "ON" if "held_open" in door.alarms else "OFF",
        "lock_jammed": "ON" if "lock_jammed" in door.alarms else "OFF",
        "active": [
            {"alarm": name, "text": ALARM_TEXT.get(name, name), "since": since.isoformat()}
            for name, since in sorted(door.alarms.items())
        ],
        "status": door.status,
    }


def site_alarms(doors: list[DoorState]) -> dict[str, object]:
    """How many alarms are active on the site, and where."""
    active = [f"{door.name}: {ALARM_TEXT.get(name, name)}" for door in doors for name in sorted(door.alarms)]
    return {"active": len(active), "alarms": active}


def device_state(device: DeviceState) -> dict[str, object]:
    """A device's online flag and latest readings."""
    return {"online": device.online, **device.values}
