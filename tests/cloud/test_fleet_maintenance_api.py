"""Fleet maintenance end to end: a van's service falls due and then overdue as its gate trips are synced, a work
order done for the schedule resets it, a lock's calendar schedule is due, a late work order is flagged, and a
lock whose synced battery readings fall fast gets a work-order suggestion (a slow one does not); alerts, CSV
exports, bad input 400/404."""

from __future__ import annotations

import csv
import io
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from fleet_helpers import DAY, at, plate_read, yard
from hr_helpers import put, sync

from cloud.app import RunningCloud
from sync.wire import SyncRecord

pytestmark = pytest.mark.timeout(120)


async def board(http: httpx.AsyncClient) -> dict[str, Any]:
    response = await http.get("/api/v1/fleet/maintenance")
    assert response.status_code == 200, response.text
    result: dict[str, Any] = response.json()
    return result


def battery(seq: int, device: str, days_ago: float, value: float) -> SyncRecord:
    when = datetime.now(UTC) - timedelta(days=days_ago)
    return SyncRecord(
        seq=seq, kind="telemetry", occurred_at=when, payload={"device_id": device, "values": {"battery": value}}
    )


async def test_schedules_fall_due_and_work_orders_reset_them(cloud: RunningCloud, http: httpx.AsyncClient) -> None:
    depots = await yard(cloud, http)
    a = depots.depot_a.site_id
    today = datetime.now(UTC).date()
    service = {"name": "Service van 1", "vehicle_id": "van-1", "every_trips": 3, "warn_trips": 0}
    created = await put(
        http, depots.csrf, "/api/v1/fleet/schedules/van1-service", {**service, "last_done_on": DAY.isoformat()}
    )
    assert (created["state"], created["trips_left"], created["since"]) == ("ok", 1, DAY.isoformat())  # 2 arrivals
    lock = {"name": "Yard lock check", "site_id": a, "device_id": "lock-1", "every_days": 90}
    lock["last_done_on"] = (today - timedelta(days=85)).isoformat()
    assert (await put(http, depots.csrf, "/api/v1/fleet/schedules/lock-check", lock))["state"] == "due"

    # Van 1 leaves A and comes back the next morning: the third trip makes the service due, a fourth overdue.
    next_day = DAY + timedelta(days=1)
    await sync(
        http,
        depots.depot_a,
        [plate_read(7, at(19), "yard-out", "BAB1234"), plate_read(8, at(7, d=next_day), "yard-in", "BAB1234")],
    )
    plans = {s["id"]: s for s in (await board(http))["schedules"]}
    assert (plans["van1-service"]["state"], plans["van1-service"]["reason"]) == ("due", "3 of 3 trips")
    await sync(
        http,
        depots.depot_a,
        [
            plate_read(9, at(8, d=next_day), "yard-out", "BAB1234"),
            plate_read(10, at(9, d=next_day), "yard-in", "BAB1234"),
        ],
    )
    out = await board(http)
    assert {s["id"]: s["state"] for s in out["schedules"]} == {"van1-service": "overdue", "lock-check": "due"}
    alerts = {(x["kind"], x["ref"]): x for x in out["alerts"]}
    assert alerts[("schedule", "van1-service")]["state"] == "overdue"
    assert alerts[("schedule", "lock-check")]["state"] == "due"
    assert alerts[("document", "van-2/insurance")]["message"] == "insurance of van-2 expires in 10 days"

    order = {
        "title": "Service van 1",
        "vehicle_id": "van-1",
        "schedule_id": "van1-service",
        "assignee": "Garage Nord",
        "tasks": [{"text": "Oil and filter"}, {"text": "Brakes"}],
        "cost_cents": 0,
        "due_on": (today - timedelta(days=1)).isoformat(),
    }
    late = await put(http, depots.csrf, "/api/v1/fleet/work-orders/wo-1", order)
    assert late["state"] == "overdue" and late["completed_on"] is None
    assert ("work_order", "wo-1") in {(x["kind"], x["ref"]) for x in (await board(http))["alerts"]}
    done = {**order, "status": "done", "cost_cents": 34950, "tasks": [{"text": "Oil and filter", "done": True}]}
    finished = await put(http, depots.csrf, "/api/v1/fleet/work-orders/wo-1", done)
    assert (finished["state"], finished["completed_on"]) == ("ok", today.isoformat())
    after = await board(http)
    plans = {s["id"]: s for s in after["schedules"]}
    assert (plans["van1-service"]["state"], plans["van1-service"]["last_done_on"]) == ("ok", today.isoformat())
    assert {x["ref"] for x in after["alerts"]} == {"lock-check", "van-2/insurance"}

    orders = list(csv.DictReader(io.StringIO((await http.get("/api/v1/fleet/work-orders?format=csv")).text)))
    assert [(o["id"], o["status"], o["cost"], o["tasks_done"], o["tasks"]) for o in orders] == [
        ("wo-1", "done", "349.50", "1", "1")
    ]
    schedules_csv = list(csv.DictReader(io.StringIO((await http.get("/api/v1/fleet/schedules?format=csv")).text)))
    assert {s["id"]: s["state"] for s in schedules_csv} == {"van1-service": "ok", "lock-check": "due"}
    alerts_csv = list(csv.DictReader(io.StringIO((await http.get("/api/v1/fleet/maintenance?format=csv")).text)))
    assert sorted(r["kind"] for r in alerts_csv) == ["document", "schedule"]


