"""JSON REST API of the edge console."""

from __future__ import annotations

import asyncio
import json
from typing import TypeVar
from urllib.parse import urlencode

from aiohttp import web
from pydantic import BaseModel, ValidationError

from edge import keys
from edge.access.alarms import UnknownAlarm
from edge.access.credentials import CredentialFormatError, CredentialInUse, UnknownCredential, UnknownPerson
from edge.access.people import DuressPinConflict, UnknownLevel
from edge.access.service import DoorOffline, UnknownDoor, UnknownZone
from edge.access.snapshot import CredentialSnapshot, SnapshotConflict, SnapshotRejected, applied_version
from edge.storage import event_query
from edge.storage.backup import LastBackup, last_backup
from edge.vision.pipeline import CameraPipeline
from edge.web.access_view import lockdowns_json, pin_lockouts_json
from edge.web.auth import SESSION
from edge.web.door_frames_view import door_frame_links
from edge.web.event_filters import EventQueryIn, invalid_detail
from edge.web.forms import AlarmAckIn, CredentialPath, LockdownIn, PersonIn, PersonPatch, PinLockoutClearIn
from edge.web.live_updates import event_json
from edge.web.sync_view import sync_status
from observability.version import software_version
from webguard.params import parse_id

Body = TypeVar("Body", bound=BaseModel)


async def _body(request: web.Request, model: type[Body]) -> Body:
    """Parse the JSON body into `model`; a body that does not fit is a 400 naming what is wrong."""
    try:
        return model.model_validate_json(await request.read())
    except ValidationError as err:
        detail = err.errors(include_url=False, include_context=False, include_input=False)
        raise web.HTTPBadRequest(
            text=json.dumps({"error": "invalid_body", "detail": detail}), content_type="application/json"
        ) from err


def _error(code: str, status: int, detail: str = "") -> web.Response:
    return web.json_response({"error": code, "detail": detail}, status=status)


def _last_backup_json(backup: LastBackup | None) -> dict[str, str] | None:
    return None if backup is None else {"at": backup.at.isoformat(), "archive": backup.archive.name}


async def status(request: web.Request) -> web.Response:
    """Site overview: doors, devices, cameras, sync and message counters."""
    app = request.app
    state = app[keys.SITE_STATE]
    gateway = app[keys.GATEWAY]
    return web.json_response(
        {
            "site": app[keys.CONFIG].site.model_dump(),
            "software_version": software_version(),
            "last_backup": _last_backup_json(await asyncio.to_thread(last_backup, app[keys.CONFIG].storage.data_dir)),
            "doors": [d.as_json() for d in state.doors.values()],
            "lockdowns": lockdowns_json(app[keys.ACCESS]),
            "zones": [{"id": z.id, "name": z.name, "passback": z.passback} for z in app[keys.CONFIG].zones],
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
                **{
                    cid: {"state": "detection_disabled", "last_error": why}
                    for cid, why in app[keys.CAMERA_FAULTS].items()
                },
                **{cid: _camera_status(p) for cid, p in app[keys.CAMERAS].items()},
            },
            "sync": await sync_status(app),
            "mqtt": {
                **gateway.stats(),
                "acl_denied": app[keys.BROKER].directory.denied,
                "connects_refused": dict(app[keys.BROKER].refused_connects),
            },
        }
    )


def _camera_status(pipeline: CameraPipeline) -> dict[str, object]:
    st = pipeline.status
    return {
        "state": st.state,
        "frames_processed": st.frames_processed,
        "last_frame_at": st.last_frame_at.isoformat() if st.last_frame_at else None,
        "events_emitted": st.events_emitted,
        "detector_runs": st.detector_runs,
        "tracks_active": st.tracks_active,
        "reconnects": st.reconnects,
        "last_error": st.last_error,
        "retry_at": st.retry_at.isoformat() if st.retry_at else None,
    }


async def camera_analytics(request: web.Request) -> web.Response:
    """Live occupancy per zone, line counts and tracks of one camera."""
    pipeline = request.app[keys.CAMERAS].get(request.match_info["camera_id"])
    if pipeline is None:
        return web.json_response({"error": "unknown_camera"}, status=404)
    return web.json_response(pipeline.analytics())


async def doors(request: web.Request) -> web.Response:
    """List doors with their observed state."""
    return web.json_response([d.as_json() for d in request.app[keys.SITE_STATE].doors.values()])


