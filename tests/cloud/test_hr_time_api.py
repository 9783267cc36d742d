"""Rosters, public holidays, leave and timesheets through the JSON API, on the two-depot week of hr_helpers: a
holiday and approved leave replace "absent", a roster moves a person to nights for one day, overtime by the day
and by the week, a timesheet submitted by one HR user and approved by another (never by its submitter), the
payroll CSV, the audit trail, bad input 400/404/409 and other roles refused."""

from __future__ import annotations

import csv
import io
from datetime import timedelta
from typing import Any

import httpx
import pytest
from cloud_helpers import PASSWORD, login
from hr_helpers import DAY, put, two_depots
from sqlalchemy import select, update

from cloud.admin import create_user
from cloud.app import RunningCloud
from cloud.db.models import AuditEntry, User

pytestmark = pytest.mark.timeout(120)
TUE, WED, THU = (DAY + timedelta(days=n) for n in (1, 2, 3))


async def day_of(http: httpx.AsyncClient, person: str, day: Any) -> dict[str, Any]:
    response = await http.get("/api/v1/hr/attendance", params={"day": day.isoformat()})
    assert response.status_code == 200, response.text
    return next(p for p in response.json()["people"] if p["person_id"] == person)


async def test_holiday_leave_roster_and_an_approved_timesheet(cloud: RunningCloud, http: httpx.AsyncClient) -> None:
    depots = await two_depots(cloud, http)
    a, csrf = depots.depot_a.site_id, depots.csrf
    headers = {"X-CSRF-Token": csrf}
    ben, dan = depots.ids["Ben"], depots.ids["Dan"]

    # A public holiday at Depot A on Tuesday: Dan (day shift at A, no badges) is on holiday, not absent.
    assert (await day_of(http, dan, TUE))["status"] == "absent"
    await put(http, csrf, f"/api/v1/hr/sites/{a}/holidays/{TUE.isoformat()}", {"name": "St Andrew's Day"})
    tuesday = await day_of(http, dan, TUE)
    assert (tuesday["status"], tuesday["holiday"]) == ("holiday", "St Andrew's Day")
    holidays = (await http.get("/api/v1/hr/holidays", params={"year": "2026"})).json()["holidays"]
    assert [(h["site_id"], h["day"]) for h in holidays] == [(a, TUE.isoformat())]

    # Leave counts once approved; a decided request is not decided again.
    leave = {"person_id": dan, "kind": "annual", "first_day": WED.isoformat(), "last_day": WED.isoformat()}
    made = await http.post("/api/v1/hr/leave", json=leave, headers=headers)
    assert made.status_code == 201, made.text
    leave_id = made.json()["id"]
    assert (await day_of(http, dan, WED))["status"] == "absent"
    decided = await http.post(f"/api/v1/hr/leave/{leave_id}/decision", json={"decision": "approved"}, headers=headers)
    assert decided.status_code == 200 and decided.json()["status"] == "approved"
    wednesday = await day_of(http, dan, WED)
    assert (wednesday["status"], wednesday["leave"]) == ("leave", "annual")
    again = await http.post(f"/api/v1/hr/leave/{leave_id}/decision", json={"decision": "rejected"}, headers=headers)
    assert again.status_code == 409

    # A roster puts Dan on nights for Thursday only; Friday he is back on his weekly day shift.
    roster = {"person_id": dan, "shift_id": "night", "starts_on": THU.isoformat(), "ends_on": THU.isoformat()}
    await put(http, csrf, "/api/v1/hr/rosters/dan-cover", roster)
    thursday = await day_of(http, dan, THU)
    assert (thursday["shift"], thursday["scheduled_start"]) == ("Night", f"{THU.isoformat()}T21:00:00Z")
    assert (await day_of(http, dan, THU + timedelta(days=1)))["shift"] == "Day"
    rosters = (await http.get("/api/v1/hr/rosters")).json()["rosters"]
    assert [r["id"] for r in rosters] == ["dan-cover"]

    # Overtime after 4 h a day and 5 h a week: Ben worked 489 min on Monday and HR counts 240 on Tuesday.
    await put(http, csrf, "/api/v1/hr/overtime", {"daily_minutes": 240, "weekly_minutes": 300})
    await put(
        http,
        csrf,
        f"/api/v1/hr/people/{ben}/days/{TUE.isoformat()}",
        {"worked_minutes": 240, "reason": "worked at a customer site"},
    )
    week = {"period": "week", "start": DAY.isoformat()}
    sheets = {s["person_id"]: s for s in (await http.get("/api/v1/hr/timesheets", params=week)).json()["timesheets"]}
    ben_sheet = sheets[ben]
    assert (ben_sheet["counted_minutes"], ben_sheet["overtime_minutes"], ben_sheet["regular_minutes"]) == (
        729,
        249 + 180,
        300,
    )
    assert ben_sheet["status"] == "draft"
    assert (sheets[dan]["holiday_days"], sheets[dan]["leave_days"]) == (1, 1)

    path = f"/api/v1/hr/people/{ben}/timesheets/week/{DAY.isoformat()}"
    submitted = await http.post(f"{path}/submit", headers=headers)
    assert submitted.status_code == 200 and submitted.json()["status"] == "submitted", submitted.text
    assert (await http.post(f"{path}/submit", headers=headers)).status_code == 409
    own = await http.post(f"{path}/decision", json={"decision": "approved"}, headers=headers)
    assert own.status_code == 409 and "submitted" in own.json()["detail"]

    await create_user(cloud.db, depots.tenant_id, "manager@acme.example", PASSWORD, role="hr")
    async with httpx.AsyncClient(base_url=cloud.url, timeout=30) as manager:
        manager_csrf = await login(manager, "manager@acme.example")
        approved = await manager.post(
            f"{path}/decision", json={"decision": "approved", "note": "checked"}, headers={"X-CSRF-Token": manager_csrf}
        )
    assert approved.status_code == 200, approved.text
    assert (approved.json()["status"], approved.json()["decided_by"]) == ("approved", "manager@acme.example")
    detail = (await http.get(path)).json()
    assert [d["overtime_minutes"] for d in detail["days"][:2]] == [249, 0]

    # A late badge after approval: payroll keeps the approved totals and the change is flagged.
    await put(
        http,
        csrf,
        f"/api/v1/hr/people/{ben}/days/{TUE.isoformat()}",
        {"worked_minutes": 300, "reason": "late sheet from the customer"},
    )
    exported = await http.get("/api/v1/hr/timesheets", params={**week, "format": "csv"})
    assert exported.headers["Content-Type"].startswith("text/csv")
    rows = {r["name"]: r for r in csv.DictReader(io.StringIO(exported.text))}
    assert (rows["Ben"]["status"], rows["Ben"]["counted_hours"], rows["Ben"]["overtime_hours"]) == (
        "approved",
        "12.15",
        "7.15",
    )
    assert (rows["Ben"]["changed_since_submitted"], rows["Ben"]["approved_by"]) == ("True", "manager@acme.example")
    assert rows["Dan"]["status"] == "draft"

    async with cloud.db() as session:
        actions = [e.action for e in await session.scalars(select(AuditEntry).order_by(AuditEntry.id))]
    for action in ("hr.holiday.set", "hr.leave.request", "hr.leave.approve", "hr.roster.set"):
        assert action in actions
    assert actions.count("hr.timesheet.submit") == 1 and actions.count("hr.timesheet.approve") == 1


