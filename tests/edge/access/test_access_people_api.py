"""People and snapshot JSON API: PATCH suspend/activate and levels, PUT snapshot; sessions, CSRF, strict bodies."""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest

from edge import keys
from edge.config import EdgeConfig
from firmware_adapters.messages import BadgeRead
from tests.edge.console import console_headers
from tests.edge.site import site_config_dict


@pytest.fixture
def edge_config(tmp_path: Path) -> EdgeConfig:
    """The plain test site with two access levels."""
    data = site_config_dict(tmp_path / "edge")
    data["access"] = {"levels": {"staff": {"doors": ["front"]}, "visitors": {"doors": ["front"]}}}
    return EdgeConfig.model_validate(data)


@pytest.fixture
async def client(edge_app):
    async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{edge_app.web_port}") as http:
        http.headers.update(await console_headers(http))
        yield http


async def decide(edge_app, credential: str) -> str:
    return (await edge_app.app[keys.ACCESS].on_badge("reader-front", BadgeRead(credential=credential))).reason.value


async def test_enrol_assign_levels_suspend_and_activate(edge_app, client) -> None:
    created = await client.post("/api/v1/people", json={"name": "Ada", "credentials": ["04:a1:b2:c3"], "pin": "1234"})
    assert created.status_code == 201
    person = f"/api/v1/people/{created.json()['id']}"
    detail = (await client.get(person)).json()
    assert detail["credentials"][0]["number"] == "04A1B2C3"
    assert (detail["levels"], detail["has_pin"], detail["active"]) == ([], True, True)
    assert "1234" not in repr(detail)
    assert await decide(edge_app, "04A1B2C3") == "no_access_level"

    assigned = await client.patch(person, json={"levels": ["staff"], "role": "security"})
    assert assigned.status_code == 200
    assert (assigned.json()["levels"], assigned.json()["role"]) == (["staff"], "security")
    assert await decide(edge_app, "04A1B2C3") == "granted"

    suspended = await client.patch(person, json={"active": False})
    assert suspended.json()["active"] is False
    assert await decide(edge_app, "04A1B2C3") == "suspended"
    assert (await client.patch(person, json={"active": True})).json()["active"] is True
    assert await decide(edge_app, "04A1B2C3") == "granted"

    expired = await client.patch(person, json={"valid_until": "2020-01-01T00:00:00+01:00", "pin": None})
    assert expired.json()["valid_until"] == "2019-12-31T23:00:00+00:00" and expired.json()["has_pin"] is False
    assert await decide(edge_app, "04A1B2C3") == "expired"

    audits = [e for e in await edge_app.app[keys.JOURNAL].recent(20, "audit") if e.payload["type"] == "person_changed"]
    assert [a.payload["by"] for a in audits] == ["admin"] * 4
    assert audits[-1].summary == f"admin changed person {created.json()['id']} (levels, role)"
    assert "suspended" in audits[-2].summary
    assert audits[0].payload["changes"]["pin"] == "cleared"


@pytest.mark.parametrize(
    ("body", "status", "error"),
    [
        ({"levels": ["root"]}, 422, "invalid_value"),
        ({"suspended": True}, 400, "invalid_body"),  # unknown keys are rejected
        ({}, 400, "invalid_body"),
        ({"active": None}, 400, "invalid_body"),
        ({"pin": "12"}, 400, "invalid_body"),
        ({"valid_until": "2030-01-01T00:00:00"}, 400, "invalid_body"),  # naive times are ambiguous
    ],
)
async def test_patch_bodies_are_strict(client, body, status, error) -> None:
    created = await client.post("/api/v1/people", json={"name": "Bob", "credentials": ["9"]})
    response = await client.patch(f"/api/v1/people/{created.json()['id']}", json=body)
    assert (response.status_code, response.json()["error"]) == (status, error)


async def test_unknown_people_and_csrf(edge_app, client) -> None:
    assert (await client.get("/api/v1/people/999")).status_code == 404
    assert (await client.get("/api/v1/people/abc")).status_code == 404
    assert (await client.patch("/api/v1/people/999", json={"active": False})).status_code == 404
    created = await client.post("/api/v1/people", json={"name": "Cy", "credentials": ["8"]})
    no_token = await client.patch(
        f"/api/v1/people/{created.json()['id']}", json={"active": False}, headers={"X-CSRF-Token": ""}
    )
    assert no_token.status_code == 403
    assert (await client.post("/api/v1/people", json={"name": "Dup", "credentials": ["8"]})).status_code == 409
    async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{edge_app.web_port}") as anonymous:
        assert (await anonymous.put("/api/v1/access/snapshot", json={"version": 1})).status_code == 401


async def test_snapshot_endpoint(edge_app, client) -> None:
    body = {
        "version": 7,
        "people": [
            {"id": "c-1", "name": "Ada", "levels": ["staff"], "credentials": [{"number": "123:45678"}], "pin": "2468"}
        ],
    }
    assert (await client.put("/api/v1/access/snapshot", json=body, headers={"X-CSRF-Token": "x"})).status_code == 403
    applied = await client.put("/api/v1/access/snapshot", json=body)
    assert applied.status_code == 200
    assert applied.json()["applied"] is True and applied.json()["added"] == 1
    assert (await client.put("/api/v1/access/snapshot", json=body)).json()["applied"] is False  # idempotent
    assert (await client.get("/api/v1/access/snapshot")).json() == {"version": 7}
    assert await decide(edge_app, "123:45678") == "granted"

    bad_level = {"version": 8, "people": [{"id": "c-1", "name": "Ada", "levels": ["root"]}]}
    rejected = await client.put("/api/v1/access/snapshot", json=bad_level)
    assert (rejected.status_code, rejected.json()["error"]) == (422, "snapshot_rejected")
    conflict = await client.put("/api/v1/access/snapshot", json={"version": 9, "kind": "delta", "base_version": 3})
    assert (conflict.status_code, conflict.json()["error"]) == (409, "version_conflict")
    extra = await client.put("/api/v1/access/snapshot", json={**body, "version": 10, "signature": "x"})
    assert extra.status_code == 400
    assert (await client.get("/api/v1/access/snapshot")).json() == {"version": 7}


async def test_revoke_one_badge_on_the_box(edge_app, client) -> None:
    created = await client.post(
        "/api/v1/people", json={"name": "Eve", "credentials": ["5:1", "5:2"], "levels": ["staff"]}
    )
    person = f"/api/v1/people/{created.json()['id']}"
    revoked = await client.post(f"{person}/credentials/5:1/revoke")
    assert revoked.status_code == 200
    assert [(c["number"], c["active"]) for c in revoked.json()["credentials"]] == [("5:1", False), ("5:2", True)]
    assert await decide(edge_app, "5:1") == "credential_inactive"
    assert await decide(edge_app, "5:2") == "granted"
    assert (await client.post(f"{person}/credentials/9:9/revoke")).status_code == 404
    assert (await client.post("/api/v1/people/999/credentials/5:2/revoke")).status_code == 404
    edits = [e["payload"] for e in (await client.get("/api/v1/events?kind=config_edit")).json()]
    assert edits[0]["revoked"] == ["5:1"] and edits[0]["person"]["name"] == "Eve"
