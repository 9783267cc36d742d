"""Cloud hardening: security headers on every answer, no 500 on hostile input, no SQL parameters in logs.

Every test runs on SQLite and on PostgreSQL (which refuses NUL characters in text: the 500s came from there).
The route fuzz walks the router itself, so a route added later is fuzzed without touching this file.
"""

from __future__ import annotations

import logging
import re
from urllib.parse import quote

import httpx
import pytest
from cloud_helpers import TenantFixture, login, portal_login
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError

from cloud.app import RunningCloud
from cloud.db.engine import create_engine
from sync.wire import ENROLL_PATH, EnrollResponse

HOSTILE_SEGMENTS = ["\x00", "a\x00b", "１", "٣", "9" * 30, "-1", "a" * 5000, "America", "..", "%"]
_PLACEHOLDER = re.compile(r"\{([^}:]+)(?::[^}]*)?\}")


@pytest.fixture
async def admin(http: httpx.AsyncClient, tenant: TenantFixture) -> httpx.AsyncClient:
    """The HTTP client, logged in as the tenant admin and sending its CSRF token on every request."""
    http.headers["X-CSRF-Token"] = await login(http, tenant.admin_email)
    return http


async def portal_form(http: httpx.AsyncClient, path: str, data: dict[str, str]) -> httpx.Response:
    """Submit a portal form the way the browser does (with the session's CSRF token as a field)."""
    return await http.post(path, data={"csrf_token": http.headers["X-CSRF-Token"], **data})


async def test_hostile_path_segments_never_cause_a_500(
    cloud: RunningCloud, admin: httpx.AsyncClient, site: EnrollResponse
) -> None:
    routes = sorted(
        {
            (route.method, info["formatter"])
            for route in cloud.app.router.routes()
            if route.resource is not None and "formatter" in (info := route.resource.get_info())
        }
    )
    assert ("GET", "/api/v1/sites/{site_id}") in routes and ("GET", "/portal/sites/{site_id}") in routes

    failures = []
    for method, template in routes:
        for value in HOSTILE_SEGMENTS:
            path = _PLACEHOLDER.sub(lambda _m, v=value: quote(v, safe=""), template)
            response = await admin.request(method, path, json={})
            if response.status_code >= 500:
                failures.append(f"{method} {template} with {value[:20]!r}: {response.status_code}")
    assert not failures, "\n".join(failures)
    # The site itself is untouched and still answers.
    assert (await admin.get(f"/api/v1/sites/{site.site_id}")).json()["status"] == "active"


@pytest.mark.parametrize("path", ["/api/v1/sites/{}", "/api/v1/sites/{}/records", "/portal/sites/{}"])
async def test_nul_in_a_site_id_is_400(admin: httpx.AsyncClient, site: EnrollResponse, path: str) -> None:
    response = await admin.get(path.format(quote(site.site_id + "\x00", safe="")))

    assert response.status_code == 400


async def test_nul_in_the_query_is_400(admin: httpx.AsyncClient, site: EnrollResponse) -> None:
    response = await admin.get(f"/api/v1/sites/{site.site_id}/records", params={"kind": "event\x00"})

    assert response.status_code == 400
    assert response.json()["error"] == "bad_request"


async def test_nul_in_a_login_email_is_refused(http: httpx.AsyncClient, tenant: TenantFixture) -> None:
    api = await http.post("/api/v1/login", json={"email": tenant.admin_email + "\x00", "password": "x"})
    form = await portal_login(http, "\x00" + tenant.admin_email, "x")

    assert api.status_code == 400
    assert "email" in api.json()["detail"]
    assert form.status_code == 401
    assert "Wrong e-mail or password." in form.text


async def test_nul_in_a_site_name_is_400(admin: httpx.AsyncClient) -> None:
    api = await admin.post("/api/v1/enrollment-codes", json={"site_name": "Depot\x00 2"})
    form = await portal_form(admin, "/portal/enrollment-codes", {"site_name": "Depot\x00 2", "ttl_hours": "24"})

    assert api.status_code == 400
    assert api.json()["detail"].startswith("site_name:")
    assert form.status_code == 400
    assert "site_name" in form.text


