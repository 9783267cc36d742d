"""Helpers of the configuration-sync tests: signed pulls and reports like the edge sends them."""

from __future__ import annotations

import json
from typing import Any

import httpx

from sync.downlink import CONFIG_PATH, CONFIG_REPORT_PATH, SiteConfigDocument
from sync.signing import SIGNATURE_HEADER, SITE_HEADER, TIMESTAMP_HEADER, request_target_bytes, sign, verify
from sync.wire import EnrollResponse


async def pull(
    http: httpx.AsyncClient,
    site: EnrollResponse,
    version: int,
    wait: int = 0,
    *,
    secret: str | None = None,
    signed_target: str | None = None,
) -> httpx.Response:
    """GET the site's document like the edge: signed over the method, path and query."""
    target = f"{CONFIG_PATH}?version={version}&wait={wait}"
    headers = sign(secret or site.secret, request_target_bytes("GET", signed_target or target))
    headers[SITE_HEADER] = site.site_id
    return await http.get(target, headers=headers, timeout=60)


def document(site: EnrollResponse, response: httpx.Response) -> SiteConfigDocument:
    """Check the cloud's signature over a 200 answer and parse the document."""
    assert response.status_code == 200, response.text
    verify(site.secret, response.content, response.headers[TIMESTAMP_HEADER], response.headers[SIGNATURE_HEADER])
    return SiteConfigDocument.model_validate_json(response.content)


async def report(http: httpx.AsyncClient, site: EnrollResponse, body: dict[str, Any]) -> httpx.Response:
    """POST a signed ConfigReport."""
    raw = json.dumps(body).encode()
    headers = sign(site.secret, raw)
    headers[SITE_HEADER] = site.site_id
    headers["Content-Type"] = "application/json"
    return await http.post(CONFIG_REPORT_PATH, content=raw, headers=headers)


async def add_person(
    http: httpx.AsyncClient, csrf: str, name: str, sites: list[str], badges: list[str], **fields: Any
) -> dict[str, Any]:
    """Create a person through the API; return the API's answer."""
    body = {"name": name, "sites": sites, "badges": [{"number": b} for b in badges], **fields}
    response = await http.post("/api/v1/people", json=body, headers={"X-CSRF-Token": csrf})
    assert response.status_code == 201, response.text
    result: dict[str, Any] = response.json()
    return result
