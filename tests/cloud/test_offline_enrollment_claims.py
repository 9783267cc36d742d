"""The cloud's side of offline enrollment, on SQLite and PostgreSQL: the first correctly signed claim wins, an
unsigned or mis-signed claim changes nothing, another box's claim, an expired file and a revoked site are refused
by name, and a pending site's enrollment file is issued only to its tenant's admins."""

from __future__ import annotations

from datetime import timedelta

import httpx
from cloud_helpers import TenantFixture, login, make_batch
from sqlalchemy import update

from cloud.app import RunningCloud
from cloud.db.models import OfflineEnrollment, utcnow
from sync.codec import encode_batch
from sync.enrollment_file import OfflineEnrollment as FileContent
from sync.enrollment_file import derive_site_secret, new_claim, read_enrollment_file
from sync.signing import CLAIM_HEADER, SITE_HEADER, sign
from sync.wire import SYNC_PATH


async def issue(http: httpx.AsyncClient, tenant: TenantFixture) -> FileContent:
    csrf = await login(http, tenant.admin_email)
    response = await http.post("/api/v1/enrollment-files", json={"site_name": "Quarry"}, headers={"X-CSRF-Token": csrf})
    assert response.status_code == 201, response.text
    return read_enrollment_file(response.content)[0]


async def claim_batch(
    http: httpx.AsyncClient, enrollment: FileContent, claim: str, seqs: list[int], secret: str | None = None
) -> httpx.Response:
    body = encode_batch(make_batch(enrollment.site_id, seqs))
    headers = sign(secret or derive_site_secret(enrollment.enrollment_secret, claim), body)
    headers |= {SITE_HEADER: enrollment.site_id, CLAIM_HEADER: claim, "Content-Encoding": "gzip"}
    return await http.post(SYNC_PATH, content=body, headers=headers)


async def test_first_signed_claim_wins_and_others_are_refused(
    cloud: RunningCloud, http: httpx.AsyncClient, tenant: TenantFixture
) -> None:
    enrollment = await issue(http, tenant)
    first, second = new_claim(), new_claim()

    # Signed with something else than the file's derived secret: refused as a bad signature, nothing claimed.
    forged = await claim_batch(http, enrollment, first, [1], secret="ab" * 32)
    assert forged.status_code == 401 and forged.json()["error"] == "bad_signature"
    bad_claim = await claim_batch(http, enrollment, "not-hex", [1])
    assert bad_claim.status_code == 400 and bad_claim.json()["error"] == "bad_claim"

    # A box with nothing journaled claims with an empty batch (sync.agent sends one while it holds a claim).
    accepted = await claim_batch(http, enrollment, first, [])
    assert accepted.status_code == 200, accepted.text
    assert (await claim_batch(http, enrollment, first, [1, 2])).status_code == 200
    again = await claim_batch(http, enrollment, first, [3])  # the same box keeps syncing
    assert again.status_code == 200 and again.json()["acked_seq"] == 3

    refused = await claim_batch(http, enrollment, second, [4])
    assert refused.status_code == 409 and refused.json()["error"] == "enrollment_used"
    assert "--force" in refused.json()["detail"]

    site = (await http.get(f"/api/v1/sites/{enrollment.site_id}")).json()
    assert site["status"] == "active" and site["last_seq"] == 3


async def test_an_expired_file_and_a_revoked_site_are_refused(
    cloud: RunningCloud, http: httpx.AsyncClient, tenant: TenantFixture
) -> None:
    expired = await issue(http, tenant)
    async with cloud.db.begin() as session:
        await session.execute(
            update(OfflineEnrollment)
            .where(OfflineEnrollment.site_id == expired.site_id)
            .values(expires_at=utcnow() - timedelta(minutes=1))
        )
    answer = await claim_batch(http, expired, new_claim(), [1])
    assert answer.status_code == 410 and answer.json()["error"] == "enrollment_expired"

    revoked = await issue(http, tenant)
    csrf = await login(http, tenant.admin_email)
    assert (
        await http.post(f"/api/v1/sites/{revoked.site_id}/revoke", headers={"X-CSRF-Token": csrf})
    ).status_code == 200
    answer = await claim_batch(http, revoked, new_claim(), [1])
    assert answer.status_code == 403 and answer.json()["error"] == "site_revoked"


async def test_only_admins_issue_files(cloud: RunningCloud, http: httpx.AsyncClient, tenant: TenantFixture) -> None:
    anonymous = await http.post("/api/v1/enrollment-files", json={"site_name": "Quarry"})
    assert anonymous.status_code in (401, 403)
    csrf = await login(http, tenant.admin_email)
    bad = await http.post(
        "/api/v1/enrollment-files", json={"site_name": "Quarry", "ttl_days": 365}, headers={"X-CSRF-Token": csrf}
    )
    assert bad.status_code == 400 and "ttl_days" in bad.text
