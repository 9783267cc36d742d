"""Every route of the router, called by another tenant (its owner's session and an all-permission API key) with
the victim tenant's ids: 403/404 where an id is named, never a 5xx, never a byte of the victim's data, and the
victim's data unchanged afterwards. New routes are walked automatically. On SQLite and on PostgreSQL, where the
cloud connects as an app role that row-level security applies to (tests/cloud/app_role.py)."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
from app_role import app_role_url
from cloud_helpers import PASSWORD, enroll, login, make_batch, make_tenant, send_batch

from cloud.admin import create_user
from cloud.app import RunningCloud, started_cloud
from cloud.config import CloudConfig
from cloud.permissions import PERMISSIONS, access_of
from sync.wire import SyncRecord

VICTIM_SITE_NAME = "Victim Depot"
VICTIM_PERSON = "Zed Victim"
VICTIM_USER = "victim-user@victim.example"
VICTIM_KEY = "victim-integration"
VICTIM_PAYLOAD = "victim-secret-payload"
LEVEL = {"name": "Victim level", "doors": ["front"]}
VICTIM_VEHICLE = "Victim Van"


@pytest.fixture
async def walk_cloud(tmp_path: Path, db_url: str) -> AsyncIterator[RunningCloud]:
    """A cloud that, on PostgreSQL, connects as a role without superuser or BYPASSRLS."""
    async with app_role_url(db_url) as url:
        config = CloudConfig(data_dir=tmp_path / "cloud", database_url=url, host="127.0.0.1", port=0)
        async with started_cloud(config) as running:
            yield running


@dataclass
class Victim:
    tenant_id: str
    owner: str
    site_id: str
    person_id: str
    user_id: int
    key_id: str

    def markers(self) -> list[str]:
        """Strings only the victim's data contains (the attacker never sends them)."""
        return [
            self.tenant_id,
            self.owner,
            VICTIM_SITE_NAME,
            VICTIM_PERSON,
            VICTIM_USER,
            VICTIM_KEY,
            VICTIM_PAYLOAD,
            VICTIM_VEHICLE,
        ]


def _key_token(html: str) -> str:
    match = re.search(r'data-testid="new-key"[^>]*>(opk_[^<]+)<', html)
    assert match, html
    return match.group(1)


async def _all_permission_key(http: httpx.AsyncClient, csrf: str, name: str) -> tuple[str, str]:
    created = await http.post(
        "/portal/api-keys",
        data={"name": name, "permissions": sorted(PERMISSIONS), "all_sites": "1"},
        headers={"X-CSRF-Token": csrf},
    )
    assert created.status_code == 200, created.text
    key_id = re.findall(r'action="/portal/api-keys/(\d+)/revoke"', created.text)
    return _key_token(created.text), key_id[0]


async def _victim(cloud: RunningCloud, http: httpx.AsyncClient) -> Victim:
    tenant = await make_tenant(cloud, "Victim", site_name=VICTIM_SITE_NAME)
    site = await enroll(http, tenant.code, hostname="victim-box")
    batch = make_batch(site.site_id, [1])
    batch.records = [SyncRecord(seq=1, kind="event", occurred_at=batch.sent_at, payload={"note": VICTIM_PAYLOAD})]
    assert (await send_batch(http, site, batch)).status_code == 200
    csrf = await login(http, tenant.admin_email)
    person = await http.post(
        "/api/v1/people",
        json={"name": VICTIM_PERSON, "sites": [site.site_id], "badges": [{"number": "VB-77"}]},
        headers={"X-CSRF-Token": csrf},
    )
    assert person.status_code == 201, person.text
    level = await http.put(
        f"/api/v1/sites/{site.site_id}/policy/access-levels/victim-level", json=LEVEL, headers={"X-CSRF-Token": csrf}
    )
    assert level.status_code == 200, level.text
    van = await http.put(
        "/api/v1/fleet/vehicles/victim-van",
        json={"plate": "VIC 7777", "name": VICTIM_VEHICLE, "home_site_id": site.site_id},
        headers={"X-CSRF-Token": csrf},
    )
    assert van.status_code == 200, van.text
    for path, body in (
        ("/api/v1/fleet/schedules/victim-plan", {"name": "Victim plan", "vehicle_id": "victim-van", "every_days": 30}),
        (
            "/api/v1/fleet/work-orders/victim-wo",
            {"title": "Victim job", "site_id": site.site_id, "device_id": "lock-1"},
        ),
    ):
        made = await http.put(path, json=body, headers={"X-CSRF-Token": csrf})
        assert made.status_code == 200, made.text
    user = await create_user(cloud.db, tenant.tenant_id, VICTIM_USER, PASSWORD, role="viewer")
    _, key_id = await _all_permission_key(http, csrf, VICTIM_KEY)
    http.cookies.clear()
    return Victim(tenant.tenant_id, tenant.admin_email, site.site_id, person.json()["id"], user.id, key_id)


