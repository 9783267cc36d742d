"""A month of synthetic badge events (bench/_hr_month.py: 200 people, 3 sites in three time zones, two DST changes,
day/early/night shifts, breaks, two sites in one day, missing punches, ignored doors, refused badges) sent as signed
batches to a real cloud on PostgreSQL; 10% of the events (sites that were offline) are sent after the rest.

Every person-day of the attendance API is compared with an attendance computed here from the rules in
docs/FLEET_HR.md (not with cloud/hr): before the late batch against the events sent so far, after it against all;
the days the late batch changes must show the change within 60 s of its acknowledgement."""

from __future__ import annotations

import time as clock
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import httpx
import pytest
from cloud_helpers import PASSWORD, enroll, login
from hr_helpers import put, sync

from bench._hr_month import DOORS, HOLIDAYS, SITES, Badge, Month, PersonSpec, generate, holiday_at
from cloud import people
from cloud.admin import bootstrap_tenant, create_user
from cloud.app import RunningCloud
from cloud.hr.models import HrProfile
from cloud.people_models import PersonIn
from sync.wire import EnrollResponse, SyncRecord

pytestmark = [pytest.mark.timeout(300), pytest.mark.postgres]

BATCH = 2000
MARGIN = timedelta(hours=4)  # docs/FLEET_HR.md: badges 4 hours either side of a shift belong to its day


# ---- the rules of docs/FLEET_HR.md, written out independently of cloud/hr ----


@dataclass(frozen=True)
class Punch:
    at: datetime
    site: str
    direction: str