async def test_a_dying_lock_battery_gets_a_work_order_suggestion(cloud: RunningCloud, http: httpx.AsyncClient) -> None:
    depots = await yard(cloud, http)
    a = depots.depot_a.site_id
    status = SyncRecord(
        seq=20,
        kind="device_status",
        occurred_at=datetime.now(UTC) - timedelta(days=11),
        payload={"device_id": "lock-7", "kind": "lock", "online": True},
    )
    await sync(
        http,
        depots.depot_a,
        [
            status,
            battery(21, "lock-7", 10, 40),
            battery(22, "lock-7", 5, 30),
            battery(23, "lock-7", 1, 22),  # 2 points a day: empty in about a week
            battery(24, "lock-8", 20, 80),
            battery(25, "lock-8", 10, 78),
            battery(26, "lock-8", 1, 76),  # slow: months left
        ],
    )
    out = await board(http)
    assert [(b["device_id"], b["device_kind"], b["work_order_id"]) for b in out["battery"]] == [
        ("lock-7", "lock", None)
    ]
    assert out["battery"][0]["per_day"] == -2.0
    assert [(x["kind"], x["ref"]) for x in out["alerts"] if x["kind"] == "battery"] == [("battery", f"{a}/lock-7")]

    order = {
        "title": "Replace the battery of lock-7",
        "site_id": a,
        "device_id": "lock-7",
        "tasks": [{"text": "Battery"}],
    }
    await put(http, depots.csrf, "/api/v1/fleet/work-orders/wo-lock7", order)
    out = await board(http)
    assert out["battery"][0]["work_order_id"] == "wo-lock7"
    assert not [x for x in out["alerts"] if x["kind"] == "battery"]


async def test_bad_maintenance_input_is_refused(cloud: RunningCloud, http: httpx.AsyncClient) -> None:
    depots = await yard(cloud, http)
    a = depots.depot_a.site_id
    headers = {"X-CSRF-Token": depots.csrf}
    schedule = "/api/v1/fleet/schedules/s1"
    for body, status in (
        ({"name": "X", "vehicle_id": "van-1"}, 400),  # no limit
        ({"name": "X", "site_id": a, "device_id": "lock-1", "every_trips": 10}, 400),  # trips for a device
        ({"name": "X", "vehicle_id": "van-1", "site_id": a, "device_id": "d", "every_days": 5}, 400),
        ({"name": "X", "site_id": a, "every_days": 5}, 400),  # a site without a device
        ({"name": "X", "vehicle_id": "van-1", "every_days": 0}, 400),
        ({"name": "X", "vehicle_id": "nope", "every_days": 5}, 404),
        ({"name": "X", "site_id": "nope", "device_id": "d", "every_days": 5}, 404),
    ):
        response = await http.put(schedule, json=body, headers=headers)
        assert response.status_code == status, (body, response.text)
    order = "/api/v1/fleet/work-orders/w1"
    for body, status in (
        ({"title": "X", "vehicle_id": "van-1", "cost_cents": -1}, 400),
        ({"title": "X", "vehicle_id": "van-1", "status": "lost"}, 400),
        ({"title": "", "vehicle_id": "van-1"}, 400),
        ({"title": "X", "vehicle_id": "van-1", "schedule_id": "nope"}, 404),
    ):
        response = await http.put(order, json=body, headers=headers)
        assert response.status_code == status, (body, response.text)
    assert (await http.put(order, content=b"[]", headers=headers)).status_code == 400
