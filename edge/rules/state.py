"""The site as the rules see it, built from the same events they run on (so a dry-run replays it exactly)."""

from __future__ import annotations

from collections import deque
from datetime import datetime

from edge.rules.events import RuleEvent

SITE_SCOPE = "*"


class SiteView:
    """Door contacts, lockdowns, people seen per zone and the latest sensor readings, from events."""

    def __init__(self, door_zones: dict[str, str] | None = None) -> None:
        self.door_zones = dict(door_zones or {})
        self.door_open: dict[str, bool] = {}
        self.lockdowns: set[str] = set()
        self.people: dict[str, int] = {}
        self.readings: dict[tuple[str, str], float] = {}

    def update(self, event: RuleEvent) -> None:
        """Take in one event (before the rules evaluate it)."""
        attrs, payload = event.attrs, event.payload
        if event.type == "door_contact" and (door := attrs.get("door")) is not None:
            self.door_open[door] = bool(payload.get("open"))
        elif event.type == "lockdown" and event.kind == "audit":
            scope = attrs.get("zone") or SITE_SCOPE
            if payload.get("active"):
                self.lockdowns.add(scope)
            else:
                self.lockdowns.discard(scope)
        elif event.kind == "detection" and attrs.get("category") == "person" and (zone := attrs.get("zone")):
            if event.type == "track_started":
                self.people[zone] = self.people.get(zone, 0) + 1
            elif event.type == "track_ended":
                self.people[zone] = max(0, self.people.get(zone, 0) - 1)
            elif event.type == "count":
                count = payload.get("count")
                if isinstance(count, int):
                    self.people[zone] = max(self.people.get(zone, 0), count)
        elif event.kind == "telemetry" and (sensor := attrs.get("sensor")) is not None:
            for metric, value in event.values.items():
                self.readings[(sensor, metric)] = value

    def locked_down(self, zone: str | None) -> bool:
        """True if the site or `zone` is locked down."""
        return SITE_SCOPE in self.lockdowns or (zone is not None and zone in self.lockdowns)


class EventWindow:
    """Times of matching events within a sliding window (count and quiet conditions)."""

    def __init__(self, length_s: float) -> None:
        self.length_s = length_s
        self._times: deque[datetime] = deque()

    def add(self, at: datetime) -> None:
        """Note a matching event."""
        self._times.append(at)
        self._trim(at)

    def count(self, now: datetime) -> int:
        """Matching events within the window ending at `now`."""
        self._trim(now)
        return len(self._times)

    def last(self) -> datetime | None:
        """The latest matching event, if any is in the window."""
        return self._times[-1] if self._times else None

    def _trim(self, now: datetime) -> None:
        while self._times and (now - self._times[0]).total_seconds() > self.length_s:
            self._times.popleft()


class Latch:
    """A threshold with hysteresis: set above `above` (or below `below`), reset once `hysteresis` back across."""

    def __init__(self, above: float | None, below: float | None, hysteresis: float) -> None:
        self.above, self.below, self.hysteresis = above, below, hysteresis
        self.on = False

    def feed(self, value: float) -> bool:
        """Take a reading; return True if the latch just turned on (a crossing)."""
        was = self.on
        if self.above is not None:
            if value > self.above:
                self.on = True
            elif value <= self.above - self.hysteresis:
                self.on = False
        elif self.below is not None:
            if value < self.below:
                self.on = True
            elif value >= self.below + self.hysteresis:
                self.on = False
        return self.on and not was
