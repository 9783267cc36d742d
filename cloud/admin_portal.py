"""Portal pages for tenant admins: users (invite, role and sites, disable, reset link), API keys, audit log;
and the public one-time link page that sets a password.

Forms post with the session's CSRF token (checked by the session middleware); permissions are declared on each
route (cloud.permissions). Secrets (links, keys) are rendered in the POST's answer, never in a URL, and shown once.
"""

from __future__ import annotations

import logging
from typing import Any

import aiohttp_jinja2
from aiohttp import web
from pydantic import BaseModel, ValidationError

from cloud import apikeys, audit, users
from cloud.admin_forms import ApiKeyForm, AuditQuery, InviteForm, SetPasswordForm, UserForm, form_data
from cloud.api import site_summaries
from cloud.appkeys import CONFIG, DB
from cloud.auth import require_principal
from cloud.config import format_validation_error
from cloud.db.models import ApiKey
from cloud.mailer import MailError, send_mail
from cloud.permissions import PERMISSIONS, ROLE_DESCRIPTIONS, ROLES, may_grant, public, requires
from cloud.portal import PORTAL_PATH
from cloud.tenancy import Principal, TenantScope

log = logging.getLogger(__name__)

USERS_PATH = f"{PORTAL_PATH}/users"
KEYS_PATH = f"{PORTAL_PATH}/api-keys"
AUDIT_PATH = f"{PORTAL_PATH}/audit"
AUDIT_PER_PAGE = 50
AUDIT_CSV_LIMIT = 100_000


def _see_other(location: str) -> web.Response:
    return web.Response(status=303, headers={"Location": location})


def _base_url(request: web.Request) -> str:
    public_url = request.app[CONFIG].public_url
    return public_url.rstrip("/") if public_url else f"{request.scheme}://{request.host}"


async def _site_names(request: web.Request, principal: Principal) -> dict[str, str]:
    async with request.app[DB]() as session:
        return {s.id: s.name for s in await site_summaries(TenantScope(session, principal))}


def _error(err: ValidationError) -> str:
    return format_validation_error(err, root="(form)")


# --- users ---------------------------------------------------------------------------------------------------


async def _render_users(
    request: web.Request, notice: dict[str, Any] | None = None, form_error: str = "", status: int = 200
) -> web.Response:
    principal = require_principal(request)
    async with request.app[DB]() as session:
        people = await users.list_users(session, principal.tenant_id)
    context = {
        "principal": principal,
        "users": people,
        "sites": await _site_names(request, principal),
        "roles": [(r, ROLE_DESCRIPTIONS[r]) for r in ROLES if may_grant(principal.role, r)],
        "all_roles": ROLES,
        "notice": notice,
        "form_error": form_error,
    }
    return aiohttp_jinja2.render_template("users.html", request, context, status=status)


@requires("users.admin")
async def handle_users_page(request: web.Request) -> web.Response:
    """GET /portal/users: the tenant's users; invite, change, disable."""
    return await _render_users(request)


async def _deliver(request: web.Request, link: users.IssuedLink) -> dict[str, Any]:
    """Mail the link when SMTP is configured; otherwise (or when mailing fails) show it once."""
    url = f"{_base_url(request)}{link.path}"
    smtp = request.app[CONFIG].smtp
    what = "invitation" if link.purpose == "invite" else "password reset link"
    notice: dict[str, Any] = {"email": link.email, "what": what, "expires_at": link.expires_at}
    if smtp is not None:
        subject = "Your Outpost Cloud invitation" if link.purpose == "invite" else "Reset your Outpost password"
        body = (
            f"Open this link to set your Outpost Cloud password (it works once, until "
            f"{link.expires_at:%Y-%m-%d %H:%M} UTC):\n\n{url}\n"
        )
        try:
            await send_mail(smtp, link.email, subject, body)
            notice["mailed"] = True
            return notice
        except MailError as err:
            notice["mail_error"] = str(err)
    notice["url"] = url
    return notice


async def _users_form(request: web.Request, model: type[BaseModel]) -> Any:
    try:
        return model.model_validate(form_data(await request.post()))
    except ValidationError as err:
        raise _UsersFormError(_error(err)) from err


class _UsersFormError(Exception):
    pass


@requires("users.admin")
async def handle_invite(request: web.Request) -> web.Response:
    """POST /portal/users/invite: create the user and mail (or show once) their invitation link."""
    principal = require_principal(request)
    try:
        body: InviteForm = await _users_form(request, InviteForm)
        async with request.app[DB].begin() as session:
            link = await users.invite(session, principal, body.email, body.role, body.site_ids)
    except (_UsersFormError, users.UserAdminError) as err:
        return await _render_users(request, form_error=str(err), status=400)
    audit.describe(request, "user.invite", link.email, role=body.role, sites=body.site_ids or "all")
    return await _render_users(request, notice=await _deliver(request, link))


