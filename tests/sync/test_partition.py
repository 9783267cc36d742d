"""Partition test: a site cut off for a simulated week while ~1,000 edits are made at HQ and on the box.

The real cloud app (SQLite, loopback port) and the real edge app (embedded broker, SQLite, sync agent and config
puller) talk through a TCP relay on loopback: cutting it closes the listening socket and every relayed connection
(a real network cut; the edge sees refused connections, the cloud keeps serving HQ). The site is enrolled with a
real enrollment code; HQ's people are applied on the box before the cut.

"A simulated week": the clocks that stamp edits (HQ's `cloud.people.utcnow`, the box's `edge.access.local_edits`)
follow a simulated clock that advances over 7 days as the seeded edit log is played; nothing sleeps. Edits: HQ
renames, suspends, revokes and adds badges, adds and removes people (JSON API); the box renames, suspends,
reactivates people it suspended, revokes badges and enrols people with temporary badges (console API), many of
them on the same people as HQ.

After reconnecting, the test waits (polling, at most 30 s) until both sides agree, then checks them against the
outcome it computes itself from the edit log and the documented rule (docs/SYNC.md "Downlink"): a revoke
(suspension, badge revoke, removal) always wins, whichever side made it, except that the box may lift its own
suspension; otherwise the later edit per person wins;
a person edited on both sides is listed as a conflict at HQ (and only those). 0 lost edits, 0 silent overwrites.

PARTITION_EDITS (default 1000) and PARTITION_SEED set the size and the seed.
"""

from __future__ import annotations

import asyncio
import os
import random
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import select

from cloud.admin import bootstrap_tenant
from cloud.app import RunningCloud, started_cloud
from cloud.config import CloudConfig
from cloud.db.models import SiteConfig
from edge import keys
from edge.app import EdgeRunner
from edge.config import EdgeConfig
from edge.storage.schema import credentials, people, person_access
from firmware_adapters.messages import BadgeRead
from sync.wire import ENROLL_PATH, EnrollResponse
from tests.edge.console import console_headers
from tests.edge.site import site_config_dict
from tests.polling import eventually

EDITS = int(os.environ.get("PARTITION_EDITS", "1000"))
SEED = int(os.environ.get("PARTITION_SEED", "20261206"))
AGREE_WITHIN_S = 30.0
WEEK = timedelta(days=7)
PASSWORD = "correct horse battery staple"
LEVEL = "cloud-front"
INITIAL_PEOPLE = 60


class SimClock:
    """The simulated time stamping edits on both sides (a week passes while the edit log is played)."""

    def __init__(self, start: datetime) -> None:
        self.now = start

    def advance(self, delta: timedelta) -> None:
        self.now += delta


class TcpRelay:
    """A loopback TCP relay the edge reaches the cloud through; `cut()` is a real network cut."""

    def __init__(self, target_port: int) -> None:
        self._target_port = target_port
        self._server: asyncio.Server | None = None
        self._writers: set[asyncio.StreamWriter] = set()
        self.port = 0

    async def start(self) -> None:
        self._server = await asyncio.start_server(self._serve, "127.0.0.1", self.port)
        self.port = self._server.sockets[0].getsockname()[1]

    async def cut(self) -> None:
        """Stop listening and abort every relayed connection (both ends)."""
        assert self._server is not None
        self._server.close()
        for writer in list(self._writers):
            writer.transport.abort()
        await self._server.wait_closed()
        self._server = None

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            up_reader, up_writer = await asyncio.open_connection("127.0.0.1", self._target_port)
        except OSError:
            writer.transport.abort()
            return
        self._writers |= {writer, up_writer}

        async def pipe(src: asyncio.StreamReader, dst: asyncio.StreamWriter) -> None:
            try:
                while data := await src.read(65536):
                    dst.write(data)
                    await dst.drain()
            except (ConnectionError, OSError):
                pass
            finally:
                dst.transport.abort()

        try:
            await asyncio.gather(pipe(reader, up_writer), pipe(up_reader, writer))
        finally:
            self._writers -= {writer, up_writer}


