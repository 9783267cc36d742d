"""Enrollment codes: issuing them to tenant admins and redeeming them for a new site."""

from __future__ import annotations

import hashlib
import logging
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import cast

from aiohttp import web
from pydantic import ValidationError
from sqlalchemy import Table, select, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from cloud.appkeys import DB
from cloud.billing.limits import SiteLimitReached, check_can_enroll
from cloud.db.models import EnrollmentCode, Site, new_slug, utcnow
from cloud.db.tenant_context import system_context
from cloud.permissions import machine
from cloud.responses import client_ip, error_response, invalid_request, json_model, too_many_attempts
from sync.timezones import check_timezone
from sync.wire import EnrollRequest, EnrollResponse
from webguard.ratelimit import RateLimited, RateLimiter

log = logging.getLogger(__name__)

# Upper-case letters and digits without look-alikes (no I, L, O, 0, 1): 31 symbols, 16 of them ~ 79 bits.
CODE_ALPHABET = "ABCDEFGHJKMNPQRSTUVWXYZ23456789"
CODE_GROUPS = 4
CODE_GROUP_LENGTH = 4
DEFAULT_TTL = timedelta(hours=24)
MAX_TTL = timedelta(days=30)

ASK_ADMIN = "ask your tenant admin for a new one"
# Enrollment attempts, keyed by client IP and (hashed) code.
ENROLL_LIMITER = web.AppKey("enroll_limiter", RateLimiter)


class EnrollmentError(Exception):
    """An enrollment code cannot be redeemed; carries the HTTP status and the ErrorBody code."""

    def __init__(self, status: int, error: str, detail: str) -> None:
        super().__init__(detail)
        self.status = status
        self.error = error
        self.detail = detail


@dataclass(frozen=True)
class IssuedCode:
    """A freshly issued enrollment code; the plain code exists only here, the database keeps its hash."""

    code: str
    site_name: str
    timezone: str
    expires_at: datetime


def new_code() -> str:
    """Return a random code formatted as XXXX-XXXX-XXXX-XXXX."""
    raw = "".join(secrets.choice(CODE_ALPHABET) for _ in range(CODE_GROUPS * CODE_GROUP_LENGTH))
    return "-".join(raw[i : i + CODE_GROUP_LENGTH] for i in range(0, len(raw), CODE_GROUP_LENGTH))


def code_hash(code: str) -> str:
    """Return the stored form of a code; case, spaces and dashes typed by a human do not matter."""
    normalised = "".join(ch for ch in code.upper() if ch not in " -\t")
    return hashlib.sha256(normalised.encode()).hexdigest()


async def issue_code(
    session: AsyncSession,
    tenant_id: str,
    site_name: str,
    ttl: timedelta = DEFAULT_TTL,
    timezone: str = "UTC",
) -> IssuedCode:
    """Store a new one-time code for `tenant_id` (the caller commits) and return it."""
    if not timedelta(0) < ttl <= MAX_TTL:
        raise ValueError(f"ttl must be between 0 and {MAX_TTL}")
    check_timezone(timezone)
    code = new_code()
    expires_at = utcnow() + ttl
    session.add(
        EnrollmentCode(
            code_hash=code_hash(code),
            tenant_id=tenant_id,
            site_name=site_name,
            timezone=timezone,
            expires_at=expires_at,
        )
    )
    await session.flush()
    return IssuedCode(code=code, site_name=site_name, timezone=timezone, expires_at=expires_at)


async def redeem_code(db: async_sessionmaker[AsyncSession], request: EnrollRequest) -> EnrollResponse:
    """Create the site named by a valid code and mark the code used, in one transaction."""
    digest = code_hash(request.code)
    now = utcnow()
    codes = cast(Table, EnrollmentCode.__table__)
    # The code names the tenant: claimed and turned into a site across tenants (row-level security).
    with system_context():
        return await _redeem(db, request, digest, now, codes)


async def _redeem(
    db: async_sessionmaker[AsyncSession], request: EnrollRequest, digest: str, now: datetime, codes: Table
) -> EnrollResponse:
    async with db.begin() as session:
        # Claim the code with one conditional UPDATE before anything else: two boxes racing for the same
        # code cannot both win (row lock on PostgreSQL, write lock on SQLite), and on SQLite a transaction
        # that starts by writing waits for the lock instead of failing with SQLITE_BUSY_SNAPSHOT.
        claimed = (
            await session.execute(
                update(codes)
                .where(codes.c.code_hash == digest, codes.c.used_at.is_(None), codes.c.expires_at > now)
                .values(used_at=now)
                .returning(codes.c.id, codes.c.tenant_id, codes.c.site_name, codes.c.timezone)
            )
        ).first()
        if claimed is None:
            raise await _refusal(session, digest)
        try:
            await check_can_enroll(session, claimed.tenant_id)
        except SiteLimitReached as err:  # raising rolls the claim back: the code stays usable
            raise EnrollmentError(403, "site_limit", f"{err}; the code stays valid") from err
        site = Site(
            id=new_slug(),
            tenant_id=claimed.tenant_id,
            name=claimed.site_name,
            timezone=claimed.timezone,
            secret=secrets.token_hex(32),
            enrolled_at=now,
            hostname=request.hostname,
            last_seq=0,
        )
        session.add(site)
        await session.flush()
        await session.execute(update(codes).where(codes.c.id == claimed.id).values(site_id=site.id))
    log.info("enrolled site %s (%s) for tenant %s from host %r", site.id, site.name, site.tenant_id, site.hostname)
    return EnrollResponse(
        site_id=site.id,
        site_name=site.name,
        tenant_id=site.tenant_id,
        secret=site.secret,
        timezone=site.timezone,
    )


async def _refusal(session: AsyncSession, digest: str) -> EnrollmentError:
    row = (
        await session.execute(
            select(EnrollmentCode.used_at, EnrollmentCode.expires_at).where(EnrollmentCode.code_hash == digest)
        )
    ).first()
    if row is None:
        return EnrollmentError(404, "unknown_code", f"enrollment code not recognised; {ASK_ADMIN}")
    if row.used_at is not None:
        return EnrollmentError(
            409,
            "code_used",
            f"enrollment code was already used at {row.used_at:%Y-%m-%d %H:%M} UTC; {ASK_ADMIN}",
        )
    return EnrollmentError(
        410, "code_expired", f"enrollment code expired at {row.expires_at:%Y-%m-%d %H:%M} UTC; {ASK_ADMIN}"
    )


@machine
async def handle_enroll(request: web.Request) -> web.Response:
    """POST /api/v1/enroll: redeem a code for a site identity and its sync secret.

    Every well-formed attempt counts against the client IP and the code (as hashed), 429 beyond the limit.
    """
    try:
        enroll_request = EnrollRequest.model_validate_json(await request.read())
    except ValidationError as err:
        return invalid_request(err)
    try:
        request.app[ENROLL_LIMITER].attempt(f"ip:{client_ip(request)}", f"code:{code_hash(enroll_request.code)}")
    except RateLimited as err:
        log.warning("enrollment from %s rate-limited", client_ip(request))
        return too_many_attempts(err)
    try:
        response = await redeem_code(request.app[DB], enroll_request)
    except EnrollmentError as err:
        log.info("enrollment refused: %s", err.error)
        return error_response(err.status, err.error, err.detail)
    return json_model(response)
