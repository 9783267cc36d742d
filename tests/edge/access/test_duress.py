"""Duress PIN through the real edge app, broker and simulated reader/lock: it opens like the PIN, the audit says
`duress: true` and a duress alarm is journaled; it never counts as a wrong PIN; set via the people API and the
credential snapshot with the PIN's absent/null/value semantics, and never equal to the PIN."""

from __future__ import annotations

import logging
from typing import Any

import httpx
import pytest

from edge import keys
from tests.edge.access.pin_site import CARD, PASSWORDS, PERSON, PIN, edge_config, enter, unlocked
from tests.edge.console import console_headers

__all__ = ["edge_config"]  # the PIN site (lockout after 3 wrong PINs)
DURESS = "9753"


@pytest.fixture
async def client(edge_app) -> Any:
    async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{edge_app.web_port}") as http:
        http.headers.update(await console_headers(http))
        yield http


async def duress_alarms(runner) -> list[dict[str, Any]]:
    entries = await runner.app[keys.JOURNAL].recent(200, "event")
    payloads = [e.payload for e in reversed(entries)]
    return [p for p in payloads if p.get("alarm") == "duress" and p["state"] == "raised"]


async def test_duress_pin_opens_and_raises_a_silent_alarm(edge_app, devices, client, caplog) -> None:
    created = await client.post(
        "/api/v1/people",
        json={"name": PERSON, "credentials": [CARD], "levels": ["staff"], "pin": PIN, "duress_pin": DURESS},
    )
    assert created.status_code == 201
    detail = (await client.get(f"/api/v1/people/{created.json()['id']}")).json()
    assert (detail["has_pin"], detail["has_duress_pin"]) == (True, True)
    lock = await devices("lock-vault", "lock", PASSWORDS["lock-vault"])
    reader = await devices("reader-vault", "reader", PASSWORDS["reader-vault"])

    with caplog.at_level(logging.WARNING, logger="edge.access.service"):
        audit = await enter(edge_app, reader, DURESS)
    await unlocked(edge_app, lock)  # the door opens exactly as for the PIN
    assert (audit["granted"], audit["reason"], audit["duress"], audit["person"]) == (True, "granted", True, PERSON)
    [alarm] = await duress_alarms(edge_app)
    assert (alarm["type"], alarm["state"], alarm["door_id"], alarm["person"], alarm["credential"]) == (
        "alarm",
        "raised",
        "vault",
        PERSON,
        CARD,
    )
    assert any("DURESS" in r.getMessage() and r.levelno == logging.WARNING for r in caplog.records)
    # Queued for the cloud like every journal record, never with a PIN in it.
    outbox = await edge_app.app[keys.OUTBOX].pending(500)
    assert any(r.payload.get("alarm") == "duress" for r in outbox)
    assert DURESS not in repr([r.payload for r in outbox]) and PIN not in repr([r.payload for r in outbox])

    # Latched on the console's alarm list until a guard acknowledges it (the event itself is over).
    [listed] = [a for a in (await client.get("/api/v1/alarms")).json() if a["alarm"] == "duress"]
    assert (listed["door"], listed["state"]) == ("vault", "cleared_unacknowledged")
    assert PERSON in listed["detail"]
    acked = await client.post(f"/api/v1/alarms/{listed['id']}/ack", json={"comment": "guard sent"})
    assert acked.status_code == 200
    assert not [a for a in (await client.get("/api/v1/alarms")).json() if a["alarm"] == "duress"]

    normal = await enter(edge_app, reader, PIN)
    await unlocked(edge_app, lock)
    assert (normal["reason"], normal["duress"]) == ("granted", False)
    assert len(await duress_alarms(edge_app)) == 1


