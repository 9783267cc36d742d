"""Shared set-up of the HR tests: two Berlin depots, entry/exit doors, day and night shifts, four people and one
realistic day of badge events synced by both sites."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import httpx
from cloud_helpers import PASSWORD, enroll, login, make_tenant, send_batch
from sqlalchemy import update

from cloud.admin import create_user
from cloud.app import RunningCloud
from cloud.db.models import Site
from sync.wire import EnrollResponse, SyncBatch, SyncRecord, new_nonce

BERLIN = ZoneInfo("Europe/Berlin")
DAY = date(2026, 11, 30)  # a Monday


@dataclass(frozen=True)
class Depots:
    tenant_id: str
    depot_a: EnrollResponse
    depot_b: EnrollResponse
    ids: dict[str, str]
    csrf: str


def at(d: date, hour: int, minute: int = 0) -> datetime:
    return datetime(d.year, d.month, d.day, hour, minute, tzinfo=BERLIN).astimezone(UTC)


def badge(seq: int, when: datetime, door: str, person: str) -> SyncRecord:
    payload = {"type": "access_decision", "door_id": door, "person_id": person, "credential": f"c-{person}"}
    payload |= {"granted": True, "reason": "granted"}
    return SyncRecord(seq=seq, kind="audit", occurred_at=when, payload=payload)  # type: ignore[arg-type]


async def sync(http: httpx.AsyncClient, site: EnrollResponse, records: list[SyncRecord]) -> None:
    batch = SyncBatch(site_id=site.site_id, sent_at=datetime.now(UTC), nonce=new_nonce(), records=records)
    response = await send_batch(http, site, batch)
    assert response.status_code == 200, response.text


async def put(http: httpx.AsyncClient, csrf: str, path: str, body: dict[str, Any]) -> dict[str, Any]:
    response = await http.put(path, json=body, headers={"X-CSRF-Token": csrf})
    assert response.status_code == 200, response.text
    result: dict[str, Any] = response.json()
    return result


async def two_depots(cloud: RunningCloud, http: httpx.AsyncClient) -> Depots:
    """Tenant Acme, Depots A and B (Berlin), an `hr` user logged in; Ada on nights, Ben at both depots (late),
    Cleo without an exit, Dan absent, on Monday DAY."""
    tenant = await make_tenant(cloud, "Acme", site_name="Depot A")
    depot_a = await enroll(http, tenant.code)
    admin_csrf = await login(http, tenant.admin_email)
    code = await http.post(
        "/api/v1/enrollment-codes", json={"site_name": "Depot B"}, headers={"X-CSRF-Token": admin_csrf}
    )
    depot_b = await enroll(http, code.json()["code"], hostname="box-2")
    async with cloud.db.begin() as session:
        await session.execute(update(Site).where(Site.tenant_id == tenant.tenant_id).values(timezone="Europe/Berlin"))
    await create_user(cloud.db, tenant.tenant_id, "hr@acme.example", PASSWORD, role="hr")
    await create_user(cloud.db, tenant.tenant_id, "fleet@acme.example", PASSWORD, role="fleet")
    csrf = await login(http, "hr@acme.example")

    a, b = depot_a.site_id, depot_b.site_id
    for site, door, direction in (
        (a, "front-in", "in"),
        (a, "front-out", "out"),
        (b, "gate-in", "in"),
        (b, "gate-out", "out"),
    ):
        await put(http, csrf, f"/api/v1/hr/sites/{site}/doors/{door}", {"direction": direction})
    day_shift = {
        "name": "Day",
        "site_id": a,
        "start": "08:00",
        "end": "17:00",
        "weekdays": [1, 2, 3, 4, 5],
        "grace_minutes": 5,
    }
    night = {
        "name": "Night",
        "site_id": a,
        "start": "22:00",
        "end": "06:00",
        "weekdays": [1, 2, 3, 4, 5],
        "grace_minutes": 5,
    }
    await put(http, csrf, "/api/v1/hr/shifts/day", day_shift)
    await put(http, csrf, "/api/v1/hr/shifts/night", night)
    ids = {}
    for name, shift in (("Ada", "night"), ("Ben", "day"), ("Cleo", "day"), ("Dan", "day")):
        made = await http.post("/api/v1/people", json={"name": name, "sites": [a, b]}, headers={"X-CSRF-Token": csrf})
        assert made.status_code == 201, made.text
        ids[name] = made.json()["id"]
        profile = {
            "department": "Couriers",
            "job_title": "Driver",
            "employed_from": "2025-01-01",
            "home_site_id": a,
            "shift_id": shift,
        }
        assert (await put(http, csrf, f"/api/v1/hr/people/{ids[name]}", profile))["shift_id"] == shift

    ada, ben, cleo = ids["Ada"], ids["Ben"], ids["Cleo"]  # Dan never badges: absent
    next_day = DAY + timedelta(days=1)
    await sync(
        http,
        depot_a,
        [
            badge(1, at(DAY, 21, 57), "front-in", ada),
            badge(2, at(next_day, 6, 2), "front-out", ada),
            badge(3, at(DAY, 8, 12), "front-in", ben),  # late: 12 minutes
            badge(4, at(DAY, 12), "front-out", ben),
            badge(5, at(DAY, 7, 55), "front-in", cleo),
            badge(6, at(DAY, 9), "store", cleo),  # a door not marked for attendance: ignored
        ],
    )
    await sync(http, depot_b, [badge(1, at(DAY, 12, 40), "gate-in", ben), badge(2, at(DAY, 17, 1), "gate-out", ben)])

    return Depots(tenant.tenant_id, depot_a, depot_b, ids, csrf)
