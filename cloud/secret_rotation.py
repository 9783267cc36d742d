"""Site secret rotation (`sync.rotation`): a box replaces its sync secret, authenticated by the current one.

The new secret becomes current at once; the old one keeps verifying (`SiteCredentials.keys`) until the grace
window ends, so a box's requests already signed or in flight with it, and the box's processes that have not yet
re-read their secret file, still get through. After the window it verifies nothing and is erased at the next
rotation or status request.
"""

from __future__ import annotations

import hmac
import logging
from datetime import timedelta

from aiohttp import web
from pydantic import ValidationError
from sqlalchemy import select, update

from cloud.appkeys import DB
from cloud.db.models import Site, utcnow
from cloud.ingest import SiteCredentials
from cloud.permissions import machine
from cloud.responses import error_response, json_model
from cloud.site_requests import SiteRequestRefused, authenticate_site
from sync.codec import describe
from sync.rotation import RotateSecretRequest, RotateSecretResponse, SiteKeyStatus
from sync.signing import request_target_bytes

log = logging.getLogger(__name__)
MAX_BODY = 4096


async def _authenticate(request: web.Request, signed: bytes) -> tuple[str, SiteCredentials, str]:
    """Return the site id, its credentials and the key that signed; raise SiteRequestRefused otherwise."""
    return await authenticate_site(request, signed, "key")


async def _drop_expired(request: web.Request, site_id: str, site: SiteCredentials) -> None:
    if site.previous_secret is not None and len(site.keys()) == 1:
        async with request.app[DB].begin() as session:
            await session.execute(
                update(Site).where(Site.id == site_id).values(previous_secret=None, previous_secret_until=None)
            )
        log.info("site %s: the secret replaced by the last rotation no longer verifies and was erased", site_id)


@machine
async def handle_rotate(request: web.Request) -> web.Response:
    """POST ROTATE_PATH: install the box's new secret; the current one verifies during the grace window."""
    body = await request.read()
    if len(body) > MAX_BODY:
        return error_response(413, "too_large", f"a rotation request is at most {MAX_BODY} bytes")
    try:
        site_id, site, key = await _authenticate(request, body)
    except SiteRequestRefused as refused:
        return refused.response
    try:
        wanted = RotateSecretRequest.model_validate_json(body)
    except ValidationError as err:
        return error_response(400, "bad_request", describe(err))
    db = request.app[DB]
    if key != site.secret:
        # Signed with the old key: only the same rotation again (its answer was lost) is accepted.
        if hmac.compare_digest(wanted.new_secret, site.secret) and site.previous_secret_until is not None:
            async with db() as session:
                rotated_at = await session.scalar(select(Site.secret_rotated_at).where(Site.id == site_id))
            return json_model(
                RotateSecretResponse(
                    site_id=site_id,
                    rotated_at=rotated_at or utcnow(),
                    previous_valid_until=site.previous_secret_until,
                )
            )
        return error_response(
            409,
            "rotation_in_progress",
            "this key was replaced by a rotation: sign with the new secret (it is in the box's secret file, "
            "or its .new file if the rotation was interrupted)",
        )
    if hmac.compare_digest(wanted.new_secret, site.secret):
        return error_response(400, "same_secret", "new_secret is the current secret")
    now = utcnow()
    until = now + timedelta(seconds=wanted.grace_s)
    async with db.begin() as session:
        result = await session.execute(
            update(Site)
            .where(Site.id == site_id, Site.secret == site.secret, Site.revoked_at.is_(None))
            .values(
                secret=wanted.new_secret,
                previous_secret=site.secret,
                previous_secret_until=until,
                secret_rotated_at=now,
            )
        )
        if result.rowcount != 1:  # type: ignore[attr-defined]
            return error_response(409, "rotation_in_progress", "the site's secret changed meanwhile: try again")
    log.info("site %s rotated its sync secret; the old one verifies until %s", site_id, until.isoformat())
    return json_model(RotateSecretResponse(site_id=site_id, rotated_at=now, previous_valid_until=until))


@machine
async def handle_site_status(request: web.Request) -> web.Response:
    """GET SITE_STATUS_PATH: which key signed, the rotation state and the last seq the cloud holds."""
    try:
        site_id, site, key = await _authenticate(request, request_target_bytes("GET", request.raw_path))
    except SiteRequestRefused as refused:
        return refused.response
    await _drop_expired(request, site_id, site)
    async with request.app[DB]() as session:
        row = (await session.execute(select(Site.secret_rotated_at, Site.last_seq).where(Site.id == site_id))).one()
    in_grace = len(site.keys()) == 2
    return json_model(
        SiteKeyStatus(
            site_id=site_id,
            signed_with="current" if key == site.secret else "previous",
            rotated_at=row.secret_rotated_at,
            previous_valid_until=site.previous_secret_until if in_grace else None,
            last_seq=row.last_seq,
        )
    )
