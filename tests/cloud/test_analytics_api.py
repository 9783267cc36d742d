"""The analytics API: every /api/ route is in the OpenAPI document and the answers validate against it; access
stats, alarms (with HQ acknowledgement), device health, overview paging, CSV exports, tenant isolation and
bad queries answered 400."""

from __future__ import annotations

import csv
import io
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import jsonschema
import pytest
from cloud_helpers import PASSWORD, enroll, login, make_tenant, send_batch
from sqlalchemy import update

from bench._site_records import stream
from cloud.admin import create_user
from cloud.app import RunningCloud
from cloud.db.models import Site, User
from sync.wire import EnrollResponse, SyncBatch, SyncRecord, new_nonce

pytestmark = pytest.mark.timeout(180)

DENIALS = 20
ANALYTICS_GETS = ("overview", "traffic", "access", "alarms", "devices", "sensors", "detections")


def record(seq: int, kind: str, payload: dict[str, Any], at: datetime) -> SyncRecord:
    return SyncRecord(seq=seq, kind=kind, occurred_at=at, payload=payload)  # type: ignore[arg-type]


def special_records(first_seq: int, at: datetime) -> list[SyncRecord]:
    """20 denials of credential 9999 at door back, an open alarm, an offline lock with a low battery."""
    denial = {"type": "access_decision", "door_id": "back", "credential": "9999", "granted": False, "reason": "unknown"}
    alarm = {"type": "alarm", "alarm": "forced", "state": "raised", "door_id": "back", "alarm_id": 900}
    return [
        *(record(first_seq + i, "audit", denial, at + timedelta(seconds=i)) for i in range(DENIALS)),
        record(first_seq + DENIALS, "event", alarm, at),
        record(first_seq + DENIALS + 1, "device_status", {"device_id": "lock-back", "online": False}, at),
        record(first_seq + DENIALS + 2, "telemetry", {"device_id": "lock-back", "values": {"battery": 9.0}}, at),
    ]


async def send_all(http: httpx.AsyncClient, site: EnrollResponse, records: list[SyncRecord]) -> None:
    for i in range(0, len(records), 500):
        batch = SyncBatch(
            site_id=site.site_id, sent_at=datetime.now(UTC), nonce=new_nonce(), records=records[i : i + 500]
        )
        response = await send_batch(http, site, batch)
        assert response.status_code == 200, response.text


@pytest.fixture
async def acme(cloud: RunningCloud, http: httpx.AsyncClient) -> tuple[str, EnrollResponse]:
    """Tenant Acme with a New York site that synced two days of mixed records and the special ones."""
    made = await make_tenant(cloud, "Acme")
    site = await enroll(http, made.code)
    async with cloud.db.begin() as session:
        await session.execute(update(Site).where(Site.id == site.site_id).values(timezone="America/New_York"))
    now = datetime.now(UTC)
    records = list(stream(3, now - timedelta(days=2), timedelta(minutes=4), 700))
    await send_all(http, site, records + special_records(len(records) + 1, now - timedelta(hours=1)))
    await login(http, made.admin_email)
    return made.tenant_id, site


def validator(document: dict[str, Any], path: str, method: str, status: int) -> jsonschema.Draft202012Validator:
    content = document["paths"][path][method]["responses"][str(status)]["content"]["application/json"]
    schema = {"components": document["components"], **content["schema"]}
    return jsonschema.Draft202012Validator(schema)


async def test_every_api_route_is_documented_and_answers_validate(
    cloud: RunningCloud, http: httpx.AsyncClient, acme: tuple[str, EnrollResponse]
) -> None:
    _, site = acme
    document = (await http.get("/api/v1/openapi.json")).json()
    jsonschema.Draft202012Validator.check_schema({"components": document["components"]})
    routes = {
        (route.resource.canonical, route.method.lower())
        for route in cloud.app.router.routes()
        if route.resource is not None and route.resource.canonical.startswith("/api/") and route.method != "HEAD"
    }
    documented = {(path, method) for path, ops in document["paths"].items() for method in ops}

    assert routes == documented
    assert len(routes) > 30
    for name in ANALYTICS_GETS:
        path = f"/api/v1/analytics/{name}"
        for params in ({}, {"site": site.site_id}, {"site": site.site_id, "granularity": "hour"}):
            if name == "overview" and params:
                continue
            response = await http.get(path, params=params)
            assert response.status_code == 200, (path, params, response.text)
            validator(document, path, "get", 200).validate(response.json())
    for path in ("/api/v1/sites", "/api/v1/sites/{site_id}", "/api/v1/people", "/api/v1/conflicts"):
        response = await http.get(path.replace("{site_id}", site.site_id))
        validator(document, path, "get", 200).validate(response.json())
    missing = await http.get("/api/v1/analytics/access", params={"site": "nosuchsite"})
    assert missing.status_code == 404
    validator(document, "/api/v1/analytics/access", "get", 404).validate(missing.json())