def _user_id(request: web.Request) -> int:
    raw = request.match_info["user_id"]
    if not raw.isdigit() or len(raw) > 12:
        raise web.HTTPNotFound(text="No such user.")
    return int(raw)


async def _user_change(request: web.Request, action: str, change: Any) -> web.Response:
    principal = require_principal(request)
    user_id = _user_id(request)
    try:
        async with request.app[DB].begin() as session:
            result = await change(session, principal, user_id)
    except users.UserNotFound as err:
        raise web.HTTPNotFound(text="No such user.") from err
    except (_UsersFormError, users.UserAdminError) as err:
        return await _render_users(request, form_error=str(err), status=400)
    if isinstance(result, users.IssuedLink):
        audit.describe(request, action, result.email)
        return await _render_users(request, notice=await _deliver(request, result))
    audit.describe(request, action, result.email, role=result.role, sites=result.site_ids or "all")
    return _see_other(USERS_PATH)


@requires("users.admin")
async def handle_change_user(request: web.Request) -> web.Response:
    """POST /portal/users/{user_id}: set role and sites (their sessions end)."""
    try:
        body: UserForm = await _users_form(request, UserForm)
    except _UsersFormError as err:
        return await _render_users(request, form_error=str(err), status=400)
    return await _user_change(
        request, "user.change", lambda s, p, u: users.change_user(s, p, u, body.role, body.site_ids)
    )


@requires("users.admin")
async def handle_disable_user(request: web.Request) -> web.Response:
    """POST /portal/users/{user_id}/disable: the user's sessions end and they cannot log in."""
    return await _user_change(request, "user.disable", lambda s, p, u: users.set_disabled(s, p, u, True))


@requires("users.admin")
async def handle_enable_user(request: web.Request) -> web.Response:
    """POST /portal/users/{user_id}/enable."""
    return await _user_change(request, "user.enable", lambda s, p, u: users.set_disabled(s, p, u, False))


@requires("users.admin")
async def handle_reset_user(request: web.Request) -> web.Response:
    """POST /portal/users/{user_id}/reset: a new one-time link (invitation again, or password reset)."""
    return await _user_change(request, "user.reset_link", users.reissue_link)


# --- API keys ------------------------------------------------------------------------------------------------


async def _render_keys(
    request: web.Request, new_token: str = "", form_error: str = "", status: int = 200
) -> web.Response:
    principal = require_principal(request)
    async with request.app[DB]() as session:
        keys = list(await session.scalars(apikeys.tenant_keys(principal.tenant_id).order_by(ApiKey.id.desc())))
    context = {
        "principal": principal,
        "keys": keys,
        "sites": await _site_names(request, principal),
        "permissions": [(p, text) for p, text in PERMISSIONS.items() if principal.can(p)],
        "new_token": new_token,
        "form_error": form_error,
    }
    return aiohttp_jinja2.render_template("apikeys.html", request, context, status=status)


@requires("apikeys.admin")
async def handle_keys_page(request: web.Request) -> web.Response:
    """GET /portal/api-keys: the tenant's keys, their scope and last use; the create form."""
    return await _render_keys(request)


@requires("apikeys.admin")
async def handle_create_key(request: web.Request) -> web.Response:
    """POST /portal/api-keys: create a key and show its token once."""
    principal = require_principal(request)
    try:
        body = ApiKeyForm.model_validate(form_data(await request.post()))
        async with request.app[DB].begin() as session:
            issued = await apikeys.create_key(session, principal, body.name, body.permissions, body.site_ids)
    except ValidationError as err:
        return await _render_keys(request, form_error=_error(err), status=400)
    except (apikeys.ApiKeyError, users.UserAdminError) as err:
        return await _render_keys(request, form_error=str(err), status=400)
    audit.describe(request, "apikey.create", body.name, permissions=body.permissions, sites=body.site_ids or "all")
    return await _render_keys(request, new_token=issued.token)


@requires("apikeys.admin")
async def handle_revoke_key(request: web.Request) -> web.Response:
    """POST /portal/api-keys/{key_id}/revoke."""
    principal = require_principal(request)
    raw = request.match_info["key_id"]
    if not raw.isdigit() or len(raw) > 12:
        raise web.HTTPNotFound(text="No such key.")
    async with request.app[DB].begin() as session:
        key = await apikeys.revoke_key(session, principal.tenant_id, int(raw))
    if key is None:
        raise web.HTTPNotFound(text="No such key.")
    audit.describe(request, "apikey.revoke", key.name)
    return _see_other(KEYS_PATH)


