"""Site revocation: only the owning tenant's admins revoke; a revoked site's batches are refused for good."""

from __future__ import annotations

import asyncio
import json
import re
from pathlib import Path

import httpx
import pytest
from cloud_helpers import PASSWORD, TenantFixture, enroll, login, make_batch, make_tenant, post_batch, send_batch
from sqlalchemy import JSON, BigInteger, String, column, func, insert, select, table
from sqlalchemy.dialects.postgresql import JSONB

from cloud.admin import create_user
from cloud.app import RunningCloud
from cloud.cli import main
from cloud.config import CloudConfig
from cloud.db.engine import create_engine
from cloud.db.migrate import downgrade, upgrade
from cloud.db.models import Record, Site, Tenant, UTCDateTime, utcnow
from sync.codec import encode_batch
from sync.wire import ENROLL_PATH, EnrollResponse, SyncAck


async def stored_seqs(cloud: RunningCloud, site_id: str) -> list[int]:
    async with cloud.db() as session:
        query = select(Record.seq).where(Record.site_id == site_id).order_by(Record.seq)
        return list(await session.scalars(query))


async def revoke(http: httpx.AsyncClient, site_id: str, csrf: str) -> httpx.Response:
    return await http.post(f"/api/v1/sites/{site_id}/revoke", headers={"X-CSRF-Token": csrf})


def portal_csrf(html: str) -> str:
    match = re.search(r'name="csrf_token" value="([^"]+)"', html)
    assert match, html
    return match.group(1)


async def test_admin_revokes_own_site_and_api_shows_who_and_when(
    cloud: RunningCloud, http: httpx.AsyncClient, tenant: TenantFixture, site: EnrollResponse
) -> None:
    csrf = await login(http, tenant.admin_email)
    before = utcnow()

    response = await revoke(http, site.site_id, csrf)

    assert response.status_code == 200, response.text
    body = response.json()
    assert body["id"] == site.site_id and body["status"] == "revoked"
    assert body["revoked_by"] == tenant.admin_email
    listed = (await http.get("/api/v1/sites")).json()["sites"][0]
    assert listed["status"] == "revoked" and listed["revoked_by"] == tenant.admin_email
    assert listed["revoked_at"] == body["revoked_at"]
    async with cloud.db() as session:
        row = await session.get(Site, site.site_id)
    assert row is not None and row.revoked_at is not None and row.revoked_at >= before
    assert row.revoked_by == tenant.admin_email
    assert row.secret != site.secret  # the box's copy is worthless now
    again = await revoke(http, site.site_id, csrf)
    assert again.status_code == 409 and again.json()["error"] == "already_revoked"
    assert tenant.admin_email in again.json()["detail"]


async def test_revoke_needs_an_admin_session_and_csrf(
    cloud: RunningCloud, http: httpx.AsyncClient, tenant: TenantFixture, site: EnrollResponse
) -> None:
    anonymous = await http.post(f"/api/v1/sites/{site.site_id}/revoke")
    await create_user(cloud.db, tenant.tenant_id, "viewer@acme.example", PASSWORD, role="viewer")
    viewer_csrf = await login(http, "viewer@acme.example")
    as_viewer = await revoke(http, site.site_id, viewer_csrf)
    await login(http, tenant.admin_email)
    without_csrf = await http.post(f"/api/v1/sites/{site.site_id}/revoke")
    admin_page = await http.get(f"/portal/sites/{site.site_id}")

    assert anonymous.status_code == 401
    assert as_viewer.status_code == 403 and as_viewer.json()["error"] == "forbidden"
    assert without_csrf.status_code == 403 and without_csrf.json()["error"] == "csrf_failed"
    assert "Revoke site" in admin_page.text  # the admin sees the button
    await login(http, "viewer@acme.example")
    assert "Revoke site" not in (await http.get(f"/portal/sites/{site.site_id}")).text
    assert (await send_batch(http, site, make_batch(site.site_id, [1]))).status_code == 200


async def test_another_tenants_admin_cannot_revoke(
    cloud: RunningCloud, http: httpx.AsyncClient, tenant: TenantFixture, site: EnrollResponse
) -> None:
    other = await make_tenant(cloud, "Globex")
    csrf = await login(http, other.admin_email)

    api = await revoke(http, site.site_id, csrf)
    form = await http.post(f"/portal/sites/{site.site_id}/revoke", data={"csrf_token": csrf})

    assert api.status_code == 404 and api.json()["error"] == "not_found"
    assert form.status_code == 404
    async with cloud.db() as session:
        row = await session.get(Site, site.site_id)
    assert row is not None and row.revoked_at is None and row.secret == site.secret
    assert (await send_batch(http, site, make_batch(site.site_id, [1]))).status_code == 200
    # The owner's admin can, so the 404 above is isolation, not a bad URL.
    assert (await revoke(http, site.site_id, await login(http, tenant.admin_email))).status_code == 200


