"""The console's door frames: the thumbnail beside each badge event, and the door snapshot files themselves.

A ``door_snapshot`` event names the frame (and its thumbnail) taken for an earlier record (`of_journal_id`);
`door_frame_links` maps each record in a list of events to its thumbnail and full-frame URLs, and
`GET /api/v1/cameras/{camera_id}/door-frames/{name}` serves them.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import Any

from aiohttp import web

from edge import keys
from edge.storage.journal import JournalEntry

_DOOR_FILE = re.compile(r"door-[A-Za-z0-9_-]{1,120}\.jpg")


def door_frame_url(camera_id: str, name: str) -> str:
    """The console URL of a door snapshot file."""
    return f"/api/v1/cameras/{camera_id}/door-frames/{name}"


def door_frame_links(entries: Iterable[JournalEntry]) -> dict[int, dict[str, Any]]:
    """Map journal ids to their door frame: {id: {"thumbnail": url, "frame": url, "clip": name|None}}."""
    links: dict[int, dict[str, Any]] = {}
    for entry in entries:
        payload = entry.payload
        if entry.kind != "event" or payload.get("type") != "door_snapshot":
            continue
        of, camera, frame = payload.get("of_journal_id"), payload.get("camera_id"), payload.get("door_snapshot")
        if not isinstance(of, int) or not isinstance(camera, str) or not isinstance(frame, str):
            continue
        thumb = payload.get("thumbnail")
        links[of] = {
            "thumbnail": door_frame_url(camera, thumb if isinstance(thumb, str) else frame),
            "frame": door_frame_url(camera, frame),
            "clip": payload.get("clip"),
        }
    return links


async def get_door_frame(request: web.Request) -> web.StreamResponse:
    """GET a door snapshot or its thumbnail (only files named like door snapshots, only of known cameras)."""
    camera_id, name = request.match_info["camera_id"], request.match_info["name"]
    config = request.app[keys.CONFIG]
    if camera_id not in {c.id for c in config.cameras} or not _DOOR_FILE.fullmatch(name):
        return web.json_response({"error": "not_found"}, status=404)
    path = config.storage.snapshot_dir / camera_id / name
    if not path.is_file():
        return web.json_response({"error": "not_found"}, status=404)
    return web.FileResponse(path, headers={"Cache-Control": "private, max-age=3600"})


def add_routes(app: web.Application) -> None:
    """Register the door frame route."""
    app.router.add_get("/api/v1/cameras/{camera_id}/door-frames/{name}", get_door_frame)
