"""Portal and JSON API: login, sessions, CSRF, roles and tenant isolation."""

from __future__ import annotations

import re
from datetime import timedelta

import httpx
from argon2 import PasswordHasher
from cloud_helpers import (
    PASSWORD,
    TenantFixture,
    enroll,
    login,
    make_batch,
    make_tenant,
    portal_csrf,
    portal_login,
    send_batch,
)
from sqlalchemy import select, text

from cloud.admin import create_user
from cloud.app import RunningCloud
from cloud.db.models import User
from sync.wire import EnrollResponse


async def test_passwords_are_stored_as_argon2_hashes(cloud: RunningCloud, tenant: TenantFixture) -> None:
    async with cloud.db() as session:
        user = await session.scalar(select(User).where(User.email == tenant.admin_email))

    assert user is not None
    assert user.password_hash.startswith("$argon2id$")
    assert PASSWORD not in user.password_hash
    assert PasswordHasher().verify(user.password_hash, PASSWORD)


async def test_wrong_password_is_refused(http: httpx.AsyncClient, tenant: TenantFixture) -> None:
    api = await http.post("/api/v1/login", json={"email": tenant.admin_email, "password": "wrong password"})
    form = await portal_login(http, tenant.admin_email, "wrong password")
    unknown = await http.post("/api/v1/login", json={"email": "nobody@example.com", "password": PASSWORD})

    assert api.status_code == 401 and api.json()["error"] == "bad_credentials"
    assert form.status_code == 401 and "Wrong e-mail or password" in form.text
    assert unknown.status_code == 401
    assert "outpost_session" not in http.cookies
    assert (await http.get("/api/v1/sites")).status_code == 401


async def test_form_login_sets_a_safe_session_cookie(http: httpx.AsyncClient, tenant: TenantFixture) -> None:
    response = await portal_login(http, tenant.admin_email.upper(), tenant.admin_password)

    assert response.status_code == 303 and response.headers["location"] == "/portal"
    cookie = next(c for c in response.headers.get_list("set-cookie") if c.startswith("outpost_session="))
    assert "HttpOnly" in cookie and "SameSite=Lax" in cookie and "Path=/" in cookie
    portal = await http.get("/portal")
    assert portal.status_code == 200 and tenant.admin_email in portal.text


async def test_login_form_needs_its_double_submit_token(http: httpx.AsyncClient, tenant: TenantFixture) -> None:
    response = await http.post("/login", data={"email": tenant.admin_email, "password": tenant.admin_password})

    assert response.status_code == 403
    assert "outpost_session" not in http.cookies


async def test_pages_and_api_need_a_login(http: httpx.AsyncClient) -> None:
    portal = await http.get("/portal")
    api = await http.get("/api/v1/sites")
    write = await http.post("/api/v1/enrollment-codes", json={"site_name": "X"})

    assert portal.status_code == 303 and portal.headers["location"] == "/login"
    assert api.status_code == 401 and api.json()["error"] == "unauthenticated"
    assert write.status_code == 401


async def test_post_without_csrf_token_is_403(http: httpx.AsyncClient, tenant: TenantFixture) -> None:
    csrf = await login(http, tenant.admin_email)

    missing = await http.post("/api/v1/enrollment-codes", json={"site_name": "Depot"})
    wrong = await http.post("/api/v1/enrollment-codes", json={"site_name": "Depot"}, headers={"X-CSRF-Token": "forged"})
    form = await http.post("/portal/enrollment-codes", data={"site_name": "Depot"})
    logout = await http.post("/logout")

    assert missing.status_code == 403 and missing.json()["error"] == "csrf_failed"
    assert wrong.status_code == 403
    assert form.status_code == 403
    assert logout.status_code == 403
    assert (await http.get("/api/v1/sites")).status_code == 200  # still logged in
    ok = await http.post("/api/v1/enrollment-codes", json={"site_name": "Depot"}, headers={"X-CSRF-Token": csrf})
    assert ok.status_code == 201, ok.text


