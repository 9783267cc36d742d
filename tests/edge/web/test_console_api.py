"""Console HTTP security: sessions, CSRF, and the JSON API with a real HTTP client."""

from __future__ import annotations

import asyncio

import httpx

from edge import keys
from edge.storage.schema import console_users
from tests.edge.console import console_login
from tests.edge.site import ADMIN_PASSWORD
from tests.polling import eventually


async def test_api_requires_login(edge_app) -> None:
    async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{edge_app.web_port}") as client:
        assert (await client.get("/api/v1/status")).status_code == 401
        assert (await client.post("/api/v1/doors/front/unlock")).status_code == 401
        page = await client.get("/")
        assert page.status_code == 303 and page.headers["location"] == "/login"


async def test_unsafe_requests_need_the_csrf_token(edge_app, devices) -> None:
    lock = await devices("lock-front", "lock")
    await eventually(lambda: edge_app.app[keys.SITE_STATE].doors["front"].lock_online)  # else 409 door_offline
    async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{edge_app.web_port}") as client:
        csrf = await console_login(client)
        assert (await client.post("/api/v1/doors/front/unlock")).status_code == 403
        bad = await client.post("/api/v1/doors/front/unlock", headers={"X-CSRF-Token": "guess"})
        assert bad.status_code == 403
        ok = await client.post("/api/v1/doors/front/unlock", headers={"X-CSRF-Token": csrf})
        assert ok.status_code == 202
        # The refused requests sent nothing: the first command the lock gets is the accepted one (a barrier).
        first = await asyncio.wait_for(lock.commands.get(), 5)
        assert first.id == ok.json()["command_id"]
        assert (await client.post("/api/v1/doors/nope/unlock", headers={"X-CSRF-Token": csrf})).status_code == 404
        cross = await client.post(
            "/api/v1/doors/front/lock", headers={"X-CSRF-Token": csrf, "Origin": "http://evil.example"}
        )
        assert cross.status_code == 403


async def test_people_api_validates_bodies(edge_app) -> None:
    async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{edge_app.web_port}") as client:
        csrf = await console_login(client)
        headers = {"X-CSRF-Token": csrf}
        bad = await client.post("/api/v1/people", json={"name": "", "badges": ["1"]}, headers=headers)
        assert bad.status_code == 400
        assert bad.json()["error"] == "invalid_body"
        created = await client.post("/api/v1/people", json={"name": "Alan", "credentials": ["77"]}, headers=headers)
        assert created.status_code == 201
        people = (await client.get("/api/v1/people")).json()
        assert people == [
            {
                "id": created.json()["id"],
                "name": "Alan",
                "active": True,
                "managed_by_hq": False,
                "local_changes": False,
                "credentials": ["77"],
            }
        ]
        status = (await client.get("/api/v1/status")).json()
        assert status["site"]["id"] == "test-site"
        assert status["doors"][0]["door_id"] == "front"


async def test_passwords_are_stored_hashed(edge_app) -> None:
    async with edge_app.app[keys.DATABASE].engine.connect() as conn:
        stored = (await conn.execute(console_users.select())).first()
    assert stored.password_hash.startswith("$argon2")
    assert ADMIN_PASSWORD not in stored.password_hash


async def test_logout_ends_the_session(edge_app) -> None:
    async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{edge_app.web_port}") as client:
        csrf = await console_login(client)
        assert (await client.post("/logout", data={"csrf_token": csrf})).status_code == 303
        assert (await client.get("/api/v1/status")).status_code == 401
