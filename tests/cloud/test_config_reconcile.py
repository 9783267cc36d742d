"""Box edits (config_edit records) reconciled at HQ: revoke wins both ways, later edit wins, conflicts listed,
replay changes nothing, box-made people and badges reach HQ and the documents."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
from cloud_helpers import TenantFixture, enroll, login, send_batch
from config_helpers import add_person, document, pull

from cloud.admin import create_enrollment_code
from cloud.app import RunningCloud
from sync.downlink import ConfigCredential, ConfigPerson, LocalEdit
from sync.wire import EnrollResponse, SyncBatch, SyncRecord, new_nonce


def edit_batch(site: EnrollResponse, seq: int, edit: LocalEdit) -> SyncBatch:
    record = SyncRecord(
        seq=seq, kind="config_edit", occurred_at=datetime.now(UTC), payload=edit.model_dump(mode="json")
    )
    return SyncBatch(site_id=site.site_id, sent_at=datetime.now(UTC), nonce=new_nonce(), records=[record])


def box_edit(
    person: dict[str, Any],
    base_version: int,
    updated_at: datetime,
    *,
    name: str | None = None,
    badges: dict[str, bool] | None = None,
    revoked: list[str] | None = None,
    removed: bool = False,
) -> LocalEdit:
    credentials = badges if badges is not None else {b["number"]: b["active"] for b in person["badges"]}
    return LocalEdit(
        person=ConfigPerson(
            id=person["id"],
            name=name or person["name"],
            active=person["active"],
            levels=person["levels"],
            credentials=[ConfigCredential(number=n, active=a) for n, a in credentials.items()],
            updated_at=updated_at,
        ),
        origin="console",
        revoked=revoked or [],
        removed=removed,
        base_version=base_version,
    )


async def person(http: httpx.AsyncClient, person_id: str) -> dict[str, Any]:
    response = await http.get(f"/api/v1/people/{person_id}")
    assert response.status_code == 200, response.text
    result: dict[str, Any] = response.json()
    return result


def badge_states(person: dict[str, Any]) -> dict[str, bool]:
    return {b["number"]: b["active"] for b in person["badges"]}


async def conflicts(http: httpx.AsyncClient) -> list[dict[str, Any]]:
    result: list[dict[str, Any]] = (await http.get("/api/v1/conflicts")).json()["conflicts"]
    return result


async def test_a_box_revoke_wins_over_a_later_hq_edit_and_the_conflict_is_listed(
    http: httpx.AsyncClient, tenant: TenantFixture, site: EnrollResponse
) -> None:
    csrf = await login(http, tenant.admin_email)
    ada = await add_person(http, csrf, "Ada", [site.site_id], ["1", "2"])
    base = document(site, await pull(http, site, 0)).version
    revoked_on_box_at = datetime.now(UTC)
    renamed = await http.put(
        f"/api/v1/people/{ada['id']}", json={"name": "Ada L.", "sites": [site.site_id]}, headers={"X-CSRF-Token": csrf}
    )
    assert renamed.status_code == 200

    edit = box_edit(ada, base, revoked_on_box_at, badges={"1": False, "2": True}, revoked=["1"])
    assert (await send_batch(http, site, edit_batch(site, 1, edit))).status_code == 200

    merged = await person(http, ada["id"])
    assert merged["name"] == "Ada L."  # HQ's edit is the later one
    assert badge_states(merged) == {"1": False, "2": True}  # but the box's revoke wins
    [conflict] = await conflicts(http)
    assert (conflict["person_id"], conflict["winner"], conflict["record_seq"]) == (ada["id"], "cloud", 1)
    assert "revoke wins" in conflict["reason"]
    doc = document(site, await pull(http, site, base))
    assert [(c.number, c.active) for c in doc.people[0].credentials] == [("1", False), ("2", True)]


async def test_an_hq_revoke_wins_over_a_later_box_edit(
    http: httpx.AsyncClient, tenant: TenantFixture, site: EnrollResponse
) -> None:
    csrf = await login(http, tenant.admin_email)
    ada = await add_person(http, csrf, "Ada", [site.site_id], ["1"])
    base = document(site, await pull(http, site, 0)).version
    revoked = await http.post(f"/api/v1/people/{ada['id']}/badges/1/revoke", headers={"X-CSRF-Token": csrf})
    assert revoked.status_code == 200

    later = datetime.now(UTC) + timedelta(minutes=5)
    edit = box_edit(ada, base, later, name="Ada on the box", badges={"1": True})
    assert (await send_batch(http, site, edit_batch(site, 1, edit))).status_code == 200

    merged = await person(http, ada["id"])
    assert merged["name"] == "Ada on the box"  # the box's edit is the later one
    assert badge_states(merged) == {"1": False}  # but HQ's revoke wins
    [conflict] = await conflicts(http)
    assert conflict["winner"] == "box"
    assert "badge 1 revoked at HQ" in conflict["reason"]


async def test_the_later_edit_wins_without_a_conflict_when_only_the_box_edited(
    http: httpx.AsyncClient, tenant: TenantFixture, site: EnrollResponse
) -> None:
    csrf = await login(http, tenant.admin_email)
    ada = await add_person(http, csrf, "Ada", [site.site_id], ["1"])
    base = document(site, await pull(http, site, 0)).version

    stale = box_edit(ada, base, datetime.now(UTC) - timedelta(days=1), name="Older name")
    assert (await send_batch(http, site, edit_batch(site, 1, stale))).status_code == 200
    assert (await person(http, ada["id"]))["name"] == "Ada"

    fresh = box_edit(ada, base, datetime.now(UTC) + timedelta(seconds=1), name="Newer name")
    assert (await send_batch(http, site, edit_batch(site, 2, fresh))).status_code == 200
    assert (await person(http, ada["id"]))["name"] == "Newer name"
    assert await conflicts(http) == []
    doc = document(site, await pull(http, site, base))
    assert doc.people[0].name == "Newer name"


async def test_the_box_undoes_its_own_suspension_when_hq_did_not_edit_the_person(
    http: httpx.AsyncClient, tenant: TenantFixture, site: EnrollResponse
) -> None:
    """A suspension made on the box and lifted there later (e.g. during a partition) is not a revoke by HQ: the
    box's later edit reactivates the person at HQ too (found by tests/sync/test_partition.py)."""
    csrf = await login(http, tenant.admin_email)
    ada = await add_person(http, csrf, "Ada", [site.site_id], ["1"])
    base = document(site, await pull(http, site, 0)).version
    now = datetime.now(UTC)

    suspended = box_edit(ada, base, now + timedelta(seconds=1))
    suspended.person.active = False
    assert (await send_batch(http, site, edit_batch(site, 1, suspended))).status_code == 200
    assert (await person(http, ada["id"]))["active"] is False
    lifted = box_edit(ada, base, now + timedelta(seconds=2), name="Ada back")
    assert (await send_batch(http, site, edit_batch(site, 2, lifted))).status_code == 200

    merged = await person(http, ada["id"])
    assert (merged["name"], merged["active"]) == ("Ada back", True)
    assert await conflicts(http) == []
    assert document(site, await pull(http, site, base)).people[0].active is True


