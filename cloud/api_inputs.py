"""Reading a JSON API request's inputs: its body as a pydantic model, a path id, a site of the caller's tenant.

Shared by the cloud's API packages (HR, fleet): a bad input is a clear 4xx (`cloud.responses`), never a 500.
"""

from __future__ import annotations

import re
from typing import TypeVar

from aiohttp import web
from pydantic import BaseModel, ValidationError
from sqlalchemy.ext.asyncio import AsyncSession

from cloud.responses import api_error, invalid_request
from cloud.tenancy import Principal, SiteNotFound, TenantScope

KEY = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.:-]{0,63}")
M = TypeVar("M", bound=BaseModel)


class BadBody(Exception):
    """The request body is not the expected model; `response` is the 400 to answer."""

    def __init__(self, response: web.Response) -> None:
        self.response = response


async def body_of(request: web.Request, model: type[M]) -> M:
    """The request's JSON body as `model`, or raise BadBody (400 `invalid_request`)."""
    try:
        return model.model_validate_json(await request.read())
    except ValidationError as err:
        raise BadBody(invalid_request(err)) from err


def key_of(request: web.Request, name: str) -> str:
    """The path id `name`, or 404 when it cannot be one."""
    value = request.match_info[name]
    if KEY.fullmatch(value) is None:
        raise api_error(web.HTTPNotFound, "not_found", f"no such {name.removesuffix('_id')}")
    return value


async def check_site(session: AsyncSession, principal: Principal, site_id: str | None) -> None:
    """404 unless `site_id` (when given) is one of the principal's sites."""
    if site_id is not None:
        try:
            await TenantScope(session, principal).site(site_id)
        except SiteNotFound as err:
            raise api_error(web.HTTPNotFound, "not_found", f"no such site: {site_id}") from err


def wants_csv(request: web.Request) -> bool:
    """Whether the caller asked for CSV (`?format=csv`) rather than JSON."""
    return request.query.get("format") == "csv"
