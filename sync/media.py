"""Snapshots and clips, uploaded after their metadata: chunked, resumable, checksummed, signed.

Protocol (both requests carry `X-Outpost-Site` and the signature headers of `sync.signing`):

- ``GET MEDIA_PATH/<media_id>?size=S&sha256=H&kind=K&content_type=T`` — the signature covers
  `request_target_bytes("GET", path_and_query)`. Answer 200 `MediaState`: how many bytes the cloud holds.
- ``PUT MEDIA_PATH/<media_id>?offset=O&size=S&sha256=H&kind=K&content_type=T`` with up to `MAX_CHUNK_BYTES` of
  the file as body — the signature covers `request_target_bytes("PUT", path_and_query) + b"\\n" + body`.
  Answer 200 `MediaState`. The chunk must start where the cloud's copy ends: otherwise 409 `wrong_offset`
  with the `MediaState` in `detail` (the edge resumes from `received`). A chunk past `size` or larger than
  `MAX_CHUNK_BYTES`: 413. Once `received == size` the cloud checks the sha256 of the whole file: a mismatch
  is 422 `bad_checksum` and the cloud's partial copy is discarded (the edge starts again from 0); a match marks
  the file complete. A file already complete answers 200 again (a resend after a lost answer is harmless).

The media id is derived from the kind and the file's name on the box (`media_id_for`, `media_name`: the camera id
and the file name), so an event that names its snapshot or clip file (`camera_id` and `snapshot` or `clip` in a
detection payload) links to its media without carrying the id.
"""

from __future__ import annotations

import hashlib
from typing import Literal

from pydantic import Field

from sync.wire import WireModel

MEDIA_PATH = "/api/v1/sync/media"
MAX_CHUNK_BYTES = 1024 * 1024
MAX_MEDIA_BYTES = 512 * 1024 * 1024
MEDIA_ID_PATTERN = r"^[0-9a-f]{32}$"

MediaKind = Literal["snapshot", "clip", "door_snapshot"]
MediaContentType = Literal["image/jpeg", "image/png", "video/mp4"]


def media_id_for(kind: MediaKind, name: str) -> str:
    """The id of a media file: from its kind and its file name on the box (unique per site)."""
    return hashlib.sha256(f"{kind}:{name}".encode()).hexdigest()[:32]


def media_name(file_name: str, camera_id: str | None = None) -> str:
    """The name a media id is derived from: ``<camera>/<file>`` when a camera took it (names repeat per camera)."""
    return f"{camera_id}/{file_name}" if camera_id else file_name


def chunk_signing_bytes(method: str, path_and_query: str, body: bytes = b"") -> bytes:
    """Bytes signed for a media request (see the module docstring)."""
    target = f"{method.upper()} {path_and_query}".encode()
    return target + b"\n" + body if method.upper() == "PUT" else target


class MediaParams(WireModel):
    """The query of a media request: what the file is, and (PUT) where this chunk starts."""

    size: int = Field(ge=1, le=MAX_MEDIA_BYTES, description="Size of the whole file in bytes")
    sha256: str = Field(pattern=r"^[0-9a-f]{64}$", description="SHA-256 of the whole file, lowercase hex")
    kind: MediaKind = Field(description="What the file is")
    content_type: MediaContentType = Field(description="Media type the cloud serves it with")
    offset: int | None = Field(default=None, ge=0, le=MAX_MEDIA_BYTES, description="PUT: where the chunk starts")


class MediaState(WireModel):
    """What the cloud holds of a media file."""

    media_id: str = Field(pattern=MEDIA_ID_PATTERN, description="The file's id")
    received: int = Field(ge=0, description="Bytes the cloud holds, from the start")
    size: int = Field(ge=1, description="Size of the whole file")
    complete: bool = Field(description="True once all bytes arrived and the sha256 matched")
