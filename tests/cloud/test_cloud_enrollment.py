"""Enrollment: a code creates one site, once, before it expires."""

from __future__ import annotations

import asyncio
from datetime import timedelta

import httpx
from cloud_helpers import TenantFixture, enroll, make_batch, send_batch
from sqlalchemy import func, select, update

from cloud.app import RunningCloud
from cloud.db.models import EnrollmentCode, Site, utcnow
from cloud.enrollment import code_hash, new_code
from sync.wire import ENROLL_PATH, SyncAck


async def site_count(cloud: RunningCloud) -> int:
    async with cloud.db() as session:
        return await session.scalar(select(func.count()).select_from(Site)) or 0


async def test_good_code_creates_site_and_returns_secret(
    cloud: RunningCloud, http: httpx.AsyncClient, tenant: TenantFixture
) -> None:
    enrolled = await enroll(http, tenant.code, hostname="gate-box")

    assert enrolled.tenant_id == tenant.tenant_id
    assert enrolled.site_name == "Warehouse"
    assert len(bytes.fromhex(enrolled.secret)) == 32
    async with cloud.db() as session:
        site = await session.get(Site, enrolled.site_id)
        code = await session.scalar(select(EnrollmentCode).where(EnrollmentCode.code_hash == code_hash(tenant.code)))
    assert site is not None and site.hostname == "gate-box" and site.secret == enrolled.secret
    assert code is not None and code.used_at is not None and code.site_id == enrolled.site_id
    # The returned secret is the one the cloud verifies batches with.
    response = await send_batch(http, enrolled, make_batch(enrolled.site_id, [1]))
    assert SyncAck.model_validate_json(response.content).stored == 1


async def test_code_is_accepted_as_typed_by_a_human(http: httpx.AsyncClient, tenant: TenantFixture) -> None:
    typed = tenant.code.lower().replace("-", " ")

    enrolled = await enroll(http, typed)

    assert enrolled.site_name == "Warehouse"


async def test_used_code_is_409_with_a_clear_detail(
    cloud: RunningCloud, http: httpx.AsyncClient, tenant: TenantFixture
) -> None:
    await enroll(http, tenant.code)

    response = await http.post(ENROLL_PATH, json={"code": tenant.code, "hostname": "second-box"})

    assert response.status_code == 409
    body = response.json()
    assert body["error"] == "code_used"
    assert "already used" in body["detail"] and "tenant admin" in body["detail"]
    assert await site_count(cloud) == 1


async def test_unknown_code_is_404(cloud: RunningCloud, http: httpx.AsyncClient, tenant: TenantFixture) -> None:
    response = await http.post(ENROLL_PATH, json={"code": new_code()})

    assert response.status_code == 404
    assert response.json() == {
        "error": "unknown_code",
        "detail": "enrollment code not recognised; ask your tenant admin for a new one",
    }
    assert await site_count(cloud) == 0


async def test_expired_code_is_410(cloud: RunningCloud, http: httpx.AsyncClient, tenant: TenantFixture) -> None:
    async with cloud.db.begin() as session:
        await session.execute(
            update(EnrollmentCode)
            .where(EnrollmentCode.code_hash == code_hash(tenant.code))
            .values(expires_at=utcnow() - timedelta(minutes=1))
        )

    response = await http.post(ENROLL_PATH, json={"code": tenant.code})

    assert response.status_code == 410
    assert response.json()["error"] == "code_expired"
    assert await site_count(cloud) == 0


async def test_invalid_body_is_400_with_the_validation_error(http: httpx.AsyncClient) -> None:
    cases = {
        b"{not json": "(body): Invalid JSON",
        b'{"hostname": "x"}': "code: Field required",
        b'{"code": "x"}': "code: String should have at least 4 characters",
        b'{"code": "ABCD-EFGH", "site": 1}': "site: Extra inputs are not permitted",
    }
    for body, detail in cases.items():
        response = await http.post(ENROLL_PATH, content=body, headers={"Content-Type": "application/json"})
        assert response.status_code == 400, response.text
        assert response.json()["error"] == "invalid_request"
        assert response.json()["detail"].startswith(detail), response.text


async def test_racing_boxes_enroll_one_site_per_code(
    cloud: RunningCloud, http: httpx.AsyncClient, tenant: TenantFixture
) -> None:
    responses = await asyncio.gather(
        *(http.post(ENROLL_PATH, json={"code": tenant.code, "hostname": f"box-{i}"}) for i in range(5))
    )

    assert sorted(r.status_code for r in responses) == [200, 409, 409, 409, 409]
    assert await site_count(cloud) == 1
