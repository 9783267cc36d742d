"""Offline enrollment: issuing signed enrollment files and accepting a box's first sync as the claim.

The file format and the secret derivation are in `sync.enrollment_file`. Issuing creates the site at once (so HQ
can prepare its people and policy) with a random secret nobody knows; it syncs only once a box has claimed it.
"""

from __future__ import annotations

import logging
import re
import secrets
from datetime import datetime, timedelta
from typing import cast

from aiohttp import web
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from sqlalchemy import Table, select, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from cloud.billing.limits import check_can_enroll
from cloud.db.models import OfflineEnrollment as OfflineEnrollmentRow
from cloud.db.models import Site, new_slug, utcnow
from sync.enrollment_file import (
    CLAIM_PATTERN,
    EnrollmentFile,
    OfflineEnrollment,
    derive_site_secret,
    sign_enrollment,
)
from sync.signing import SignatureError, verify
from sync.timezones import check_timezone

log = logging.getLogger(__name__)

DEFAULT_FILE_TTL = timedelta(days=7)
MAX_FILE_TTL = timedelta(days=90)
ENROLLMENT_SIGNER = web.AppKey("enrollment_signer", Ed25519PrivateKey)
ASK_NEW_FILE = "ask your tenant admin for a new enrollment file and apply it with outpost-provision enroll --file"


class ClaimRefused(Exception):
    """A box's claim of an offline enrollment is refused; carries the HTTP status and the ErrorBody code."""

    def __init__(self, status: int, error: str, detail: str) -> None:
        super().__init__(detail)
        self.status = status
        self.error = error
        self.detail = detail


async def issue_enrollment_file(
    session: AsyncSession,
    key: Ed25519PrivateKey,
    *,
    tenant_id: str,
    site_name: str,
    timezone: str,
    ttl: timedelta,
    cloud_url: str,
    issued_by: str,
) -> EnrollmentFile:
    """Create the site and its pending offline enrollment (the caller commits); return the signed file."""
    if not timedelta(0) < ttl <= MAX_FILE_TTL:
        raise ValueError(f"ttl must be between 0 and {MAX_FILE_TTL}")
    check_timezone(timezone)
    await check_can_enroll(session, tenant_id)  # the plan's site limit (raises SiteLimitReached)
    now = utcnow()
    site = Site(
        id=new_slug(),
        tenant_id=tenant_id,
        name=site_name,
        timezone=timezone,
        secret=secrets.token_hex(32),  # replaced by the claiming box's derived secret; nobody knows this one
        enrolled_at=now,
        hostname="",
        last_seq=0,
    )
    session.add(site)
    await session.flush()
    row = OfflineEnrollmentRow(
        id=secrets.token_hex(16),
        tenant_id=tenant_id,
        site_id=site.id,
        enrollment_secret=secrets.token_hex(32),
        created_at=now,
        created_by=issued_by,
        expires_at=now + ttl,
    )
    session.add(row)
    await session.flush()
    log.info("issued offline enrollment file for site %s (%s) of tenant %s", site.id, site.name, tenant_id)
    enrollment = OfflineEnrollment(
        enrollment_id=row.id,
        cloud_url=cloud_url.rstrip("/"),
        tenant_id=tenant_id,
        site_id=site.id,
        site_name=site_name,
        timezone=timezone,
        enrollment_secret=row.enrollment_secret,
        issued_at=now,
        expires_at=row.expires_at,
    )
    return sign_enrollment(key, enrollment)


async def pending_offline_sites(session: AsyncSession, tenant_id: str) -> dict[str, datetime]:
    """Return the tenant's sites still waiting for a box to claim their file, with the file's expiry."""
    rows = await session.execute(
        select(OfflineEnrollmentRow.site_id, OfflineEnrollmentRow.expires_at).where(
            OfflineEnrollmentRow.tenant_id == tenant_id, OfflineEnrollmentRow.used_at.is_(None)
        )
    )
    return {row.site_id: row.expires_at for row in rows}


async def claim_with_batch(
    db: async_sessionmaker[AsyncSession],
    site_id: str,
    claim: str,
    body: bytes,
    timestamp: str | None,
    signature: str | None,
) -> None:
    """Let a box's first sync batch claim its site's offline enrollment; raise ClaimRefused if it may not.

    Nothing happens for a site without an offline enrollment, for a claim already made by this box, or for a
    batch whose signature does not verify with the claim's secret (ingest's own check then answers 401).
    """
    if not re.fullmatch(CLAIM_PATTERN, claim):
        raise ClaimRefused(400, "bad_claim", "the enrollment claim header is not 32 lower-case hex digits")
    enrollments = cast(Table, OfflineEnrollmentRow.__table__)
    now = utcnow()
    async with db() as session:
        row = (
            await session.execute(
                select(OfflineEnrollmentRow, Site.secret, Site.revoked_at)
                .join(Site, Site.id == OfflineEnrollmentRow.site_id)
                .where(OfflineEnrollmentRow.site_id == site_id)
            )
        ).first()
    if row is None or row.revoked_at is not None:
        return
    enrollment: OfflineEnrollmentRow = row[0]
    derived = derive_site_secret(enrollment.enrollment_secret, claim)
    if enrollment.used_at is not None:
        if secrets.compare_digest(derived, row.secret):
            return
        raise _used(enrollment.used_at)
    if enrollment.expires_at <= now:
        raise ClaimRefused(
            410,
            "enrollment_expired",
            f"the enrollment file expired at {enrollment.expires_at:%Y-%m-%d %H:%M} UTC before this box "
            f"first synced; {ASK_NEW_FILE} --force",
        )
    try:
        verify(derived, body, timestamp, signature)
    except SignatureError:
        return
    async with db.begin() as session:
        # The conditional UPDATE first, like enrollment codes: of two boxes racing, one wins (and on SQLite a
        # transaction that starts by writing waits for the lock instead of failing).
        claimed = (
            await session.execute(
                update(enrollments)
                .where(enrollments.c.id == enrollment.id, enrollments.c.used_at.is_(None))
                .values(used_at=now)
                .returning(enrollments.c.id)
            )
        ).first()
        if claimed is None:
            raise _used(now)
        await session.execute(update(Site).where(Site.id == site_id).values(secret=derived, enrolled_at=now))
    log.info("site %s claimed by its box with the offline enrollment file", site_id)


def _used(used_at: datetime) -> ClaimRefused:
    return ClaimRefused(
        409,
        "enrollment_used",
        f"this site's enrollment file was already used by another box at {used_at:%Y-%m-%d %H:%M} UTC; "
        f"an enrollment file enrolls one box: {ASK_NEW_FILE} --force",
    )
