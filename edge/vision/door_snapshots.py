"""Door snapshots: a frame of the door's camera for each access decision and raised alarm at the door.

Listens to committed journal entries. For an ``access_decision`` (audit) or a raised ``alarm`` (event) at a door
with a `camera`, it copies the camera's newest annotated frame (``latest.jpg``, refreshed by the pipeline) to
``door-<door>-<journal id>.jpg`` in the camera's snapshot directory, journals an event ``door_snapshot`` naming
the file and the record it belongs to, and queues the file for upload (`edge.storage.media`), so it reaches the
cloud after both records. The frame is the newest the pipeline kept, not one grabbed at the decision: at most its
refresh interval old.
"""

from __future__ import annotations

import asyncio
import logging
import shutil
from collections.abc import Callable, Mapping
from pathlib import Path

from edge.storage.journal import Journal, JournalEntry
from edge.storage.media import MediaQueue
from edge.vision.pipeline import LATEST_NAME
from sync.media import media_name

log = logging.getLogger(__name__)


class DoorSnapshots:
    """Takes and queues door snapshots (see the module docstring); one owned task per snapshot."""

    def __init__(
        self,
        journal: Journal,
        media: MediaQueue,
        snapshot_dir: Path,
        cameras_by_door: Mapping[str, str],
        on_queued: Callable[[], None] | None = None,
    ) -> None:
        self._journal = journal
        self._media = media
        self._snapshot_dir = snapshot_dir
        self._cameras = dict(cameras_by_door)
        self._on_queued = on_queued
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
        decision = entry.kind == "audit" and payload.get("type") == "access_decision"
        alarm = entry.kind == "event" and payload.get("type") == "alarm" and payload.get("state") == "raised"
        if not (decision or alarm):
            return
        task = asyncio.create_task(self._take(entry, door_id, camera), name=f"door-snapshot-{entry.id}")
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _take(self, entry: JournalEntry, door_id: str, camera: str) -> None:
        folder = self._snapshot_dir / camera
        name = f"door-{door_id}-{entry.id}.jpg"
        try:
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
            },
            source=door_id,
            summary=f"snapshot of {door_id} from {camera}",
        )
        if await self._media.register(folder / name, "door_snapshot", media_name(name, camera)) is not None:
            self.taken += 1
            if self._on_queued is not None:
                self._on_queued()
