"""Latching door alarms: acknowledgement, no duplicates on re-raise, the list survives a restart, the JSON API."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import httpx
import pytest

from edge import keys
from edge.access.alarms import UnknownAlarm
from edge.app import EdgeRunner
from edge.config import EdgeConfig
from edge.storage import database
from edge.storage.database import Database
from firmware_adapters.simulated import SimulatedContact, SimulatedDeviceConfig, SimulatedLock
from tests.edge.console import console_login
from tests.edge.site import DEVICE_PASSWORDS
from tests.polling import eventually


async def _listed(h) -> list[tuple[str, str, str]]:
    return [(a.door_id, a.alarm, a.state) for a in await h.service.supervisor.alarms.open_alarms()]


async def test_cleared_alarm_stays_listed_until_acknowledged(access_harness) -> None:
    h = await access_harness()
    await h.lock_online("lock-front", locked=True)
    await h.contact("contact-front", True)
    assert await _listed(h) == [("front", "forced_open", "active_unacknowledged")]
    await h.contact("contact-front", False)
    assert h.state.doors["front"].status == "locked"  # the door itself is fine again...
    assert await _listed(h) == [("front", "forced_open", "cleared_unacknowledged")]  # ...the alarm latches

    (alarm,) = await h.service.supervisor.alarms.open_alarms()
    acked = await h.service.supervisor.acknowledge(alarm.id, "guard", "checked, door closed")
    assert acked.state == "cleared"
    assert (acked.acknowledged_by, acked.acknowledged_comment) == ("guard", "checked, door closed")
    assert await _listed(h) == []
    again = await h.service.supervisor.acknowledge(alarm.id, "someone-else", "late")  # harmless
    assert (again.acknowledged_by, again.acknowledged_at) == ("guard", acked.acknowledged_at)
    assert await h.alarms() == [
        ("front", "forced_open", "raised"),
        ("front", "forced_open", "cleared"),
        ("front", "forced_open", "acknowledged"),
    ]
    ack = next(e for e in await h.journal.recent(5, "event") if e.payload.get("state") == "acknowledged")
    assert ack.payload["alarm_id"] == alarm.id
    assert (ack.payload["by"], ack.payload["comment"], ack.payload["condition_active"]) == (
        "guard",
        "checked, door closed",
        False,
    )
    assert ack.summary == "Front door: door forced open acknowledged by guard (checked, door closed)"


async def test_acknowledged_while_active_leaves_when_the_condition_ends(access_harness) -> None:
    h = await access_harness()
    await h.lock_online("lock-front", locked=True)
    await h.lock_offline("lock-front")
    (alarm,) = await h.service.supervisor.alarms.open_alarms()
    assert (alarm.alarm, alarm.state) == ("lock_offline", "active_unacknowledged")
    assert (await h.service.supervisor.acknowledge(alarm.id, "guard")).state == "active_acknowledged"
    assert await _listed(h) == [("front", "lock_offline", "active_acknowledged")]
    await h.lock_online("lock-front")
    assert await _listed(h) == []
    assert (await h.service.supervisor.alarms.get(alarm.id)).state == "cleared"


async def test_raising_again_while_listed_updates_the_same_alarm(access_harness) -> None:
    h = await access_harness()
    await h.lock_online("lock-front", locked=True)
    for _ in range(3):  # forced, closed, forced again... nobody acknowledges
        await h.contact("contact-front", True)
        await h.contact("contact-front", False)
    await h.contact("contact-front", True)
    await h.lock_offline("lock-vault")
    alarms = await h.service.supervisor.alarms.open_alarms()
    assert [(a.door_id, a.alarm, a.state) for a in alarms] == [
        ("vault", "lock_offline", "active_unacknowledged"),  # most recent first
        ("front", "forced_open", "active_unacknowledged"),
    ]
    forced = alarms[1]
    assert forced.occurrences == 4
    assert forced.raised_at <= forced.last_raised_at and forced.cleared_at is None
    raised = [e.payload for e in await h.journal.recent(50, "event") if e.payload.get("state") == "raised"]
    assert {p["alarm_id"] for p in raised if p["alarm"] == "forced_open"} == {forced.id}

    # Once acknowledged and cleared it is closed: the next occurrence is a new alarm.
    await h.service.supervisor.acknowledge(forced.id, "guard")
    await h.contact("contact-front", False)
    await h.contact("contact-front", True)
    newer = next(a for a in await h.service.supervisor.alarms.open_alarms() if a.alarm == "forced_open")
    assert newer.id != forced.id and newer.occurrences == 1


async def test_unknown_alarm(access_harness) -> None:
    h = await access_harness()
    with pytest.raises(UnknownAlarm):
        await h.service.supervisor.acknowledge(4711, "guard")


async def _count(book, expected: int) -> bool:
    return len(await book.open_alarms()) == expected


async def _api_states(client: httpx.AsyncClient, expected: list[tuple[int, str]]) -> bool:
    return [(a["id"], a["state"]) for a in (await client.get("/api/v1/alarms")).json()] == expected


def _device(kind: type, device_id: str, port: int):
    return kind(SimulatedDeviceConfig(device_id=device_id, password=DEVICE_PASSWORDS[device_id], port=port))


async def test_open_alarms_survive_a_restart(edge_config: EdgeConfig) -> None:
    first = EdgeRunner(edge_config)
    await first.start()
    try:
        lock = _device(SimulatedLock, "lock-front", first.mqtt_port)
        contact = _device(SimulatedContact, "contact-front", first.mqtt_port)
        await lock.start()
        await contact.start()
        state = first.app[keys.SITE_STATE].doors["front"]
        await eventually(lambda: state.status == "locked")
        await contact.set_open(True)
        await eventually(lambda: state.status == "forced")
        await contact.stop()  # contact_offline
        await eventually(lambda: "contact_offline" in state.alarms)
        await lock.stop()  # its Last Will raises lock_offline too
        book = first.app[keys.ACCESS].supervisor.alarms
        await eventually(lambda: _count(book, 3))
        before = await book.open_alarms()
        assert [a.alarm for a in before] == ["lock_offline", "contact_offline", "forced_open"]
    finally:
        await first.stop()

    second = EdgeRunner(edge_config)
    await second.start()
    try:
        state = second.app[keys.SITE_STATE].doors["front"]
        assert set(state.alarms) == {
            "forced_open",
            "lock_offline",
            "contact_offline",
        }  # restored: still active as far as we know
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{second.web_port}") as client:
            csrf = await console_login(client)
            listed = (await client.get("/api/v1/alarms")).json()
            assert [(a["id"], a["alarm"], a["door"], a["state"]) for a in listed] == [
                (a.id, a.alarm, "front", "active_unacknowledged") for a in before
            ]
            lock = _device(SimulatedLock, "lock-front", second.mqtt_port)
            contact = _device(SimulatedContact, "contact-front", second.mqtt_port)
            await lock.start()
            await contact.start()
            try:
                await contact.set_open(False)  # the door is closed now: the restored alarms clear
                cleared = [(a.id, "cleared_unacknowledged") for a in before]
                await eventually(lambda: _api_states(client, cleared))
                for alarm in before:
                    ack = await client.post(f"/api/v1/alarms/{alarm.id}/ack", json={}, headers={"X-CSRF-Token": csrf})
                    assert ack.json()["state"] == "cleared"
                assert (await client.get("/api/v1/alarms")).json() == []
            finally:
                await contact.stop()
                await lock.stop()
    finally:
        await second.stop()


async def test_alarm_api(edge_app, devices) -> None:
    await devices("lock-front", "lock")
    contact = await devices("contact-front", "contact")
    door = edge_app.app[keys.SITE_STATE].doors["front"]
    await eventually(lambda: door.status == "locked")
    async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{edge_app.web_port}") as client:
        assert (await client.get("/api/v1/alarms")).status_code == 401
        csrf = await console_login(client)
        assert (await client.get("/api/v1/alarms")).json() == []
        await contact.set_open(True)
        await eventually(lambda: _api_states(client, [(1, "active_unacknowledged")]))
        (alarm,) = (await client.get("/api/v1/alarms")).json()
        assert alarm["alarm"] == "forced_open" and alarm["door"] == "front"
        assert alarm["state"] == "active_unacknowledged" and alarm["cleared_at"] is None
        assert alarm["acknowledged_by"] is alarm["acknowledged_at"] is alarm["acknowledged_comment"] is None
        url = f"/api/v1/alarms/{alarm['id']}/ack"
        headers = {"X-CSRF-Token": csrf}

        assert (await client.post(url, json={"comment": "x"})).status_code == 403  # no CSRF token
        too_long = await client.post(url, json={"comment": "x" * 501}, headers=headers)
        assert too_long.status_code == 400 and too_long.json()["error"] == "invalid_body"
        assert (await client.post(url, json={"note": "x"}, headers=headers)).status_code == 400
        assert (await client.post(url, content=b"not json", headers=headers)).status_code == 400
        unknown = await client.post("/api/v1/alarms/999999/ack", json={}, headers=headers)
        assert unknown.status_code == 404 and unknown.json()["error"] == "unknown_alarm"
        assert (await client.post("/api/v1/alarms/abc/ack", json={}, headers=headers)).status_code == 404

        ok = await client.post(url, json={"comment": "x" * 500}, headers=headers)
        assert ok.status_code == 200
        acked = ok.json()
        assert (acked["state"], acked["acknowledged_by"]) == ("active_acknowledged", "admin")
        again = await client.post(url, json={"comment": "again"}, headers=headers)
        assert again.status_code == 200 and again.json() == acked

        await contact.set_open(False)
        await eventually(lambda: _api_states(client, []))

    journal = edge_app.app[keys.JOURNAL]
    states = [e.payload["state"] for e in await journal.recent(50, "event") if e.payload.get("type") == "alarm"]
    assert states == ["cleared", "acknowledged", "raised"]  # newest first; one acknowledgement
    with sqlite3.connect(edge_app.config.storage.database_path) as conn:  # queued for the cloud like the others
        synced = conn.execute(
            "SELECT json_extract(payload, '$.state'), json_extract(payload, '$.by') FROM outbox "
            "WHERE json_extract(payload, '$.type') = 'alarm' ORDER BY seq"
        ).fetchall()
    assert synced == [("raised", None), ("acknowledged", "admin"), ("cleared", None)]


def _schema(path: Path) -> list[tuple[str, str, str]]:
    with sqlite3.connect(path) as conn:
        return sorted(conn.execute("SELECT type, name, sql FROM sqlite_master WHERE sql IS NOT NULL").fetchall())


async def test_migration_5_applies_with_or_without_migration_4_first(tmp_path: Path) -> None:
    saved = list(database.MIGRATIONS)
    latest = max(m[0] for m in saved)
    fresh = Database(tmp_path / "fresh.db")
    assert await fresh.migrate() == latest
    await fresh.close()

    # A database that got 5 before 4 existed (numbers taken by concurrent branches) still gets 4 later.
    gap = Database(tmp_path / "gap.db")
    database.MIGRATIONS[:] = [m for m in saved if not 3 < m[0] < 5]
    try:
        assert await gap.migrate() == latest
    finally:
        database.MIGRATIONS[:] = saved
    assert await gap.migrate() == latest
    await gap.close()
    assert _schema(tmp_path / "fresh.db") == _schema(tmp_path / "gap.db")
    with sqlite3.connect(tmp_path / "gap.db") as conn:
        versions = [v for (v,) in conn.execute("SELECT version FROM schema_version ORDER BY version")]
    assert versions == sorted(m[0] for m in saved)