@dataclass
class Side:
    """One side's view of a person: what that side last wrote."""

    name: str
    active: bool = True
    badges: dict[str, bool] = field(default_factory=dict)
    edited_at: datetime | None = None  # last edit of this side during the partition


@dataclass
class Person:
    """A person of the edit log, as each side sees them; the expected outcome is computed from both."""

    cloud_id: str
    hq: Side | None  # None: HQ never knew them before the reconnect (enrolled on the box)
    box: Side | None  # None: the box never had them (created at HQ during the partition)
    box_id: int | None = None  # the edge's local person id
    removed: bool = False
    base_at: datetime | None = None  # updated_at of the document the box had

    def expected(self) -> tuple[str, bool, dict[str, bool]]:
        """The outcome of the documented rule: revokes win; otherwise the later edit's name.

        Each side's `active` is its final state: a suspension the box made and lifted itself is no revoke
        (the cloud records that the suspension was the box's), while HQ's suspension wins over the box's
        reactivation. HQ's edits reach the cloud first (the box is cut off), so the order is known.
        """
        sides = [s for s in (self.hq, self.box) if s is not None]
        later = max(sides, key=lambda s: s.edited_at or self.base_at or datetime.min.replace(tzinfo=UTC))
        badges: dict[str, bool] = {}
        for side in sides:
            for number, active in side.badges.items():
                badges[number] = badges.get(number, True) and active
        return later.name, all(s.active for s in sides), badges

    @property
    def conflict(self) -> bool:
        return self.hq is not None and self.box is not None and bool(self.hq.edited_at and self.box.edited_at)


@pytest.fixture
async def real_cloud(tmp_path: Path, db_url: str) -> AsyncIterator[RunningCloud]:
    """The real cloud app on a loopback port, on SQLite and on PostgreSQL."""
    config = CloudConfig(
        data_dir=tmp_path / "cloud",
        database_url=db_url,
        host="127.0.0.1",
        port=0,
    )
    async with started_cloud(config) as running:
        yield running


@pytest.fixture
async def relay(real_cloud: RunningCloud) -> AsyncIterator[TcpRelay]:
    relay = TcpRelay(real_cloud.port)
    await relay.start()
    yield relay
    if relay._server is not None:
        await relay.cut()


@pytest.fixture
def clock(monkeypatch: pytest.MonkeyPatch) -> SimClock:
    """Edits on both sides are stamped by the simulated clock (8 days ago at the start)."""
    sim = SimClock(datetime.now(UTC) - WEEK - timedelta(days=1))

    class SimDatetime(datetime):
        @classmethod
        def now(cls, tz: Any = None) -> datetime:  # type: ignore[override]
            return sim.now

    monkeypatch.setattr("cloud.people.utcnow", lambda: sim.now)
    monkeypatch.setattr("edge.access.local_edits.datetime", SimDatetime)
    return sim


async def _enroll(cloud: RunningCloud, hq: httpx.AsyncClient) -> EnrollResponse:
    result = await bootstrap_tenant(cloud.db, "Acme", "admin@acme.example", PASSWORD, site_name="Depot")
    assert result.enrollment is not None
    response = await hq.post(ENROLL_PATH, json={"code": result.enrollment.code, "hostname": "box-1"})
    assert response.status_code == 200, response.text
    return EnrollResponse.model_validate_json(response.content)


async def _applied_version(cloud: RunningCloud, site_id: str) -> tuple[str | None, int | None, int]:
    async with cloud.db() as session:
        config = await session.get(SiteConfig, site_id, populate_existing=True)
        assert config is not None
        return config.report_status, config.report_version, config.version


