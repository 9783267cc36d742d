"""Console users and roles (admin only, edge.web.roles) and the audit of console actions."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any
from zoneinfo import ZoneInfo

import aiohttp_jinja2
from aiohttp import web
from pydantic import ValidationError
from sqlalchemy import select

from edge import keys
from edge.storage.schema import events
from edge.web.auth import CONSOLE_AUTH, CSRF_FIELD, SESSION, LastAdmin, UnknownUser, UserExists
from edge.web.forms import ConsoleRoleIn, ConsoleUserIn
from edge.web.roles import ROLES
from webguard.params import parse_id

AUDIT_LIMIT = 200


def _local(when: datetime, tz: ZoneInfo) -> str:
    aware = when if when.tzinfo else when.replace(tzinfo=UTC)
    return aware.astimezone(tz).strftime("%Y-%m-%d %H:%M:%S")


async def _users_page(request: web.Request, error: str | None = None, status: int = 200) -> web.Response:
    site = request.app[keys.CONFIG].site
    tz = ZoneInfo(site.timezone)
    users = await request.app[CONSOLE_AUTH].list_users()
    context: dict[str, Any] = {
        "site": site,
        "session": request[SESSION],
        CSRF_FIELD: request[SESSION].csrf_token,
        "users": [(u, _local(u.created_at, tz)) for u in users],
        "roles": ROLES,
        "error": error,
        "notice": request.query.get("done"),
        "timezone": site.timezone,
    }
    return aiohttp_jinja2.render_template("users.html", request, context, status=status)


async def users_page(request: web.Request) -> web.Response:
    """The console users with their roles; forms to add one, change a role, remove one."""
    return await _users_page(request)


async def _audit(request: web.Request, summary: str, payload: dict[str, Any]) -> None:
    by = request[SESSION].username
    await request.app[keys.JOURNAL].record(
        "audit", {**payload, "by": by}, source=f"console:{by}", summary=f"{by} {summary}"
    )


def _form_error(err: ValidationError) -> str:
    return "; ".join(f"{'.'.join(str(p) for p in e['loc']) or 'form'}: {e['msg']}" for e in err.errors())


async def add_user(request: web.Request) -> web.StreamResponse:
    """Add a console user (audited)."""
    data = await request.post()
    try:
        form = ConsoleUserIn.model_validate({k: str(data.get(k, "")) for k in ("username", "password", "role")})
    except ValidationError as err:
        return await _users_page(request, _form_error(err), 400)
    try:
        await request.app[CONSOLE_AUTH].create_user(form.username, form.password, form.role)
    except UserExists:
        return await _users_page(request, f"A user named {form.username!r} exists already.", 409)
    await _audit(
        request,
        f"added console user {form.username} ({form.role})",
        {"type": "console_user_added", "username": form.username, "role": form.role},
    )
    raise web.HTTPSeeOther(f"/users?done=added+{form.username}")


async def change_role(request: web.Request) -> web.StreamResponse:
    """Change a console user's role (audited); the console always keeps an admin."""
    user_id = parse_id(request.match_info["user_id"])
    data = await request.post()
    try:
        form = ConsoleRoleIn.model_validate({"role": str(data.get("role", ""))})
    except ValidationError as err:
        return await _users_page(request, _form_error(err), 400)
    try:
        if user_id is None:
            raise UnknownUser(request.match_info["user_id"])
        user = await request.app[CONSOLE_AUTH].set_role(user_id, form.role)
    except UnknownUser:
        return await _users_page(request, "No such user.", 404)
    except LastAdmin as err:
        return await _users_page(request, f"Not changed: {err}.", 409)
    await _audit(
        request,
        f"made {user.username} a {form.role}",
        {"type": "console_user_role", "username": user.username, "role": form.role},
    )
    raise web.HTTPSeeOther(f"/users?done={user.username}+is+now+{form.role}")


async def delete_user(request: web.Request) -> web.StreamResponse:
    """Remove a console user and end their sessions (audited); the console always keeps an admin."""
    user_id = parse_id(request.match_info["user_id"])
    try:
        if user_id is None:
            raise UnknownUser(request.match_info["user_id"])
        user = await request.app[CONSOLE_AUTH].delete_user(user_id)
    except UnknownUser:
        return await _users_page(request, "No such user.", 404)
    except LastAdmin as err:
        return await _users_page(request, f"Not removed: {err}.", 409)
    await _audit(
        request, f"removed console user {user.username}", {"type": "console_user_removed", "username": user.username}
    )
    raise web.HTTPSeeOther(f"/users?done=removed+{user.username}")


@aiohttp_jinja2.template("audit.html")
async def audit_page(request: web.Request) -> dict[str, Any]:
    """What console users did (door commands, acknowledgements, people, lockdowns, users), newest first."""
    site = request.app[keys.CONFIG].site
    tz = ZoneInfo(site.timezone)
    query = (
        select(events.c.occurred_at, events.c.source, events.c.summary, events.c.payload)
        .where(events.c.source.like("console:%"))
        .order_by(events.c.id.desc())
        .limit(AUDIT_LIMIT)
    )
    async with request.app[keys.DATABASE].engine.connect() as conn:
        rows = (await conn.execute(query)).all()
    entries = [
        {
            "at": _local(r.occurred_at, tz),
            "by": r.source.removeprefix("console:"),
            "action": str((r.payload or {}).get("type", "")),
            "summary": r.summary,
        }
        for r in rows
    ]
    return {
        "site": site,
        "session": request[SESSION],
        CSRF_FIELD: request[SESSION].csrf_token,
        "entries": entries,
        "timezone": site.timezone,
        "limit": AUDIT_LIMIT,
    }


def add_routes(app: web.Application) -> None:
    """Register the users and audit pages (edge.web.roles keeps them to admins)."""
    app.router.add_get("/users", users_page)
    app.router.add_post("/users", add_user)
    app.router.add_post("/users/{user_id}/role", change_role)
    app.router.add_post("/users/{user_id}/delete", delete_user)
    app.router.add_get("/audit", audit_page)