async def test_batches_are_refused_after_revocation_and_nothing_is_stored(
    cloud: RunningCloud, http: httpx.AsyncClient, tenant: TenantFixture, site: EnrollResponse
) -> None:
    assert (await send_batch(http, site, make_batch(site.site_id, [1, 2]))).status_code == 200
    await revoke(http, site.site_id, await login(http, tenant.admin_email))

    refused = await send_batch(http, site, make_batch(site.site_id, [3, 4]))
    unsigned = await post_batch(http, site, encode_batch(make_batch(site.site_id, [5])), secret="00" * 32)

    for response in (refused, unsigned):
        assert response.status_code == 403, response.text
        assert response.json()["error"] == "site_revoked"
        assert "revoked" in response.json()["detail"] and "enrollment code" in response.json()["detail"]
    assert await stored_seqs(cloud, site.site_id) == [1, 2]
    async with cloud.db() as session:
        row = await session.get(Site, site.site_id)
    assert row is not None and row.last_seq == 2


async def test_revocation_racing_batches_leaves_only_acked_records(
    cloud: RunningCloud, http: httpx.AsyncClient, tenant: TenantFixture, site: EnrollResponse
) -> None:
    csrf = await login(http, tenant.admin_email)
    batches = [make_batch(site.site_id, [n * 10 + i for i in range(1, 6)]) for n in range(6)]

    *responses, revoked = await asyncio.gather(
        *(send_batch(http, site, batch) for batch in batches), revoke(http, site.site_id, csrf)
    )

    assert revoked.status_code == 200
    acked: list[int] = []
    for batch, response in zip(batches, responses, strict=True):
        assert response.status_code in (200, 403), response.text
        if response.status_code == 200:
            acked += [record.seq for record in batch.records]
    assert await stored_seqs(cloud, site.site_id) == sorted(acked)
    assert (await send_batch(http, site, make_batch(site.site_id, [99]))).status_code == 403


async def test_re_enrolling_needs_a_new_code_and_gives_a_new_site(
    cloud: RunningCloud, http: httpx.AsyncClient, tenant: TenantFixture, site: EnrollResponse
) -> None:
    csrf = await login(http, tenant.admin_email)
    await revoke(http, site.site_id, csrf)

    old_code = await http.post(ENROLL_PATH, json={"code": tenant.code, "hostname": "box-1"})
    issued = await http.post(
        "/api/v1/enrollment-codes", json={"site_name": "Warehouse"}, headers={"X-CSRF-Token": csrf}
    )
    again = await enroll(http, issued.json()["code"], hostname="box-1")

    assert old_code.status_code == 409 and old_code.json()["error"] == "code_used"
    assert again.site_id != site.site_id and again.secret != site.secret
    ack = await send_batch(http, again, make_batch(again.site_id, [1, 2, 3]))
    assert ack.status_code == 200 and SyncAck.model_validate_json(ack.content).stored == 3
    assert (await send_batch(http, site, make_batch(site.site_id, [1]))).status_code == 403
    statuses = {s["id"]: s["status"] for s in (await http.get("/api/v1/sites")).json()["sites"]}
    assert statuses == {site.site_id: "revoked", again.site_id: "active"}


async def test_portal_button_revokes_and_the_page_shows_who_and_when(
    http: httpx.AsyncClient, tenant: TenantFixture, site: EnrollResponse
) -> None:
    await login(http, tenant.admin_email)
    page = await http.get(f"/portal/sites/{site.site_id}")
    assert f'action="/portal/sites/{site.site_id}/revoke"' in page.text

    response = await http.post(f"/portal/sites/{site.site_id}/revoke", data={"csrf_token": portal_csrf(page.text)})

    assert response.status_code == 303 and response.headers["location"] == f"/portal/sites/{site.site_id}"
    after = await http.get(f"/portal/sites/{site.site_id}")
    assert re.search(rf"revoked \d{{4}}-\d\d-\d\d \d\d:\d\d UTC by {re.escape(tenant.admin_email)}", after.text)
    assert "Revoke site" not in after.text and 'id="re-enroll"' in after.text
    listing = await http.get("/portal")
    assert 'class="badge">revoked<' in listing.text and tenant.admin_email in listing.text
    # The page's "new enrollment code" button issues a code for a site of the same name.
    issued = await http.post(
        "/portal/enrollment-codes",
        data={"csrf_token": portal_csrf(after.text), "site_name": "Warehouse", "timezone": "UTC"},
    )
    match = re.search(r'data-testid="enrollment-code">([A-Z2-9-]+)<', issued.text)
    assert match and (await enroll(http, match.group(1))).site_name == "Warehouse"


