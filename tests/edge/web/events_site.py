"""The site of the events-page tests: two zones, a second door, two cameras (not processed), a seeded history and
the pictures of some records on disk (a real frame of the shared clip)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import cv2

from edge import keys
from edge.app import EdgeRunner
from edge.config import EdgeConfig
from edge.storage.journal import JournalEntry
from tests.edge.event_history import seed_history
from tests.edge.site import DEVICE_HASHES, site_config_dict


def events_site_config(data_dir: Path) -> EdgeConfig:
    """The test site plus zone ``yard`` with door ``dock``, and cameras ``plaza`` and ``yard-cam`` (disabled)."""
    data = site_config_dict(data_dir)
    data["zones"].append({"id": "yard", "name": "Yard"})
    data["devices"] += [
        {"id": "reader-dock", "kind": "reader", "zone": "yard", "password_hash": DEVICE_HASHES["reader-front"]},
        {"id": "lock-dock", "kind": "lock", "zone": "yard", "password_hash": DEVICE_HASHES["lock-front"]},
    ]
    data["doors"].append(
        {"id": "dock", "name": "Loading dock", "zone": "yard", "lock": "lock-dock", "readers": ["reader-dock"]}
    )
    data["cameras"] = [
        {"id": "plaza", "name": "Plaza", "zone": "lobby", "source": "rtsp://127.0.0.1:9/none", "enabled": False},
        {
            "id": "yard-cam",
            "name": "Yard camera",
            "zone": "yard",
            "source": "rtsp://127.0.0.1:9/none",
            "enabled": False,
        },
    ]
    return EdgeConfig.model_validate(data)


@dataclass(frozen=True)
class History:
    """The seeded records and the ones with pictures."""

    written: list[JournalEntry]
    camera_record: JournalEntry  # a detection with its snapshot on disk
    door_record: JournalEntry  # a denied badge at the front door with its door frame and thumbnail
    alarm_record: JournalEntry  # a door alarm with a frame and a clip


def _frame(vtest_path: Path) -> Any:
    capture = cv2.VideoCapture(str(vtest_path))
    try:
        ok, image = capture.read()
    finally:
        capture.release()
    assert ok
    return image


async def seed_site(edge_app: EdgeRunner, vtest_path: Path, count: int) -> History:
    """Seed `count` records, then three pictured ones (the newest of the history)."""
    app = edge_app.app
    journal = app[keys.JOURNAL]
    storage = app[keys.CONFIG].storage
    written = await seed_history(journal, count)
    image = _frame(vtest_path)
    plaza = storage.snapshot_dir / "plaza"
    plaza.mkdir(parents=True, exist_ok=True)
    cv2.imwrite(str(plaza / "20260801T100000-person-7.jpg"), image)
    camera = await journal.record(
        "detection",
        {
            "kind": "track_started",
            "camera_id": "plaza",
            "zone": "lobby",
            "category": "person",
            "snapshot": "20260801T100000-person-7.jpg",
            "clip": None,
        },
        source="plaza",
        summary="person #7 on plaza appeared",
    )
    door = await journal.record(
        "audit",
        {
            "type": "access_decision",
            "door_id": "front",
            "reader_id": "reader-front",
            "direction": "in",
            "credential": "99:999",
            "person_id": None,
            "person": None,
            "granted": False,
            "reason": "unknown_credential",
        },
        source="reader-front",
        summary="DENIED unknown at Front door (unknown_credential)",
    )
    cv2.imwrite(str(plaza / f"door-front-{door.id}.jpg"), image)
    cv2.imwrite(str(plaza / f"door-front-{door.id}-thumb.jpg"), cv2.resize(image, (160, 120)))
    await journal.record(
        "event",
        {
            "type": "door_snapshot",
            "door_id": "front",
            "camera_id": "plaza",
            "door_snapshot": f"door-front-{door.id}.jpg",
            "of_journal_id": door.id,
            "thumbnail": f"door-front-{door.id}-thumb.jpg",
        },
        source="front",
        summary="snapshot of front from plaza",
    )
    alarm = await journal.record(
        "event",
        {"type": "alarm", "alarm": "forced", "door_id": "front", "state": "raised"},
        source="front",
        summary="=alarm forced at Front door",  # starts like a spreadsheet formula: the CSV must defuse it
    )
    clips = storage.clip_dir / "plaza"
    clips.mkdir(parents=True, exist_ok=True)
    (clips / "20260801T100005-door-front-forced.mp4").write_bytes(b"\x00\x00\x00\x18ftypmp42clip")
    cv2.imwrite(str(plaza / f"door-front-{alarm.id}.jpg"), image)
    await journal.record(
        "event",
        {
            "type": "door_snapshot",
            "door_id": "front",
            "camera_id": "plaza",
            "door_snapshot": f"door-front-{alarm.id}.jpg",
            "of_journal_id": alarm.id,
            "clip": "20260801T100005-door-front-forced.mp4",
        },
        source="front",
        summary="snapshot of front from plaza",
    )
    return History([*written, camera, door, alarm], camera, door, alarm)
