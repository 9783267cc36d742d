"""Door snapshots: an access decision or a raised alarm at a door with a camera gets the camera's newest frame,
journaled as its own event and queued for upload; other records and doors get none (real SQLite journal)."""

from __future__ import annotations

from pathlib import Path

import pytest

from edge.config import EdgeConfig
from edge.storage.database import Database
from edge.storage.journal import Journal, Outbox
from edge.storage.media import MediaQueue
from edge.vision.door_snapshots import DoorSnapshots
from sync.media import media_id_for, media_name
from tests.edge.site import site_config_dict
from tests.polling import eventually


async def test_decisions_and_alarms_at_a_watched_door_get_a_snapshot(tmp_path: Path, db: Database) -> None:
    frame = b"\xff\xd8" + b"frame" * 100 + b"\xff\xd9"
    (tmp_path / "snapshots" / "lobby-cam").mkdir(parents=True)
    (tmp_path / "snapshots" / "lobby-cam" / "latest.jpg").write_bytes(frame)
    journal = Journal(db)
    queue = MediaQueue(db)
    queued: list[bool] = []
    snapshots = DoorSnapshots(
        journal, queue, tmp_path / "snapshots", {"front": "lobby-cam"}, on_queued=lambda: queued.append(True)
    )
    snapshots.start()
    try:
        decision = await journal.record("audit", {"type": "access_decision", "door_id": "front", "granted": True})
        await journal.record("audit", {"type": "access_decision", "door_id": "back", "granted": True})  # no camera
        await journal.record("event", {"type": "alarm", "door_id": "front", "state": "cleared"})  # not raised
        alarm = await journal.record("event", {"type": "alarm", "door_id": "front", "state": "raised"})
        await eventually(lambda: snapshots.taken == 2)
    finally:
        await snapshots.stop()

    events = [e for e in await journal.recent(20, kind="event") if e.payload.get("type") == "door_snapshot"]
    assert sorted(e.payload["of_journal_id"] for e in events) == [decision.id, alarm.id]
    for event in events:
        path = tmp_path / "snapshots" / "lobby-cam" / event.payload["door_snapshot"]
        assert path.read_bytes() == frame
    assert await queue.waiting() == 2 and queued == [True, True]
    assert await queue.next_upload() is None  # the records come first
    outbox = Outbox(db)
    await outbox.mark_acked([r.seq for r in await outbox.pending(100)])
    upload = await queue.next_upload()
    assert upload is not None and upload.kind == "door_snapshot"
    names = {media_id_for("door_snapshot", media_name(e.payload["door_snapshot"], "lobby-cam")) for e in events}
    assert upload.media_id in names  # the portal finds it from the event's camera_id and door_snapshot


def test_a_door_camera_must_be_configured(tmp_path: Path) -> None:
    data = site_config_dict(tmp_path)
    assert data["doors"], "the test site has doors"
    data["doors"][0]["camera"] = "nowhere"
    with pytest.raises(ValueError, match="camera"):
        EdgeConfig.model_validate(data)