def _whole_minutes(seconds: float) -> int:
    return max(0, int(seconds // 60))


def expected_day(month: Month, person: PersonSpec, day: date, punches: list[Punch]) -> dict[str, Any]:
    """One person-day by the rules: the day's shift (a roster entry, else the weekly shift), its badges, entry/exit
    pairs at one site, flagged missing punches, worked and break minutes in elapsed time, late and early leave
    against the shift with its grace; a day without badges is a holiday (at the shift's site, else the home site)
    or approved leave rather than absent or off."""
    shift = month.shift_on(person, day)
    window = shift.window(day) if shift is not None else None
    if window is not None:
        lo, hi = window[0] - MARGIN, window[1] + MARGIN
    else:
        zone = ZoneInfo(SITES[person.home].zone)
        lo = datetime.combine(day, time(0), zone).astimezone(UTC)
        hi = datetime.combine(day + timedelta(days=1), time(0), zone).astimezone(UTC)
    # A day without a shift leaves out the badges of the shifts the day before and after (a night's 06:00 exit).
    taken = [] if window is not None else [(month.shift_on(person, day + timedelta(days=n)), n) for n in (-1, 1)]
    theirs = [
        (w[0] - MARGIN, w[1] + MARGIN)
        for s, n in taken
        if s is not None and (w := s.window(day + timedelta(days=n))) is not None
    ]
    holiday = holiday_at(shift.site if shift is not None else person.home, day)
    leave = month.on_leave(person, day)
    mine = sorted(
        (p for p in punches if lo <= p.at < hi and not any(a <= p.at < b for a, b in theirs)), key=lambda p: p.at
    )
    out: dict[str, Any] = {
        "scheduled": window,
        "status": "holiday" if holiday else "leave" if leave else "absent" if window else "off",
        "holiday": holiday,
        "leave": leave,
        "first_in": None,
        "last_out": None,
        "worked": 0,
        "breaks": 0,
        "late": 0,
        "early": 0,
        "sites": [],
        "pairs": [],
        "missing": [],
    }
    if not mine:
        return out
    pairs: list[tuple[str, datetime, datetime]] = []
    missing: list[tuple[str, datetime, str]] = []
    waiting: Punch | None = None  # an entry not yet matched with an exit
    for p in mine:
        if p.direction == "out" and waiting is not None and waiting.site == p.site:
            pairs.append((p.site, waiting.at, p.at))
            waiting = None
            continue
        if waiting is not None:  # another entry, or an exit elsewhere: the open entry has no exit
            missing.append(("out", waiting.at, waiting.site))
            waiting = None
        if p.direction == "in":
            waiting = p
        else:
            missing.append(("in", p.at, p.site))
    if waiting is not None:
        missing.append(("out", waiting.at, waiting.site))
    ins = [p.at for p in mine if p.direction == "in"]
    outs = [p.at for p in mine if p.direction == "out"]
    out |= {
        "status": "incomplete" if missing else "present",
        "first_in": min(ins, default=None),
        "last_out": max(outs, default=None),
        "worked": _whole_minutes(sum((b - a).total_seconds() for _, a, b in pairs)),
        "breaks": _whole_minutes(
            sum((nxt[1] - prev[2]).total_seconds() for prev, nxt in zip(pairs, pairs[1:], strict=False))
        ),
        "sites": sorted({p.site for p in mine}),
        "pairs": pairs,
        "missing": sorted(missing, key=lambda m: m[1]),
    }
    if window is not None and shift is not None:
        grace = timedelta(minutes=shift.grace_minutes)
        if out["first_in"] is not None and out["first_in"] > window[0] + grace:
            out["late"] = _whole_minutes((out["first_in"] - window[0]).total_seconds())
        if out["last_out"] is not None and out["last_out"] < window[1] - grace:
            out["early"] = _whole_minutes((window[1] - out["last_out"]).total_seconds())
    return out


def _t(value: str | None) -> datetime | None:
    return None if value is None else datetime.fromisoformat(value).astimezone(UTC)


def api_day(row: dict[str, Any]) -> dict[str, Any]:
    """The API's person-day in the shape of expected_day."""
    start, end = _t(row["scheduled_start"]), _t(row["scheduled_end"])
    return {
        "scheduled": (start, end) if start is not None and end is not None else None,
        "status": row["status"],
        "holiday": row["holiday"],
        "leave": row["leave"],
        "first_in": _t(row["first_in"]),
        "last_out": _t(row["last_out"]),
        "worked": row["worked_minutes"],
        "breaks": row["break_minutes"],
        "late": row["late_minutes"],
        "early": row["early_leave_minutes"],
        "sites": row["sites"],
        "pairs": [(i["site_id"], _t(i["start"]), _t(i["end"])) for i in row["intervals"]],
        "missing": [(m["missing"], _t(m["at"]), m["site_id"]) for m in row["missing_punches"]],
    }


class Expected:
    """The test's own attendance of every person-day from a set of badges."""

    def __init__(self, month: Month, ids: dict[str, str], site_ids: list[str]) -> None:
        self.month, self.ids, self.site_ids = month, ids, site_ids

    def days(self) -> list[date]:
        return [self.month.first + timedelta(days=n) for n in range(self.month.days)]

    def compute(self, badges: Iterable[Badge]) -> dict[tuple[date, str], dict[str, Any]]:
        punches: dict[str, list[Punch]] = {}
        for b in badges:
            if b.granted and b.door in DOORS:
                punches.setdefault(b.person, []).append(Punch(b.at, self.site_ids[b.site], DOORS[b.door]))
        return {
            (day, self.ids[p.key]): expected_day(self.month, p, day, punches.get(p.key, []))
            for day in self.days()
            for p in self.month.people
        }


# ---- the cloud side ----


def _record(seq: int, badge: Badge, person_id: str) -> SyncRecord:
    payload: dict[str, Any] = {"type": "access_decision", "door_id": badge.door, "person_id": person_id}
    payload |= {"credential": f"c-{person_id}", "granted": badge.granted}
    payload["reason"] = "granted" if badge.granted else "outside_schedule"
    return SyncRecord(seq=seq, kind="audit", occurred_at=badge.at, payload=payload)


async def _setup(
    cloud: RunningCloud, http: httpx.AsyncClient, month: Month
) -> tuple[list[EnrollResponse], dict[str, str]]:
    """Acme with the three sites (their time zones), an `hr` user, entry/exit doors, shifts and 200 people."""
    made = await bootstrap_tenant(
        cloud.db, "Acme", "admin@acme.example", PASSWORD, site_name=SITES[0].name, timezone=SITES[0].zone
    )
    assert made.enrollment is not None
    sites = [await enroll(http, made.enrollment.code)]
    admin_csrf = await login(http, "admin@acme.example")
    for n, spec in enumerate(SITES[1:], start=1):
        code = await http.post(
            "/api/v1/enrollment-codes",
            json={"site_name": spec.name, "timezone": spec.zone},
            headers={"X-CSRF-Token": admin_csrf},
        )
        assert code.status_code in (200, 201), code.text
        sites.append(await enroll(http, code.json()["code"], hostname=f"box-{n}"))
    await create_user(cloud.db, made.tenant_id, "hr@acme.example", PASSWORD, role="hr")
    csrf = await login(http, "hr@acme.example")
    site_ids = [s.site_id for s in sites]
    for site_id in site_ids:
        for door, direction in DOORS.items():
            await put(http, csrf, f"/api/v1/hr/sites/{site_id}/doors/{door}", {"direction": direction})
    for shift in month.shifts.values():
        body = {
            "name": shift.name,
            "site_id": site_ids[shift.site],
            "start": shift.start.strftime("%H:%M"),
            "end": shift.end.strftime("%H:%M"),
            "weekdays": sorted(shift.weekdays),
            "grace_minutes": shift.grace_minutes,
        }
        await put(http, csrf, f"/api/v1/hr/shifts/{shift.id}", body)
    ids: dict[str, str] = {}
    async with cloud.db.begin() as session:  # 200 people at once, as an import would (one API call each is slow)
        for person in month.people:
            row, _ = await people.create_person(session, made.tenant_id, PersonIn(name=person.name, sites=site_ids))
            ids[person.key] = row.id
            session.add(
                HrProfile(
                    tenant_id=made.tenant_id,
                    person_id=row.id,
                    department="Couriers",
                    home_site_id=site_ids[person.home],
                    shift_id=person.shift,
                )
            )
    for site, day, name in HOLIDAYS:
        await put(http, csrf, f"/api/v1/hr/sites/{site_ids[site]}/holidays/{day.isoformat()}", {"name": name})
    for roster in month.rosters:
        body = {"person_id": ids[roster.person], "shift_id": roster.shift}
        body |= {"starts_on": roster.starts_on.isoformat(), "ends_on": roster.ends_on.isoformat()}
        await put(http, csrf, f"/api/v1/hr/rosters/{roster.id}", body)
    for leave in month.leave:
        body = {"person_id": ids[leave.person], "kind": leave.kind}
        body |= {"first_day": leave.first_day.isoformat(), "last_day": leave.last_day.isoformat()}
        asked = await http.post("/api/v1/hr/leave", json=body, headers={"X-CSRF-Token": csrf})
        assert asked.status_code == 201, asked.text
        if leave.decision is not None:
            decided = await http.post(
                f"/api/v1/hr/leave/{asked.json()['id']}/decision",
                json={"decision": leave.decision},
                headers={"X-CSRF-Token": csrf},
            )
            assert decided.status_code == 200, decided.text
    return sites, ids


async def _send(http: httpx.AsyncClient, site: EnrollResponse, records: list[SyncRecord]) -> None:
    for start in range(0, len(records), BATCH):
        await sync(http, site, records[start : start + BATCH])


async def _grid(http: httpx.AsyncClient, days: Iterable[date]) -> dict[tuple[date, str], dict[str, Any]]:
    out: dict[tuple[date, str], dict[str, Any]] = {}
    for day in days:
        response = await http.get("/api/v1/hr/attendance", params={"day": day.isoformat()})
        assert response.status_code == 200, response.text
        out |= {(day, row["person_id"]): api_day(row) for row in response.json()["people"]}
    return out


def _differences(
    got: dict[tuple[date, str], dict[str, Any]], want: dict[tuple[date, str], dict[str, Any]]
) -> list[tuple[date, str, dict[str, Any], dict[str, Any] | None]]:
    return [
        (day, person, w, got.get((day, person))) for (day, person), w in want.items() if got.get((day, person)) != w
    ]


@pytest.mark.parametrize("db_url", ["postgresql"], indirect=True)
async def test_a_month_of_badges_matches_an_independent_attendance(
    cloud: RunningCloud, http: httpx.AsyncClient
) -> None:
    month = generate(seed=13)
    sites, ids = await _setup(cloud, http, month)
    site_ids = [s.site_id for s in sites]
    on_time: dict[int, list[SyncRecord]] = {n: [] for n in range(len(sites))}
    late: dict[int, list[SyncRecord]] = {n: [] for n in range(len(sites))}
    seqs = [0] * len(sites)
    for badge in month.badges:  # in time order: each site's seqs ascend with time
        seqs[badge.site] += 1
        (late if badge.late else on_time)[badge.site].append(_record(seqs[badge.site], badge, ids[badge.person]))
    for n, site in enumerate(sites):
        await _send(http, site, on_time[n])

    expected = Expected(month, ids, site_ids)
    want_before = expected.compute(b for b in month.badges if not b.late)
    want_after = expected.compute(month.badges)
    got_before = await _grid(http, expected.days())
    wrong_before = _differences(got_before, want_before)
    assert len(got_before) == len(want_before) == 200 * month.days
    assert len(wrong_before) <= len(want_before) // 1000, wrong_before[:5]

    changed = sorted({day for key, want in want_after.items() if want_before[key] != want for day in [key[0]]})
    for n, site in enumerate(sites):
        await _send(http, site, late[n])
    acked = clock.monotonic()
    got_changed = await _grid(http, changed)
    elapsed = clock.monotonic() - acked
    assert elapsed < 60, elapsed
    changed_keys = {k: v for k, v in want_after.items() if k[0] in changed and want_before[k] != v}
    assert len(_differences(got_changed, changed_keys)) <= len(changed_keys) // 1000

    got_after = await _grid(http, expected.days())
    wrong_after = _differences(got_after, want_after)
    assert len(wrong_after) <= len(want_after) // 1000, wrong_after[:5]  # at least 99.9% of person-days identical

    # The month covers what it claims to.
    late_share = sum(b.late for b in month.badges) / len(month.badges)
    assert 0.099 <= late_share <= 0.101 and len(changed_keys) > 100
    statuses = [w["status"] for w in want_after.values()]
    kinds = ("present", "incomplete", "absent", "off", "holiday", "leave")
    assert {s: statuses.count(s) > 20 for s in kinds} == dict.fromkeys(kinds, True), Counter(statuses)
    # Some worked on their holiday or during leave that was not approved; those days count their badges.
    assert [w for w in want_after.values() if w["holiday"] and w["status"] == "present"]
    assert {x.decision for x in month.leave} >= {"approved", "rejected"} and month.rosters
    assert sum(len(w["sites"]) == 2 for w in want_after.values()) > 100
    assert sum(w["late"] > 0 for w in want_after.values()) > 100
    missing_kinds = {m[0] for w in want_after.values() for m in w["missing"]}
    assert missing_kinds == {"in", "out"}
    # The free day after a night shift does not flag that night's exit again as "no entry".
    for person in month.people:
        for day in expected.days():
            seen = got_after[(day, ids[person.key])]
            if seen["scheduled"] is not None:
                continue
            nights = [
                w
                for n in (-1, 1)
                if (s := month.shift_on(person, day + timedelta(days=n))) is not None
                and (w := s.window(day + timedelta(days=n))) is not None
            ]
            assert not [m for m in seen["missing"] if any(a - MARGIN <= m[1] < b + MARGIN for a, b in nights)]
    # Saturday nights across the DST change: Berlin's on 24 October and New York's on 31 October last 9 hours.
    for n, day in ((0, date(2026, 10, 24)), (1, date(2026, 10, 31))):
        night = month.shifts[f"night-{n}"].window(day)
        assert night is not None and night[1] - night[0] == timedelta(hours=9)
        nighters = [ids[p.key] for p in month.people if p.shift == f"night-{n}"]
        assert any(got_after[(day, pid)]["scheduled"] == night for pid in nighters)
        assert any(got_after[(day, pid)]["worked"] > 8 * 60 + 30 for pid in nighters)
