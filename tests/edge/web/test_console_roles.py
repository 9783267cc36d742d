"""Console roles: admin, guard and viewer over real HTTP, with the check in one place (edge.web.roles)."""

from __future__ import annotations

import asyncio

import httpx
import pytest

from edge import keys
from edge.web.auth import CONSOLE_AUTH
from edge.web.roles import allowed, required_role
from tests.edge.console import console_login
from tests.polling import eventually

GUARD_PW = "guard-password-1"
VIEWER_PW = "viewer-password-1"


async def _add_staff(edge_app) -> None:
    auth = edge_app.app[CONSOLE_AUTH]
    await auth.create_user("gina", GUARD_PW, "guard")
    await auth.create_user("victor", VIEWER_PW, "viewer")


@pytest.mark.parametrize(
    ("method", "path", "needed"),
    [
        ("GET", "/", "viewer"),
        ("GET", "/api/v1/people", "viewer"),
        ("GET", "/users", "admin"),
        ("GET", "/audit", "admin"),
        ("POST", "/logout", "viewer"),
        ("POST", "/api/v1/doors/front/unlock", "guard"),
        ("POST", "/api/v1/alarms/3/ack", "guard"),
        ("PUT", "/api/v1/access/lockdown", "guard"),
        ("POST", "/api/v1/people", "admin"),
        ("PATCH", "/api/v1/people/1", "admin"),
        ("POST", "/api/v1/doors/front/unlock/extra", "admin"),
        ("GET", "/people", "viewer"),
        ("GET", "/people/7", "viewer"),
        ("GET", "/people/7/enrolment", "viewer"),
        ("GET", "/people/import", "admin"),
        ("POST", "/people/7/enrol", "admin"),
        ("POST", "/people/visitors", "admin"),
        ("POST", "/people/import/confirm", "admin"),
        ("GET", "/doors", "viewer"),
        ("GET", "/schedules/office", "viewer"),
        ("POST", "/schedules/save", "admin"),
        ("POST", "/doors/front/settings", "admin"),
        ("POST", "/holidays/save", "admin"),
        ("GET", "/devices", "viewer"),
        ("POST", "/devices/pin-lockouts/clear", "guard"),
        ("GET", "/devices/pair", "admin"),
        ("POST", "/devices/pair", "admin"),
        ("POST", "/some/route/added/later", "admin"),  # a new route is closed until listed
    ],
)
def test_each_request_needs_its_role(method: str, path: str, needed: str) -> None:
    assert required_role(method, path) == needed
    assert not allowed("root", "GET", "/")  # an unknown role may do nothing


