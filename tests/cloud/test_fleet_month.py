"""A month of synthetic plate reads for 40 vehicles at 3 sites (seeded): 5% of reads misread by one confusable
character, visitors with unknown plates, and 10% of the reads arriving in a batch a day or more late (a site that
was offline). The gate log's visits are checked against the generator's own record of every visit, and the late
batch is in the log as soon as it is synced (within 60 s, here one read)."""

from __future__ import annotations

import random
import time
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any

import httpx
import pytest
from cloud_helpers import PASSWORD, enroll, login, make_tenant
from fleet_helpers import plate_read
from hr_helpers import put, sync

from cloud.admin import create_user
from cloud.app import RunningCloud
from cloud.fleet.plates import CONFUSABLE, substitution_confidence
from sync.wire import SyncRecord

pytestmark = pytest.mark.timeout(600)

SEED = 13
FIRST = date(2026, 10, 5)
DAYS = 28
VEHICLES = 40
LETTERS = "ABCDEFGHJKLMNPRSTUVWXYZ"
DIGITS = "0123456789"
SWAPS = {a: b for pair in CONFUSABLE for a, b in (tuple(pair), tuple(pair)[::-1])}


@dataclass(frozen=True)
class TrueVisit:
    vehicle_id: str | None  # None: a visitor's unknown plate
    plate: str
    site: int
    arrived: datetime
    departed: datetime


def plates(rng: random.Random, count: int) -> list[str]:
    """Plates pairwise at least 3 characters apart, so a one-character misread is never ambiguous."""
    chosen: list[str] = []
    while len(chosen) < count:
        plate = "".join(rng.choice(LETTERS) for _ in range(3)) + "".join(rng.choice(DIGITS) for _ in range(4))
        if all(sum(a != b for a, b in zip(plate, other, strict=True)) >= 3 for other in chosen):
            chosen.append(plate)
    return chosen


def misread(rng: random.Random, plate: str) -> str:
    """The plate with one character swapped for one a camera confuses it with (if it has one)."""
    spots = [i for i, c in enumerate(plate) if c in SWAPS]
    if not spots:
        return plate
    i = rng.choice(spots)
    return plate[:i] + SWAPS[plate[i]] + plate[i + 1 :]


def generate(rng: random.Random, fleet: list[str], visitors: list[str]) -> list[TrueVisit]:
    """Each vehicle each day: 0-3 visits one after the other at random sites, 10-300 minutes each."""
    visits = []
    for day in range(DAYS):
        midnight = datetime.combine(FIRST + timedelta(days=day), datetime.min.time(), UTC)
        for index, plate in enumerate(fleet):
            clock = midnight + timedelta(hours=5, minutes=rng.randrange(60))
            for _ in range(rng.choice((0, 1, 1, 2, 2, 3))):
                stay = timedelta(minutes=rng.randrange(10, 300))
                visits.append(TrueVisit(f"v{index:02d}", plate, rng.randrange(3), clock, clock + stay))
                clock += stay + timedelta(minutes=rng.randrange(5, 90))
        for plate in rng.sample(visitors, 2):
            arrived = midnight + timedelta(hours=rng.randrange(6, 18))
            visits.append(TrueVisit(None, plate, rng.randrange(3), arrived, arrived + timedelta(minutes=45)))
    return visits


async def log(http: httpx.AsyncClient) -> dict[str, Any]:
    last = FIRST + timedelta(days=DAYS - 1)
    response = await http.get("/api/v1/fleet/gate-log", params={"from": FIRST.isoformat(), "to": last.isoformat()})
    assert response.status_code == 200, response.text
    result: dict[str, Any] = response.json()
    return result


def visit_keys(out: dict[str, Any]) -> set[tuple[Any, ...]]:
    return {
        (v["vehicle_id"], v["plate"] if v["unknown"] else None, v["site_id"], v["arrived"], v["departed"])
        for v in out["visits"]
    }


