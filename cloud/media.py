"""Media ingest and serving: snapshots and clips uploaded in signed, resumable chunks (protocol: `sync.media`).

Files live on disk under `media_dir/<site_id>/` (directories mode 0700): ``<id>.part`` while arriving, ``<id>``
once complete (sha256 verified), and ``<id>.json`` with what the edge declared (size, sha256, kind, media type).
The on-disk state is the truth: a restarted cloud answers a resuming edge with the size of its ``.part`` file.
The portal serves a complete file only to a session of the owning tenant (`handle_media_page`).

Client input never causes a 500: bad query or id 400, bad signature 401, revoked 403, wrong offset or a
declaration that differs from the first 409, too large 413, bad checksum 422.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import logging
import os
import re
from pathlib import Path

from aiohttp import web
from pydantic import ValidationError

from cloud.appkeys import CONFIG, DB
from cloud.billing.metering import meter_snapshot
from cloud.db.models import utcnow
from cloud.ingest import SiteRevoked, site_credentials
from cloud.permissions import machine
from cloud.responses import error_response, json_model
from sync.codec import describe
from sync.media import MAX_CHUNK_BYTES, MEDIA_ID_PATTERN, MediaParams, MediaState, chunk_signing_bytes
from sync.signing import SIGNATURE_HEADER, SITE_HEADER, TIMESTAMP_HEADER, SignatureError

log = logging.getLogger(__name__)

MEDIA_LOCKS = web.AppKey("media_locks", dict)
_MEDIA_ID = re.compile(MEDIA_ID_PATTERN)
# Snapshot storage is metered for billing (clips are not part of the plans' snapshot allowance).
METERED_MEDIA = frozenset({"snapshot", "door_snapshot"})
_SAFE_SITE_ID = re.compile(r"[A-Za-z0-9_-]{1,64}")  # a directory name: no dots, no slashes


def media_root(request: web.Request) -> Path:
    """The configured media directory."""
    return request.app[CONFIG].media_path


def site_dir(root: Path, site_id: str) -> Path:
    """A site's media directory (not created)."""
    if not _SAFE_SITE_ID.fullmatch(site_id):
        raise ValueError("site id is not usable as a directory name")
    return root / site_id


def complete_media(root: Path, site_id: str, media_id: str) -> tuple[Path, str] | None:
    """The path and media type of a complete file, or None."""
    if not _MEDIA_ID.fullmatch(media_id) or not _SAFE_SITE_ID.fullmatch(site_id):
        return None
    path = site_dir(root, site_id) / media_id
    try:
        meta = json.loads((path.with_suffix(".json")).read_text())
    except (OSError, ValueError):
        return None
    if not meta.get("complete") or not path.is_file():
        return None
    return path, str(meta["content_type"])


def _private_dir(path: Path) -> None:
    path.mkdir(mode=0o700, parents=True, exist_ok=True)
    path.chmod(0o700)


def _state(media_id: str, params: MediaParams, received: int, complete: bool) -> MediaState:
    return MediaState(media_id=media_id, received=received, size=params.size, complete=complete)


def _declared_differs(meta_path: Path, params: MediaParams) -> bool:
    try:
        meta = json.loads(meta_path.read_text())
    except (OSError, ValueError):
        return False
    return bool(meta.get("size") != params.size or meta.get("sha256") != params.sha256)


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as f:
        while block := f.read(1024 * 1024):
            digest.update(block)
    return digest.hexdigest()


def _write_meta(meta_path: Path, params: MediaParams, complete: bool) -> None:
    body = {**params.model_dump(exclude={"offset"}), "complete": complete}
    tmp = meta_path.with_suffix(".json.tmp")
    tmp.write_text(json.dumps(body))
    os.replace(tmp, meta_path)


def _append(part: Path, chunk: bytes) -> int:
    with part.open("ab") as f:
        f.write(chunk)
        f.flush()
        os.fsync(f.fileno())
        return f.tell()


async def _authenticate(request: web.Request, signed: bytes) -> str | web.Response:
    """Return the site id, or the error answer."""
    site_id = request.headers.get(SITE_HEADER, "")
    site = await site_credentials(request.app[DB], site_id) if _SAFE_SITE_ID.fullmatch(site_id) else None
    if site is None:
        return error_response(401, "unknown_site", f"no enrolled site with the id in {SITE_HEADER}")
    if site.revoked_at is not None:
        return error_response(403, "site_revoked", str(SiteRevoked(site_id, site.revoked_at)))
    try:
        site.verify(signed, request.headers.get(TIMESTAMP_HEADER), request.headers.get(SIGNATURE_HEADER))
    except SignatureError as err:
        log.warning("media request from site %s rejected: %s", site_id, err)
        return error_response(401, "bad_signature", str(err))
    return site_id


