"""The HTML portal: login form, the tenant's sites, a site's latest records, site revocation, enrollment codes."""

from __future__ import annotations

import hmac
import secrets
from collections.abc import Sequence
from datetime import timedelta
from pathlib import Path
from typing import Any

import aiohttp_jinja2
from aiohttp import web
from pydantic import ValidationError

from cloud.api import DEFAULT_RECORD_LIMIT, code_out, record_out, site_summaries
from cloud.api_models import EnrollmentCodeOut, EnrollmentCodeRequest, EnrollmentFileRequest, LoginRequest
from cloud.appkeys import CONFIG, DB
from cloud.auth import (
    LOGIN_PATH,
    check_login,
    end_session,
    require_permission,
    require_principal,
    set_session_cookie,
)
from cloud.config import format_validation_error
from cloud.db.models import Record
from cloud.enrollment_files import file_download, issue_file, signing_key_out
from cloud.media import complete_media
from cloud.permissions import logged_in, public, requires
from cloud.sessions import SESSIONS
from cloud.siteconfig import site_config
from cloud.tenancy import Principal, SiteAlreadyRevoked, SiteNotFound, TenantScope
from sync.media import MediaKind, media_id_for, media_name
from sync.thinning import ThinningReport
from webguard.ratelimit import RateLimited

PORTAL_PATH = "/portal"
# Double-submit token of the login form (there is no session yet to hold a CSRF token).
LOGIN_CSRF_COOKIE = "outpost_login_csrf"
LOGIN_CSRF_FIELD = "login_csrf"


def _see_other(location: str) -> web.Response:
    # A plain response, not web.HTTPSeeOther: returning exceptions is deprecated, and these carry cookies.
    return web.Response(status=303, headers={"Location": location})


def _render_login(request: web.Request, error: str = "", status: int = 200) -> web.Response:
    token = secrets.token_urlsafe(32)
    response = aiohttp_jinja2.render_template(
        "login.html", request, {"login_csrf": token, "error": error}, status=status
    )
    response.set_cookie(
        LOGIN_CSRF_COOKIE,
        token,
        path=LOGIN_PATH,
        httponly=True,
        samesite="Strict",
        secure=request.app[CONFIG].secure_cookies,
    )
    return response


@public
async def handle_root(request: web.Request) -> web.Response:
    """GET /: go to the portal."""
    raise web.HTTPSeeOther(PORTAL_PATH)


@public
async def handle_login_page(request: web.Request) -> web.Response:
    """GET /login: the login form."""
    return _render_login(request)


