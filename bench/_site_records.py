"""Mixed site records shaped like the edge journal's (access decisions, alarms, detections and tracks, device
status, telemetry, door contacts), seeded, for the cloud ingest bench and the analytics tests."""

from __future__ import annotations

import random
from collections.abc import Iterator
from datetime import datetime, timedelta
from typing import Any

from sync.wire import SyncRecord

DOORS = ("front", "dock", "office")
CAMERAS = (("cam-gate", "yard"), ("cam-hall", "lobby"))
CATEGORIES = ("person", "vehicle")
DEVICES = ("lock-front", "lock-dock", "sensor-1")
CREDENTIALS = tuple(f"{1000 + i}" for i in range(12))


class SiteRecords:
    """A site's record stream: `record(seq, at)` returns a mixed record; alarm ids and track ids advance."""

    def __init__(self, seed: int) -> None:
        self.rng = random.Random(seed)
        self.alarm_id = 0
        self.open_alarms: list[tuple[int, str]] = []
        self.track_id = 0

    def record(self, seq: int, at: datetime) -> SyncRecord:
        """One record at `at` of a kind drawn with realistic weights."""
        kind, payload = self._payload(at)
        payload = {"journal_id": seq, "source": "", "summary": "", **payload}
        return SyncRecord(seq=seq, kind=kind, occurred_at=at, payload=payload)  # type: ignore[arg-type]

    def _payload(self, at: datetime) -> tuple[str, dict[str, Any]]:
        rng = self.rng
        draw = rng.random()
        if draw < 0.30:
            granted = rng.random() < 0.8
            return "audit", {
                "type": "access_decision",
                "door_id": rng.choice(DOORS),
                "reader_id": "r1",
                "direction": "in",
                "credential": rng.choice(CREDENTIALS),
                "person_id": None if not granted and rng.random() < 0.5 else f"p{rng.randrange(20)}",
                "granted": granted,
                "reason": "granted" if granted else rng.choice(("unknown_credential", "outside_schedule")),
            }
        if draw < 0.55:
            camera, zone = rng.choice(CAMERAS)
            return "detection", {
                "kind": "count",
                "camera_id": camera,
                "zone": zone,
                "category": rng.choice(CATEGORIES),
                "count": rng.randrange(1, 9),
                "detections": [],
                "snapshot": None,
            }
        if draw < 0.75:
            return "detection", self._track(at)
        if draw < 0.82:
            return "event", self._alarm()
        if draw < 0.87:
            online = rng.random() < 0.7
            return "device_status", {
                "device_id": rng.choice(DEVICES),
                "kind": "lock",
                "online": online,
                "firmware": "1",
            }
        if draw < 0.97:
            values = {"battery": float(rng.randrange(5, 101)), "temperature": round(rng.uniform(15, 30), 2)}
            return "telemetry", {"device_id": rng.choice(DEVICES), "values": values, "changed": []}
        return "event", {"type": "door_contact", "device_id": "contact-1", "door_id": "front", "open": True}

    def _track(self, at: datetime) -> dict[str, Any]:
        rng = self.rng
        camera, zone = rng.choice(CAMERAS)
        self.track_id += 1
        kind = rng.choice(("track_started", "track_ended", "zone_entered", "zone_left", "line_crossed", "loitering"))
        dwell = round(rng.uniform(0, 120), 3)
        return {
            "kind": kind,
            "camera_id": camera,
            "zone": zone,
            "track_id": self.track_id,
            "category": rng.choice(CATEGORIES),
            "label": "person",
            "occurred_at": at.isoformat(),
            "first_seen_at": (at - timedelta(seconds=dwell)).isoformat(),
            "last_seen_at": at.isoformat(),
            "dwell_s": dwell,
            "score": 0.8,
            "box": [0, 0, 10, 10],
            "zones_visited": ["dock-area"],
            "region": "gate-line" if kind == "line_crossed" else "dock-area",
            "direction": rng.choice(("in", "out")) if kind == "line_crossed" else None,
            "region_dwell_s": None,
            "snapshot": None,
            "clip": None,
            "plate": None,
        }

    def _alarm(self) -> dict[str, Any]:
        rng = self.rng
        if self.open_alarms and rng.random() < 0.6:
            alarm_id, door = self.open_alarms[0]
            if rng.random() < 0.5:
                self.open_alarms.pop(0)
                return {"type": "alarm", "alarm": "forced", "state": "cleared", "door_id": door, "alarm_id": alarm_id}
            return {
                "type": "alarm",
                "alarm": "forced",
                "state": "acknowledged",
                "door_id": door,
                "alarm_id": alarm_id,
                "by": "guard",
            }
        self.alarm_id += 1
        door = rng.choice(DOORS)
        self.open_alarms.append((self.alarm_id, door))
        return {"type": "alarm", "alarm": "forced", "state": "raised", "door_id": door, "alarm_id": self.alarm_id}


def stream(seed: int, start: datetime, step: timedelta, count: int, first_seq: int = 1) -> Iterator[SyncRecord]:
    """`count` records from `start` every `step`."""
    site = SiteRecords(seed)
    for i in range(count):
        yield site.record(first_seq + i, start + i * step)
