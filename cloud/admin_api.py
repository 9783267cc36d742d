"""JSON API of tenant administration: the audit log (for integrations holding an API key with audit.read)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from aiohttp import web
from pydantic import BaseModel, ValidationError

from cloud import audit
from cloud.admin_forms import AuditQuery
from cloud.appkeys import DB
from cloud.auth import require_principal
from cloud.openapi import documented
from cloud.permissions import requires
from cloud.responses import invalid_request, json_model

AUDIT_API_PATH = "/api/v1/audit"
PER_PAGE = 100


class AuditEntryOut(BaseModel):
    """One audit entry: who did what, on what, when, from where."""

    at: datetime
    actor: str
    action: str
    target: str
    detail: dict[str, Any]
    ip: str
    user_agent: str


class AuditList(BaseModel):
    """`GET /api/v1/audit`: one page of the tenant's audit log, newest first."""

    entries: list[AuditEntryOut]
    total: int
    page: int
    pages: int


@requires("audit.read")
@documented(AuditList, query=AuditQuery)
async def handle_audit(request: web.Request) -> web.Response:
    """GET /api/v1/audit?actor=&action=&since=&until=&page=: the audit log, newest first, 100 a page."""
    principal = require_principal(request)
    try:
        query = AuditQuery.model_validate(dict(request.query))
    except ValidationError as err:
        return invalid_request(err)
    filters = audit.AuditFilter(actor=query.actor, action=query.action, since=query.since_at, until=query.until_at)
    async with request.app[DB]() as session:
        entries, total = await audit.page_of(session, principal.tenant_id, filters, query.page, PER_PAGE)
    return json_model(
        AuditList(
            entries=[AuditEntryOut.model_validate(e, from_attributes=True) for e in entries],
            total=total,
            page=query.page,
            pages=max(1, -(-total // PER_PAGE)),
        )
    )


def add_routes(router: web.UrlDispatcher) -> None:
    """Register the administration API."""
    router.add_get(AUDIT_API_PATH, handle_audit)