# --- audit log -----------------------------------------------------------------------------------------------


def _audit_query(request: web.Request) -> AuditQuery:
    try:
        return AuditQuery.model_validate(dict(request.query))
    except ValidationError as err:
        raise web.HTTPBadRequest(text=_error(err)) from err


def _filters(query: AuditQuery) -> audit.AuditFilter:
    return audit.AuditFilter(actor=query.actor, action=query.action, since=query.since_at, until=query.until_at)


@requires("audit.read")
async def handle_audit_page(request: web.Request) -> web.Response:
    """GET /portal/audit?actor=&action=&since=&until=&page=: the audit log, newest first, 50 a page."""
    principal = require_principal(request)
    query = _audit_query(request)
    async with request.app[DB]() as session:
        entries, total = await audit.page_of(session, principal.tenant_id, _filters(query), query.page, AUDIT_PER_PAGE)
    pages = max(1, -(-total // AUDIT_PER_PAGE))
    params = {k: v for k, v in query.model_dump(exclude={"page"}).items() if v not in ("", None)}
    context = {
        "principal": principal,
        "entries": entries,
        "total": total,
        "query": query,
        "page": query.page,
        "pages": pages,
        "params": params,
    }
    return aiohttp_jinja2.render_template("audit.html", request, context)


@requires("audit.read")
async def handle_audit_csv(request: web.Request) -> web.Response:
    """GET /portal/audit.csv?...: the filtered audit log as CSV."""
    principal = require_principal(request)
    query = _audit_query(request)
    async with request.app[DB]() as session:
        rows = await session.scalars(audit.filtered(principal.tenant_id, _filters(query)).limit(AUDIT_CSV_LIMIT))
        body = audit.to_csv(rows)
    return web.Response(
        text=body,
        content_type="text/csv",
        headers={"Content-Disposition": 'attachment; filename="outpost-audit.csv"'},
    )


# --- one-time links ------------------------------------------------------------------------------------------


def _render_set_password(
    request: web.Request, target: users.LinkTarget | None, error: str = "", status: int = 200, done: bool = False
) -> web.Response:
    context = {"target": target, "error": error, "done": done, "principal": None}
    return aiohttp_jinja2.render_template("set_password.html", request, context, status=status)


@public
async def handle_set_password_page(request: web.Request) -> web.Response:
    """GET /set-password/{token}: the form behind an invitation or password-reset link."""
    target = await users.find_link(request.app[DB], request.match_info["token"])
    if target is None:
        return _render_set_password(request, None, "This link is not valid any more.", status=404)
    return _render_set_password(request, target)


@public
async def handle_set_password(request: web.Request) -> web.Response:
    """POST /set-password/{token}: set the password once, then log in."""
    token = request.match_info["token"]
    target = await users.find_link(request.app[DB], token)
    if target is None:
        return _render_set_password(request, None, "This link is not valid any more.", status=404)
    try:
        body = SetPasswordForm.model_validate(form_data(await request.post(), lists=()))
    except ValidationError:
        return _render_set_password(request, target, "The password needs at least 8 characters.", status=400)
    if body.password != body.confirm:
        return _render_set_password(request, target, "The two passwords differ.", status=400)
    done = await users.use_link(request.app[DB], token, body.password)
    if done is None:
        return _render_set_password(request, None, "This link is not valid any more.", status=404)
    log.info("user %s set a password through a %s link", done.email, done.purpose)
    return _render_set_password(request, done, done=True)


def add_routes(router: web.UrlDispatcher) -> None:
    """Register the admin pages and the one-time link page."""
    router.add_get(USERS_PATH, handle_users_page)
    router.add_post(f"{USERS_PATH}/invite", handle_invite)
    router.add_post(f"{USERS_PATH}/{{user_id}}", handle_change_user)
    router.add_post(f"{USERS_PATH}/{{user_id}}/disable", handle_disable_user)
    router.add_post(f"{USERS_PATH}/{{user_id}}/enable", handle_enable_user)
    router.add_post(f"{USERS_PATH}/{{user_id}}/reset", handle_reset_user)
    router.add_get(KEYS_PATH, handle_keys_page)
    router.add_post(KEYS_PATH, handle_create_key)
    router.add_post(f"{KEYS_PATH}/{{key_id}}/revoke", handle_revoke_key)
    router.add_get(AUDIT_PATH, handle_audit_page)
    router.add_get(f"{AUDIT_PATH}.csv", handle_audit_csv)
    router.add_get(f"{users.SET_PASSWORD_PATH}/{{token}}", handle_set_password_page)
    router.add_post(f"{users.SET_PASSWORD_PATH}/{{token}}", handle_set_password)