async def test_admin_creates_a_code_that_enrolls_a_site(http: httpx.AsyncClient, tenant: TenantFixture) -> None:
    csrf = await login(http, tenant.admin_email)

    response = await http.post(
        "/api/v1/enrollment-codes",
        json={"site_name": "Depot", "ttl_hours": 2, "timezone": "Europe/Paris"},
        headers={"X-CSRF-Token": csrf},
    )

    assert response.status_code == 201, response.text
    assert re.fullmatch(r"[A-Z2-9]{4}(-[A-Z2-9]{4}){3}", response.json()["code"])
    enrolled = await enroll(http, response.json()["code"])
    assert enrolled.site_name == "Depot" and enrolled.timezone == "Europe/Paris"
    assert enrolled.tenant_id == tenant.tenant_id


async def test_enrollment_code_request_is_validated(http: httpx.AsyncClient, tenant: TenantFixture) -> None:
    csrf = await login(http, tenant.admin_email)

    response = await http.post(
        "/api/v1/enrollment-codes",
        json={"site_name": "Depot", "ttl_hours": 0, "timezone": "Mars/Olympus"},
        headers={"X-CSRF-Token": csrf},
    )

    assert response.status_code == 400
    assert "ttl_hours" in response.json()["detail"] and "timezone" in response.json()["detail"]


async def test_viewer_cannot_create_codes(cloud: RunningCloud, http: httpx.AsyncClient, tenant: TenantFixture) -> None:
    await create_user(cloud.db, tenant.tenant_id, "viewer@acme.example", PASSWORD, role="viewer")
    csrf = await login(http, "viewer@acme.example")

    response = await http.post("/api/v1/enrollment-codes", json={"site_name": "Depot"}, headers={"X-CSRF-Token": csrf})

    assert response.status_code == 403 and response.json()["error"] == "forbidden"
    assert (await http.get("/api/v1/sites")).status_code == 200


async def test_logout_ends_the_session(http: httpx.AsyncClient, tenant: TenantFixture) -> None:
    csrf = await login(http, tenant.admin_email)
    stolen = {"Cookie": f"outpost_session={http.cookies['outpost_session']}"}
    async with httpx.AsyncClient(base_url=http.base_url, headers=stolen) as thief:
        assert (await thief.get("/api/v1/sites")).status_code == 200

        response = await http.post("/api/v1/logout", headers={"X-CSRF-Token": csrf})

        assert response.status_code == 204
        assert "outpost_session" not in http.cookies
        assert (await thief.get("/api/v1/sites")).status_code == 401


async def test_a_leaked_sessions_row_yields_neither_a_session_nor_a_csrf_token(
    cloud: RunningCloud, http: httpx.AsyncClient, tenant: TenantFixture
) -> None:
    csrf = await login(http, tenant.admin_email)
    cookie = http.cookies["outpost_session"]
    async with cloud.db() as session:
        rows = (await session.execute(text("SELECT * FROM sessions"))).mappings().all()
    leaked = [str(value) for row in rows for value in row.values() if value is not None]

    assert len(rows) == 1
    assert not [value for value in leaked if cookie in value or csrf in value]
    # Every stored value, tried as the cookie (stolen session) and as the CSRF token of a forged cross-site post
    # riding on the victim's own cookie, is refused.
    for value in leaked:
        async with httpx.AsyncClient(base_url=http.base_url, cookies={"outpost_session": value}) as thief:
            assert (await thief.get("/api/v1/sites")).status_code == 401
        forged = await http.post(
            "/api/v1/enrollment-codes", json={"site_name": "Depot"}, headers={"X-CSRF-Token": value}
        )
        assert forged.status_code == 403 and forged.json()["error"] == "csrf_failed"
    genuine = await http.post("/api/v1/enrollment-codes", json={"site_name": "Depot"}, headers={"X-CSRF-Token": csrf})
    assert genuine.status_code == 201, genuine.text