async def door_command(request: web.Request) -> web.Response:
    """Lock or unlock a door."""
    action = request.match_info["action"]
    by = request[SESSION].username
    try:
        command = await request.app[keys.ACCESS].command_door(request.match_info["door_id"], action, by)
    except UnknownDoor:
        return web.json_response({"error": "unknown_door"}, status=404)
    except DoorOffline as err:
        return _error("door_offline", 409, str(err))
    return web.json_response({"command_id": command.id, "action": command.action}, status=202)


async def events(request: web.Request) -> web.Response:
    """Events newest first, filtered (kind, door, camera, zone, person, person_id, from, to) in keyset pages.

    The next (older) page is in the ``Link`` header (``rel="next"``, cursor ``before``); ``after`` pages back.
    Door snapshot events are not listed: each record carries its ``door_frame``.
    """
    config = request.app[keys.CONFIG]
    try:
        query = EventQueryIn.from_query(request.query)
    except ValidationError as err:
        return _error("invalid_query", 400, invalid_detail(err))
    result = await event_query.page(
        request.app[keys.DATABASE], query.to_filter(config), query.limit, query.before, query.after
    )
    snapshots = await event_query.snapshots_of(request.app[keys.DATABASE], [e.id for e in result.entries])
    frames = door_frame_links(sorted(snapshots, key=lambda e: e.id))  # the thumbnail beside each pictured record
    response = web.json_response([event_json(e, frames) for e in result.entries])
    if result.older is not None:
        params = {**query.query_string_items(), "limit": str(query.limit), "before": result.older.encode()}
        response.headers["Link"] = f'</api/v1/events?{urlencode(params)}>; rel="next"'
    return response


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
    """Add a person with credentials (and optionally levels, role, PIN)."""
    body = await _body(request, PersonIn)
    try:
        person_id = await request.app[keys.PEOPLE].add_person(
            body.name,
            body.credentials,
            request[SESSION].username,
            valid_from=body.valid_from,
            valid_until=body.valid_until,
            levels=body.levels,
            role=body.role,
            pin=body.pin,
            duress_pin=body.duress_pin,
        )
    except (UnknownLevel, CredentialFormatError, DuressPinConflict) as err:
        return _error("invalid_value", 422, str(err))
    except CredentialInUse as err:
        return _error("credential_in_use", 409, str(err))
    return web.json_response({"id": person_id}, status=201)


def _path_id(request: web.Request, name: str) -> int | None:
    """The integer id in path segment `name`, or None (answer 404) unless ASCII digits within 64 bits."""
    return parse_id(request.match_info[name])


async def get_person(request: web.Request) -> web.Response:
    """One person with credentials, levels, role and validity (whether a PIN is set, never the PIN)."""
    person_id = _path_id(request, "person_id")
    if person_id is None:
        return _error("unknown_person", 404)
    try:
        return web.json_response(await request.app[keys.CREDENTIALS].get_person(person_id))
    except UnknownPerson:
        return _error("unknown_person", 404)


async def patch_person(request: web.Request) -> web.Response:
    """Suspend/activate a person, assign levels, set role, validity or PIN; audited."""
    person_id = _path_id(request, "person_id")
    if person_id is None:
        return _error("unknown_person", 404)
    body = await _body(request, PersonPatch)
    fields = {name: getattr(body, name) for name in body.model_fields_set}
    try:
        await request.app[keys.PEOPLE].update_person(person_id, fields, request[SESSION].username)
    except UnknownPerson:
        return _error("unknown_person", 404)
    except (UnknownLevel, DuressPinConflict) as err:
        return _error("invalid_value", 422, str(err))
    return web.json_response(await request.app[keys.CREDENTIALS].get_person(person_id))


async def revoke_credential(request: web.Request) -> web.Response:
    """Revoke one badge of a person on the box (emergency revoke); audited and queued for HQ, where it wins."""
    person_id = _path_id(request, "person_id")
    if person_id is None:
        return _error("unknown_person", 404)
    try:
        await request.app[keys.PEOPLE].revoke_credential(
            person_id, request.match_info["number"], request[SESSION].username
        )
    except (UnknownPerson, UnknownCredential):
        return _error("unknown_credential", 404)
    except CredentialFormatError as err:
        return _error("invalid_value", 422, str(err))
    return web.json_response(await request.app[keys.CREDENTIALS].get_person(person_id))


async def get_lockdown(request: web.Request) -> web.Response:
    """Active lockdowns."""
    return web.json_response({"lockdowns": lockdowns_json(request.app[keys.ACCESS])})


async def put_lockdown(request: web.Request) -> web.Response:
    """Start or lift a lockdown of the site or a zone; audited."""
    body = await _body(request, LockdownIn)
    access = request.app[keys.ACCESS]
    try:
        changed = await access.set_lockdown(body.zone, body.active, request[SESSION].username, body.reason)
    except UnknownZone:
        return _error("unknown_zone", 404)
    return web.json_response({"changed": changed, "lockdowns": lockdowns_json(access)})


