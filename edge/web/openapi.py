"""The OpenAPI 3.1 document of the edge console's JSON API, served at `OPENAPI_PATH`, built from the router itself.

Every route under ``/api/`` is in the document. What a handler takes and answers is in `DESCRIBED` (request body
and query models are the pydantic models the handlers validate with); a route nobody described is still listed,
marked ``x-outpost-undescribed`` (the router test fails on it, so a new route gets described when it is added).
Most handlers answer hand-built JSON, so success bodies are described by their shape (object or array); every
error answers ``{"error": ..., "detail"?: ...}``.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from aiohttp import web
from pydantic import BaseModel
from pydantic.json_schema import models_json_schema

from edge.access.snapshot import CredentialSnapshot
from edge.camera_regions import CameraRegionsIn
from edge.web import (
    api,
    cameras_view,
    door_frames_view,
    event_filters,
    homeassistant_view,
    live,
    live_updates,
    muster_view,
    rules_view,
    sync_view,
    system_view,
)
from edge.web.forms import AlarmAckIn, LockdownIn, PersonIn, PersonPatch, PinLockoutClearIn
from sync.rules import Rule

OPENAPI_PATH = "/api/v1/openapi.json"
API_VERSION = "1"
JSON = "application/json"
JPEG = "image/jpeg"
MJPEG = "multipart/x-mixed-replace"
SSE = "text/event-stream"
# Every authenticated route can answer these: no session (401), cross-origin or missing CSRF token (403).
AUTH_ERRORS = (401, 403)
ERROR_BODY: dict[str, Any] = {
    "type": "object",
    "required": ["error"],
    "properties": {"error": {"type": "string"}, "detail": {}},
}


@dataclass(frozen=True)
class Operation:
    """What a route takes and answers."""

    shape: str = "object"  # "object" or "array" of JSON, or a media type for binary answers
    request: type[BaseModel] | None = None
    body_optional: bool = False
    query: tuple[dict[str, Any], ...] = ()
    status: int = 200
    errors: tuple[int, ...] = ()
    path_enums: tuple[tuple[str, tuple[str, ...]], ...] = ()


_EVENTS_QUERY = tuple({"in": "query", "required": False, **param} for param in event_filters.OPENAPI_PARAMETERS)

DESCRIBED: dict[Callable[..., Any], Operation] = {
    api.status: Operation(),
    api.doors: Operation("array"),
    api.door_command: Operation(status=202, errors=(404, 409), path_enums=(("action", ("unlock", "lock")),)),
    api.events: Operation("array", query=_EVENTS_QUERY, errors=(400,)),
    api.snapshot: Operation(JPEG, errors=(404,)),
    api.camera_analytics: Operation(errors=(404,)),
    api.list_people: Operation("array"),
    api.add_person: Operation(request=PersonIn, status=201, errors=(400, 409, 422)),
    api.get_person: Operation(errors=(404,)),
    api.patch_person: Operation(request=PersonPatch, errors=(400, 404, 422)),
    api.revoke_credential: Operation(errors=(404, 422)),
    api.get_lockdown: Operation(),
    api.put_lockdown: Operation(request=LockdownIn, errors=(400, 404)),
    api.get_snapshot_version: Operation(),
    api.put_snapshot: Operation(request=CredentialSnapshot, errors=(400, 409, 422)),
    api.list_alarms: Operation("array"),
    api.ack_alarm: Operation(request=AlarmAckIn, errors=(400, 404)),
    api.list_pin_lockouts: Operation(),
    api.clear_pin_lockout: Operation(request=PinLockoutClearIn, body_optional=True, errors=(400, 404)),
    cameras_view.get_regions: Operation(errors=(404,)),
    cameras_view.put_regions: Operation(request=CameraRegionsIn, errors=(400, 404, 409, 422)),
    cameras_view.get_tracks: Operation("array", errors=(404,)),
    system_view.get_system: Operation(),
    door_frames_view.get_door_frame: Operation(JPEG, errors=(404,)),
    homeassistant_view.get_home_assistant: Operation(),
    muster_view.get_muster: Operation(),
    live.live_mjpeg: Operation(MJPEG, errors=(404, 503)),
    live_updates.live_stream: Operation(SSE),
    rules_view.api_list: Operation("array"),
    rules_view.api_put: Operation(request=Rule, errors=(422,)),
    rules_view.api_delete: Operation(errors=(404,)),
    rules_view.api_history: Operation("array"),
    sync_view.get_sync: Operation(errors=(404,)),
    sync_view.retry_sync: Operation(status=202, errors=(404,)),
    sync_view.release_quarantine: Operation(request=sync_view.ReleaseIn, body_optional=True, errors=(400, 404)),
}


def _summary(handler: Callable[..., Any]) -> str:
    doc = (handler.__doc__ or "").strip().splitlines()
    return doc[0] if doc else handler.__name__


# Each Server-Sent Event of GET /api/v1/live: its name (hello, update, ping) and its JSON data.
SSE_EVENT: dict[str, Any] = {
    "type": "object",
    "required": ["event", "data"],
    "properties": {"event": {"type": "string"}, "data": {"type": "string"}, "retry": {"type": "integer"}},
}


def _success_content(shape: str) -> dict[str, Any]:
    if shape in ("object", "array"):
        return {JSON: {"schema": {"type": shape}}}
    if shape == SSE:
        return {SSE: {"schema": SSE_EVENT}}
    return {shape: {"schema": {"type": "string", "format": "binary"}}}


def _operation(path: str, method: str, handler: Callable[..., Any], op: Operation | None) -> dict[str, Any]:
    described: dict[str, Any] = {
        "summary": _summary(handler),
        "operationId": f"{method}_{re.sub(r'[^a-z0-9]+', '_', path.lower()).strip('_')}",
    }
    enums = dict(op.path_enums) if op else {}
    params: list[dict[str, Any]] = [
        {
            "name": name,
            "in": "path",
            "required": True,
            "schema": {"type": "string", "enum": list(enums[name])} if name in enums else {"type": "string"},
        }
        for name in re.findall(r"{(\w+)}", path)
    ]
    if op is None:
        described["x-outpost-undescribed"] = True
        described["responses"] = {"default": {"description": "JSON answer", "content": {JSON: {"schema": {}}}}}
        if params:
            described["parameters"] = params
        return described
    params += list(op.query)
    if params:
        described["parameters"] = params
    if op.request is not None:
        schema = {"$ref": f"#/components/schemas/{op.request.__name__}"}
        described["requestBody"] = {"required": not op.body_optional, "content": {JSON: {"schema": schema}}}
    responses: dict[str, Any] = {str(op.status): {"description": "Success", "content": _success_content(op.shape)}}
    for status in sorted({*AUTH_ERRORS, *op.errors}):
        error = {"$ref": "#/components/schemas/ErrorBody"}
        responses[str(status)] = {"description": "Error", "content": {JSON: {"schema": error}}}
    described["responses"] = responses
    return described


def api_routes(app: web.Application) -> list[tuple[str, str, Callable[..., Any]]]:
    """(path template, lower-case method, handler) of every ``/api/`` route of `app`'s router."""
    found = []
    for route in app.router.routes():
        path = route.resource.canonical if route.resource is not None else ""
        if path.startswith("/api/") and route.method != "HEAD":
            found.append((path, route.method.lower(), route.handler))
    return found