@public
async def handle_login_form(request: web.Request) -> web.Response:
    """POST /login: check the password, start a session, go to the portal (429 page when rate-limited)."""
    form = await request.post()
    submitted = str(form.get(LOGIN_CSRF_FIELD, ""))
    expected = request.cookies.get(LOGIN_CSRF_COOKIE, "")
    if not expected or not hmac.compare_digest(submitted.encode(), expected.encode()):
        return _render_login(request, "The form expired; please try again.", status=403)
    try:
        credentials = LoginRequest.model_validate(
            {"email": str(form.get("email", "")), "password": str(form.get("password", ""))}
        )
    except ValidationError:
        return _render_login(request, "Wrong e-mail or password.", status=401)
    try:
        user = await check_login(request, credentials.email, credentials.password)
    except RateLimited as err:
        minutes = -(-err.retry_after // 60)
        response = _render_login(
            request,
            f"Too many login attempts; please wait {minutes} minute{'s' if minutes != 1 else ''} and try again.",
            status=429,
        )
        response.headers["Retry-After"] = str(err.retry_after)
        return response
    if user is None:
        return _render_login(request, "Wrong e-mail or password.", status=401)
    response = _see_other(PORTAL_PATH)
    token = await request.app[SESSIONS].create(user.id)
    set_session_cookie(request, response, token)
    response.del_cookie(LOGIN_CSRF_COOKIE, path=LOGIN_PATH)
    return response


@logged_in
async def handle_logout(request: web.Request) -> web.Response:
    """POST /logout: end the session."""
    response = _see_other(LOGIN_PATH)
    await end_session(request, response)
    return response


async def _render_portal(
    request: web.Request,
    principal: Principal,
    new_code: EnrollmentCodeOut | None = None,
    form_error: str = "",
    status: int = 200,
    file_error: str = "",
) -> web.Response:
    async with request.app[DB]() as session:
        sites = await site_summaries(TenantScope(session, principal))
    context: dict[str, Any] = {
        "principal": principal,
        "sites": sites,
        "new_code": new_code,
        "form_error": form_error,
        "public_url": request.app[CONFIG].public_url,
        "enrollment_key": signing_key_out(request).fingerprint,
        "file_error": file_error,
    }
    return aiohttp_jinja2.render_template("portal.html", request, context, status=status)


@requires("sites.read")
async def handle_portal(request: web.Request) -> web.Response:
    """GET /portal: the tenant's sites with sync state and record counts."""
    return await _render_portal(request, require_principal(request))


@requires("sites.write")
async def handle_create_code_form(request: web.Request) -> web.Response:
    """POST /portal/enrollment-codes: issue a code and show it once."""
    principal = require_permission(request, "sites.write")
    form = await request.post()
    try:
        body = EnrollmentCodeRequest.model_validate(
            {
                "site_name": str(form.get("site_name", "")),
                "ttl_hours": str(form.get("ttl_hours", "24")),
                "timezone": str(form.get("timezone", "UTC")) or "UTC",
            },
            strict=False,
        )
    except ValidationError as err:
        return await _render_portal(
            request, principal, form_error=format_validation_error(err, root="(form)"), status=400
        )
    async with request.app[DB].begin() as session:
        issued = await TenantScope(session, principal).issue_enrollment_code(
            body.site_name, timedelta(hours=body.ttl_hours), body.timezone
        )
    # Rendered directly rather than redirected, so the code never appears in a URL or the history.
    return await _render_portal(request, principal, new_code=code_out(issued))


@requires("sites.write")
async def handle_create_file_form(request: web.Request) -> web.Response:
    """POST /portal/enrollment-files: create a site and download its signed offline enrollment file."""
    principal = require_permission(request, "sites.write")
    form = await request.post()
    try:
        body = EnrollmentFileRequest.model_validate(
            {
                "site_name": str(form.get("site_name", "")),
                "ttl_days": str(form.get("ttl_days", "7")),
                "timezone": str(form.get("timezone", "UTC")) or "UTC",
            },
            strict=False,
        )
    except ValidationError as err:
        return await _render_portal(
            request, principal, file_error=format_validation_error(err, root="(form)"), status=400
        )
    return file_download(await issue_file(request, principal, body))


@requires("sites.read")
async def handle_site_page(request: web.Request) -> web.Response:
    """GET /portal/sites/{site_id}: a site's latest records."""
    principal = require_principal(request)
    site_id = request.match_info["site_id"]
    async with request.app[DB]() as session:
        scope = TenantScope(session, principal)
        summaries = await site_summaries(scope, only=site_id)
        if not summaries:
            raise web.HTTPNotFound(text="No such site.")
        try:
            records = await scope.records(site_id, DEFAULT_RECORD_LIMIT)
            thinning = await scope.records(site_id, THINNING_REPORT_LIMIT, kind="thinning")
            config = await site_config(session, await scope.site(site_id))
        except SiteNotFound as err:  # deleted between the two queries
            raise web.HTTPNotFound(text="No such site.") from err
    context = {
        "principal": principal,
        "site": summaries[0],
        "records": [record_out(r) for r in records],
        "media": {r.seq: media_links(request.app[CONFIG].media_path, site_id, r.payload) for r in records},
        "door_thumbs": door_thumbnails(request.app[CONFIG].media_path, site_id, records),
        "limit": DEFAULT_RECORD_LIMIT,
        "thinning": [thinning_row(r) for r in thinning],
        "config": config,
    }
    return aiohttp_jinja2.render_template("site.html", request, context)


THINNING_REPORT_LIMIT = 20
# Payload keys naming a media file on the box, and the media kind each names (sync.media.media_id_for).
MEDIA_KEYS: tuple[tuple[str, MediaKind], ...] = (
    ("snapshot", "snapshot"),
    ("clip", "clip"),
    ("door_snapshot", "door_snapshot"),
)


def door_thumbnails(root: Path, site_id: str, records: Sequence[Record]) -> dict[int, dict[str, Any]]:
    """The door camera's thumbnail for each badge record (or door alarm) a shown `door_snapshot` record names.

    A ``door_snapshot`` record names the edge journal id of its decision (`of_journal_id`); every record carries
    its own as `journal_id`. Maps the decision's seq to {"url", "frame_url"} (None while not uploaded yet).
    """
    by_journal_id = {r.payload.get("journal_id"): r.seq for r in records}
    thumbs: dict[int, dict[str, Any]] = {}
    for record in records:
        payload = record.payload
        if payload.get("type") != "door_snapshot" or (seq := by_journal_id.get(payload.get("of_journal_id"))) is None:
            continue
        camera, thumb, frame = payload.get("camera_id"), payload.get("thumbnail"), payload.get("door_snapshot")
        if not isinstance(camera, str) or not isinstance(thumb, str) or not isinstance(frame, str):
            continue
        urls = []
        for name in (thumb, frame):
            media_id = media_id_for("door_snapshot", media_name(name, camera))
            found = complete_media(root, site_id, media_id)
            urls.append(f"{PORTAL_PATH}/sites/{site_id}/media/{media_id}" if found else None)
        thumbs[seq] = {"url": urls[0], "frame_url": urls[1] or urls[0], "name": thumb}
    return thumbs


def media_links(root: Path, site_id: str, payload: dict[str, Any]) -> list[dict[str, Any]]:
    """The record's snapshots and clips the cloud holds complete, as links (pending ones show as pending)."""
    links = []
    for key, kind in MEDIA_KEYS:
        name = payload.get(key)
        if not isinstance(name, str) or not name:
            continue
        camera = payload.get("camera_id")
        media_id = media_id_for(kind, media_name(name, camera if isinstance(camera, str) else None))
        found = complete_media(root, site_id, media_id)
        links.append(
            {
                "kind": kind,
                "name": name,
                "url": f"{PORTAL_PATH}/sites/{site_id}/media/{media_id}" if found else None,
                "image": bool(found and found[1].startswith("image/")),
            }
        )
    return links


@requires("records.read")
async def handle_media_page(request: web.Request) -> web.StreamResponse:
    """GET /portal/sites/{site_id}/media/{media_id}: a complete snapshot or clip, to the owning tenant only."""
    principal = require_principal(request)
    site_id = request.match_info["site_id"]
    async with request.app[DB]() as session:
        try:
            await TenantScope(session, principal).site(site_id)
        except SiteNotFound as err:  # another tenant's site answers exactly like a missing one
            raise web.HTTPNotFound(text="No such media.") from err
    found = complete_media(request.app[CONFIG].media_path, site_id, request.match_info["media_id"])
    if found is None:
        raise web.HTTPNotFound(text="No such media.")
    path, content_type = found
    return web.FileResponse(path, headers={"Content-Type": content_type, "Cache-Control": "private, max-age=3600"})


def thinning_row(record: Record) -> dict[str, Any]:
    """A thinning report for the site page; a payload that is not one shows as unreadable, never a 500."""
    try:
        report = ThinningReport.model_validate({k: v for k, v in record.payload.items() if k in _REPORT_KEYS})
    except ValidationError:
        return {"seq": record.seq, "readable": False}
    return {"seq": record.seq, "readable": True, "report": report}


_REPORT_KEYS = frozenset(ThinningReport.model_fields)


@requires("sites.write")
async def handle_revoke_form(request: web.Request) -> web.Response:
    """POST /portal/sites/{site_id}/revoke: revoke the site (tenant admins), then show its page."""
    principal = require_permission(request, "sites.write")
    site_id = request.match_info["site_id"]
    async with request.app[DB].begin() as session:
        try:
            await TenantScope(session, principal).revoke_site(site_id)
        except SiteNotFound as err:
            raise web.HTTPNotFound(text="No such site.") from err
        except SiteAlreadyRevoked:
            pass  # a double submit: the page shows the first revocation
    return _see_other(f"{PORTAL_PATH}/sites/{site_id}")