async def _edge_people(edge: EdgeRunner) -> dict[str, tuple[str, bool, dict[str, bool]]]:
    """What the box enforces: every person by cloud id (box-enrolled ones must have been adopted)."""
    async with edge.app[keys.DATABASE].engine.connect() as conn:
        rows = (
            await conn.execute(
                select(people, person_access.c.external_id).outerjoin(
                    person_access, person_access.c.person_id == people.c.id
                )
            )
        ).all()
        creds = (await conn.execute(select(credentials))).all()
    badges: dict[int, dict[str, bool]] = {}
    for c in creds:
        badges.setdefault(c.person_id, {})[c.number] = bool(c.active)
    return {(r.external_id or f"unadopted:{r.id}"): (r.name, bool(r.active), badges.get(r.id, {})) for r in rows}


async def _cloud_people(hq: httpx.AsyncClient, site_id: str) -> dict[str, tuple[str, bool, dict[str, bool]]]:
    listed = (await hq.get("/api/v1/people")).json()["people"]
    return {
        p["id"]: (p["name"], p["active"], {b["number"]: b["active"] for b in p["badges"]})
        for p in listed
        if site_id in p["sites"]
    }


async def test_a_week_long_partition_loses_nothing_and_lists_every_conflict(
    tmp_path: Path, real_cloud: RunningCloud, relay: TcpRelay, clock: SimClock
) -> None:
    rng = random.Random(SEED)
    async with httpx.AsyncClient(base_url=real_cloud.url, timeout=60) as hq:
        site = await _enroll(real_cloud, hq)
        login = await hq.post("/api/v1/login", json={"email": "admin@acme.example", "password": PASSWORD})
        assert login.status_code == 200, login.text
        hq.headers["X-CSRF-Token"] = login.json()["csrf_token"]
        level = await hq.put(f"/api/v1/sites/{site.site_id}/policy/access-levels/{LEVEL}", json={"doors": ["front"]})
        assert level.status_code == 200, level.text

        # HQ's first document: INITIAL_PEOPLE people with two badges each.
        log: dict[str, Person] = {}
        badge_seq = iter(range(1, 1_000_000))

        def new_badge() -> str:
            return f"100:{next(badge_seq)}"

        async def hq_create(name: str) -> Person:
            badges = [new_badge(), new_badge()]
            body = {"name": name, "levels": [LEVEL], "sites": [site.site_id], "badges": [{"number": b} for b in badges]}
            created = await hq.post("/api/v1/people", json=body)
            assert created.status_code == 201, created.text
            person = Person(created.json()["id"], Side(name, badges=dict.fromkeys(badges, True)), None)
            log[person.cloud_id] = person
            return person

        for i in range(INITIAL_PEOPLE):
            clock.advance(timedelta(seconds=1))
            await hq_create(f"Person {i}")

        data: dict[str, Any] = site_config_dict(tmp_path / "edge")
        data["site"]["id"] = site.site_id
        data["cloud"] = {
            "url": f"http://127.0.0.1:{relay.port}",
            "secret": site.secret,
            "config_wait_s": 25,
            "max_backoff_s": 0.5,
            "sync_interval_s": 0.2,
        }
        edge = EdgeRunner(EdgeConfig.model_validate(data))
        await edge.start()
        try:
            async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{edge.web_port}", timeout=60) as box:
                box.headers.update(await console_headers(box))
                version = (await _applied_version(real_cloud, site.site_id))[2]
                await _expect_applied(real_cloud, site.site_id, version)
                enforced = await _edge_people(edge)
                for person in list(log.values()):
                    assert enforced[person.cloud_id][0] == person.hq.name  # type: ignore[union-attr]
                    person.box = Side(person.hq.name, badges=dict(person.hq.badges))  # type: ignore[union-attr]
                    person.base_at = clock.now
                ids = {p["name"]: p["id"] for p in (await box.get("/api/v1/people")).json()}
                for person in log.values():
                    person.box_id = ids[person.box.name]  # type: ignore[union-attr]

                # The cut, then a simulated week of edits on both sides.
                await relay.cut()
                step = WEEK / EDITS
                counts: dict[str, int] = {}
                for n in range(EDITS):
                    clock.advance(step)
                    side = "hq" if rng.random() < 0.5 else "box"
                    op = await (_hq_edit if side == "hq" else _box_edit)(rng, hq, box, log, site, clock, n, new_badge)
                    counts[f"{side}:{op}"] = counts.get(f"{side}:{op}", 0) + 1
                print(f"partition edits: {sorted(counts.items())}")

                # Reconnect: the relay listens on the same port again.
                loop = asyncio.get_running_loop()
                reconnected_at = loop.time()
                await relay.start()
                expected = {p.cloud_id: p.expected() for p in log.values() if not p.removed}

                async def agreed() -> bool:
                    cloud = await _cloud_people(hq, site.site_id)
                    status, applied, current = await _applied_version(real_cloud, site.site_id)
                    if (status, applied) != ("applied", current):
                        return False
                    return cloud == expected and await _edge_people(edge) == cloud

                try:
                    await eventually(agreed, timeout_s=AGREE_WITHIN_S, interval_s=0.2)
                except TimeoutError:
                    cloud = await _cloud_people(hq, site.site_id)
                    edge_now = await _edge_people(edge)
                    pytest.fail(
                        f"no agreement {AGREE_WITHIN_S:.0f} s after reconnecting; document "
                        f"{await _applied_version(real_cloud, site.site_id)}; cloud vs expected: "
                        f"{_diff(cloud, expected)}; edge vs cloud: {_diff(edge_now, cloud)}"
                    )
                took = loop.time() - reconnected_at
                print(f"both sides agree {took:.2f} s after reconnecting ({EDITS} edits)")

                # 0 silent overwrites: exactly the people edited on both sides are listed as conflicts.
                conflicts = (await hq.get("/api/v1/conflicts")).json()["conflicts"]
                listed = {c["person_id"] for c in conflicts}
                assert listed == {p.cloud_id for p in log.values() if p.conflict}
                assert listed, "the seeded log must edit some people on both sides"

                # The box enforces it: every badge is granted exactly when its person and it are active.
                access = edge.app[keys.ACCESS]
                for cloud_id, (_, active, badges) in expected.items():
                    for number, badge_active in badges.items():
                        decision = await access.on_badge("reader-front", BadgeRead(credential=number))
                        assert (decision.reason.value == "granted") == (active and badge_active), (cloud_id, number)
                for person in log.values():
                    if person.removed:
                        for number in person.hq.badges:  # type: ignore[union-attr]
                            decision = await access.on_badge("reader-front", BadgeRead(credential=number))
                            assert decision.reason.value != "granted", (person.cloud_id, number)
        finally:
            await edge.stop()


