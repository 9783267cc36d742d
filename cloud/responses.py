"""JSON answers of the cloud API: pydantic models out, `ErrorBody` for every error under /api/."""

from __future__ import annotations

import logging
from http import HTTPStatus

from aiohttp import web
from aiohttp.typedefs import Handler
from pydantic import BaseModel, ValidationError

from cloud.config import format_validation_error
from sync.wire import ErrorBody
from webguard.ratelimit import RateLimited

log = logging.getLogger(__name__)

API_PREFIX = "/api/"


def is_api_request(request: web.Request) -> bool:
    """Return whether the request targets the JSON API (as opposed to the HTML portal)."""
    return request.path.startswith(API_PREFIX)


def client_ip(request: web.Request) -> str:
    """Return the peer address of the request's connection (behind a reverse proxy: the proxy's)."""
    return request.remote or "unknown"


def json_model(model: BaseModel, status: int = 200) -> web.Response:
    """Answer with a pydantic model serialised as JSON."""
    return web.Response(body=model.model_dump_json().encode(), status=status, content_type="application/json")


def error_response(status: int, error: str, detail: str = "") -> web.Response:
    """Answer with an `ErrorBody`."""
    return json_model(ErrorBody(error=error, detail=detail), status=status)


def api_error(cls: type[web.HTTPException], error: str, detail: str) -> web.HTTPException:
    """Return an HTTP exception whose body is an `ErrorBody` (for raising from helpers and middleware)."""
    return cls(text=ErrorBody(error=error, detail=detail).model_dump_json(), content_type="application/json")


def too_many_attempts(err: RateLimited) -> web.Response:
    """Answer 429 `rate_limited` with a Retry-After header."""
    response = error_response(429, "rate_limited", f"too many attempts; retry in {err.retry_after} s")
    response.headers["Retry-After"] = str(err.retry_after)
    return response


def invalid_request(err: ValidationError) -> web.Response:
    """Answer 400 with the pydantic validation problems as `key: message` lines."""
    return error_response(400, "invalid_request", format_validation_error(err, root="(body)"))


def _error_code(status: int) -> str:
    try:
        return HTTPStatus(status).phrase.lower().replace(" ", "_")
    except ValueError:
        return "http_error"


@web.middleware
async def api_error_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Turn aiohttp's plain-text errors (404 route, 405, 413 body too large) into `ErrorBody` under /api/."""
    if not is_api_request(request):
        return await handler(request)
    try:
        return await handler(request)
    except web.HTTPException as exc:
        if exc.status < 400 or exc.content_type == "application/json":
            raise
        return error_response(exc.status, _error_code(exc.status), exc.text or exc.reason)


@web.middleware
async def reject_nul_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Answer 400 to a NUL character anywhere in the decoded path or query: PostgreSQL text cannot hold one."""
    if "\x00" in request.path or "\x00" in request.query_string:
        raise api_error(web.HTTPBadRequest, "bad_request", "NUL characters are not allowed in the URL")
    return await handler(request)