async def test_access_stats_name_the_most_denied_credentials_and_doors_and_export_csv(
    http: httpx.AsyncClient, acme: tuple[str, EnrollResponse]
) -> None:
    _, site = acme
    stats = (await http.get("/api/v1/analytics/access", params={"site": site.site_id, "granularity": "hour"})).json()

    top = stats["top_denied_credentials"][0]
    assert (top["id"], top["denied"], top["site_id"]) == ("9999", DENIALS, site.site_id)
    assert any(d["id"] == "back" and d["denied"] == DENIALS for d in stats["top_denied_doors"])
    points = [p for p in stats["series"]["points"] if p["scope_id"] == "back"]
    assert sum(p["n"] for p in points) == DENIALS and all(p["metric"] == "access.denied" for p in points)
    assert stats["series"]["timezone"] == "America/New_York"
    assert points[0]["local"].endswith(("-05:00", "-04:00"))
    exported = await http.get("/api/v1/analytics/access", params={"format": "csv", "table": "credentials"})
    assert exported.headers["Content-Type"].startswith("text/csv")
    rows = list(csv.DictReader(io.StringIO(exported.text)))
    assert rows[0]["id"] == "9999" and rows[0]["denied"] == str(DENIALS)


async def test_top_denied_doors_and_overview_counts_agree_with_the_detail_reads(
    http: httpx.AsyncClient, acme: tuple[str, EnrollResponse]
) -> None:
    _, site = acme
    since = (datetime.now(UTC) - timedelta(days=5)).date().isoformat()
    stats = (await http.get("/api/v1/analytics/access", params={"from": since})).json()
    per_door = (await http.get("/api/v1/analytics/access", params={"site": site.site_id, "from": since})).json()
    alarms = (await http.get("/api/v1/analytics/alarms")).json()
    devices = (await http.get("/api/v1/analytics/devices")).json()
    overview = (await http.get("/api/v1/analytics/overview", params={"sort": "offline_devices"})).json()

    sums: dict[tuple[str, str], int] = {}
    for p in per_door["series"]["points"]:
        sums[(p["scope_id"], p["metric"])] = sums.get((p["scope_id"], p["metric"]), 0) + p["n"]
    doors = {door for door, _ in sums}
    expected = sorted(
        (
            {
                "site_id": site.site_id,
                "id": d,
                "denied": sums[(d, "access.denied")],
                "granted": sums.get((d, "access.granted"), 0),
            }
            for d in doors
            if sums.get((d, "access.denied"), 0) > 0
        ),
        key=lambda r: (-r["denied"], r["id"]),
    )
    assert stats["top_denied_doors"] == expected and len(expected) >= 2
    assert any(r["granted"] > 0 for r in expected)
    (mine,) = overview["sites"]
    assert mine["open_alarms"] == len(alarms["open"]) >= 1
    assert mine["offline_devices"] == devices["offline"] >= 1


async def test_open_alarms_are_acknowledged_at_hq_by_admins_only(
    cloud: RunningCloud, http: httpx.AsyncClient, acme: tuple[str, EnrollResponse]
) -> None:
    tenant_id, site = acme
    alarms = (await http.get("/api/v1/analytics/alarms")).json()
    assert [(a["alarm_id"], a["door_id"], a["open"]) for a in alarms["open"] if a["alarm_id"] == 900] == [
        (900, "back", True)
    ]
    await create_user(cloud.db, tenant_id, "viewer@acme.example", PASSWORD)
    path = f"/api/v1/analytics/alarms/{site.site_id}/900/acknowledge"
    async with httpx.AsyncClient(base_url=cloud.url) as viewer:
        token = await login(viewer, "viewer@acme.example")
        assert (await viewer.post(path, json={}, headers={"X-CSRF-Token": token})).status_code == 403
    token = await login(http, "admin@acme.example")

    acked = await http.post(path, json={"comment": "seen"}, headers={"X-CSRF-Token": token})

    assert acked.status_code == 200, acked.text
    assert acked.json()["hq_acknowledged_by"] == "admin@acme.example" and not acked.json()["open"]
    after = (await http.get("/api/v1/analytics/alarms")).json()
    assert all(a["alarm_id"] != 900 for a in after["open"])
    assert after["mean_time_to_acknowledge_s"] is not None
    assert (await http.post(path.replace("/900/", "/901/"), headers={"X-CSRF-Token": token})).status_code == 404


async def test_devices_show_offline_and_low_battery_first(
    http: httpx.AsyncClient, acme: tuple[str, EnrollResponse]
) -> None:
    devices = (await http.get("/api/v1/analytics/devices")).json()

    first = devices["devices"][0]
    assert devices["offline"] >= 1 and devices["battery_low"] >= 1
    assert first["online"] is False
    lock = next(d for d in devices["devices"] if d["device_id"] == "lock-back")
    assert lock["battery_low"] and lock["battery"] == 9.0


