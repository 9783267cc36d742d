"""Helpers shared by the cloud tests: tenants, enrollment, signed batches, login."""

from __future__ import annotations

import re
import time
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import httpx

from cloud.admin import bootstrap_tenant
from cloud.app import RunningCloud
from sync.codec import encode_batch
from sync.signing import SITE_HEADER, sign
from sync.wire import ENROLL_PATH, SYNC_PATH, EnrollResponse, SyncBatch, SyncRecord, new_nonce

PASSWORD = "correct horse battery staple"


@dataclass(frozen=True)
class TenantFixture:
    """A bootstrapped tenant, its admin's credentials and one unused enrollment code."""

    tenant_id: str
    admin_email: str
    admin_password: str
    code: str


async def make_tenant(cloud: RunningCloud, name: str, site_name: str = "Warehouse") -> TenantFixture:
    """Bootstrap a tenant with an admin and an enrollment code."""
    email = f"admin@{name.lower().replace(' ', '-')}.example"
    result = await bootstrap_tenant(cloud.db, name, email, PASSWORD, site_name=site_name)
    assert result.enrollment is not None
    return TenantFixture(result.tenant_id, email, PASSWORD, result.enrollment.code)


async def enroll(http: httpx.AsyncClient, code: str, hostname: str = "box-1") -> EnrollResponse:
    """Redeem `code` like `outpost-provision enroll` does."""
    response = await http.post(ENROLL_PATH, json={"code": code, "hostname": hostname})
    assert response.status_code == 200, response.text
    return EnrollResponse.model_validate_json(response.content)


def make_batch(
    site_id: str, seqs: Sequence[int], kind: str = "event", age: timedelta = timedelta(0), at: datetime | None = None
) -> SyncBatch:
    """A batch with one record per seq, each happening at `at` (default: now - `age`).

    A record resent in another batch is the same record, with the same occurred_at (part of the cloud's key):
    give overlapping batches the same `at`.
    """
    occurred = (datetime.now(UTC) if at is None else at) - age
    return SyncBatch(
        site_id=site_id,
        sent_at=datetime.now(UTC),
        nonce=new_nonce(),
        records=[
            SyncRecord(seq=seq, kind=kind, occurred_at=occurred, payload={"n": seq, "door": "front"}) for seq in seqs
        ],
    )


async def post_batch(
    http: httpx.AsyncClient,
    site: EnrollResponse,
    body: bytes,
    *,
    secret: str | None = None,
    timestamp: int | None = None,
    site_header: str | None = None,
) -> httpx.Response:
    """POST a body signed like the edge sync agent signs it."""
    headers = sign(secret or site.secret, body, timestamp)
    headers[SITE_HEADER] = site.site_id if site_header is None else site_header
    # The same headers as sync.agent.SyncAgent sends.
    headers["Content-Type"] = "application/json"
    headers["Content-Encoding"] = "gzip"
    return await http.post(SYNC_PATH, content=body, headers=headers)


async def send_batch(http: httpx.AsyncClient, site: EnrollResponse, batch: SyncBatch) -> httpx.Response:
    """Encode, sign and POST a batch."""
    return await post_batch(http, site, encode_batch(batch))


async def login(http: httpx.AsyncClient, email: str, password: str = PASSWORD) -> str:
    """Log in through the JSON API; return the CSRF token (the session cookie stays in the client)."""
    response = await http.post("/api/v1/login", json={"email": email, "password": password})
    assert response.status_code == 200, response.text
    token: str = response.json()["csrf_token"]
    return token


def stale_timestamp() -> int:
    """A timestamp outside the allowed clock skew."""
    return int(time.time()) - 3600


async def portal_login(http: httpx.AsyncClient, email: str, password: str) -> httpx.Response:
    """Log in through the HTML form, as a browser would."""
    page = await http.get("/login")
    match = re.search(r'name="login_csrf" value="([^"]+)"', page.text)
    assert match, page.text
    return await http.post("/login", data={"login_csrf": match.group(1), "email": email, "password": password})


def portal_csrf(html: str) -> str:
    """The CSRF token of a portal page's forms."""
    match = re.search(r'name="csrf_token" value="([^"]+)"', html)
    assert match, html
    return match.group(1)