async def test_bad_time_input_is_refused_and_other_roles_see_nothing(
    cloud: RunningCloud, http: httpx.AsyncClient
) -> None:
    depots = await two_depots(cloud, http)
    headers = {"X-CSRF-Token": depots.csrf}
    a, dan = depots.depot_a.site_id, depots.ids["Dan"]

    async def status(method: str, path: str, **kwargs: Any) -> int:
        return (await http.request(method, path, headers=headers, **kwargs)).status_code

    backwards = {"person_id": dan, "kind": "annual", "first_day": "2026-12-03", "last_day": "2026-12-01"}
    assert await status("POST", "/api/v1/hr/leave", json=backwards) == 400
    assert await status("POST", "/api/v1/hr/leave", json={**backwards, "kind": "holiday"}) == 400
    assert await status("POST", "/api/v1/hr/leave", json={**backwards, "person_id": "nobody"}) == 400
    good = {**backwards, "first_day": "2026-12-01", "person_id": "nobody"}
    assert await status("POST", "/api/v1/hr/leave", json=good) == 404
    assert await status("POST", "/api/v1/hr/leave/nope/decision", json={"decision": "maybe"}) == 400
    assert await status("POST", "/api/v1/hr/leave/nope/decision", json={"decision": "approved"}) == 404
    roster = {"person_id": dan, "shift_id": "day", "starts_on": "2026-12-03", "ends_on": "2026-12-01"}
    assert await status("PUT", "/api/v1/hr/rosters/r1", json=roster) == 400
    assert await status("PUT", "/api/v1/hr/rosters/r1", json={**roster, "ends_on": None, "shift_id": "x"}) == 404
    assert await status("DELETE", "/api/v1/hr/rosters/r1") == 404
    assert await status("PUT", f"/api/v1/hr/sites/{a}/holidays/2026-02-30", json={"name": "x"}) == 404
    assert await status("PUT", f"/api/v1/hr/sites/{a}/holidays/2026-12-25", json={"name": ""}) == 400
    assert await status("PUT", "/api/v1/hr/sites/nope/holidays/2026-12-25", json={"name": "Xmas"}) == 404
    assert await status("PUT", "/api/v1/hr/overtime", json={"daily_minutes": 10, "weekly_minutes": 2400}) == 400
    assert await status("GET", "/api/v1/hr/timesheets?period=week&start=2026-12-01") == 400
    assert await status("GET", "/api/v1/hr/timesheets?period=month&start=2026-12-02") == 400
    assert await status("GET", "/api/v1/hr/timesheets?period=year&start=2026-12-01") == 400
    assert await status("GET", "/api/v1/hr/timesheets?period=month&start=2026-12-01&site=nope") == 404
    assert await status("GET", f"/api/v1/hr/people/{dan}/timesheets/week/2026-12-01") == 404
    assert (
        await status(
            "POST", f"/api/v1/hr/people/{dan}/timesheets/week/{DAY.isoformat()}/decision", json={"decision": "approved"}
        )
        == 409
    )
    month = await http.get("/api/v1/hr/timesheets", params={"period": "month", "start": "2026-11-01"})
    assert month.status_code == 200 and month.json()["end"] == "2026-11-30"

    await create_user(cloud.db, depots.tenant_id, "viewer@acme.example", PASSWORD, role="viewer")
    for role in ("fleet", "viewer"):
        csrf = await login(http, f"{role}@acme.example")
        assert (await http.get("/api/v1/hr/timesheets?period=week&start=2026-11-30")).status_code == 403
        assert (await http.get("/api/v1/hr/leave")).status_code == 403
        decision = await http.post(
            "/api/v1/hr/leave/x/decision", json={"decision": "approved"}, headers={"X-CSRF-Token": csrf}
        )
        assert decision.status_code == 403


