"""Shared set-up of the fleet tests: two depots (Berlin), a `fleet` user, three vans with documents and drivers,
gate directions, and a day of plate reads synced by both sites (one misread, one unknown, one ambiguous)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import httpx
from cloud_helpers import PASSWORD, enroll, login, make_tenant
from hr_helpers import put, sync
from sqlalchemy import update

from cloud.admin import create_user
from cloud.app import RunningCloud
from cloud.db.models import Site
from sync.wire import EnrollResponse, SyncRecord

BERLIN = ZoneInfo("Europe/Berlin")
DAY = date(2026, 11, 30)  # a Monday
FLEET_USER = "fleet@acme.example"


@dataclass(frozen=True)
class Yard:
    tenant_id: str
    depot_a: EnrollResponse
    depot_b: EnrollResponse
    drivers: dict[str, str]
    csrf: str


def at(hour: int, minute: int = 0, d: date = DAY) -> datetime:
    return datetime(d.year, d.month, d.day, hour, minute, tzinfo=BERLIN).astimezone(UTC)


def plate_read(seq: int, when: datetime, door: str, plate: str, granted: bool = True) -> SyncRecord:
    """A `plate_decision` audit record as the edge writes it (edge/access/service.py)."""
    payload: dict[str, Any] = {
        "type": "plate_decision",
        "door_id": door,
        "camera_id": f"cam-{door}",
        "plate": plate,
        "confidence": 0.87,
        "reads": 3,
        "vehicle": None,
        "granted": granted,
        "reason": "granted" if granted else "unknown_vehicle",
        "level": None,
        "lockdown_override": False,
        "lock_online": True,
    }
    return SyncRecord(seq=seq, kind="audit", occurred_at=when, payload=payload)


VANS = {
    "van-1": {"plate": "B-AB 1234", "name": "Van 1", "type": "van"},
    "van-2": {"plate": "B-AB 1235", "name": "Van 2", "type": "van"},
    "van-3": {"plate": "M-XY 808", "name": "Van 3", "type": "truck"},
}


async def yard(cloud: RunningCloud, http: httpx.AsyncClient) -> Yard:
    """Acme with Depots A and B; the admin adds two drivers; the `fleet` user registers three vans (van-2 with
    insurance expiring in 10 days), assigns drivers, marks gates and both sites sync DAY's plate reads."""
    tenant = await make_tenant(cloud, "Acme", site_name="Depot A")
    depot_a = await enroll(http, tenant.code)
    admin_csrf = await login(http, tenant.admin_email)
    code = await http.post(
        "/api/v1/enrollment-codes", json={"site_name": "Depot B"}, headers={"X-CSRF-Token": admin_csrf}
    )
    depot_b = await enroll(http, code.json()["code"], hostname="box-2")
    async with cloud.db.begin() as session:
        await session.execute(update(Site).where(Site.tenant_id == tenant.tenant_id).values(timezone="Europe/Berlin"))
    drivers = {}
    for name in ("Ada", "Ben"):
        made = await http.post(
            "/api/v1/people", json={"name": name, "sites": [depot_a.site_id]}, headers={"X-CSRF-Token": admin_csrf}
        )
        assert made.status_code == 201, made.text
        drivers[name] = made.json()["id"]
    await create_user(cloud.db, tenant.tenant_id, FLEET_USER, PASSWORD, role="fleet")
    csrf = await login(http, FLEET_USER)

    a, b = depot_a.site_id, depot_b.site_id
    for vehicle_id, body in VANS.items():
        await put(http, csrf, f"/api/v1/fleet/vehicles/{vehicle_id}", {**body, "home_site_id": a, "levels": ["yard"]})
    today = datetime.now(UTC).date()
    await put(
        http,
        csrf,
        "/api/v1/fleet/vehicles/van-1/documents/registration",
        {"number": "REG-1", "expires_on": (today + timedelta(days=200)).isoformat()},
    )
    await put(
        http,
        csrf,
        "/api/v1/fleet/vehicles/van-2/documents/insurance",
        {"number": "INS-2", "expires_on": (today + timedelta(days=10)).isoformat(), "alert_days": 30},
    )
    await put(
        http,
        csrf,
        "/api/v1/fleet/vehicles/van-1/assignments/a1",
        {"person_id": drivers["Ada"], "start": at(6).isoformat(), "end": at(18).isoformat()},
    )
    await put(
        http,
        csrf,
        "/api/v1/fleet/vehicles/van-1/assignments/a2",
        {"person_id": drivers["Ben"], "start": at(18).isoformat(), "end": None},
    )
    await put(http, csrf, f"/api/v1/fleet/sites/{a}/gates/yard-in", {"direction": "in"})
    await put(http, csrf, f"/api/v1/fleet/sites/{a}/gates/yard-out", {"direction": "out"})
    await put(http, csrf, f"/api/v1/fleet/sites/{b}/gates/gate", {"direction": "both"})

    await sync(
        http,
        depot_a,
        [
            plate_read(1, at(6, 0), "yard-out", "BAB1234"),  # van-1 leaves A in the morning (arrived before DAY)
            plate_read(2, at(17, 30), "yard-in", "BAB1234"),  # ... and comes back
            plate_read(3, at(7, 15), "yard-in", "MXYB08"),  # van-3 misread (8 -> B)
            plate_read(4, at(15, 45), "yard-out", "MXY808"),
            plate_read(5, at(9, 0), "yard-in", "ZZ9999", granted=False),  # unknown plate
            plate_read(6, at(9, 5), "yard-in", "BAB1236", granted=False),  # one off from van-1 and van-2
        ],
    )
    await sync(
        http,
        depot_b,
        [plate_read(1, at(8, 10), "gate", "BAB1234"), plate_read(2, at(16, 40), "gate", "BAB1234")],
    )
    return Yard(tenant.tenant_id, depot_a, depot_b, drivers, csrf)
