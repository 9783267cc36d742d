"""Edge side of media sync: uploads snapshots and clips in signed chunks, resuming where the cloud's copy ends.

Lower priority than records: the sync agent runs it only when the outbox has nothing waiting, and it yields
after any chunk once new records are announced. A file is offered (`MediaSource.next_upload`) only once every
outbox record journaled before it was registered has been delivered, so its metadata (the event naming it)
is always at HQ first. Protocol: `sync.media`.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass
from typing import Protocol
from urllib.parse import urlencode

import httpx
from pydantic import ValidationError

from sync.media import MAX_CHUNK_BYTES, MEDIA_PATH, MediaContentType, MediaKind, MediaState, chunk_signing_bytes
from sync.signing import SITE_HEADER, SecretSource, current_secret, sign
from sync.wire import ErrorBody

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class MediaUpload:
    """A file waiting to be uploaded, and how far the edge knows it got."""

    media_id: str
    kind: MediaKind
    content_type: MediaContentType
    size: int
    sha256: str
    offset: int


class MediaSource(Protocol):
    """What the uploader needs from the edge's media queue."""

    async def next_upload(self) -> MediaUpload | None:
        """Return the oldest file whose metadata is delivered and that is not uploaded yet."""
        ...

    async def read_chunk(self, media_id: str, offset: int, size: int) -> bytes:
        """Read up to `size` bytes of the file from `offset` (raise OSError if the file is gone)."""
        ...

    async def set_offset(self, media_id: str, offset: int) -> None:
        """Remember how much the cloud holds (survives a restart)."""
        ...

    async def finish(self, media_id: str, error: str | None = None) -> None:
        """Take the file off the queue: uploaded, or given up on with the reason."""
        ...


class MediaRejected(Exception):
    """The cloud refused a media request for a reason resending will not fix soon."""


class MediaUnsupported(Exception):
    """The cloud has no media endpoint (an older cloud): uploads pause, files stay queued."""


# How long uploads pause when the cloud has no media endpoint; records keep flowing meanwhile.
UNSUPPORTED_PAUSE_S = 600.0


class MediaUploader:
    """Uploads waiting media one chunk at a time (see the module docstring)."""

    def __init__(
        self,
        source: MediaSource,
        client: httpx.AsyncClient,
        *,
        cloud_url: str,
        site_id: str,
        secret: SecretSource,
        chunk_bytes: int = MAX_CHUNK_BYTES,
    ) -> None:
        self._source = source
        self._client = client
        self._base = cloud_url.rstrip("/")
        self._site_id = site_id
        self._secret = secret
        self._chunk_bytes = min(chunk_bytes, MAX_CHUNK_BYTES)
        self.uploaded = 0
        self.chunks_sent = 0
        self._paused_until = 0.0

    async def run(self, interrupt: asyncio.Event | None = None) -> int:
        """Upload waiting files until none is left or `interrupt` is set; return files completed."""
        done = 0
        loop = asyncio.get_running_loop()
        if loop.time() < self._paused_until:
            return done
        while interrupt is None or not interrupt.is_set():
            upload = await self._source.next_upload()
            if upload is None:
                return done
            try:
                finished = await self._upload(upload, interrupt)
            except MediaUnsupported as err:
                # Not a failure of this file nor of the link: keep the queue, keep records flowing, ask later.
                log.warning("media uploads paused for %.0f s: %s", UNSUPPORTED_PAUSE_S, err)
                self._paused_until = loop.time() + UNSUPPORTED_PAUSE_S
                return done
            done += finished
        return done

    def _target(self, upload: MediaUpload, offset: int | None) -> str:
        query: dict[str, str | int] = {
            "size": upload.size,
            "sha256": upload.sha256,
            "kind": upload.kind,
            "content_type": upload.content_type,
        }
        if offset is not None:
            query["offset"] = offset
        return f"{MEDIA_PATH}/{upload.media_id}?{urlencode(query)}"

    def _headers(self, signed: bytes) -> dict[str, str]:
        return {SITE_HEADER: self._site_id, **sign(current_secret(self._secret), signed)}

    async def cloud_state(self, upload: MediaUpload) -> MediaState:
        """Ask the cloud how much of the file it holds."""
        target = self._target(upload, None)
        response = await self._client.get(
            self._base + target, headers=self._headers(chunk_signing_bytes("GET", target))
        )
        self._check(response, upload)
        return MediaState.model_validate_json(response.content)

    def _check(self, response: httpx.Response, upload: MediaUpload) -> None:
        if response.status_code in (401, 403):
            raise MediaRejected(
                f"cloud answered {response.status_code} for media {upload.media_id}: {response.text[:200]}"
            )
        if response.status_code in (404, 405):
            raise MediaUnsupported(f"cloud answered {response.status_code} to {response.request.method} media")
        if response.status_code >= 500:
            response.raise_for_status()

    async def _upload(self, upload: MediaUpload, interrupt: asyncio.Event | None) -> bool:
        offset = upload.offset
        if offset == 0:
            # A fresh start here may still be a resume there (a crash before the offset was saved): ask.
            state = await self.cloud_state(upload)
            if state.complete:
                await self._source.finish(upload.media_id)
                return True
            offset = state.received
        while True:
            if interrupt is not None and interrupt.is_set():
                await self._source.set_offset(upload.media_id, offset)
                return False
            try:
                chunk = await self._source.read_chunk(upload.media_id, offset, self._chunk_bytes)
            except OSError as err:
                log.error("media %s: cannot read the file (%s); giving up on it", upload.media_id, err)
                await self._source.finish(upload.media_id, error=f"unreadable: {err}")
                return False
            target = self._target(upload, offset)
            response = await self._client.put(
                self._base + target,
                content=chunk,
                headers={
                    "Content-Type": "application/octet-stream",
                    **self._headers(chunk_signing_bytes("PUT", target, chunk)),
                },
            )
            self._check(response, upload)
            self.chunks_sent += 1
            if response.status_code == 200:
                state = MediaState.model_validate_json(response.content)
                if state.complete:
                    await self._source.finish(upload.media_id)
                    self.uploaded += 1
                    log.info("media %s (%s, %d bytes) uploaded", upload.media_id, upload.kind, upload.size)
                    return True
                offset = state.received
                await self._source.set_offset(upload.media_id, offset)
                continue
            error = _error(response)
            if response.status_code == 409 and error.error == "wrong_offset":
                offset = MediaState.model_validate_json(error.detail).received  # resume where the cloud is
                await self._source.set_offset(upload.media_id, offset)
                continue
            if response.status_code == 422 and error.error == "bad_checksum":
                log.error("media %s: the cloud's checksum differs (file changed on disk?); giving up", upload.media_id)
                await self._source.finish(upload.media_id, error="bad_checksum")
                return False
            log.error("media %s refused by the cloud: %s %s", upload.media_id, response.status_code, error.detail)
            await self._source.finish(upload.media_id, error=f"{error.error}: {error.detail}"[:300])
            return False


def _error(response: httpx.Response) -> ErrorBody:
    try:
        return ErrorBody.model_validate_json(response.content)
    except ValidationError:
        return ErrorBody(error=f"http_{response.status_code}", detail=response.text[:200])
