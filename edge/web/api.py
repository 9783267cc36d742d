"""JSON REST API of the edge console."""

from __future__ import annotations

from dataclasses import asdict

from aiohttp import web
from pydantic import ValidationError

from edge import keys
from edge.access.service import UnknownDoor
from edge.web.auth import SESSION
from edge.web.forms import PersonIn


def _door_json(door: object) -> dict[str, object]:
    data = asdict(door)  # type: ignore[call-overload]
    data["status"] = door.status  # type: ignore[attr-defined]
    return data


async def status(request: web.Request) -> web.Response:
    """Site overview: doors, devices, cameras, sync and message counters."""
    app = request.app
    state = app[keys.SITE_STATE]
    sync = app[keys.SYNC]
    gateway = app[keys.GATEWAY]
    return web.json_response(
        {
            "site": app[keys.CONFIG].site.model_dump(),
            "doors": [_door_json(d) for d in state.doors.values()],
            "devices": [
                {
                    "id": d.device_id,
                    "kind": d.kind,
                    "zone": d.zone,
                    "online": d.online,
                    "last_seen": d.last_seen.isoformat() if d.last_seen else None,
                    "values": d.values,
                }
                for d in state.devices.values()
            ],
            "cameras": {
                cid: {
                    "state": p.status.state,
                    "frames_processed": p.status.frames_processed,
                    "last_frame_at": p.status.last_frame_at.isoformat() if p.status.last_frame_at else None,
                    "events_emitted": p.status.events_emitted,
                }
                for cid, p in app[keys.CAMERAS].items()
            },
            "sync": None
            if sync is None
            else {
                "last_success": sync.last_success.isoformat() if sync.last_success else None,
                "last_error": sync.last_error,
                "backlog": await app[keys.OUTBOX].backlog(),
            },
            "mqtt": {**gateway.stats(), "acl_denied": app[keys.BROKER].directory.denied},
        }
    )


async def doors(request: web.Request) -> web.Response:
    """List doors with their observed state."""
    return web.json_response([_door_json(d) for d in request.app[keys.SITE_STATE].doors.values()])


async def door_command(request: web.Request) -> web.Response:
    """Lock or unlock a door."""
    action = request.match_info["action"]
    by = request[SESSION].username
    try:
        command = await request.app[keys.ACCESS].command_door(request.match_info["door_id"], action, by)
    except UnknownDoor:
        return web.json_response({"error": "unknown_door"}, status=404)
    return web.json_response({"command_id": command.id, "action": command.action}, status=202)


async def events(request: web.Request) -> web.Response:
    """Recent events, newest first (?limit=1..500&kind=)."""
    try:
        limit = max(1, min(500, int(request.query.get("limit", "50"))))
    except ValueError:
        return web.json_response({"error": "limit must be an integer"}, status=400)
    entries = await request.app[keys.JOURNAL].recent(limit, request.query.get("kind"))
    return web.json_response(
        [
            {
                "id": e.id,
                "kind": e.kind,
                "occurred_at": e.occurred_at.isoformat(),
                "source": e.source,
                "summary": e.summary,
                "payload": e.payload,
            }
            for e in entries
        ]
    )


async def snapshot(request: web.Request) -> web.StreamResponse:
    """The latest annotated frame of a camera."""
    camera_id = request.match_info["camera_id"]
    if camera_id not in request.app[keys.CAMERAS]:
        return web.json_response({"error": "unknown_camera"}, status=404)
    path = request.app[keys.CONFIG].storage.snapshot_dir / camera_id / "latest.jpg"
    if not path.exists():
        return web.json_response({"error": "no_snapshot_yet"}, status=404)
    return web.FileResponse(path, headers={"Cache-Control": "no-store"})


async def list_people(request: web.Request) -> web.Response:
    """People and their credentials."""
    return web.json_response(await request.app[keys.CREDENTIALS].list_people())


async def add_person(request: web.Request) -> web.Response:
    """Add a person with credentials."""
    try:
        body = PersonIn.model_validate_json(await request.read())
    except ValidationError as err:
        return web.json_response(
            {"error": "invalid_body", "detail": err.errors(include_url=False)}, status=400
        )
    person_id = await request.app[keys.CREDENTIALS].add_person(
        body.name, body.credentials, valid_from=body.valid_from, valid_until=body.valid_until
    )
    return web.json_response({"id": person_id}, status=201)


def add_routes(app: web.Application) -> None:
    """Register the API routes."""
    app.router.add_get("/api/v1/status", status)
    app.router.add_get("/api/v1/doors", doors)
    app.router.add_post(r"/api/v1/doors/{door_id}/{action:(unlock|lock)}", door_command)
    app.router.add_get("/api/v1/events", events)
    app.router.add_get("/api/v1/cameras/{camera_id}/snapshot.jpg", snapshot)
    app.router.add_get("/api/v1/people", list_people)
    app.router.add_post("/api/v1/people", add_person)
