"""Authenticate a site's signed request (config pulls and reports, secret rotation): one place, one answer."""

from __future__ import annotations

import logging

from aiohttp import web

from cloud.appkeys import DB
from cloud.ingest import SiteCredentials, SiteRevoked, site_credentials
from cloud.responses import error_response
from sync.signing import SIGNATURE_HEADER, SITE_HEADER, TIMESTAMP_HEADER, SignatureError

log = logging.getLogger(__name__)


class SiteRequestRefused(Exception):
    """A site request refused; `response` is the clear 4xx to send."""

    def __init__(self, response: web.Response) -> None:
        super().__init__(response.reason)
        self.response = response


async def authenticate_site(request: web.Request, signed: bytes, purpose: str) -> tuple[str, SiteCredentials, str]:
    """Return the site id, its credentials and the key that signed `signed`; raise SiteRequestRefused otherwise.

    The key is the site's current secret or, during a rotation's grace window, the previous one: answers are
    signed with the key the box used. `purpose` names the request in the log ("config", "key").
    """
    site_id = request.headers.get(SITE_HEADER, "")
    site = await site_credentials(request.app[DB], site_id)
    if site is None:
        raise SiteRequestRefused(error_response(401, "unknown_site", f"no enrolled site with the id in {SITE_HEADER}"))
    if site.revoked_at is not None:
        raise SiteRequestRefused(error_response(403, "site_revoked", str(SiteRevoked(site_id, site.revoked_at))))
    try:
        key, _skew = site.verify(signed, request.headers.get(TIMESTAMP_HEADER), request.headers.get(SIGNATURE_HEADER))
    except SignatureError as err:
        log.warning("%s request from site %s rejected: %s", purpose, site_id, err)
        raise SiteRequestRefused(error_response(401, "bad_signature", str(err))) from err
    return site_id, site, key
