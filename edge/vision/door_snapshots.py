"""Door snapshots: the frame of the door's camera at the moment of each access decision and raised alarm.

Listens to committed journal entries. For an ``access_decision`` (audit) or a raised ``alarm`` (event) at a door
with a `camera`, it takes the frame nearest the record's time from the camera's ring buffer
(`edge.vision.frame_ring`, within one sampled frame of the badge time), writes it as ``door-<door>-<journal
id>.jpg`` plus a small ``...-thumb.jpg`` in the camera's snapshot directory, and for an alarm starts a clip
around the moment (the ring's pre-roll plus a few seconds after, `edge.vision.clips`). It journals an event
``door_snapshot`` naming the files and the record they belong to, and queues the thumbnail for upload first and
the full frame after it (`edge.storage.media`), so both reach the cloud after the records. A camera without a
ring falls back to its newest annotated frame (``latest.jpg``).
"""

from __future__ import annotations

import asyncio
import logging
import shutil
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from edge.storage.journal import Journal, JournalEntry
from edge.storage.media import MediaQueue
from edge.vision.clips import ClipError, ClipRecorder
from edge.vision.frame_ring import FrameRing
from edge.vision.pipeline import LATEST_NAME, write_atomic
from sync.media import media_name

log = logging.getLogger(__name__)

# How long to wait for the camera's next sampled frame after a decision (bounded: a dead camera must not pile up).
FRAME_WAIT_S = 1.5


def thumbnail_name(name: str) -> str:
    """Return the thumbnail file name of a door snapshot: 'door-front-7.jpg' -> 'door-front-7-thumb.jpg'."""
    return f"{Path(name).stem}-thumb.jpg"


class DoorSnapshots:
    """Takes and queues door snapshots (see the module docstring); one owned task per snapshot."""

    def __init__(
        self,
        journal: Journal,
        media: MediaQueue,
        snapshot_dir: Path,
        cameras_by_door: Mapping[str, str],
        on_queued: Callable[[], None] | None = None,
        *,
        rings: Mapping[str, FrameRing] | None = None,
        clips: Mapping[str, ClipRecorder] | None = None,
        frame_wait_s: float = FRAME_WAIT_S,
    ) -> None:
        self._journal = journal
        self._media = media
        self._snapshot_dir = snapshot_dir
        self._cameras = dict(cameras_by_door)
        self._on_queued = on_queued
        self._rings = dict(rings or {})
        self._clips = dict(clips or {})
        self._frame_wait_s = frame_wait_s
        self._tasks: set[asyncio.Task[None]] = set()
        self._unsubscribe: Callable[[], None] | None = None
        self.taken = 0

    def start(self) -> None:
        """Listen to the journal."""
        self._unsubscribe = self._journal.subscribe(self._on_entry)

    async def stop(self) -> None:
        """Stop listening and cancel snapshots in progress."""
        if self._unsubscribe is not None:
            self._unsubscribe()
            self._unsubscribe = None
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)

    def _on_entry(self, entry: JournalEntry) -> None:
        payload = entry.payload
        door_id = payload.get("door_id")
        if not isinstance(door_id, str) or (camera := self._cameras.get(door_id)) is None:
            return
        decision = entry.kind == "audit" and payload.get("type") in ("access_decision", "plate_decision")
        alarm = entry.kind == "event" and payload.get("type") == "alarm" and payload.get("state") == "raised"
        if not (decision or alarm):
            return
        task = asyncio.create_task(self._take(entry, door_id, camera, alarm), name=f"door-snapshot-{entry.id}")
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _take(self, entry: JournalEntry, door_id: str, camera: str, alarm: bool) -> None:
        folder = self._snapshot_dir / camera
        name = f"door-{door_id}-{entry.id}.jpg"
        extra: dict[str, Any] = {}
        clip_path = await self._start_clip(entry, door_id, camera) if alarm else None
        if clip_path is not None:
            extra["clip"] = clip_path.name
        ring = self._rings.get(camera)
        try:
            if ring is not None and (frame := await ring.frame_at(entry.occurred_at, self._frame_wait_s)) is not None:
                thumb = await asyncio.to_thread(ring.thumbnail, frame.jpeg)
                await asyncio.to_thread(_write_frame, folder, name, frame.jpeg, thumb)
                extra["frame_at"] = frame.captured_at.isoformat()
                if thumb is not None:
                    extra["thumbnail"] = thumbnail_name(name)
            else:
                await asyncio.to_thread(shutil.copyfile, folder / LATEST_NAME, folder / name)
        except OSError as err:
            log.warning("door %s: no snapshot from camera %s for record %d: %s", door_id, camera, entry.id, err)
            return
        await self._journal.record(
            "event",
            {
                "type": "door_snapshot",
                "door_id": door_id,
                "camera_id": camera,
                "door_snapshot": name,
                "of_journal_id": entry.id,
                **extra,
            },
            source=door_id,
            summary=f"snapshot of {door_id} from {camera}",
        )
        # The thumbnail first (small, shown beside the event), then the full frame.
        queued = False
        if "thumbnail" in extra:
            thumb_path = folder / extra["thumbnail"]
            queued = (
                await self._media.register(thumb_path, "door_snapshot", media_name(thumb_path.name, camera)) is not None
            )
        if await self._media.register(folder / name, "door_snapshot", media_name(name, camera)) is not None:
            queued = True
        if queued:
            self.taken += 1
            if self._on_queued is not None:
                self._on_queued()

    async def _start_clip(self, entry: JournalEntry, door_id: str, camera: str) -> Path | None:
        recorder = self._clips.get(camera)
        if recorder is None:
            return None
        alarm = entry.payload.get("alarm", "alarm")
        try:
            return await recorder.start(f"door-{door_id}-{alarm}", entry.occurred_at)
        except ClipError:
            log.exception("door %s: clip for alarm %s failed", door_id, alarm)
            return None


def _write_frame(folder: Path, name: str, jpeg: bytes, thumb: bytes | None) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    write_atomic(folder / name, jpeg)
    if thumb is not None:
        write_atomic(folder / thumbnail_name(name), thumb)
