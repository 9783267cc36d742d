"""The fleet API end to end: a `fleet` user registers vans with documents and drivers, marks gates, two depots
sync a day of plate reads, and the gate log shows arrivals, departures, time on site, a misread plate matched
with its confidence, an unknown and an ambiguous plate; the register's plates reach the sites' documents; CSV
export; bad input 400/404/409; other roles refused."""

from __future__ import annotations

import csv
import io
from typing import Any

import httpx
import pytest
from cloud_helpers import PASSWORD, enroll, login, make_tenant
from fleet_helpers import DAY, at, plate_read, yard
from hr_helpers import sync

from cloud.admin import create_user
from cloud.app import RunningCloud
from cloud.db.models import Site
from cloud.siteconfig import build_document, stored_version

pytestmark = pytest.mark.timeout(120)


async def gate_log(http: httpx.AsyncClient, **params: str) -> dict[str, Any]:
    response = await http.get(
        "/api/v1/fleet/gate-log", params={"from": DAY.isoformat(), "to": DAY.isoformat(), **params}
    )
    assert response.status_code == 200, response.text
    result: dict[str, Any] = response.json()
    return result


async def test_gate_log_from_two_depots(cloud: RunningCloud, http: httpx.AsyncClient) -> None:
    depots = await yard(cloud, http)
    a, b = depots.depot_a.site_id, depots.depot_b.site_id

    log = await gate_log(http)

    by_read = {(e["site_id"], e["plate_read"], e["movement"]): e for e in log["events"]}
    misread = by_read[(a, "MXYB08", "arrival")]
    assert (misread["vehicle_id"], misread["plate"], misread["match"], misread["match_confidence"]) == (
        "van-3",
        "MXY808",
        "fuzzy",
        0.9,
    )
    unknown = by_read[(a, "ZZ9999", "arrival")]
    assert (unknown["vehicle_id"], unknown["match"], unknown["granted"]) == (None, "unknown", False)
    ambiguous = by_read[(a, "BAB1236", "arrival")]
    assert (ambiguous["match"], ambiguous["candidates"]) == ("ambiguous", ["BAB1234", "BAB1235"])
    visits = [(v["vehicle_id"], v["site_id"], v["minutes_on_site"], v["unknown"]) for v in log["visits"]]
    assert (None, a, None, False) not in visits
    assert ("van-1", a, None, False) in visits  # left A at 06:00, arrival before the period: not guessed
    assert ("van-1", b, 8 * 60 + 30, False) in visits  # both-way gate at B: 08:10 arrival, 16:40 departure
    assert ("van-3", a, 8 * 60 + 30, False) in visits  # misread on the way in, read right on the way out
    assert (None, a, None, True) in visits  # the unknown plate: arrived, never left
    van1 = await gate_log(http, vehicle="van-1", site=b)
    assert [e["movement"] for e in van1["events"]] == ["arrival", "departure"]

    # Depot A was offline: van-1's departure from B's day arrives late, and the log has it at once.
    await sync(http, depots.depot_a, [plate_read(7, at(19, 0), "yard-out", "BAB1234")])
    later = await gate_log(http, vehicle="van-1", site=a)
    assert [v["minutes_on_site"] for v in later["visits"]] == [None, 90]

    exported = await http.get(
        "/api/v1/fleet/gate-log",
        params={"from": DAY.isoformat(), "to": DAY.isoformat(), "format": "csv", "table": "visits"},
    )
    rows = list(csv.DictReader(io.StringIO(exported.text)))
    assert {"vehicle_id", "minutes_on_site", "unknown"} <= set(rows[0]) and len(rows) == len(log["visits"])
    events_csv = await http.get(
        "/api/v1/fleet/gate-log", params={"from": DAY.isoformat(), "to": DAY.isoformat(), "format": "csv"}
    )
    assert "MXYB08" in events_csv.text and "fuzzy" in events_csv.text


async def test_register_documents_drivers_and_site_documents(cloud: RunningCloud, http: httpx.AsyncClient) -> None:
    depots = await yard(cloud, http)
    headers = {"X-CSRF-Token": depots.csrf}

    vehicles = {v["id"]: v for v in (await http.get("/api/v1/fleet/vehicles")).json()["vehicles"]}
    assert vehicles["van-1"]["plate"] == "BAB1234" and vehicles["van-3"]["type"] == "truck"
    assert vehicles["van-1"]["driver"] == "Ben"  # a2 is open-ended from DAY 18:00
    docs = (await http.get("/api/v1/fleet/documents")).json()["documents"]
    assert [(d["vehicle_id"], d["status"], d["days_left"]) for d in docs] == [
        ("van-2", "expiring", 10),
        ("van-1", "valid", 200),
    ]
    # An assignment overlapping another of the same van is refused; after the other ends it is fine.
    overlap = {"person_id": depots.drivers["Ada"], "start": at(12).isoformat(), "end": at(19).isoformat()}
    refused = await http.put("/api/v1/fleet/vehicles/van-1/assignments/a3", json=overlap, headers=headers)
    assert refused.status_code == 409 and "a1" in refused.text
    other_van = await http.put("/api/v1/fleet/vehicles/van-2/assignments/a3", json=overlap, headers=headers)
    assert other_van.status_code == 200
    rows = list(csv.DictReader(io.StringIO((await http.get("/api/v1/fleet/assignments?format=csv")).text)))
    assert [(r["vehicle_id"], r["person_name"]) for r in rows] == [("van-1", "Ada"), ("van-2", "Ada"), ("van-1", "Ben")]
    vehicles_csv = (await http.get("/api/v1/fleet/vehicles", params={"format": "csv"})).text
    assert "BAB1234" in vehicles_csv and "Ben" in vehicles_csv

    # The register's plates are in every site's configuration document; a retired van leaves them.
    async with cloud.db() as session:
        site = await session.get(Site, depots.depot_b.site_id)
        assert site is not None
        before = await stored_version(session, site.id)
    retired = {"plate": "M-XY 808", "name": "Van 3", "type": "truck", "status": "retired"}
    assert (await http.put("/api/v1/fleet/vehicles/van-3", json=retired, headers=headers)).status_code == 200
    async with cloud.db() as session:
        site = await session.get(Site, depots.depot_b.site_id)
        assert site is not None
        version = await stored_version(session, site.id)
        document = await build_document(session, site, version)
    assert version == before + 1
    assert document.vehicles is not None
    assert [(v.plate, v.name, v.levels) for v in document.vehicles] == [
        ("BAB1234", "Van 1", []),
        ("BAB1235", "Van 2", []),
    ]