def _path(canonical: str, victim: Victim) -> str:
    values = {
        "site_id": victim.site_id,
        "person_id": victim.person_id,
        "number": "VB-77",
        "kind": "access-levels",
        "key": "victim-level",
        "user_id": str(victim.user_id),
        "key_id": victim.key_id,
        "media_id": "snapshot-0123456789abcdef",
        "token": "not-a-real-link-token",
        "day": "2026-01-05",
        "vehicle_id": "victim-van",
        "schedule_id": "victim-plan",
        "work_order_id": "victim-wo",
        "period": "week",
        "start": "2026-01-05",
    }
    return re.sub(r"\{([^}]+)\}", lambda m: values.get(m.group(1), "x1"), canonical)


def _body(method: str, canonical: str, victim: Victim) -> dict[str, Any]:
    """A valid body, so the request gets past validation to the lookup of the victim's ids."""
    site = victim.site_id
    if canonical.startswith("/api/"):
        json_bodies: dict[str, Any] = {
            "/api/v1/enrollment-codes": {"site_name": "Attacker", "ttl_hours": 1},
            "/api/v1/people": {"name": "Intruder", "sites": [site]},
            "/api/v1/people/{person_id}": {"name": "Intruder", "sites": [site], "active": False, "levels": []},
            "/api/v1/people/{person_id}/badges": {"number": "ATTACK-1"},
            "/api/v1/sites/{site_id}/policy/{kind}/{key}": LEVEL,
            "/api/v1/login": {"email": "nobody@attacker.example", "password": "wrong password"},
            "/api/v1/hr/people/{person_id}": {"department": "Intrusion", "home_site_id": site},
            "/api/v1/hr/people/{person_id}/days/{day}": {"worked_minutes": 60, "reason": "intruder edit"},
            "/api/v1/hr/shifts/{shift_id}": {
                "name": "Intruder",
                "site_id": site,
                "start": "22:00",
                "end": "06:00",
                "weekdays": [1],
            },
            "/api/v1/hr/sites/{site_id}/doors/{door_id}": {"direction": "in"},
            "/api/v1/fleet/vehicles/{vehicle_id}": {"plate": "ATK 1234", "name": "Intruder", "home_site_id": site},
            "/api/v1/fleet/vehicles/{vehicle_id}/documents/{kind}": {"expires_on": "2027-01-01"},
            "/api/v1/fleet/vehicles/{vehicle_id}/assignments/{assignment_id}": {
                "person_id": victim.person_id,
                "start": "2026-01-05T08:00:00Z",
            },
            "/api/v1/fleet/sites/{site_id}/gates/{door_id}": {"direction": "in"},
            "/api/v1/fleet/schedules/{schedule_id}": {
                "name": "Intruder",
                "site_id": site,
                "device_id": "lock-1",
                "every_days": 30,
            },
            "/api/v1/fleet/work-orders/{work_order_id}": {"title": "Intruder", "site_id": site, "device_id": "lock-1"},
            "/api/v1/hr/sites/{site_id}/holidays/{day}": {"name": "Intruder day"},
            "/api/v1/hr/rosters/{roster_id}": {
                "person_id": victim.person_id,
                "shift_id": "x1",
                "starts_on": "2026-01-05",
            },
            "/api/v1/hr/leave": {
                "person_id": victim.person_id,
                "kind": "annual",
                "first_day": "2026-01-05",
                "last_day": "2026-01-06",
            },
            "/api/v1/hr/leave/{leave_id}/decision": {"decision": "approved"},
            "/api/v1/hr/people/{person_id}/timesheets/{period}/{start}/decision": {"decision": "approved"},
            "/api/v1/hr/overtime": {"daily_minutes": 480, "weekly_minutes": 2400},
        }
        return {"json": json_bodies.get(canonical, {})} if method in ("POST", "PUT") else {}
    forms: dict[str, dict[str, Any]] = {
        "/portal/enrollment-codes": {"site_name": "Attacker"},
        "/portal/people": {"name": "Intruder", "sites": site},
        "/portal/people/{person_id}": {"name": "Intruder", "sites": site, "active": "1"},
        "/portal/people/{person_id}/badges": {"number": "ATTACK-1"},
        "/portal/sites/{site_id}/policy": {"kind": "access_level", "key": "x", "body": '{"name": "x", "doors": []}'},
        "/portal/users/invite": {"email": "new@attacker.example", "role": "viewer", "sites": site},
        "/portal/users/{user_id}": {"role": "owner", "all_sites": "1"},
        "/portal/api-keys": {"name": "steal", "permissions": "sites.read", "sites": site},
        "/set-password/{token}": {"password": "p" * 12, "confirm": "p" * 12},
        "/portal/fleet/vehicles": {"id": "victim-van", "plate": "ATK 1234", "home_site_id": site},
        "/portal/fleet/vehicles/{vehicle_id}/documents": {"kind": "insurance", "expires_on": "2027-01-01"},
        "/portal/fleet/vehicles/{vehicle_id}/assignments": {"person_id": victim.person_id, "start": "2026-01-05T08:00"},
        "/portal/fleet/gates": {"site_id": site, "door_id": "gate", "direction": "in"},
        "/portal/fleet/maintenance/work-orders": {"title": "Intruder", "site_id": site, "device_id": "lock-1"},
        "/portal/fleet/maintenance/work-orders/{work_order_id}": {"status": "cancelled", "cost": "1"},
        "/portal/fleet/maintenance/schedules": {
            "id": "victim-plan",
            "name": "Intruder",
            "site_id": site,
            "device_id": "lock-1",
            "every_days": "30",
        },
        "/portal/hr/leave/{leave_id}/decision": {"decision": "approved"},
        "/portal/hr/timesheets/{person_id}/{period}/{start}/decision": {"decision": "approved"},
        "/portal/hr/leave": {
            "person_id": victim.person_id,
            "kind": "annual",
            "first_day": "2026-01-05",
            "last_day": "2026-01-05",
        },
        "/portal/hr/holidays": {"site_id": site, "day": "2026-01-05", "name": "Intruder day"},
        "/portal/hr/rosters": {"person_id": victim.person_id, "shift_id": "x1", "starts_on": "2026-01-05"},
    }
    return {"data": forms.get(canonical, {})} if method == "POST" else {}