async def test_an_hr_user_limited_to_one_site_sees_and_decides_only_its_peoples_leave(
    cloud: RunningCloud, http: httpx.AsyncClient
) -> None:
    depots = await two_depots(cloud, http)
    a, b, headers = depots.depot_a.site_id, depots.depot_b.site_id, {"X-CSRF-Token": depots.csrf}
    eve = await http.post("/api/v1/people", json={"name": "Eve", "sites": [a]}, headers=headers)
    assert eve.status_code == 201, eve.text
    ids = {}
    for name, person in (("Eve", eve.json()["id"]), ("Ben", depots.ids["Ben"])):
        body = {"person_id": person, "kind": "sick", "first_day": WED.isoformat(), "last_day": WED.isoformat()}
        made = await http.post("/api/v1/hr/leave", json=body, headers=headers)
        assert made.status_code == 201, made.text
        ids[name] = made.json()["id"]
    await create_user(cloud.db, depots.tenant_id, "hr-b@acme.example", PASSWORD, role="hr")
    async with cloud.db.begin() as session:
        await session.execute(update(User).where(User.email == "hr-b@acme.example").values(site_ids=[b]))

    async with httpx.AsyncClient(base_url=cloud.url, timeout=30) as limited:
        csrf = await login(limited, "hr-b@acme.example")
        seen = (await limited.get("/api/v1/hr/leave")).json()["leave"]
        eves = await limited.post(
            f"/api/v1/hr/leave/{ids['Eve']}/decision", json={"decision": "approved"}, headers={"X-CSRF-Token": csrf}
        )
        bens = await limited.post(
            f"/api/v1/hr/leave/{ids['Ben']}/decision", json={"decision": "approved"}, headers={"X-CSRF-Token": csrf}
        )
        body = {
            "person_id": eve.json()["id"],
            "kind": "sick",
            "first_day": THU.isoformat(),
            "last_day": THU.isoformat(),
        }
        for_eve = await limited.post("/api/v1/hr/leave", json=body, headers={"X-CSRF-Token": csrf})

    assert [row["id"] for row in seen] == [ids["Ben"]]
    assert (eves.status_code, bens.status_code, for_eve.status_code) == (404, 200, 404)
    everyone = (await http.get("/api/v1/hr/leave")).json()["leave"]
    assert {row["id"]: row["status"] for row in everyone} == {ids["Eve"]: "requested", ids["Ben"]: "approved"}
