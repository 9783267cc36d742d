"""The OpenAPI 3.1 document of the cloud's JSON API, served at `OPENAPI_PATH`, built from the router itself.

Every route under ``/api/`` is in the document (a new route appears without anyone listing it); its request,
query and response schemas come from the pydantic models a handler declares with `documented`, or, for the
handlers of modules that predate it, from the `DESCRIBED` table below. A route nobody described is still listed,
with its docstring and a generic JSON body, and marked ``x-outpost-undescribed``.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, TypeVar

from aiohttp import web
from pydantic import BaseModel
from pydantic.json_schema import models_json_schema

from cloud import api, configsync, enrollment, ingest, media, people_api
from cloud.api_models import (
    EnrollmentCodeOut,
    EnrollmentCodeRequest,
    LoginRequest,
    RecordList,
    SessionInfo,
    SiteList,
    SiteOut,
)
from cloud.people_models import BadgeIn, ConflictList, PersonFields, PersonIn, PersonList, PersonOut, PolicyList
from cloud.permissions import public
from sync.downlink import ConfigReport, SiteConfigDocument
from sync.media import MediaState
from sync.wire import BadRecordsBody, EnrollRequest, EnrollResponse, ErrorBody, SyncAck, SyncBatch

OPENAPI_PATH = "/api/v1/openapi.json"
API_VERSION = "1"
CSV_MEDIA_TYPE = "text/csv"
H = TypeVar("H", bound=Callable[..., Any])


@dataclass(frozen=True)
class Operation:
    """What a JSON route takes and answers."""

    response: type[BaseModel] | None = None
    request: type[BaseModel] | None = None
    query: type[BaseModel] | None = None
    status: int = 200
    csv: bool = False
    errors: tuple[int, ...] = (400, 401, 403, 404)


def documented(
    response: type[BaseModel] | None = None,
    *,
    request: type[BaseModel] | None = None,
    query: type[BaseModel] | None = None,
    status: int = 200,
    csv: bool = False,
    errors: tuple[int, ...] = (400, 401, 403, 404),
) -> Callable[[H], H]:
    """Declare a handler's models (and error statuses) for the OpenAPI document."""

    def mark(handler: H) -> H:
        handler.__openapi__ = Operation(response, request, query, status, csv, errors)  # type: ignore[attr-defined]
        return handler

    return mark


# Handlers of modules written before `documented`: described here instead of in each module.
DESCRIBED: dict[Callable[..., Any], Operation] = {
    api.handle_login: Operation(SessionInfo, LoginRequest, errors=(400, 401, 429)),
    api.handle_logout: Operation(None, status=204),
    api.handle_sites: Operation(SiteList),
    api.handle_site: Operation(SiteOut),
    api.handle_site_records: Operation(RecordList),
    api.handle_revoke_site: Operation(SiteOut),
    api.handle_create_code: Operation(EnrollmentCodeOut, EnrollmentCodeRequest, status=201),
    people_api.handle_people: Operation(PersonList),
    people_api.handle_create_person: Operation(PersonOut, PersonIn, status=201),
    people_api.handle_person: Operation(PersonOut),
    people_api.handle_update_person: Operation(PersonOut, PersonFields),
    people_api.handle_remove_person: Operation(PersonOut),
    people_api.handle_add_badge: Operation(PersonOut, BadgeIn, status=201),
    people_api.handle_revoke_badge: Operation(PersonOut),
    people_api.handle_site_policy: Operation(PolicyList),
    people_api.handle_put_policy: Operation(PolicyList),
    people_api.handle_delete_policy: Operation(PolicyList),
    people_api.handle_conflicts: Operation(ConflictList),
    ingest.handle_sync_batch: Operation(SyncAck, SyncBatch, errors=(400, 401, 403, 409, 413, 422)),
    enrollment.handle_enroll: Operation(EnrollResponse, EnrollRequest, errors=(400, 404, 409, 410, 429)),
    configsync.handle_config_pull: Operation(SiteConfigDocument, errors=(401, 403)),
    configsync.handle_config_report: Operation(None, ConfigReport, status=204, errors=(400, 401, 403)),
    media.handle_media_state: Operation(MediaState, errors=(400, 401, 403, 404)),
    media.handle_media_chunk: Operation(MediaState, errors=(400, 401, 403, 409, 413)),
}