async def test_nul_in_the_enrollment_hostname_is_400(http: httpx.AsyncClient, tenant: TenantFixture) -> None:
    refused = await http.post(ENROLL_PATH, json={"code": tenant.code, "hostname": "box\x00-1"})
    accepted = await http.post(ENROLL_PATH, json={"code": tenant.code, "hostname": "box-1"})

    assert refused.status_code == 400
    assert refused.json()["detail"].startswith("hostname:")
    assert accepted.status_code == 200  # the refusal did not use up the code


@pytest.mark.parametrize("zone", ["America", "Europe", "Etc", "Europe/\x00", "zone.tab", "../../etc/passwd"])
async def test_a_time_zone_that_is_no_zone_is_400(admin: httpx.AsyncClient, zone: str) -> None:
    api = await admin.post("/api/v1/enrollment-codes", json={"site_name": "Depot", "timezone": zone})
    form = await portal_form(admin, "/portal/enrollment-codes", {"site_name": "Depot", "timezone": zone})
    good = await admin.post("/api/v1/enrollment-codes", json={"site_name": "Depot", "timezone": "America/Chicago"})

    assert api.status_code == 400
    assert api.json()["detail"].startswith("timezone:")
    assert form.status_code == 400
    assert good.status_code == 201 and good.json()["timezone"] == "America/Chicago"


@pytest.mark.parametrize("limit", ["１", "٣", "+5", " 5", "5_0", "9" * 30])
async def test_only_ascii_digits_are_a_limit(admin: httpx.AsyncClient, site: EnrollResponse, limit: str) -> None:
    response = await admin.get(f"/api/v1/sites/{site.site_id}/records", params={"limit": limit})

    assert response.status_code == 400
    assert response.json()["error"] == "bad_query"


SECURITY_HEADERS = {
    "x-frame-options": "DENY",
    "x-content-type-options": "nosniff",
    "referrer-policy": "same-origin",
    "cache-control": "no-store",
}


async def test_every_answer_carries_the_security_headers(
    http: httpx.AsyncClient, tenant: TenantFixture, site: EnrollResponse
) -> None:
    anonymous = [
        await http.get("/"),  # 303
        await http.get("/login"),
        await http.get("/portal"),  # 303 to the login page
        await http.get("/api/v1/sites"),  # 401
        await http.get("/nowhere"),  # aiohttp's own 404
        await http.get("/api/v1/enrollment-codes"),  # 405
        await http.post("/api/v1/sync/batch", content=b"x"),  # 401 unsigned
        await http.post(ENROLL_PATH, json={}),  # 400
        await http.post("/api/v1/login", json={"email": tenant.admin_email, "password": "wrong"}),  # 401
        await http.get("/healthz"),
    ]
    csrf = await login(http, tenant.admin_email)
    logged_in = [
        await http.get("/portal"),
        await http.get(f"/portal/sites/{site.site_id}"),
        await http.get(f"/api/v1/sites/{site.site_id}/records"),
        await http.post(f"/api/v1/sites/{site.site_id}/revoke", headers={"X-CSRF-Token": "wrong"}),  # 403
        await http.get("/api/v1/sites/nope"),  # 404
        await http.post("/api/v1/enrollment-codes", json={"site_name": ""}, headers={"X-CSRF-Token": csrf}),
    ]

    assert [r.status_code for r in anonymous] == [303, 200, 303, 401, 404, 405, 401, 400, 401, 200]
    assert [r.status_code for r in logged_in] == [200, 200, 200, 403, 404, 400]
    for response in anonymous + logged_in:
        for name, value in SECURITY_HEADERS.items():
            assert response.headers.get(name) == value, (response.request.url, name, dict(response.headers))
        assert "frame-ancestors 'none'" in response.headers["content-security-policy"]


async def test_database_errors_never_print_parameters(db_url: str, caplog: pytest.LogCaptureFixture) -> None:
    secret = "f00d" * 16
    engine = create_engine(db_url)
    try:
        async with engine.connect() as conn:
            with pytest.raises(DBAPIError) as failure:
                await conn.execute(text("SELECT * FROM no_such_table WHERE secret = :secret"), {"secret": secret})
    finally:
        await engine.dispose()
    logging.getLogger("test").exception("as the server would log it", exc_info=failure.value)

    assert "no_such_table" in str(failure.value)
    assert secret not in str(failure.value)
    assert secret not in caplog.text
