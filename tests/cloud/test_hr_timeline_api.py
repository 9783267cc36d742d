"""A person's attendance timeline over the API: one row per day from the same computation as the day grid (night
shift, missing exit, correction), documented in OpenAPI; default range, range bounds, bad dates 400, another
tenant's person 404, CSV."""

from __future__ import annotations

import csv
import io
from datetime import timedelta

import httpx
import jsonschema
import pytest
from cloud_helpers import login, make_tenant
from hr_helpers import DAY, put, two_depots

from cloud.app import RunningCloud

pytestmark = pytest.mark.timeout(120)


async def test_timeline_days_match_the_day_grid(cloud: RunningCloud, http: httpx.AsyncClient) -> None:
    depots = await two_depots(cloud, http)
    ada, cleo = depots.ids["Ada"], depots.ids["Cleo"]
    fix = {"worked_minutes": 540, "reason": "Forgot to badge out"}
    await put(http, depots.csrf, f"/api/v1/hr/people/{cleo}/days/{DAY.isoformat()}", fix)
    start, end = DAY - timedelta(days=2), DAY + timedelta(days=1)
    params = {"start": start.isoformat(), "end": end.isoformat()}

    response = await http.get(f"/api/v1/hr/people/{cleo}/timeline", params=params)
    assert response.status_code == 200, response.text
    body = response.json()
    document = (await http.get("/api/v1/openapi.json")).json()
    operation = document["paths"]["/api/v1/hr/people/{person_id}/timeline"]["get"]
    assert {p["name"] for p in operation["parameters"]} >= {"person_id", "start", "end"}
    schema = operation["responses"]["200"]["content"]["application/json"]["schema"]
    jsonschema.Draft202012Validator({"components": document["components"], **schema}).validate(body)
    assert (body["person_id"], body["name"], body["start"], body["end"]) == (cleo, "Cleo", *params.values())
    days = {d["day"]: d for d in body["days"]}
    assert list(days) == [(start + timedelta(days=n)).isoformat() for n in range(4)]
    grid = (await http.get("/api/v1/hr/attendance", params={"day": DAY.isoformat()})).json()["people"]
    assert {k: v for k, v in days[DAY.isoformat()].items() if k != "day"} == next(
        p for p in grid if p["person_id"] == cleo
    )
    monday = days[DAY.isoformat()]
    assert monday["status"] == "incomplete" and [m["missing"] for m in monday["missing_punches"]] == ["out"]
    assert monday["correction"]["reason"] == "Forgot to badge out" and monday["counted_minutes"] == 540
    assert days[start.isoformat()]["status"] == "off"  # Saturday: no shift
    assert days[end.isoformat()]["status"] == "absent"  # Tuesday: shift, no badges

    night = (await http.get(f"/api/v1/hr/people/{ada}/timeline", params=params)).json()
    ada_monday = next(d for d in night["days"] if d["day"] == DAY.isoformat())
    assert ada_monday["worked_minutes"] == 8 * 60 + 5 and len(ada_monday["intervals"]) == 1

    exported = await http.get(f"/api/v1/hr/people/{cleo}/timeline", params={**params, "format": "csv"})
    assert exported.status_code == 200 and exported.headers["Content-Type"].startswith("text/csv")
    rows = {r["day"]: r for r in csv.DictReader(io.StringIO(exported.text))}
    assert len(rows) == 4 and rows[DAY.isoformat()]["counted_minutes"] == "540"
    assert rows[DAY.isoformat()]["correction_reason"] == "Forgot to badge out"
    assert rows[DAY.isoformat()]["missing_punches"].startswith("out@")


async def test_timeline_range_defaults_and_bounds(cloud: RunningCloud, http: httpx.AsyncClient) -> None:
    depots = await two_depots(cloud, http)
    path = f"/api/v1/hr/people/{depots.ids['Dan']}/timeline"

    default = (await http.get(path, params={"end": DAY.isoformat()})).json()
    assert (default["start"], len(default["days"])) == ((DAY - timedelta(days=13)).isoformat(), 14)
    today = await http.get(path)
    assert today.status_code == 200 and len(today.json()["days"]) == 14
    longest = await http.get(path, params={"start": (DAY - timedelta(days=61)).isoformat(), "end": DAY.isoformat()})
    assert longest.status_code == 200 and len(longest.json()["days"]) == 62
    one_day = (await http.get(path, params={"start": DAY.isoformat(), "end": DAY.isoformat()})).json()
    assert [d["day"] for d in one_day["days"]] == [DAY.isoformat()]

    for params in (
        {"start": (DAY - timedelta(days=62)).isoformat(), "end": DAY.isoformat()},  # 63 days
        {"start": DAY.isoformat(), "end": (DAY - timedelta(days=1)).isoformat()},  # backwards
        {"start": "2026-02-30", "end": DAY.isoformat()},
        {"start": "yesterday"},
        {"end": "not-a-date"},
        {"start": DAY.isoformat(), "end": DAY.isoformat(), "site": "x"},  # unknown parameter
    ):
        response = await http.get(path, params=params)
        assert response.status_code == 400, (params, response.text)
        assert response.json()["error"] == "bad_query"


async def test_timeline_of_another_tenants_person_is_404(cloud: RunningCloud, http: httpx.AsyncClient) -> None:
    depots = await two_depots(cloud, http)
    other = await make_tenant(cloud, "Other")
    async with httpx.AsyncClient(base_url=cloud.url, timeout=30) as intruder:
        await login(intruder, other.admin_email)
        for path in (
            f"/api/v1/hr/people/{depots.ids['Ada']}/timeline",
            f"/api/v1/hr/people/{depots.ids['Ada']}/timeline?format=csv",
            f"/portal/attendance/{depots.ids['Ada']}",
        ):
            response = await intruder.get(path)
            assert response.status_code == 404, path
            assert "Ada" not in response.text
    missing = await http.get("/api/v1/hr/people/nobody/timeline")
    assert missing.status_code == 404 and missing.json()["error"] == "not_found"
    fleet = httpx.AsyncClient(base_url=cloud.url, timeout=30)
    async with fleet:
        await login(fleet, "fleet@acme.example")
        refused = await fleet.get(f"/api/v1/hr/people/{depots.ids['Ada']}/timeline")
        assert refused.status_code == 403