def operation_of(handler: Callable[..., Any]) -> Operation | None:
    """The handler's declared models, if any."""
    declared: Operation | None = getattr(handler, "__openapi__", None)
    return declared or DESCRIBED.get(handler)


def _summary(handler: Callable[..., Any]) -> str:
    doc = (handler.__doc__ or "").strip().splitlines()
    return doc[0] if doc else handler.__name__


def _json(schema: dict[str, Any]) -> dict[str, Any]:
    return {"application/json": {"schema": schema}}


def _query_parameters(model: type[BaseModel]) -> list[dict[str, Any]]:
    schema = model.model_json_schema(by_alias=True)
    return [
        {"name": name, "in": "query", "required": False, "description": prop.get("description", ""), "schema": prop}
        for name, prop in schema.get("properties", {}).items()
    ]


def _models(ops: list[Operation]) -> list[type[BaseModel]]:
    models: dict[str, type[BaseModel]] = {"ErrorBody": ErrorBody, "BadRecordsBody": BadRecordsBody}
    for op in ops:
        for model in (op.response, op.request):
            if model is not None:
                models[model.__name__] = model
    return list(models.values())


def build(app: web.Application) -> dict[str, Any]:
    """The OpenAPI document of every ``/api/`` route of `app`'s router."""
    routes: list[tuple[str, str, Callable[..., Any], Operation | None]] = []
    for route in app.router.routes():
        path = route.resource.canonical if route.resource is not None else ""
        if not path.startswith("/api/") or route.method == "HEAD":
            continue
        routes.append((path, route.method.lower(), route.handler, operation_of(route.handler)))
    known = [op for *_, op in routes if op is not None]
    _, defs = models_json_schema(
        [(m, "serialization") for m in _models(known)] + [(m, "validation") for m in _request_models(known)],
        ref_template="#/components/schemas/{model}",
    )
    paths: dict[str, dict[str, Any]] = {}
    for path, method, handler, op in routes:
        paths.setdefault(path, {})[method] = _operation(path, method, handler, op)
    return {
        "openapi": "3.1.0",
        "info": {"title": "Outpost cloud API", "version": API_VERSION},
        "paths": paths,
        "components": {"schemas": defs.get("$defs", {})},
    }


def _request_models(ops: list[Operation]) -> list[type[BaseModel]]:
    return [op.request for op in ops if op.request is not None]


def _ref(model: type[BaseModel]) -> dict[str, Any]:
    return {"$ref": f"#/components/schemas/{model.__name__}"}


def _operation(path: str, method: str, handler: Callable[..., Any], op: Operation | None) -> dict[str, Any]:
    described: dict[str, Any] = {
        "summary": _summary(handler),
        "operationId": f"{method}_{re.sub(r'[^a-z0-9]+', '_', path.lower()).strip('_')}",
    }
    params = [
        {"name": name, "in": "path", "required": True, "schema": {"type": "string"}}
        for name in re.findall(r"{(\w+)}", path)
    ]
    if op is None:
        described["x-outpost-undescribed"] = True
        described["responses"] = {"default": {"description": "JSON answer", "content": _json({})}}
        if params:
            described["parameters"] = params
        return described
    if op.query is not None:
        params += _query_parameters(op.query)
    if params:
        described["parameters"] = params
    if op.request is not None:
        described["requestBody"] = {"required": True, "content": _json(_ref(op.request))}
    ok: dict[str, Any] = {"description": "Success"}
    if op.response is not None:
        ok["content"] = _json(_ref(op.response))
        if op.csv:
            ok["content"][CSV_MEDIA_TYPE] = {"schema": {"type": "string"}}
    responses: dict[str, Any] = {str(op.status): ok}
    for status in op.errors:
        responses[str(status)] = {"description": "Error", "content": _json(_ref(ErrorBody))}
    if handler is ingest.handle_sync_batch:
        responses["422"] = {"description": "Bad records", "content": _json(_ref(BadRecordsBody))}
    described["responses"] = responses
    return described


@public
async def handle_openapi(request: web.Request) -> web.Response:
    """GET /api/v1/openapi.json: the OpenAPI document of this cloud's JSON API."""
    return web.json_response(build(request.app))


DESCRIBED[handle_openapi] = Operation(None, errors=())