def _params(request: web.Request, put: bool) -> MediaParams | web.Response:
    try:
        params = MediaParams.model_validate(dict(request.query))
    except ValidationError as err:
        return error_response(400, "bad_media_request", describe(err))
    if put and params.offset is None:
        return error_response(400, "bad_media_request", "offset: required for a chunk")
    return params


@machine
async def handle_media_state(request: web.Request) -> web.Response:
    """GET /api/v1/sync/media/{media_id}: how many bytes of the file the cloud holds."""
    media_id = request.match_info["media_id"]
    auth = await _authenticate(request, chunk_signing_bytes("GET", request.path_qs))
    if isinstance(auth, web.Response):
        return auth
    if not _MEDIA_ID.fullmatch(media_id):
        return error_response(400, "bad_media_id", "a media id is 32 lowercase hex digits")
    params = _params(request, put=False)
    if isinstance(params, web.Response):
        return params
    folder = site_dir(media_root(request), auth)
    if (folder / media_id).is_file() and complete_media(media_root(request), auth, media_id):
        return json_model(_state(media_id, params, params.size, True))
    part = folder / f"{media_id}.part"
    received = part.stat().st_size if part.is_file() else 0
    return json_model(_state(media_id, params, received, False))


@machine
async def handle_media_chunk(request: web.Request) -> web.Response:
    """PUT /api/v1/sync/media/{media_id}: append one chunk at its offset; verify the sha256 at the end."""
    media_id = request.match_info["media_id"]
    if request.content_length is None or request.content_length > MAX_CHUNK_BYTES:
        # Before reading the body: a chunk is bounded, and its length must be declared.
        return error_response(
            413, "chunk_too_large", f"a chunk is at most {MAX_CHUNK_BYTES} bytes, with Content-Length"
        )
    chunk = await request.read()
    auth = await _authenticate(request, chunk_signing_bytes("PUT", request.path_qs, chunk))
    if isinstance(auth, web.Response):
        return auth
    if not _MEDIA_ID.fullmatch(media_id):
        return error_response(400, "bad_media_id", "a media id is 32 lowercase hex digits")
    params = _params(request, put=True)
    if isinstance(params, web.Response):
        return params
    assert params.offset is not None
    if not chunk:
        return error_response(400, "empty_chunk", "a chunk carries at least one byte")
    if params.offset + len(chunk) > params.size:
        return error_response(413, "past_end", f"the chunk ends past the declared size of {params.size} bytes")
    root = media_root(request)
    folder = site_dir(root, auth)
    final, part, meta = folder / media_id, folder / f"{media_id}.part", folder / f"{media_id}.json"
    locks: dict[str, asyncio.Lock] = request.app[MEDIA_LOCKS]
    lock = locks.setdefault(f"{auth}/{media_id}", asyncio.Lock())
    async with lock:
        if _declared_differs(meta, params):
            return error_response(409, "media_mismatch", "this media id was declared with another size or sha256")
        if complete_media(root, auth, media_id):
            return json_model(_state(media_id, params, params.size, True))
        await asyncio.to_thread(_private_dir, folder)
        received = part.stat().st_size if part.is_file() else 0
        if params.offset != received:
            state = _state(media_id, params, received, False)
            return error_response(409, "wrong_offset", state.model_dump_json())
        if received == 0:
            await asyncio.to_thread(_write_meta, meta, params, False)
        received = await asyncio.to_thread(_append, part, chunk)
        if received < params.size:
            return json_model(_state(media_id, params, received, False))
        digest = await asyncio.to_thread(_sha256, part)
        if digest != params.sha256:
            part.unlink(missing_ok=True)
            meta.unlink(missing_ok=True)
            log.warning("site %s: media %s failed its checksum; discarded", auth, media_id)
            return error_response(422, "bad_checksum", "the file's sha256 does not match; send it again from 0")
        os.replace(part, final)
        await asyncio.to_thread(_write_meta, meta, params, True)
    locks.pop(f"{auth}/{media_id}", None)
    if params.kind in METERED_MEDIA:
        await meter_snapshot(request.app[DB], auth, params.size, utcnow())
    log.info("site %s: media %s complete (%d bytes, %s)", auth, media_id, params.size, params.kind)
    return json_model(_state(media_id, params, params.size, True))
