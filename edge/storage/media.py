"""The edge's media queue: snapshots and clips registered for upload (implements sync.media_uploader.MediaSource).

A file is registered once it is complete on disk (its size and sha256 are taken then), after the record naming it
was journaled; it is offered for upload only once every outbox record up to the outbox head at registration is
delivered or set aside, so the event always reaches HQ before its media. The offset the cloud holds is kept in
the database, so an upload resumes after a disconnect or a restart.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
from datetime import UTC, datetime
from pathlib import Path

from sqlalchemy import func, insert, select, update

from edge.storage.database import Database
from edge.storage.schema import media_uploads, outbox, outbox_quarantine
from sync.media import MAX_MEDIA_BYTES, MediaContentType, MediaKind, media_id_for
from sync.media_uploader import MediaUpload

log = logging.getLogger(__name__)

_CONTENT_TYPES: dict[str, MediaContentType] = {
    ".jpg": "image/jpeg",
    ".jpeg": "image/jpeg",
    ".png": "image/png",
    ".mp4": "video/mp4",
}


def _describe(path: Path) -> tuple[int, str]:
    digest = hashlib.sha256()
    size = 0
    with path.open("rb") as f:
        while block := f.read(1024 * 1024):
            digest.update(block)
            size += len(block)
    return size, digest.hexdigest()


def _read(path: Path, offset: int, size: int) -> bytes:
    with path.open("rb") as f:
        f.seek(offset)
        return f.read(size)


class MediaQueue:
    """Snapshots and clips waiting for the cloud, in the edge database (see the module docstring)."""

    def __init__(self, db: Database) -> None:
        self._db = db

    async def register(self, path: Path, kind: MediaKind, name: str | None = None) -> str | None:
        """Queue a complete file for upload; return its media id (None if it cannot be sent, logged).

        `name` is what the record naming the file says (`sync.media.media_name`); by default the file's name.
        """
        content_type = _CONTENT_TYPES.get(path.suffix.lower())
        if content_type is None:
            log.warning("media %s not queued: unknown file type", path.name)
            return None
        try:
            size, sha256 = await asyncio.to_thread(_describe, path)
        except OSError as err:
            log.warning("media %s not queued: %s", path.name, err)
            return None
        if not 0 < size <= MAX_MEDIA_BYTES:
            log.warning("media %s not queued: %d bytes", path.name, size)
            return None
        media_id = media_id_for(kind, name or path.name)
        async with self._db.engine.begin() as conn:
            head = (await conn.execute(select(func.max(outbox.c.seq)))).scalar() or 0
            await conn.execute(
                insert(media_uploads).prefix_with("OR IGNORE"),
                {
                    "media_id": media_id,
                    "path": str(path),
                    "kind": kind,
                    "content_type": content_type,
                    "size": size,
                    "sha256": sha256,
                    "after_seq": head,
                    "sent_offset": 0,
                    "registered_at": datetime.now(UTC),
                },
            )
        return media_id

    async def next_upload(self) -> MediaUpload | None:
        """The oldest unfinished file whose preceding outbox records are all delivered (or in quarantine)."""
        undelivered = (
            select(func.min(outbox.c.seq))
            .where(outbox.c.acked.is_(False), ~outbox.c.seq.in_(select(outbox_quarantine.c.seq)))
            .scalar_subquery()
        )
        query = (
            select(media_uploads)
            .where(media_uploads.c.finished_at.is_(None))
            .where((undelivered.is_(None)) | (media_uploads.c.after_seq < undelivered))
            .order_by(media_uploads.c.after_seq, media_uploads.c.registered_at)
            .limit(1)
        )
        async with self._db.engine.connect() as conn:
            row = (await conn.execute(query)).first()
        if row is None:
            return None
        return MediaUpload(row.media_id, row.kind, row.content_type, row.size, row.sha256, row.sent_offset)

    async def _path(self, media_id: str) -> Path:
        async with self._db.engine.connect() as conn:
            value = (
                await conn.execute(select(media_uploads.c.path).where(media_uploads.c.media_id == media_id))
            ).scalar()
        if value is None:
            raise FileNotFoundError(media_id)
        return Path(value)

    async def read_chunk(self, media_id: str, offset: int, size: int) -> bytes:
        """Read up to `size` bytes from `offset`."""
        return await asyncio.to_thread(_read, await self._path(media_id), offset, size)

    async def set_offset(self, media_id: str, offset: int) -> None:
        """Remember how much of the file the cloud holds."""
        async with self._db.engine.begin() as conn:
            await conn.execute(
                update(media_uploads).where(media_uploads.c.media_id == media_id).values(sent_offset=offset)
            )

    async def finish(self, media_id: str, error: str | None = None) -> None:
        """Take the file off the queue (uploaded, or given up on with `error`)."""
        async with self._db.engine.begin() as conn:
            await conn.execute(
                update(media_uploads)
                .where(media_uploads.c.media_id == media_id)
                .values(finished_at=datetime.now(UTC), error=error)
            )

    async def waiting(self) -> int:
        """How many files wait for upload."""
        query = select(func.count()).select_from(media_uploads).where(media_uploads.c.finished_at.is_(None))
        async with self._db.engine.connect() as conn:
            return int((await conn.execute(query)).scalar() or 0)