async def test_a_month_of_gate_reads_matches_the_generators_visits(
    cloud: RunningCloud, http: httpx.AsyncClient
) -> None:
    rng = random.Random(SEED)
    tenant = await make_tenant(cloud, "Acme", site_name="Depot 0")
    sites = [await enroll(http, tenant.code)]
    admin_csrf = await login(http, tenant.admin_email)
    for n in (1, 2):
        code = await http.post(
            "/api/v1/enrollment-codes", json={"site_name": f"Depot {n}"}, headers={"X-CSRF-Token": admin_csrf}
        )
        sites.append(await enroll(http, code.json()["code"], hostname=f"box-{n}"))
    await create_user(cloud.db, tenant.tenant_id, "fleet@acme.example", PASSWORD, role="fleet")
    csrf = await login(http, "fleet@acme.example")
    everything = plates(rng, VEHICLES + 10)
    fleet, visitors = everything[:VEHICLES], everything[VEHICLES:]
    for index, plate in enumerate(fleet):
        await put(
            http, csrf, f"/api/v1/fleet/vehicles/v{index:02d}", {"plate": plate, "home_site_id": sites[0].site_id}
        )
    # Depot 0 has an entry and an exit gate; Depots 1 and 2 one camera both ways.
    await put(http, csrf, f"/api/v1/fleet/sites/{sites[0].site_id}/gates/in", {"direction": "in"})
    await put(http, csrf, f"/api/v1/fleet/sites/{sites[0].site_id}/gates/out", {"direction": "out"})

    truth = generate(rng, fleet, visitors)
    reads: dict[int, list[tuple[datetime, str, str]]] = {0: [], 1: [], 2: []}
    misreads = 0
    for visit in truth:
        for at, door in ((visit.arrived, "in"), (visit.departed, "out")):
            text = visit.plate
            if visit.vehicle_id is not None and rng.random() < 0.05:
                text = misread(rng, text)
                misreads += text != visit.plate
            reads[visit.site].append((at, door if visit.site == 0 else "gate", text))
    on_time: dict[int, list[SyncRecord]] = {}
    late: dict[int, list[SyncRecord]] = {}
    for site, site_reads in reads.items():
        site_reads.sort()
        cut = int(len(site_reads) * 0.9)
        shuffled = list(range(len(site_reads)))
        rng.shuffle(shuffled)
        delayed = set(shuffled[cut:])  # 10% of each site's reads arrive a day or more late
        records = [plate_read(seq + 1, at, door, text) for seq, (at, door, text) in enumerate(site_reads)]
        on_time[site] = [r for i, r in enumerate(records) if i not in delayed]
        late[site] = [r for i, r in enumerate(records) if i in delayed]
    for site, records in on_time.items():
        for start in range(0, len(records), 2000):
            await sync(http, sites[site], records[start : start + 2000])

    ids = {n: s.site_id for n, s in enumerate(sites)}
    expected = {
        (
            v.vehicle_id,
            None if v.vehicle_id else v.plate,
            ids[v.site],
            v.arrived.isoformat().replace("+00:00", "Z"),
            v.departed.isoformat().replace("+00:00", "Z"),
        )
        for v in truth
    }
    before = await log(http)
    assert len(visit_keys(before) & expected) < len(expected)  # the late reads are missing: visits open or split

    for site, records in late.items():
        await sync(http, sites[site], records)
    started = time.monotonic()
    after = await log(http)
    elapsed = time.monotonic() - started
    assert elapsed < 60, elapsed

    assert len(truth) > 1500 and misreads > 100
    assert visit_keys(after) == expected
    events = after["events"]
    assert len(events) == 2 * len(truth)
    fuzzy = [e for e in events if e["match"] == "fuzzy"]
    assert len(fuzzy) == misreads and all(e["match_confidence"] == 0.9 for e in fuzzy)
    assert all(substitution_confidence(e["plate_read"], e["plate"]) == 0.9 for e in fuzzy)
    assert {e["match"] for e in events if e["vehicle_id"] is None} == {"unknown"}
    assert not [e for e in events if e["match"] == "ambiguous"]