async def test_sites_api_lists_sites_with_counts_and_records(
    http: httpx.AsyncClient, tenant: TenantFixture, site: EnrollResponse
) -> None:
    await send_batch(http, site, make_batch(site.site_id, [1, 2, 3], kind="event"))
    await send_batch(http, site, make_batch(site.site_id, [4, 5], kind="event", age=timedelta(days=3)))
    await send_batch(http, site, make_batch(site.site_id, [6], kind="audit"))
    await login(http, tenant.admin_email)

    sites = (await http.get("/api/v1/sites")).json()["sites"]
    records = await http.get(f"/api/v1/sites/{site.site_id}/records", params={"limit": 4})
    events = await http.get(f"/api/v1/sites/{site.site_id}/records", params={"kind": "event"})
    bad_limit = await http.get(f"/api/v1/sites/{site.site_id}/records", params={"limit": "lots"})

    assert [s["id"] for s in sites] == [site.site_id]
    assert sites[0]["name"] == "Warehouse" and sites[0]["hostname"] == "box-1" and sites[0]["last_seq"] == 6
    assert sites[0]["counts"] == {"audit": {"total": 1, "last_24h": 1}, "event": {"total": 5, "last_24h": 3}}
    assert [r["seq"] for r in records.json()["records"]] == [6, 5, 4, 3]
    assert [r["seq"] for r in events.json()["records"]] == [5, 4, 3, 2, 1]
    assert bad_limit.status_code == 400 and bad_limit.json()["error"] == "bad_query"


async def test_tenant_cannot_see_another_tenants_site(
    cloud: RunningCloud, http: httpx.AsyncClient, tenant: TenantFixture
) -> None:
    other = await make_tenant(cloud, "Globex", site_name="Globex Secret Lab")
    other_site = await enroll(http, other.code)
    await send_batch(http, other_site, make_batch(other_site.site_id, [1, 2]))
    own_site = await enroll(http, tenant.code)
    await login(http, tenant.admin_email)

    listing = (await http.get("/api/v1/sites")).json()["sites"]
    api_site = await http.get(f"/api/v1/sites/{other_site.site_id}")
    api_records = await http.get(f"/api/v1/sites/{other_site.site_id}/records")
    page = await http.get(f"/portal/sites/{other_site.site_id}")
    portal = await http.get("/portal")

    assert [s["id"] for s in listing] == [own_site.site_id]
    assert api_site.status_code == 404 and api_records.status_code == 404
    assert page.status_code == 404 and "Globex" not in page.text
    assert "Globex Secret Lab" not in portal.text and "Warehouse" in portal.text
    # The same requests do work for the owner, so the 404s above come from isolation, not from bad URLs.
    await login(http, other.admin_email)
    assert (await http.get(f"/api/v1/sites/{other_site.site_id}/records")).status_code == 200
    assert (await http.get(f"/portal/sites/{other_site.site_id}")).status_code == 200


async def test_portal_form_creates_a_code(http: httpx.AsyncClient, tenant: TenantFixture) -> None:
    await portal_login(http, tenant.admin_email, tenant.admin_password)
    csrf = portal_csrf((await http.get("/portal")).text)

    response = await http.post(
        "/portal/enrollment-codes", data={"csrf_token": csrf, "site_name": "Loading Dock", "ttl_hours": "12"}
    )

    assert response.status_code == 200
    match = re.search(r'data-testid="enrollment-code">([A-Z2-9-]+)<', response.text)
    assert match and "Loading Dock" in response.text
    assert (await enroll(http, match.group(1))).site_name == "Loading Dock"


async def test_portal_form_errors_are_shown(http: httpx.AsyncClient, tenant: TenantFixture) -> None:
    await portal_login(http, tenant.admin_email, tenant.admin_password)
    csrf = portal_csrf((await http.get("/portal")).text)

    response = await http.post(
        "/portal/enrollment-codes", data={"csrf_token": csrf, "site_name": "  ", "ttl_hours": "9999"}
    )

    assert response.status_code == 400
    assert "site_name" in response.text and "ttl_hours" in response.text