async def test_viewer_guard_and_admin_over_http(edge_app, devices) -> None:
    await _add_staff(edge_app)
    lock = await devices("lock-front", "lock")
    await eventually(lambda: edge_app.app[keys.SITE_STATE].doors["front"].lock_online)
    base = f"http://127.0.0.1:{edge_app.web_port}"
    async with (
        httpx.AsyncClient(base_url=base) as viewer,
        httpx.AsyncClient(base_url=base) as guard,
        httpx.AsyncClient(base_url=base) as admin,
    ):
        v = {"X-CSRF-Token": await console_login(viewer, VIEWER_PW, "victor")}
        g = {"X-CSRF-Token": await console_login(guard, GUARD_PW, "gina")}
        a = {"X-CSRF-Token": await console_login(admin)}

        # Everyone reads.
        for client in (viewer, guard, admin):
            assert (await client.get("/api/v1/status")).status_code == 200
            assert (await client.get("/api/v1/people")).status_code == 200

        # A viewer changes nothing; the refusal names the role needed.
        refused = await viewer.post("/api/v1/doors/front/unlock", headers=v)
        assert refused.status_code == 403
        assert refused.json() == {"error": "forbidden", "detail": "a viewer may not do this; it needs the guard role"}
        assert (await viewer.post("/api/v1/alarms/1/ack", json={}, headers=v)).status_code == 403
        assert (await viewer.put("/api/v1/access/lockdown", json={"active": True}, headers=v)).status_code == 403

        # A guard opens doors, but does not edit people, rules or users.
        opened = await guard.post("/api/v1/doors/front/unlock", headers=g)
        assert opened.status_code == 202
        person = {"name": "Mallory", "credentials": ["4242"]}
        assert (await guard.post("/api/v1/people", json=person, headers=g)).status_code == 403
        assert (await guard.put("/api/v1/rules/x", json={}, headers=g)).status_code == 403
        assert (await guard.post("/api/v1/sync/retry", headers=g)).status_code == 403
        page = await guard.get("/users")
        assert page.status_code == 403 and "Not allowed" in page.text
        assert (await guard.get("/audit")).status_code == 403
        # The guard's ack passes the role check (404: no such alarm, not 403).
        assert (await guard.post("/api/v1/alarms/999/ack", json={}, headers=g)).status_code == 404

        # An admin does everything.
        created = await admin.post("/api/v1/people", json=person, headers=a)
        assert created.status_code == 201
        assert (await admin.get("/users")).status_code == 200

        # The refused requests sent nothing: the first command the lock got is the guard's (a barrier).
        first = await asyncio.wait_for(lock.commands.get(), 5)
        assert first.id == opened.json()["command_id"]
        people = (await admin.get("/api/v1/people")).json()
        assert [p["name"] for p in people] == ["Mallory"]


async def test_users_page_adds_changes_and_keeps_an_admin(edge_app) -> None:
    await _add_staff(edge_app)
    base = f"http://127.0.0.1:{edge_app.web_port}"
    async with httpx.AsyncClient(base_url=base) as admin, httpx.AsyncClient(base_url=base) as gina:
        csrf = await console_login(admin)
        await console_login(gina, GUARD_PW, "gina")
        added = await admin.post(
            "/users", data={"csrf_token": csrf, "username": "olga", "password": "olga-password", "role": "viewer"}
        )
        assert added.status_code == 303
        short = await admin.post(
            "/users", data={"csrf_token": csrf, "username": "pat", "password": "short", "role": "guard"}
        )
        assert short.status_code == 400 and "at least 8 characters" in short.text
        bad_role = await admin.post(
            "/users", data={"csrf_token": csrf, "username": "pat", "password": "long-enough", "role": "root"}
        )
        assert bad_role.status_code == 400
        dup = await admin.post(
            "/users", data={"csrf_token": csrf, "username": "olga", "password": "olga-password", "role": "guard"}
        )
        assert dup.status_code == 409

        users = {u.username: u for u in await edge_app.app[CONSOLE_AUTH].list_users()}
        assert {n: u.role for n, u in users.items()} == {
            "admin": "admin",
            "gina": "guard",
            "olga": "viewer",
            "victor": "viewer",
        }
        # The last admin cannot be demoted or removed.
        last = await admin.post(f"/users/{users['admin'].id}/role", data={"csrf_token": csrf, "role": "viewer"})
        assert last.status_code == 409 and "at least one admin" in last.text
        assert (await admin.post(f"/users/{users['admin'].id}/delete", data={"csrf_token": csrf})).status_code == 409

        # A role change applies to a logged-in user's next request.
        assert (await gina.get("/api/v1/status")).status_code == 200
        demoted = await admin.post(f"/users/{users['gina'].id}/role", data={"csrf_token": csrf, "role": "viewer"})
        assert demoted.status_code == 303
        page = (await gina.get("/")).text
        assert 'data-console-role="viewer"' in page
        removed = await admin.post(f"/users/{users['gina'].id}/delete", data={"csrf_token": csrf})
        assert removed.status_code == 303
        assert (await gina.get("/api/v1/status")).status_code == 401  # her session ended with her account

        audit = (await admin.get("/audit")).text
        for line in (
            "admin added console user olga (viewer)",
            "admin made gina a viewer",
            "admin removed console user gina",
        ):
            assert line in audit