def build(app: web.Application) -> dict[str, Any]:
    """The OpenAPI document of every ``/api/`` route of `app`'s router."""
    routes = api_routes(app)
    models = {op.request.__name__: op.request for op in DESCRIBED.values() if op.request is not None}
    _, defs = models_json_schema(
        [(m, "validation") for m in models.values()], ref_template="#/components/schemas/{model}"
    )
    paths: dict[str, dict[str, Any]] = {}
    for path, method, handler in routes:
        paths.setdefault(path, {})[method] = _operation(path, method, handler, DESCRIBED.get(handler))
    return {
        "openapi": "3.1.0",
        "info": {"title": "Outpost edge console API", "version": API_VERSION},
        "paths": paths,
        "components": {
            "schemas": {**defs.get("$defs", {}), "ErrorBody": ERROR_BODY},
            "securitySchemes": {
                "session": {"type": "apiKey", "in": "cookie", "name": "outpost_session"},
                "csrf": {"type": "apiKey", "in": "header", "name": "X-CSRF-Token"},
            },
        },
        "security": [{"session": [], "csrf": []}],
    }


async def handle_openapi(request: web.Request) -> web.Response:
    """GET /api/v1/openapi.json: the OpenAPI document of this console's JSON API."""
    return web.json_response(build(request.app))


DESCRIBED[handle_openapi] = Operation()


def add_routes(app: web.Application) -> None:
    """Register the OpenAPI route."""
    app.router.add_get(OPENAPI_PATH, handle_openapi)
