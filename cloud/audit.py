"""The audit log: every change made through the portal or the API, by whom, when and from where.

`audit_middleware` writes one entry for every successful unsafe request (POST, PUT, PATCH, DELETE) made by a
logged-in user or an API key, so a new route is audited without doing anything; a handler may name the action
and add details with `describe`. Reads are not logged. Entries are tenant-owned (read through `tenant_audit`).
"""

from __future__ import annotations

import csv
import io
import logging
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from aiohttp import web
from aiohttp.typedefs import Handler
from sqlalchemy import Select, func, select
from sqlalchemy.ext.asyncio import AsyncSession

from cloud.appkeys import DB
from cloud.auth import PRINCIPAL
from cloud.db.models import AuditEntry, utcnow
from cloud.responses import client_ip
from cloud.tenancy import Principal

log = logging.getLogger(__name__)

UNSAFE_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})
# Session plumbing, not admin actions.
NOT_AUDITED_PATHS = frozenset({"/logout", "/api/v1/logout", "/login", "/api/v1/login"})
MAX_USER_AGENT = 300


@dataclass
class AuditNote:
    """What a handler says about its action (otherwise the method and route name it)."""

    action: str
    target: str = ""
    detail: dict[str, Any] = field(default_factory=dict)


AUDIT_NOTE = web.RequestKey("audit_note", AuditNote)


def describe(request: web.Request, action: str, target: str = "", **detail: Any) -> None:
    """Name the request's action for the audit log (e.g. "user.invite", target the user's e-mail)."""
    request[AUDIT_NOTE] = AuditNote(action=action, target=target, detail=detail)


def tenant_audit(tenant_id: str) -> Select[AuditEntry]:
    """Return a query of `tenant_id`'s audit entries."""
    return select(AuditEntry).where(AuditEntry.tenant_id == tenant_id)


def entry_for(request: web.Request, principal: Principal, status: int) -> AuditEntry:
    """Build the audit entry of a finished request."""
    note = request.get(AUDIT_NOTE)
    resource = request.match_info.route.resource
    route = resource.canonical if resource is not None else request.path
    detail: dict[str, Any] = {"status": status}
    if note is not None:
        detail.update(note.detail)
    return AuditEntry(
        tenant_id=principal.tenant_id,
        at=utcnow(),
        actor=principal.actor[:320],
        action=(note.action if note else f"{request.method} {route}")[:64],
        target=(note.target if note else request.path)[:500],
        detail=detail,
        ip=client_ip(request)[:64],
        user_agent=request.headers.get("User-Agent", "")[:MAX_USER_AGENT],
    )


@web.middleware
async def audit_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Log every successful unsafe request of a user or API key (after the handler answered)."""
    response = await handler(request)
    if request.method not in UNSAFE_METHODS or request.path in NOT_AUDITED_PATHS or response.status >= 400:
        return response
    principal = request.get(PRINCIPAL)
    if principal is None:
        return response
    try:
        async with request.app[DB].begin() as session:
            session.add(entry_for(request, principal, response.status))
    except Exception:  # the action is done; a failed log write must not turn it into an error
        log.exception("audit entry for %s %s not written", request.method, request.path)
    return response


@dataclass(frozen=True)
class AuditFilter:
    """Filters of the audit page and export."""

    actor: str = ""
    action: str = ""
    since: datetime | None = None
    until: datetime | None = None


def filtered(tenant_id: str, filters: AuditFilter) -> Select[AuditEntry]:
    """Return the tenant's audit entries matching `filters`, newest first."""
    query = tenant_audit(tenant_id)
    if filters.actor:
        query = query.where(AuditEntry.actor.contains(filters.actor, autoescape=True))
    if filters.action:
        query = query.where(AuditEntry.action.contains(filters.action, autoescape=True))
    if filters.since is not None:
        query = query.where(AuditEntry.at >= filters.since)
    if filters.until is not None:
        query = query.where(AuditEntry.at < filters.until)
    return query.order_by(AuditEntry.at.desc(), AuditEntry.id.desc())


async def page_of(
    session: AsyncSession, tenant_id: str, filters: AuditFilter, page: int, per_page: int
) -> tuple[list[AuditEntry], int]:
    """Return one page of matching entries and the number of matching entries."""
    query = filtered(tenant_id, filters)
    total = await session.scalar(select(func.count()).select_from(query.order_by(None).subquery())) or 0
    rows = await session.scalars(query.offset((page - 1) * per_page).limit(per_page))
    return list(rows), total


CSV_COLUMNS: Sequence[str] = ("at", "actor", "action", "target", "ip", "user_agent", "detail")


def to_csv(entries: Iterable[AuditEntry]) -> str:
    """Render entries as CSV (UTC ISO times; detail as key=value pairs)."""
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(CSV_COLUMNS)
    for e in entries:
        detail = "; ".join(f"{k}={v}" for k, v in sorted(e.detail.items()))
        cells = [e.at.isoformat(), e.actor, e.action, e.target, e.ip, e.user_agent, detail]
        # A cell starting with = + - @ would be a formula in a spreadsheet: quote it as text.
        writer.writerow([f"'{c}" if c[:1] in ("=", "+", "-", "@") else c for c in cells])
    return out.getvalue()