def _diff(got: dict[str, Any], want: dict[str, Any], limit: int = 5) -> str:
    """The first differing people of two {cloud id: state} maps, for a readable failure."""
    keys_ = sorted(set(got) | set(want))
    wrong = [f"{k}: {got.get(k)} != {want.get(k)}" for k in keys_ if got.get(k) != want.get(k)]
    return f"{len(wrong)} differ: " + "; ".join(wrong[:limit])


async def _expect_applied(cloud: RunningCloud, site_id: str, version: int) -> None:
    async def done() -> bool:
        status, applied, _ = await _applied_version(cloud, site_id)
        return (status, applied) == ("applied", version)

    await eventually(done, timeout_s=30)


async def _hq_edit(
    rng: random.Random,
    hq: httpx.AsyncClient,
    box: httpx.AsyncClient,
    log: dict[str, Person],
    site: EnrollResponse,
    clock: SimClock,
    n: int,
    new_badge: Any,
) -> str:
    """One edit at HQ (JSON API) on a person HQ knows; updates HQ's side of the log."""
    known = [p for p in log.values() if p.hq is not None and not p.removed]
    roll = rng.random()
    if roll < 0.1 or not known:
        number, name = new_badge(), f"HQ new {n}"
        body = {"name": name, "levels": [LEVEL], "sites": [site.site_id], "badges": [{"number": number}]}
        created = await hq.post("/api/v1/people", json=body)
        assert created.status_code == 201, created.text
        person = Person(created.json()["id"], Side(name, badges={number: True}, edited_at=clock.now), None)
        log[person.cloud_id] = person
        return "create"
    person = rng.choice(known)
    side = person.hq
    assert side is not None
    url = f"/api/v1/people/{person.cloud_id}"
    if roll < 0.13:
        response = await hq.delete(url)
        person.removed = True
        op = "remove"
    elif roll < 0.55:
        side.name = f"{person.cloud_id[-6:]} hq {n}"
        fields: dict[str, Any] = {"name": side.name, "active": side.active, "levels": [LEVEL], "sites": [site.site_id]}
        response = await hq.put(url, json=fields)
        op = "rename"
    elif roll < 0.65:
        side.active = False
        fields = {"name": side.name, "active": False, "levels": [LEVEL], "sites": [site.site_id]}
        response = await hq.put(url, json=fields)
        op = "suspend"
    elif roll < 0.85 and any(side.badges.values()):
        number = rng.choice(sorted(b for b, a in side.badges.items() if a))
        side.badges[number] = False
        response = await hq.post(f"{url}/badges/{number}/revoke")
        op = "revoke"
    else:
        number = new_badge()
        side.badges[number] = True
        response = await hq.post(f"{url}/badges", json={"number": number})
        op = "add_badge"
    assert response.status_code in (200, 201), (op, response.text)
    side.edited_at = clock.now
    return op


