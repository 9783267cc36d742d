"""The HR API end to end: an `hr` user sets up shifts, entry/exit doors and people's HR fields, two sites sync
their badge events, and the attendance day grid shows a night shift, a person at two sites, a missing exit (which a
batch arriving a day late then completes) and an absence; CSV export, bad input 400, other roles refused."""

from __future__ import annotations

import csv
import io
from typing import Any

import httpx
import pytest
from cloud_helpers import PASSWORD, enroll, login, make_tenant
from hr_helpers import DAY, at, badge, sync, two_depots
from sqlalchemy import select

from cloud.admin import create_user
from cloud.app import RunningCloud
from cloud.db.models import AuditEntry

pytestmark = pytest.mark.timeout(120)


async def grid(http: httpx.AsyncClient, **params: str) -> dict[str, dict[str, Any]]:
    response = await http.get("/api/v1/hr/attendance", params={"day": DAY.isoformat(), **params})
    assert response.status_code == 200, response.text
    return {p["person_id"]: p for p in response.json()["people"]}


async def test_attendance_day_grid_from_two_sites(cloud: RunningCloud, http: httpx.AsyncClient) -> None:
    depots = await two_depots(cloud, http)
    a, b, depot_a = depots.depot_a.site_id, depots.depot_b.site_id, depots.depot_a
    ada, ben, cleo, dan = (depots.ids[n] for n in ("Ada", "Ben", "Cleo", "Dan"))

    people = await grid(http)

    assert people[ada]["status"] == "present" and people[ada]["worked_minutes"] == 8 * 60 + 5
    assert people[ben]["sites"] == sorted([a, b])
    assert (people[ben]["worked_minutes"], people[ben]["break_minutes"], people[ben]["late_minutes"]) == (
        228 + 261,
        40,
        12,
    )
    assert people[cleo]["status"] == "incomplete"
    assert [m["missing"] for m in people[cleo]["missing_punches"]] == ["out"]
    assert people[cleo]["worked_minutes"] == 0 and people[cleo]["last_out"] is None
    assert people[dan]["status"] == "absent" and people[dan]["department"] == "Couriers"
    assert set((await grid(http, site=b)).keys()) == {ben}  # only who is scheduled or badged at B

    # Depot A was offline: Cleo's exit arrives a day late and completes her day.
    await sync(http, depot_a, [badge(7, at(DAY, 17, 10), "front-out", cleo)])
    cleo_day = (await grid(http))[cleo]
    assert (cleo_day["status"], cleo_day["worked_minutes"], cleo_day["missing_punches"]) == ("present", 555, [])

    exported = await http.get("/api/v1/hr/attendance", params={"day": DAY.isoformat(), "format": "csv"})
    rows = {r["name"]: r for r in csv.DictReader(io.StringIO(exported.text))}
    assert rows["Ben"]["worked_minutes"] == "489" and rows["Dan"]["status"] == "absent"

    shifts = (await http.get("/api/v1/hr/shifts")).json()["shifts"]
    assert [s["id"] for s in shifts] == ["day", "night"]
    assert len((await http.get("/api/v1/hr/doors")).json()["doors"]) == 4


async def test_bad_hr_input_is_refused_with_400_or_404(cloud: RunningCloud, http: httpx.AsyncClient) -> None:
    tenant = await make_tenant(cloud, "Acme")
    site = await enroll(http, tenant.code)
    csrf = await login(http, tenant.admin_email)
    headers = {"X-CSRF-Token": csrf}

    bad_clock = {"name": "X", "site_id": site.site_id, "start": "25:00", "end": "06:00", "weekdays": [1]}
    bad_day = {"name": "X", "site_id": site.site_id, "start": "22:00", "end": "06:00", "weekdays": [8]}
    other_site = {"name": "X", "site_id": "nosuchsite", "start": "22:00", "end": "06:00", "weekdays": [1]}
    assert (await http.put("/api/v1/hr/shifts/x", json=bad_clock, headers=headers)).status_code == 400
    assert (await http.put("/api/v1/hr/shifts/x", json=bad_day, headers=headers)).status_code == 400
    assert (await http.put("/api/v1/hr/shifts/x", json=other_site, headers=headers)).status_code == 404
    assert (await http.put("/api/v1/hr/people/nobody", json={}, headers=headers)).status_code == 404
    door = f"/api/v1/hr/sites/{site.site_id}/doors/front"
    assert (await http.put(door, json={"direction": "sideways"}, headers=headers)).status_code == 400
    assert (await http.put(door, content=b"not json", headers=headers)).status_code == 400
    assert (await http.get("/api/v1/hr/attendance", params={"day": "yesterday"})).status_code == 400
    assert (await http.get("/api/v1/hr/attendance")).status_code == 400
    assert (await http.get("/api/v1/hr/attendance", params={"day": "2026-11-30", "site": "nope"})).status_code == 404


