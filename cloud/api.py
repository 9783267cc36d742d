"""The portal's JSON API: session login, the tenant's sites and records, site revocation, enrollment codes."""

from __future__ import annotations

from datetime import timedelta
from typing import get_args

from aiohttp import web
from pydantic import ValidationError

from cloud.api_models import (
    CLOCK_SKEW_WARN_S,
    EnrollmentCodeOut,
    EnrollmentCodeRequest,
    EnrollmentFileRequest,
    KindCountOut,
    LoginRequest,
    RecordList,
    RecordOut,
    SessionInfo,
    SiteList,
    SiteOut,
    SyncStateOut,
)
from cloud.appkeys import DB
from cloud.auth import check_login, end_session, require_permission, require_principal, set_session_cookie
from cloud.db.models import Record, SiteSyncState, utcnow
from cloud.enrollment import IssuedCode
from cloud.enrollment_files import file_download, issue_file
from cloud.permissions import logged_in, public, requires
from cloud.responses import api_error, error_response, invalid_request, json_model, too_many_attempts
from cloud.sessions import SESSIONS
from cloud.tenancy import SiteAlreadyRevoked, SiteNotFound, TenantScope
from sync.wire import RecordKind
from webguard.params import parse_id
from webguard.ratelimit import RateLimited

DEFAULT_RECORD_LIMIT = 100
MAX_RECORD_LIMIT = 1000
RECORD_KINDS = frozenset(get_args(RecordKind))


async def site_summaries(scope: TenantScope, only: str | None = None) -> list[SiteOut]:
    """Return the tenant's sites (or just site `only`) with their sync state and per-kind record counts."""
    try:
        sites = [await scope.site(only)] if only is not None else await scope.sites()
    except SiteNotFound:
        return []
    counts = await scope.record_counts(site_id=only)
    states = await scope.sync_states(site_id=only)
    awaiting = await scope.pending_offline_sites()
    now = utcnow()
    return [
        SiteOut(
            id=site.id,
            name=site.name,
            hostname=site.hostname,
            timezone=site.timezone,
            enrolled_at=site.enrolled_at,
            last_sync_at=site.last_sync_at,
            last_seq=site.last_seq,
            status="revoked" if site.revoked_at is not None else "awaiting_box" if site.id in awaiting else "active",
            enrollment_file_expires_at=awaiting.get(site.id),
            revoked_at=site.revoked_at,
            revoked_by=site.revoked_by,
            secret_rotated_at=site.secret_rotated_at,
            previous_secret_until=site.previous_secret_until
            if site.previous_secret_until is not None and site.previous_secret_until > now
            else None,
            counts={
                kind: KindCountOut(total=c.total, last_24h=c.recent)
                for kind, c in sorted(counts.get(site.id, {}).items())
            },
            sync=sync_state_out(states.get(site.id)),
        )
        for site in sites
    ]


def sync_state_out(state: SiteSyncState | None) -> SyncStateOut | None:
    """Convert a site's uplink state to its API model (with the clock warning)."""
    if state is None:
        return None
    out = SyncStateOut.model_validate(state, from_attributes=True)
    out.clock_warning = out.clock_skew_s is not None and abs(out.clock_skew_s) > CLOCK_SKEW_WARN_S
    return out


def record_out(record: Record) -> RecordOut:
    """Convert an ORM record to its API model."""
    return RecordOut.model_validate(record, from_attributes=True)


def code_out(issued: IssuedCode) -> EnrollmentCodeOut:
    """Convert an issued code to its API model."""
    return EnrollmentCodeOut(
        code=issued.code, site_name=issued.site_name, timezone=issued.timezone, expires_at=issued.expires_at
    )


@public
async def handle_login(request: web.Request) -> web.Response:
    """POST /api/v1/login {email, password}: start a session; answer the CSRF token (429 when rate-limited)."""
    try:
        credentials = LoginRequest.model_validate_json(await request.read())
    except ValidationError as err:
        return invalid_request(err)
    try:
        user = await check_login(request, credentials.email, credentials.password)
    except RateLimited as err:
        return too_many_attempts(err)
    if user is None:
        return error_response(401, "bad_credentials", "wrong e-mail or password")
    token = await request.app[SESSIONS].create(user.id)
    principal = await request.app[SESSIONS].resolve(token)
    assert principal is not None  # just created
    response = json_model(
        SessionInfo(
            email=principal.email,
            role=principal.role,
            tenant_id=principal.tenant_id,
            csrf_token=principal.csrf_token,
        )
    )
    set_session_cookie(request, response, token)
    return response