def _routes(cloud: RunningCloud) -> list[tuple[str, str, Any]]:
    routes = [
        (route.method, route.resource.canonical, access_of(route.handler))
        for route in cloud.app.router.routes()
        if route.resource is not None and route.method != "HEAD"
    ]
    # Logging out ends the attacker's session: last.
    return sorted(routes, key=lambda r: "logout" in r[1])


async def _assert_victim_untouched(cloud: RunningCloud, victim: Victim) -> None:
    async with httpx.AsyncClient(base_url=cloud.url, timeout=30) as http:
        csrf = await login(http, victim.owner)
        site = (await http.get(f"/api/v1/sites/{victim.site_id}")).json()
        assert site["status"] == "active" and site["name"] == VICTIM_SITE_NAME
        person = (await http.get(f"/api/v1/people/{victim.person_id}")).json()
        assert person["name"] == VICTIM_PERSON and person["active"]
        assert [(b["number"], b["active"]) for b in person["badges"]] == [("VB-77", True)]
        policy = (await http.get(f"/api/v1/sites/{victim.site_id}/policy")).json()
        assert list(policy["access_levels"]) == ["victim-level"]
        van = (await http.get("/api/v1/fleet/vehicles/victim-van")).json()
        assert (van["name"], van["plate"], van["documents"], van["driver"]) == (VICTIM_VEHICLE, "VIC7777", [], None)
        orders = (await http.get("/api/v1/fleet/work-orders")).json()["work_orders"]
        assert [(o["id"], o["title"], o["status"], o["cost_cents"]) for o in orders] == [
            ("victim-wo", "Victim job", "open", 0)
        ]
        plans = (await http.get("/api/v1/fleet/schedules")).json()["schedules"]
        assert [(p["id"], p["name"], p["every_days"]) for p in plans] == [("victim-plan", "Victim plan", 30)]
        users = (await http.get("/portal/users", headers={"X-CSRF-Token": csrf})).text
        assert re.search(rf'data-user="{re.escape(VICTIM_USER)}".*?data-testid="status">active<', users, re.S)
        assert re.search(rf'data-user="{re.escape(VICTIM_USER)}".*?data-testid="role">viewer<', users, re.S)
        assert "revoked" not in (await http.get("/portal/api-keys")).text
        audit = await http.get("/portal/audit.csv")
        assert "attacker" not in audit.text


async def test_another_tenant_gets_403_or_404_and_none_of_the_data_on_every_route(
    walk_cloud: RunningCloud,
) -> None:
    cloud = walk_cloud
    async with httpx.AsyncClient(base_url=cloud.url, timeout=30) as setup:
        victim = await _victim(cloud, setup)
        attacker = await make_tenant(cloud, "Attacker")
        await enroll(setup, attacker.code, hostname="attacker-box")
    async with (
        httpx.AsyncClient(base_url=cloud.url, timeout=30) as session_client,
        httpx.AsyncClient(base_url=cloud.url, timeout=30) as key_client,
    ):
        csrf = await login(session_client, attacker.admin_email)
        token, _ = await _all_permission_key(session_client, csrf, "attacker-key")
        key_client.headers["Authorization"] = f"Bearer {token}"
        session_client.headers["X-CSRF-Token"] = csrf
        walked = 0
        for method, canonical, access in _routes(cloud):
            assert access is not None, f"{method} {canonical} declares no access"
            path = _path(canonical, victim)
            names_ids = path != canonical
            for label, client in (("session", session_client), ("api key", key_client)):
                response = await client.request(method, path, **_body(method, canonical, victim))
                where = f"{label} {method} {path} -> {response.status_code}"
                assert response.status_code < 500, where
                for marker in victim.markers():
                    assert marker not in response.text, f"{where} leaked {marker!r}"
                if access.kind == "machine":
                    assert response.status_code >= 400, where
                elif access.kind in ("permission", "login") and names_ids:
                    api_key_on_a_page = label == "api key" and not path.startswith("/api/")
                    allowed = {303, 401} if api_key_on_a_page else {403, 404}
                    assert response.status_code in allowed, where
                walked += 1
        assert walked >= 2 * 50
    await _assert_victim_untouched(cloud, victim)
