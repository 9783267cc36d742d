"""The edge's configuration endpoints: the signed long-poll pull of its document and its apply/refuse report.

``GET CONFIG_PATH?version=N&wait=S``: the box signs ``request_target_bytes("GET", path_and_query)`` with its
secret. 200 with the `SiteConfigDocument` when the stored version is greater than N (the body signed with the
same secret in the response headers, so the box applies only what its cloud wrote); otherwise the request waits
up to S seconds (at most MAX_WAIT_S) for an edit and answers 204. Unknown site or bad signature: 401; revoked
site: 403; a malformed query: 400.

``POST CONFIG_REPORT_PATH``: a `ConfigReport` (JSON, gzip allowed), signed over the body like a sync batch;
the last report per site is stored and shown in the portal.
"""

from __future__ import annotations

import asyncio
import logging

from aiohttp import web
from pydantic import ValidationError
from sqlalchemy import update

from cloud.appkeys import DB
from cloud.db.models import Site, SiteConfig
from cloud.ingest import GZIP_MAGIC, SiteRevoked
from cloud.permissions import machine
from cloud.responses import error_response
from cloud.site_requests import SiteRequestRefused, authenticate_site
from cloud.siteconfig import NOTIFIER, RECHECK_S, build_document, ensure_site_configs, stored_version
from sync.codec import BatchDecodeError, inflate
from sync.downlink import MAX_WAIT_S, ConfigReport
from sync.signing import (
    SITE_HEADER,
    request_target_bytes,
    sign,
)

log = logging.getLogger(__name__)


async def _authenticate(request: web.Request, signed: bytes) -> str:
    """Return the key that signed the request of an enrolled, unrevoked site; else raise SiteRequestRefused."""
    _site_id, _site, key = await authenticate_site(request, signed, "config")
    return key  # the answer is signed with the key the box used (old or new during a rotation's grace)


def _query_int(request: web.Request, name: str, default: int | None, high: int) -> int:
    raw = request.query.get(name)
    if raw is None and default is not None:
        return default
    if raw is None or not raw.isascii() or not raw.isdigit() or int(raw) > high:
        raise SiteRequestRefused(error_response(400, "bad_query", f"{name} must be an integer from 0 to {high}"))
    return int(raw)


@machine
async def handle_config_pull(request: web.Request) -> web.Response:
    """GET CONFIG_PATH?version=N&wait=S: the site's document if newer than N, else 204 after waiting."""
    try:
        secret = await _authenticate(request, request_target_bytes("GET", request.raw_path))
        have = _query_int(request, "version", None, 2**63 - 1)
        wait = _query_int(request, "wait", 0, MAX_WAIT_S)
    except SiteRequestRefused as refused:
        return refused.response
    site_id = request.headers[SITE_HEADER]
    notifier = request.app[NOTIFIER]
    loop = asyncio.get_running_loop()
    deadline = loop.time() + wait
    while True:
        changed = notifier.event(site_id)  # before reading: an edit committed after the read sets it
        async with request.app[DB]() as session:
            site = await session.get(Site, site_id, populate_existing=True)
            if site is None or site.revoked_at is not None:
                return error_response(403, "site_revoked", str(SiteRevoked(site_id, None)))
            version = await stored_version(session, site_id)
            if version > have:
                document = await build_document(session, site, version)
                body = document.model_dump_json().encode()
                headers = sign(secret, body)
                headers[SITE_HEADER] = site_id
                log.info("site %s: configuration version %d sent (it had %d)", site_id, version, have)
                return web.Response(body=body, content_type="application/json", headers=headers)
        remaining = deadline - loop.time()
        if remaining <= 0 or notifier.closed:
            return web.Response(status=204)
        try:
            # Re-read every RECHECK_S: an edit made by another cloud worker does not set this process's event.
            with notifier.parked(site_id):
                await asyncio.wait_for(changed.wait(), min(remaining, RECHECK_S))
        except TimeoutError:
            pass


@machine
async def handle_config_report(request: web.Request) -> web.Response:
    """POST CONFIG_REPORT_PATH: store the site's report on a document (applied, or refused with the reason)."""
    body = await request.read()
    try:
        await _authenticate(request, body)
    except SiteRequestRefused as refused:
        return refused.response
    site_id = request.headers[SITE_HEADER]
    try:
        raw = inflate(body) if body.startswith(GZIP_MAGIC) else body
        report = ConfigReport.model_validate_json(raw)
    except (BatchDecodeError, ValidationError) as err:
        return error_response(400, "bad_report", str(err))
    if report.site_id != site_id:
        return error_response(400, "site_mismatch", f"report site_id does not match the {SITE_HEADER} header")
    async with request.app[DB].begin() as session:
        site = await session.get(Site, site_id)
        if site is None or site.revoked_at is not None:
            return error_response(403, "site_revoked", str(SiteRevoked(site_id, None)))
        await ensure_site_configs(session, site.tenant_id, [site_id])
        await session.execute(
            update(SiteConfig)
            .where(SiteConfig.site_id == site_id)
            .values(
                report_version=report.version,
                report_status=report.status,
                report_reason=report.reason.replace("\x00", "\ufffd"),
                report_at=report.at,
            )
        )
    log.info("site %s: configuration version %d %s %s", site_id, report.version, report.status, report.reason)
    return web.Response(status=204)