async def test_another_tenant_sees_none_of_it(cloud: RunningCloud, acme: tuple[str, EnrollResponse]) -> None:
    _, site = acme
    other = await make_tenant(cloud, "Globex")
    async with httpx.AsyncClient(base_url=cloud.url) as http:
        token = await login(http, other.admin_email)
        for name in ANALYTICS_GETS:
            body = (await http.get(f"/api/v1/analytics/{name}")).json()
            assert site.site_id not in str(body), name
            assert (await http.get(f"/api/v1/analytics/{name}", params={"site": site.site_id})).status_code in (
                400 if name == "overview" else 404,
            )
        ack = await http.post(
            f"/api/v1/analytics/alarms/{site.site_id}/900/acknowledge", headers={"X-CSRF-Token": token}
        )
        assert ack.status_code == 404


@pytest.mark.parametrize(
    "params",
    [
        {"from": "2026-05-02", "to": "2026-05-01"},
        {"granularity": "hour"},
        {"scope": "moon"},
        {"format": "xml"},
        {"from": "yesterday"},
        {"from": "2020-01-01", "to": "2026-01-01"},
        {"unknown": "1"},
    ],
)
async def test_bad_queries_are_400(
    http: httpx.AsyncClient, acme: tuple[str, EnrollResponse], params: dict[str, str]
) -> None:
    response = await http.get("/api/v1/analytics/traffic", params=params)

    assert response.status_code == 400, response.text
    assert response.json()["error"] == "bad_query"


async def test_overview_filters_sorts_and_pages(
    cloud: RunningCloud, http: httpx.AsyncClient, acme: tuple[str, EnrollResponse]
) -> None:
    tenant_id, _ = acme
    async with cloud.db.begin() as session:
        session.add_all(Site(tenant_id=tenant_id, name=f"Depot {i:03d}", secret="x" * 64) for i in range(30))

    page = (await http.get("/api/v1/analytics/overview", params={"q": "depot", "per_page": 10, "page": 2})).json()
    desc = (
        await http.get("/api/v1/analytics/overview", params={"sort": "name", "order": "desc", "per_page": 5})
    ).json()
    never = (await http.get("/api/v1/analytics/overview", params={"status": "never", "per_page": 200})).json()
    alarms = (await http.get("/api/v1/analytics/overview", params={"sort": "open_alarms", "order": "desc"})).json()

    assert page["total"] == 30 and [s["name"] for s in page["sites"]] == [f"Depot {i:03d}" for i in range(10, 20)]
    assert desc["sites"][0]["name"] == "Warehouse"
    assert never["total"] == 30
    assert alarms["sites"][0]["name"] == "Warehouse" and alarms["sites"][0]["open_alarms"] >= 1
    assert alarms["sites"][0]["status"] == "online"


async def test_a_user_limited_to_some_sites_sees_only_theirs(
    cloud: RunningCloud, acme: tuple[str, EnrollResponse]
) -> None:
    tenant_id, site = acme
    async with cloud.db.begin() as session:
        session.add(Site(id="otherdepot01", tenant_id=tenant_id, name="Other depot", secret="0" * 64))
    user = await create_user(cloud.db, tenant_id, "limited@acme.example", PASSWORD)
    async with cloud.db.begin() as session:
        await session.execute(update(User).where(User.id == user.id).values(site_ids=["otherdepot01"]))
    async with httpx.AsyncClient(base_url=cloud.url) as http:
        await login(http, "limited@acme.example")
        overview = (await http.get("/api/v1/analytics/overview")).json()
        assert [s["id"] for s in overview["sites"]] == ["otherdepot01"]
        since = (datetime.now(UTC) - timedelta(days=30)).date().isoformat()
        for name in ANALYTICS_GETS:
            answer = await http.get(f"/api/v1/analytics/{name}", params={} if name == "overview" else {"from": since})
            assert answer.status_code == 200, (name, answer.text)
            assert site.site_id not in answer.text, name
            if name != "overview":
                refused = await http.get(f"/api/v1/analytics/{name}", params={"site": site.site_id})
                assert refused.status_code == 404, name
        assert (await http.get("/api/v1/analytics/access")).json()["top_denied_credentials"] == []


async def test_traffic_columns_carry_the_same_buckets_as_the_points(
    http: httpx.AsyncClient, acme: tuple[str, EnrollResponse]
) -> None:
    _, site = acme
    params = {"site": site.site_id, "granularity": "hour", "scope": "camera"}
    points = (await http.get("/api/v1/analytics/traffic", params=params)).json()
    columns = await http.get("/api/v1/analytics/traffic/columns", params=params)
    document = (await http.get("/api/v1/openapi.json")).json()

    assert columns.status_code == 200, columns.text
    validator(document, "/api/v1/analytics/traffic/columns", "get", 200).validate(columns.json())
    body = columns.json()
    buckets = [datetime.fromisoformat(b) for b in body["buckets"]]
    from_columns = {
        (buckets[i], line["scope_id"], line["metric"]): (n, line["peak"][i])
        for line in body["lines"]
        for i, n in enumerate(line["n"])
        if n
    }
    from_points = {
        (datetime.fromisoformat(p["bucket"]), p["scope_id"], p["metric"]): (p["n"], p["peak"]) for p in points["points"]
    }
    assert from_columns == from_points and len(from_points) > 10
    assert len(buckets) == 7 * 24 and buckets == sorted(buckets)
    assert (await http.get("/api/v1/analytics/traffic/columns")).status_code == 400
