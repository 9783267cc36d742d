"""The pictures and clip of a journal record, found through the record itself (never through a path from a client).

A camera record (``detection``) names its snapshot and clip in its payload; a record at a door with a camera (an
access decision, a plate decision, a door alarm) is pictured by the ``door_snapshot`` event that names it
(`edge.vision.door_snapshots`). Files are looked up only under the camera's snapshot and clip folders, and only
by names shaped like the ones the box writes.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from edge.config.storage import StorageConfig
from edge.storage.journal import JournalEntry

THUMBNAIL_WIDTH = 160
_CAMERA = re.compile(r"[A-Za-z0-9_-]{1,64}")
_FILE = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_.-]{0,159}")


@dataclass(frozen=True)
class EventMedia:
    """Where a record's files are (each None when it has none): full image, ready thumbnail, clip."""

    image: Path | None = None
    thumbnail: Path | None = None
    clip: Path | None = None

    @property
    def pictured(self) -> bool:
        """True if there is an image to show."""
        return self.image is not None


def _file(folder: Path, camera: object, name: object, suffix: str) -> Path | None:
    if not isinstance(camera, str) or not isinstance(name, str):
        return None
    if not _CAMERA.fullmatch(camera) or not _FILE.fullmatch(name) or not name.endswith(suffix):
        return None
    return folder / camera / name


def media_of(entry: JournalEntry, frame: JournalEntry | None, storage: StorageConfig) -> EventMedia:
    """The files of `entry`, given the ``door_snapshot`` event that pictures it (if any); files may be gone."""
    if frame is None and entry.kind == "event" and entry.payload.get("type") == "door_snapshot":
        frame = entry
    if frame is not None:
        p = frame.payload
        camera = p.get("camera_id")
        image = _file(storage.snapshot_dir, camera, p.get("door_snapshot"), ".jpg")
        thumb = _file(storage.snapshot_dir, camera, p.get("thumbnail"), ".jpg")
        return EventMedia(image, thumb, _file(storage.clip_dir, camera, p.get("clip"), ".mp4"))
    p = entry.payload
    camera = p.get("camera_id")
    return EventMedia(
        _file(storage.snapshot_dir, camera, p.get("snapshot"), ".jpg"),
        None,
        _file(storage.clip_dir, camera, p.get("clip"), ".mp4"),
    )


def thumbnail_jpeg(path: Path) -> bytes | None:
    """A JPEG `THUMBNAIL_WIDTH` wide of the image at `path` (blocking: run it in a thread); None if unreadable."""
    data = np.fromfile(path, np.uint8) if path.is_file() else None
    if data is None or data.size == 0:
        return None
    image = cv2.imdecode(data, cv2.IMREAD_REDUCED_COLOR_2)
    if image is None:
        return None
    h, w = image.shape[:2]
    width = min(w, THUMBNAIL_WIDTH)
    small = cv2.resize(image, (width, max(1, round(h * width / w))), interpolation=cv2.INTER_AREA)
    ok, buf = cv2.imencode(".jpg", small, [cv2.IMWRITE_JPEG_QUALITY, 75])
    return buf.tobytes() if ok else None