async def _box_edit(
    rng: random.Random,
    hq: httpx.AsyncClient,
    box: httpx.AsyncClient,
    log: dict[str, Person],
    site: EnrollResponse,
    clock: SimClock,
    n: int,
    new_badge: Any,
) -> str:
    """One edit on the box (console API) on a person the box has; updates the box's side of the log."""
    known = [p for p in log.values() if p.box is not None]
    roll = rng.random()
    if roll < 0.15 or not known:
        number = new_badge()
        name = f"Temp {n}"
        until = (clock.now + timedelta(days=60)).isoformat()
        body = {"name": name, "credentials": [number], "levels": [LEVEL], "valid_until": until}
        created = await box.post("/api/v1/people", json=body)
        assert created.status_code == 201, created.text
        box_id = created.json()["id"]
        person = Person(
            f"{site.site_id}/p{box_id}"[-64:], None, Side(name, badges={number: True}, edited_at=clock.now), box_id
        )
        log[person.cloud_id] = person
        return "temporary_badge"
    suspended = [p for p in known if p.box is not None and not p.box.active and not p.removed]
    if 0.75 <= roll < 0.82 and suspended:
        # The box lifts a suspension it made during the partition: HQ takes it unless HQ suspended them too.
        person = rng.choice(suspended)
        assert person.box is not None
        person.box.active = True
        response = await box.patch(f"/api/v1/people/{person.box_id}", json={"active": True})
        assert response.status_code == 200, ("reactivate", response.text)
        person.box.edited_at = clock.now
        return "reactivate"
    person = rng.choice(known)
    side = person.box
    assert side is not None
    url = f"/api/v1/people/{person.box_id}"
    if roll < 0.65:
        side.name = f"box {n}"
        response = await box.patch(url, json={"name": side.name})
        op = "rename"
    elif roll < 0.75:
        side.active = False
        response = await box.patch(url, json={"active": False})
        op = "suspend"
    elif any(side.badges.values()):
        number = rng.choice(sorted(b for b, a in side.badges.items() if a))
        side.badges[number] = False
        response = await box.post(f"{url}/credentials/{number}/revoke")
        op = "revoke"
    else:
        side.name = f"box {n}"
        response = await box.patch(url, json={"name": side.name})
        op = "rename"
    assert response.status_code == 200, (op, response.text)
    side.edited_at = clock.now
    return op