async def test_duress_pin_never_counts_as_a_wrong_pin(edge_app, devices) -> None:
    await edge_app.app[keys.PEOPLE].add_person(PERSON, [CARD], "admin", levels=["staff"], pin=PIN, duress_pin=DURESS)
    lock = await devices("lock-vault", "lock", PASSWORDS["lock-vault"])
    reader = await devices("reader-vault", "reader", PASSWORDS["reader-vault"])
    reasons = [(await enter(edge_app, reader, "0000"))["reason"] for _ in range(2)]
    reasons.append((await enter(edge_app, reader, DURESS))["reason"])
    await unlocked(edge_app, lock)
    reasons += [(await enter(edge_app, reader, "0000"))["reason"] for _ in range(2)]
    assert reasons == ["wrong_pin", "wrong_pin", "granted", "wrong_pin", "wrong_pin"]  # 3 in a row would lock
    assert edge_app.app[keys.ACCESS].pin_lockouts.active() == []


async def test_duress_pin_equal_to_the_pin_is_refused(edge_app, client) -> None:
    body = {"name": PERSON, "credentials": [CARD], "pin": PIN, "duress_pin": PIN}
    same = await client.post("/api/v1/people", json=body)
    assert (same.status_code, same.json()["error"]) == (400, "invalid_body")
    assert PIN not in same.text
    created = await client.post("/api/v1/people", json={**body, "duress_pin": DURESS})
    person = f"/api/v1/people/{created.json()['id']}"

    for change in ({"duress_pin": PIN}, {"pin": DURESS}):  # against the stored one
        refused = await client.patch(person, json=change)
        assert (refused.status_code, refused.json()["error"]) == (422, "invalid_value")
    both = await client.patch(person, json={"pin": "1111", "duress_pin": "1111"})
    assert (both.status_code, both.json()["error"]) == (400, "invalid_body")
    swapped = await client.patch(person, json={"pin": DURESS, "duress_pin": PIN})
    assert swapped.status_code == 200
    cleared = await client.patch(person, json={"duress_pin": None})
    assert (cleared.json()["has_pin"], cleared.json()["has_duress_pin"]) == (True, False)
    audits = [e.payload for e in await edge_app.app[keys.JOURNAL].recent(20, "audit")]
    changes = [a["changes"] for a in audits if a["type"] == "person_changed"]
    assert changes == [{"duress_pin": "cleared"}, {"pin": "set", "duress_pin": "set"}]
    assert DURESS not in repr(audits) and PIN not in repr(audits)


async def test_snapshot_sets_keeps_and_clears_the_duress_pin(edge_app, devices, client) -> None:
    lock = await devices("lock-vault", "lock", PASSWORDS["lock-vault"])
    reader = await devices("reader-vault", "reader", PASSWORDS["reader-vault"])
    ada = {"id": "c-1", "name": PERSON, "levels": ["staff"], "credentials": [{"number": CARD}]}

    async def put(version: int, **fields: Any) -> httpx.Response:
        return await client.put("/api/v1/access/snapshot", json={"version": version, "people": [{**ada, **fields}]})

    assert (await put(1, pin=PIN, duress_pin=DURESS)).json()["applied"] is True
    first = await enter(edge_app, reader, DURESS)
    await unlocked(edge_app, lock)
    assert (first["reason"], first["duress"]) == ("granted", True)

    assert (await put(2)).json()["applied"] is True  # absent: kept
    kept = await enter(edge_app, reader, DURESS)
    await unlocked(edge_app, lock)
    assert (kept["reason"], kept["duress"]) == ("granted", True)

    same = await put(3, pin="2468", duress_pin="2468")
    assert (same.status_code, same.json()["error"]) == (400, "invalid_body")
    equal_to_kept = await put(3, duress_pin=PIN)  # the PIN is kept, and the new duress PIN equals it
    assert (equal_to_kept.status_code, equal_to_kept.json()["error"]) == (422, "snapshot_rejected")
    assert (await client.get("/api/v1/access/snapshot")).json() == {"version": 2}  # nothing changed

    assert (await put(3, duress_pin=None)).json()["applied"] is True  # null: cleared
    gone = await enter(edge_app, reader, DURESS)
    assert (gone["reason"], gone["duress"]) == ("wrong_pin", False)
    assert len(await duress_alarms(edge_app)) == 2