async def test_the_box_undoes_its_own_suspension_even_when_hq_also_edited_the_person(
    http: httpx.AsyncClient, tenant: TenantFixture, site: EnrollResponse
) -> None:
    """The cloud records who suspended a person: a box lifts its own suspension although HQ edited the person
    meanwhile (a conflict, listed), while an HQ suspension still wins over the box's reactivation."""
    csrf = await login(http, tenant.admin_email)
    ada = await add_person(http, csrf, "Ada", [site.site_id], ["1"])
    bob = await add_person(http, csrf, "Bob", [site.site_id], ["2"])
    base = document(site, await pull(http, site, 0)).version
    for who, active in ((ada, True), (bob, False)):  # HQ renames Ada and suspends Bob during the partition
        changed = await http.put(
            f"/api/v1/people/{who['id']}",
            json={"name": who["name"] + " HQ", "active": active, "sites": [site.site_id]},
            headers={"X-CSRF-Token": csrf},
        )
        assert changed.status_code == 200
    now = datetime.now(UTC) + timedelta(minutes=5)
    seq = 0
    for who in (ada, bob):  # the box suspends both and later reactivates both
        suspended = box_edit(who, base, now + timedelta(seconds=1))
        suspended.person.active = False
        lifted = box_edit(who, base, now + timedelta(seconds=2))
        for edit in (suspended, lifted):
            seq += 1
            assert (await send_batch(http, site, edit_batch(site, seq, edit))).status_code == 200

    assert (await person(http, ada["id"]))["active"] is True  # the box's own suspension, lifted by the box
    assert (await person(http, bob["id"]))["active"] is False  # HQ's suspension wins
    assert {c["person_id"] for c in await conflicts(http)} == {ada["id"], bob["id"]}
    active = {p.id: p.active for p in document(site, await pull(http, site, base)).people}
    assert active == {ada["id"]: True, bob["id"]: False}