@logged_in
async def handle_logout(request: web.Request) -> web.Response:
    """POST /api/v1/logout: end the session."""
    require_principal(request)
    response = web.Response(status=204)
    await end_session(request, response)
    return response


@requires("sites.read")
async def handle_sites(request: web.Request) -> web.Response:
    """GET /api/v1/sites: the tenant's sites."""
    principal = require_principal(request)
    async with request.app[DB]() as session:
        sites = await site_summaries(TenantScope(session, principal))
    return json_model(SiteList(sites=sites))


@requires("sites.read")
async def handle_site(request: web.Request) -> web.Response:
    """GET /api/v1/sites/{site_id}: one site of the tenant."""
    principal = require_principal(request)
    site_id = request.match_info["site_id"]
    async with request.app[DB]() as session:
        for site in await site_summaries(TenantScope(session, principal), only=site_id):
            return json_model(site)
    return error_response(404, "not_found", "no such site")


def _record_query(request: web.Request) -> tuple[int, str | None]:
    limit = parse_id(request.query.get("limit", str(DEFAULT_RECORD_LIMIT))) or 0
    if not 1 <= limit <= MAX_RECORD_LIMIT:
        raise api_error(web.HTTPBadRequest, "bad_query", f"limit must be an integer from 1 to {MAX_RECORD_LIMIT}")
    kind = request.query.get("kind")
    if kind is not None and kind not in RECORD_KINDS:
        raise api_error(web.HTTPBadRequest, "bad_query", f"kind must be one of {', '.join(sorted(RECORD_KINDS))}")
    return limit, kind


@requires("records.read")
async def handle_site_records(request: web.Request) -> web.Response:
    """GET /api/v1/sites/{site_id}/records?limit=&kind=: a site's latest records, newest first."""
    principal = require_principal(request)
    limit, kind = _record_query(request)
    site_id = request.match_info["site_id"]
    async with request.app[DB]() as session:
        try:
            records = await TenantScope(session, principal).records(site_id, limit, kind)
        except SiteNotFound:
            return error_response(404, "not_found", "no such site")
    return json_model(RecordList(site_id=site_id, records=[record_out(r) for r in records]))


@requires("sites.write")
async def handle_revoke_site(request: web.Request) -> web.Response:
    """POST /api/v1/sites/{site_id}/revoke: stop a site from syncing, for good (tenant admins)."""
    principal = require_permission(request, "sites.write")
    site_id = request.match_info["site_id"]
    async with request.app[DB].begin() as session:
        try:
            await TenantScope(session, principal).revoke_site(site_id)
        except SiteNotFound:
            return error_response(404, "not_found", "no such site")
        except SiteAlreadyRevoked as err:
            return error_response(409, "already_revoked", str(err))
    async with request.app[DB]() as session:
        for site in await site_summaries(TenantScope(session, principal), only=site_id):
            return json_model(site)
    return error_response(404, "not_found", "no such site")


@requires("sites.write")
async def handle_create_code(request: web.Request) -> web.Response:
    """POST /api/v1/enrollment-codes {site_name, ttl_hours, timezone}: issue a code (tenant admins)."""
    principal = require_permission(request, "sites.write")
    try:
        body = EnrollmentCodeRequest.model_validate_json(await request.read())
    except ValidationError as err:
        return invalid_request(err)
    async with request.app[DB].begin() as session:
        issued = await TenantScope(session, principal).issue_enrollment_code(
            body.site_name, timedelta(hours=body.ttl_hours), body.timezone
        )
    return json_model(code_out(issued), status=201)


@requires("sites.write")
async def handle_create_enrollment_file(request: web.Request) -> web.Response:
    """POST /api/v1/enrollment-files {site_name, ttl_days, timezone}: a signed file for an offline site (admins)."""
    principal = require_permission(request, "sites.write")
    try:
        body = EnrollmentFileRequest.model_validate_json(await request.read())
    except ValidationError as err:
        return invalid_request(err)
    return file_download(await issue_file(request, principal, body))