async def test_cli_revokes_a_site_of_the_named_tenant_only(
    cloud: RunningCloud,
    cloud_config: CloudConfig,
    http: httpx.AsyncClient,
    tenant: TenantFixture,
    site: EnrollResponse,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    other = await make_tenant(cloud, "Globex")
    config = tmp_path / "cloud.toml"
    config.write_text(
        f'data_dir = "{cloud_config.data_dir}"\ndatabase_url = "{cloud_config.database_url}"\n', encoding="utf-8"
    )
    base = ["revoke-site", "--config", str(config)]

    async def run(*args: str) -> tuple[int, str, str]:
        # main() runs its own event loop, so it gets a thread; the cloud keeps serving meanwhile.
        status = await asyncio.to_thread(main, [*base, *args])
        out, err = capsys.readouterr()
        return status, out, err

    wrong_tenant = await run("--tenant-id", other.tenant_id, "--site-id", site.site_id)
    unknown_tenant = await run("--tenant-id", "nope", "--site-id", site.site_id)
    ok = await run("--tenant-id", tenant.tenant_id, "--site-id", site.site_id, "--by", "ops on call")
    twice = await run("--tenant-id", tenant.tenant_id, "--site-id", site.site_id)

    assert wrong_tenant[0] == 1 and f"has no site {site.site_id!r}" in wrong_tenant[2]
    assert unknown_tenant[0] == 1 and "unknown tenant 'nope'" in unknown_tenant[2]
    assert ok[0] == 0, ok[2]
    line = json.loads(ok[1])
    assert line["site_id"] == site.site_id and line["name"] == "Warehouse" and line["revoked_by"] == "ops on call"
    assert twice[0] == 1 and "already revoked" in twice[2] and "ops on call" in twice[2]
    assert (await send_batch(http, site, make_batch(site.site_id, [1]))).status_code == 403


def test_cli_revoke_site_has_help(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_info:
        main(["revoke-site", "--help"])

    assert exit_info.value.code == 0
    out = capsys.readouterr().out
    assert "--tenant-id" in out and "--site-id" in out and "--by" in out and "create-code" in out


# `records` as revision 0001 made it (the model has moved on: tenant_id in its key since 0021).
RECORDS_0001 = table(
    "records",
    column("site_id", String),
    column("seq", BigInteger),
    column("kind", String),
    column("occurred_at", UTCDateTime()),
    column("payload", JSON().with_variant(JSONB(), "postgresql")),
    column("received_at", UTCDateTime()),
)


async def test_migration_keeps_sites_and_records_both_ways(db_url: str) -> None:
    await upgrade(db_url, "0001")
    engine = create_engine(db_url)
    now = utcnow()
    try:
        async with engine.begin() as conn:
            await conn.execute(insert(Tenant.__table__).values(id="t1", name="Acme", created_at=now))
            await conn.execute(
                insert(Site.__table__).values(
                    id="s1",
                    tenant_id="t1",
                    name="HQ",
                    timezone="UTC",
                    secret="ab" * 32,
                    enrolled_at=now,
                    hostname="",
                    last_seq=1,
                )
            )
            # The table as revision 0001 made it (the model has moved on: tenant_id in its key since 0021).
            await conn.execute(
                insert(RECORDS_0001).values(
                    site_id="s1", seq=1, kind="event", occurred_at=now, payload={}, received_at=now
                )
            )
        await upgrade(db_url)
        async with engine.connect() as conn:
            revoked_at = (await conn.execute(select(Site.revoked_at).where(Site.id == "s1"))).scalar_one()
            owners = (await conn.execute(select(Record.tenant_id, Record.site_id, Record.seq))).all()
        await downgrade(db_url, "0001")
        async with engine.connect() as conn:
            records = (await conn.execute(select(func.count()).select_from(RECORDS_0001))).scalar_one()
    finally:
        await engine.dispose()

    assert revoked_at is None
    assert owners == [("t1", "s1", 1)]  # 0021 gave the record its site's tenant
    assert records == 1  # rebuilding `sites` on SQLite would have cascaded to its records
