"""What a rule sees of a journaled event: its kind, type, the ids filters name, readings, and a summary."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from edge.config import EdgeConfig
from edge.storage.journal import JournalEntry
from sync.rules import EventFilter

# Filter fields compared with the event's attributes of the same name.
_ID_FIELDS = ("zone", "category", "door", "device", "sensor", "camera", "region", "alarm", "plate")


@dataclass(frozen=True)
class RuleEvent:
    """One event as the rules engine evaluates it."""

    kind: str
    type: str
    at: datetime
    attrs: Mapping[str, str | None]
    payload: Mapping[str, Any]
    summary: str = ""
    journal_id: int | None = None
    values: Mapping[str, float] = field(default_factory=dict)

    def matches(self, flt: EventFilter) -> bool:
        """True if every field `flt` sets equals this event's."""
        if flt.kind is not None and flt.kind != self.kind:
            return False
        if flt.type is not None and flt.type != self.type:
            return False
        for name in _ID_FIELDS:
            wanted = getattr(flt, name)
            if wanted is not None and self.attrs.get(name) != wanted:
                return False
        return all(self.payload.get(key) == value for key, value in flt.match.items())

    def placeholders(self) -> dict[str, str]:
        """Values for {placeholders} in action texts."""
        values = {k: v or "" for k, v in self.attrs.items()}
        return {**values, "kind": self.kind, "type": self.type, "summary": self.summary, "at": self.at.isoformat()}


class EventReader:
    """Turns journal entries into `RuleEvent`s, adding the zone of the door, device or camera named."""

    def __init__(self, config: EdgeConfig) -> None:
        self._zones: dict[str, str] = {}
        for device in config.devices:
            self._zones[f"device:{device.id}"] = device.zone
        for door in config.doors:
            self._zones[f"door:{door.id}"] = door.zone
        for camera in config.cameras:
            if camera.zone is not None:
                self._zones[f"camera:{camera.id}"] = camera.zone

    def read(self, entry: JournalEntry) -> RuleEvent:
        """The rule view of one journal entry."""
        p = entry.payload
        attrs: dict[str, str | None] = {}
        values: dict[str, float] = {}
        if entry.kind == "detection":
            kind = _text(p.get("kind")) or "detection"
            attrs["camera"] = _text(p.get("camera_id"))
            attrs["zone"] = _text(p.get("zone"))
            attrs["category"] = _text(p.get("category"))
            attrs["region"] = _text(p.get("region"))
            plate = p.get("plate")
            if isinstance(plate, dict):
                attrs["plate"] = _text(plate.get("text"))
            event_type = kind
        elif entry.kind == "telemetry":
            event_type = "telemetry"
            attrs["device"] = attrs["sensor"] = _text(p.get("device_id"))
            raw = p.get("values")
            if isinstance(raw, dict):
                values = {k: float(v) for k, v in raw.items() if isinstance(v, int | float)}
        elif entry.kind == "device_status":
            event_type = "online" if p.get("online") else "offline"
            attrs["device"] = _text(p.get("device_id"))
        else:
            event_type = _text(p.get("type")) or entry.kind
            attrs["door"] = _text(p.get("door_id"))
            attrs["device"] = _text(p.get("device_id")) or _text(p.get("reader_id"))
            attrs["camera"] = _text(p.get("camera_id"))
            attrs["alarm"] = _text(p.get("alarm"))
            if event_type == "lockdown":
                attrs["zone"] = _text(p.get("zone"))
            elif event_type == "alarm" and attrs["door"] is None:
                attrs["door"] = entry.source or None
        if attrs.get("zone") is None:
            for name in ("door", "device", "camera"):
                ident = attrs.get(name)
                if ident is not None and (zone := self._zones.get(f"{name}:{ident}")) is not None:
                    attrs["zone"] = zone
                    break
        return RuleEvent(
            kind=entry.kind,
            type=event_type,
            at=entry.occurred_at,
            attrs=attrs,
            payload=p,
            summary=entry.summary,
            journal_id=entry.id,
            values=values,
        )


def _text(value: object) -> str | None:
    return value if isinstance(value, str) and value else None