async def test_a_suspension_from_another_box_wins_over_a_later_edit_that_did_not_see_it(
    http: httpx.AsyncClient, cloud: RunningCloud, tenant: TenantFixture, site: EnrollResponse
) -> None:
    other = await enroll(http, (await create_enrollment_code(cloud.db, tenant.tenant_id, "Annex")).code, "box-2")
    csrf = await login(http, tenant.admin_email)
    ada = await add_person(http, csrf, "Ada", [site.site_id, other.site_id], ["1"])
    base = document(site, await pull(http, site, 0)).version
    other_base = document(other, await pull(http, other, 0)).version
    now = datetime.now(UTC)

    suspended = box_edit(ada, other_base, now + timedelta(seconds=1))
    suspended.person.active = False
    assert (await send_batch(http, other, edit_batch(other, 1, suspended))).status_code == 200
    unaware = box_edit(ada, base, now + timedelta(seconds=2), name="Ada renamed here")
    assert (await send_batch(http, site, edit_batch(site, 1, unaware))).status_code == 200

    merged = await person(http, ada["id"])
    assert (merged["name"], merged["active"]) == ("Ada renamed here", False)
    [conflict] = await conflicts(http)
    assert (conflict["site_id"], conflict["person_id"]) == (site.site_id, ada["id"])


async def test_an_hq_suspension_wins_over_a_later_box_edit_that_did_not_see_it(
    http: httpx.AsyncClient, tenant: TenantFixture, site: EnrollResponse
) -> None:
    csrf = await login(http, tenant.admin_email)
    ada = await add_person(http, csrf, "Ada", [site.site_id], ["1"])
    base = document(site, await pull(http, site, 0)).version
    suspended = await http.put(
        f"/api/v1/people/{ada['id']}",
        json={"name": "Ada", "active": False, "sites": [site.site_id]},
        headers={"X-CSRF-Token": csrf},
    )
    assert suspended.status_code == 200

    later = box_edit(ada, base, datetime.now(UTC) + timedelta(minutes=5), name="Ada on the box")
    assert (await send_batch(http, site, edit_batch(site, 1, later))).status_code == 200

    merged = await person(http, ada["id"])
    assert (merged["name"], merged["active"]) == ("Ada on the box", False)
    [conflict] = await conflicts(http)
    assert "suspended at HQ" in conflict["reason"]