async def test_only_roles_with_hr_permissions_see_attendance(cloud: RunningCloud, http: httpx.AsyncClient) -> None:
    tenant = await make_tenant(cloud, "Acme")
    await enroll(http, tenant.code)
    for role in ("fleet", "viewer", "security"):
        await create_user(cloud.db, tenant.tenant_id, f"{role}@acme.example", PASSWORD, role=role)
        csrf = await login(http, f"{role}@acme.example")
        assert (await http.get("/api/v1/hr/attendance", params={"day": "2026-11-30"})).status_code == 403
        assert (await http.get("/portal/attendance")).status_code == 403
        shift = {"name": "X", "site_id": "s", "start": "08:00", "end": "16:00", "weekdays": [1]}
        assert (await http.put("/api/v1/hr/shifts/x", json=shift, headers={"X-CSRF-Token": csrf})).status_code == 403


async def test_hr_corrects_a_day_with_a_reason_and_the_badges_stay_as_they_were(
    cloud: RunningCloud, http: httpx.AsyncClient
) -> None:
    depots = await two_depots(cloud, http)
    cleo = depots.ids["Cleo"]
    path = f"/api/v1/hr/people/{cleo}/days/{DAY.isoformat()}"
    headers = {"X-CSRF-Token": depots.csrf}

    no_reason = await http.put(path, json={"worked_minutes": 540, "reason": ""}, headers=headers)
    too_long = await http.put(path, json={"worked_minutes": 1441, "reason": "forgot badge"}, headers=headers)
    bad_day = await http.put(path.replace(DAY.isoformat(), "2026-13-01"), json={}, headers=headers)
    fixed = await http.put(
        path, json={"worked_minutes": 540, "reason": "Forgot to badge out, confirmed by Ben"}, headers=headers
    )

    assert (no_reason.status_code, too_long.status_code, bad_day.status_code) == (400, 400, 404)
    assert fixed.status_code == 200, fixed.text
    day = (await grid(http))[cleo]
    assert day["correction"]["worked_minutes"] == 540 and day["correction"]["corrected_by"] == "hr@acme.example"
    assert (day["counted_minutes"], day["worked_minutes"], day["status"]) == (540, 0, "incomplete")
    assert [m["missing"] for m in day["missing_punches"]] == ["out"]  # the raw events are untouched
    other_day = (await http.get("/api/v1/hr/attendance", params={"day": "2026-12-01"})).json()["people"]
    assert all(p["correction"] is None for p in other_day)
    async with cloud.db() as session:
        entries = (await session.scalars(select(AuditEntry).where(AuditEntry.action == "hr.day.correct"))).all()
    assert [(e.actor, e.target, e.detail["reason"]) for e in entries] == [
        ("hr@acme.example", f"{cleo} {DAY.isoformat()}", "Forgot to badge out, confirmed by Ben")
    ]
    exported = await http.get("/api/v1/hr/attendance", params={"day": DAY.isoformat(), "format": "csv"})
    row = next(r for r in csv.DictReader(io.StringIO(exported.text)) if r["person_id"] == cleo)
    assert (row["counted_minutes"], row["correction_reason"]) == ("540", "Forgot to badge out, confirmed by Ben")