async def test_bad_fleet_input_is_refused(cloud: RunningCloud, http: httpx.AsyncClient) -> None:
    depots = await yard(cloud, http)
    headers = {"X-CSRF-Token": depots.csrf}
    van = "/api/v1/fleet/vehicles/van-9"

    assert (await http.put(van, json={"plate": "B!"}, headers=headers)).status_code == 400
    assert (await http.put(van, json={"plate": "BAB1234"}, headers=headers)).status_code == 409  # van-1's plate
    assert (await http.put(van, json={"plate": "XYZ111", "type": "boat"}, headers=headers)).status_code == 400
    assert (await http.put(van, json={"plate": "XYZ111", "home_site_id": "nope"}, headers=headers)).status_code == 404
    assert (await http.put(van, content=b"{not json", headers=headers)).status_code == 400
    doc = "/api/v1/fleet/vehicles/nope/documents/insurance"
    assert (await http.put(doc, json={"expires_on": "2027-01-01"}, headers=headers)).status_code == 404
    doc = "/api/v1/fleet/vehicles/van-1/documents/insurance"
    assert (await http.put(doc, json={"expires_on": "someday"}, headers=headers)).status_code == 400
    assignment = "/api/v1/fleet/vehicles/van-1/assignments/x"
    backwards = {"person_id": depots.drivers["Ada"], "start": at(12).isoformat(), "end": at(11).isoformat()}
    assert (await http.put(assignment, json=backwards, headers=headers)).status_code == 400
    nobody = {"person_id": "nobody", "start": at(2).isoformat(), "end": at(3).isoformat()}
    assert (await http.put(assignment, json=nobody, headers=headers)).status_code == 404
    gate = f"/api/v1/fleet/sites/{depots.depot_a.site_id}/gates/yard"
    assert (await http.put(gate, json={"direction": "sideways"}, headers=headers)).status_code == 400
    for params in ({"from": "2026-11-30"}, {"from": "2026-11-30", "to": "2026-11-01"}, {"from": "x", "to": "y"}):
        assert (await http.get("/api/v1/fleet/gate-log", params=params)).status_code == 400
    too_long = {"from": "2026-01-01", "to": "2026-03-01"}
    assert (await http.get("/api/v1/fleet/gate-log", params=too_long)).status_code == 400
    other_site = {"from": "2026-11-30", "to": "2026-11-30", "site": "nope"}
    assert (await http.get("/api/v1/fleet/gate-log", params=other_site)).status_code == 404
    assert (await http.get("/api/v1/fleet/vehicles/nope")).status_code == 404


async def test_only_roles_with_fleet_permissions_see_the_fleet(cloud: RunningCloud, http: httpx.AsyncClient) -> None:
    tenant = await make_tenant(cloud, "Acme")
    await enroll(http, tenant.code)
    for role in ("hr", "viewer", "security"):
        await create_user(cloud.db, tenant.tenant_id, f"{role}@acme.example", PASSWORD, role=role)
        csrf = await login(http, f"{role}@acme.example")
        assert (await http.get("/api/v1/fleet/vehicles")).status_code == 403
        assert (
            await http.get("/api/v1/fleet/gate-log", params={"from": "2026-11-30", "to": "2026-11-30"})
        ).status_code == 403
        assert (await http.get("/portal/fleet/vehicles")).status_code == 403
        assert (await http.get("/portal/fleet/gate-log")).status_code == 403
        van = {"plate": "XYZ111"}
        assert (await http.put("/api/v1/fleet/vehicles/v", json=van, headers={"X-CSRF-Token": csrf})).status_code == 403
    await create_user(cloud.db, tenant.tenant_id, "fleet@acme.example", PASSWORD, role="fleet")
    await login(http, "fleet@acme.example")
    assert (await http.get("/api/v1/hr/attendance", params={"day": "2026-11-30"})).status_code == 403
    assert (await http.get("/api/v1/fleet/vehicles")).status_code == 200