async def test_a_replayed_edit_changes_nothing(
    http: httpx.AsyncClient, tenant: TenantFixture, site: EnrollResponse
) -> None:
    csrf = await login(http, tenant.admin_email)
    ada = await add_person(http, csrf, "Ada", [site.site_id], ["1"])
    base = document(site, await pull(http, site, 0)).version
    await http.put(
        f"/api/v1/people/{ada['id']}", json={"name": "Ada HQ", "sites": [site.site_id]}, headers={"X-CSRF-Token": csrf}
    )
    batch = edit_batch(site, 7, box_edit(ada, base, datetime.now(UTC) + timedelta(seconds=5), name="Ada box"))
    first = await send_batch(http, site, batch)
    assert first.json()["stored"] == 1
    after_first = document(site, await pull(http, site, 0))

    # The edge's retry of the same records carries a new nonce (the same body again is refused as replayed).
    again = await send_batch(http, site, batch.model_copy(update={"nonce": new_nonce()}))

    assert (again.json()["stored"], again.json()["duplicates"]) == (0, 1)
    assert len(await conflicts(http)) == 1
    assert (await pull(http, site, after_first.version)).status_code == 204
    assert (await person(http, ada["id"]))["name"] == "Ada box"


async def test_people_and_badges_made_on_the_box_reach_hq_and_a_removal_sticks(
    http: httpx.AsyncClient, tenant: TenantFixture, site: EnrollResponse
) -> None:
    await login(http, tenant.admin_email)
    now = datetime.now(UTC)
    temp = {"id": "box-temp-1", "name": "Contractor", "active": True, "levels": [], "badges": []}
    created = box_edit(temp, 1, now, badges={"T-77": True})
    assert (await send_batch(http, site, edit_batch(site, 1, created))).status_code == 200

    at_hq = await person(http, "box-temp-1")
    assert (at_hq["name"], at_hq["sites"], badge_states(at_hq)) == ("Contractor", [site.site_id], {"T-77": True})
    doc = document(site, await pull(http, site, 0))
    assert [p.id for p in doc.people] == ["box-temp-1"]

    removed = box_edit(at_hq, doc.version, now + timedelta(seconds=1), removed=True)
    assert (await send_batch(http, site, edit_batch(site, 2, removed))).status_code == 200
    later = box_edit(at_hq, doc.version, now + timedelta(seconds=2), name="Back again?")
    assert (await send_batch(http, site, edit_batch(site, 3, later))).status_code == 200

    assert (await person(http, "box-temp-1"))["removed_at"] is not None
    assert document(site, await pull(http, site, doc.version)).people == []


async def test_an_invalid_box_edit_is_refused_and_nothing_is_stored(
    http: httpx.AsyncClient, tenant: TenantFixture, site: EnrollResponse
) -> None:
    good = SyncRecord(seq=1, kind="event", occurred_at=datetime.now(UTC), payload={"n": 1})
    bad = SyncRecord(seq=2, kind="config_edit", occurred_at=datetime.now(UTC), payload={"person": "nobody"})
    batch = SyncBatch(site_id=site.site_id, sent_at=datetime.now(UTC), nonce=new_nonce(), records=[good, bad])

    response = await send_batch(http, site, batch)

    assert response.status_code == 422
    assert [r["seq"] for r in response.json()["rejected"]] == [2]
    await login(http, tenant.admin_email)
    assert (await http.get(f"/api/v1/sites/{site.site_id}/records")).json()["records"] == []


async def test_box_badges_beyond_a_documents_limit_are_not_taken_over(
    http: httpx.AsyncClient, tenant: TenantFixture, site: EnrollResponse
) -> None:
    csrf = await login(http, tenant.admin_email)
    ada = await add_person(http, csrf, "Ada", [site.site_id], ["hq-1"])
    base = document(site, await pull(http, site, 0)).version
    # The box's edit names 32 badges of its own (the most a person may hold) besides HQ's one.
    many = {f"box-{n}": True for n in range(32)}
    edit = box_edit(ada, base, datetime.now(UTC) + timedelta(seconds=1), badges=many)
    assert (await send_batch(http, site, edit_batch(site, 1, edit))).status_code == 200

    doc = document(site, await pull(http, site, base))  # still a valid document, never a 500
    assert len(doc.people[0].credentials) == 32