async def get_snapshot_version(request: web.Request) -> web.Response:
    """The version of the last applied credential snapshot."""
    return web.json_response({"version": await applied_version(request.app[keys.DATABASE])})


async def put_snapshot(request: web.Request) -> web.Response:
    """Apply a full or delta credential snapshot in one transaction (idempotent; older versions ignored)."""
    body = await _body(request, CredentialSnapshot)
    try:
        result = await request.app[keys.PEOPLE].apply_credential_snapshot(body, by=request[SESSION].username)
    except SnapshotConflict as err:
        return _error("version_conflict", 409, str(err))
    except SnapshotRejected as err:
        return _error("snapshot_rejected", 422, str(err))
    return web.json_response(result.as_json())


async def list_alarms(request: web.Request) -> web.Response:
    """The open alarms (not yet both cleared and acknowledged), most recently raised first."""
    alarms = await request.app[keys.ACCESS].supervisor.alarms.open_alarms()
    return web.json_response([a.as_json() for a in alarms])


async def ack_alarm(request: web.Request) -> web.Response:
    """Acknowledge an alarm with an optional comment (journaled; acknowledging again changes nothing)."""
    alarm_id = _path_id(request, "alarm_id")
    if alarm_id is None:
        return _error("unknown_alarm", 404)
    body = await _body(request, AlarmAckIn)
    try:
        record = await request.app[keys.ACCESS].supervisor.acknowledge(
            alarm_id, request[SESSION].username, body.comment.strip()
        )
    except UnknownAlarm:
        return _error("unknown_alarm", 404)
    return web.json_response(record.as_json())


async def list_pin_lockouts(request: web.Request) -> web.Response:
    """Credentials locked out after too many wrong PINs."""
    return web.json_response({"lockouts": pin_lockouts_json(request.app[keys.ACCESS])})


async def clear_pin_lockout(request: web.Request) -> web.Response:
    """End a credential's PIN lockout (optional body ``{"reason": ...}``); audited with who cleared it."""
    try:
        path = CredentialPath.model_validate({"credential": request.match_info["credential"]})
        body = await _body(request, PinLockoutClearIn) if await request.read() else PinLockoutClearIn()
    except ValidationError as err:
        detail = err.errors(include_url=False, include_context=False, include_input=False)
        return web.json_response({"error": "invalid_value", "detail": detail}, status=400)
    access = request.app[keys.ACCESS]
    try:
        lockout = await access.clear_pin_lockout(path.credential, request[SESSION].username, body.reason)
    except CredentialFormatError as err:
        return _error("invalid_value", 400, str(err))
    if lockout is None:
        return _error("not_locked_out", 404)
    return web.json_response({"cleared": lockout.as_json(), "lockouts": pin_lockouts_json(access)})


def add_routes(app: web.Application) -> None:
    """Register the API routes."""
    app.router.add_get("/api/v1/status", status)
    app.router.add_get("/api/v1/doors", doors)
    app.router.add_post(r"/api/v1/doors/{door_id}/{action:(unlock|lock)}", door_command)
    app.router.add_get("/api/v1/events", events)
    app.router.add_get("/api/v1/cameras/{camera_id}/snapshot.jpg", snapshot)
    app.router.add_get("/api/v1/cameras/{camera_id}/analytics", camera_analytics)
    app.router.add_get("/api/v1/people", list_people)
    app.router.add_post("/api/v1/people", add_person)
    app.router.add_get(r"/api/v1/people/{person_id}", get_person)
    app.router.add_patch(r"/api/v1/people/{person_id}", patch_person)
    app.router.add_post(r"/api/v1/people/{person_id}/credentials/{number:.+}/revoke", revoke_credential)
    app.router.add_get("/api/v1/access/lockdown", get_lockdown)
    app.router.add_put("/api/v1/access/lockdown", put_lockdown)
    app.router.add_get("/api/v1/access/snapshot", get_snapshot_version)
    app.router.add_put("/api/v1/access/snapshot", put_snapshot)
    app.router.add_get("/api/v1/alarms", list_alarms)
    app.router.add_post("/api/v1/alarms/{alarm_id}/ack", ack_alarm)
    app.router.add_get("/api/v1/access/pin-lockouts", list_pin_lockouts)
    app.router.add_post(r"/api/v1/access/pin-lockouts/{credential:.+}/clear", clear_pin_lockout)
