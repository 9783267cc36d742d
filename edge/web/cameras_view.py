"""The console's camera pages: every camera, and one camera's live view with its zones and lines drawn on it.

An admin draws zones (drag a rectangle, then move its corners) and counting lines (drag from end to end) on the
image; `PUT /api/v1/cameras/{id}/regions` saves them into the config file and the running camera counts with them
from its next frame (`edge.camera_regions`). Guards and viewers see the same page without the drawing tools
(`edge.web.roles`: the PUT is admin-only). The page also shows occupancy per zone, line counts and recent tracks.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

import aiohttp_jinja2
from aiohttp import web
from pydantic import ValidationError

from edge import keys
from edge.camera_regions import CameraNotInFile, CameraRegionsIn, regions_of, save_regions, use_regions
from edge.config.base import ConfigError
from edge.config.file_edit import ConfigFileInvalid
from edge.vision.config import CameraConfig
from edge.web.auth import CSRF_FIELD, SESSION

log = logging.getLogger(__name__)
TRACKS_SHOWN = 20
_TRACK_SCAN = 400  # newest journal records of the camera looked through for finished tracks
REGIONS_LOCK = web.AppKey("camera_regions_lock", asyncio.Lock)


def _camera(request: web.Request) -> CameraConfig:
    camera_id = request.match_info["camera_id"]
    camera = next((c for c in request.app[keys.CONFIG].cameras if c.id == camera_id), None)
    if camera is None:
        if request.path.startswith("/api/"):
            raise web.HTTPNotFound(text='{"error": "unknown_camera"}', content_type="application/json")
        raise web.HTTPNotFound(text="No such camera.")
    return camera


def _state(request: web.Request, camera: CameraConfig) -> str:
    pipeline = request.app[keys.CAMERAS].get(camera.id)
    if pipeline is not None:
        return pipeline.status.state
    if camera.id in request.app[keys.CAMERA_FAULTS]:
        return "detection_disabled"
    return "disabled" if not camera.enabled else "stopped"


def _context(request: web.Request) -> dict[str, Any]:
    return {
        "site": request.app[keys.CONFIG].site,
        "session": request[SESSION],
        CSRF_FIELD: request[SESSION].csrf_token,
    }


@aiohttp_jinja2.template("cameras.html")
async def cameras_page(request: web.Request) -> dict[str, Any]:
    """Every camera with its latest frame, state and the number of zones and lines it counts with."""
    cameras = [(c, _state(request, c)) for c in request.app[keys.CONFIG].cameras]
    return {**_context(request), "cameras": cameras}


@aiohttp_jinja2.template("camera.html")
async def camera_page(request: web.Request) -> dict[str, Any]:
    """One camera: live view with its zones and lines, occupancy, line counts, recent tracks (drawing: admin)."""
    camera = _camera(request)
    return {
        **_context(request),
        "camera": camera,
        "state": _state(request, camera),
        "regions": regions_of(camera).as_json(),
        "can_save": request.app[keys.CONFIG_PATH] is not None,
    }


async def get_regions(request: web.Request) -> web.Response:
    """The camera's zones and lines (normalised 0..1 coordinates), as the running box counts with them."""
    return web.json_response(regions_of(_camera(request)).as_json())


async def put_regions(request: web.Request) -> web.Response:
    """Replace the camera's zones and lines: saved to the config file (validated, atomic), used from the next frame."""
    camera = _camera(request)
    try:
        regions = CameraRegionsIn.model_validate_json(await request.read())
    except ValidationError as err:
        detail = err.errors(include_url=False, include_context=False, include_input=False)
        return web.json_response({"error": "invalid_body", "detail": detail}, status=400)
    path = request.app[keys.CONFIG_PATH]
    if path is None:
        return web.json_response(
            {"error": "no_config_file", "detail": "the box was started without a config file to save to"}, status=409
        )
    by = request[SESSION].username
    async with request.app[REGIONS_LOCK]:  # one edit of the file at a time
        try:
            await asyncio.to_thread(save_regions, path, camera.id, regions)
        except ConfigFileInvalid as err:
            return web.json_response({"error": "invalid_config", "detail": str(err)}, status=422)
        except CameraNotInFile as err:
            return web.json_response({"error": "camera_not_in_file", "detail": str(err)}, status=409)
        except ConfigError as err:
            log.warning("cannot save the regions of camera %s: %s", camera.id, err)
            return web.json_response({"error": "config_not_saved", "detail": str(err)}, status=409)
        use_regions(camera, request.app[keys.CAMERAS].get(camera.id), regions)
    zones, lines = [z.name for z in regions.zones], [ln.name for ln in regions.lines]
    await request.app[keys.JOURNAL].record(
        "audit",
        {"type": "camera_regions_saved", "camera_id": camera.id, "zones": zones, "lines": lines, "by": by},
        source=f"console:{by}",
        summary=f"{by} saved {len(zones)} zone(s) and {len(lines)} line(s) of camera {camera.id}",
    )
    return web.json_response(regions_of(camera).as_json())


async def get_tracks(request: web.Request) -> web.Response:
    """The camera's recently finished tracks, newest first: category, when, how long, which zones."""
    camera = _camera(request)
    entries = await request.app[keys.JOURNAL].recent(_TRACK_SCAN, "detection", source=camera.id)
    tracks = [
        {
            "track_id": e.payload.get("track_id"),
            "category": e.payload.get("category"),
            "label": e.payload.get("label"),
            "first_seen_at": e.payload.get("first_seen_at"),
            "last_seen_at": e.payload.get("last_seen_at"),
            "dwell_s": e.payload.get("dwell_s"),
            "zones_visited": e.payload.get("zones_visited", []),
        }
        for e in entries
        if e.payload.get("kind") == "track_ended"
    ]
    return web.json_response(tracks[:TRACKS_SHOWN])


def add_routes(app: web.Application) -> None:
    """Register the camera pages and their API."""
    app[REGIONS_LOCK] = asyncio.Lock()
    app.router.add_get("/cameras", cameras_page)
    app.router.add_get("/cameras/{camera_id}", camera_page)
    app.router.add_get("/api/v1/cameras/{camera_id}/regions", get_regions)
    app.router.add_put("/api/v1/cameras/{camera_id}/regions", put_regions)
    app.router.add_get("/api/v1/cameras/{camera_id}/tracks", get_tracks)
