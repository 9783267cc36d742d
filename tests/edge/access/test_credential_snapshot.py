"""Credential snapshots: one transaction, idempotent, older versions ignored; readers see old or new, never a mix."""

from __future__ import annotations

import asyncio
import random

import pytest
from pydantic import ValidationError

from edge.access.decision import Reason
from edge.access.snapshot import CredentialSnapshot, SnapshotConflict, SnapshotRejected, applied_version
from firmware_adapters.messages import BadgeRead
from tests.polling import eventually


def snapshot(version: int, people: list[dict], **extra) -> CredentialSnapshot:
    return CredentialSnapshot.model_validate({"version": version, "people": people, **extra})


def person(ext: str, name: str, cards: list[str], levels: list[str], **extra) -> dict:
    return {"id": ext, "name": name, "credentials": [{"number": c} for c in cards], "levels": levels, **extra}


async def test_full_snapshot_replaces_cloud_people_and_keeps_local_ones(access_harness) -> None:
    h = await access_harness()
    local = await h.store.add_person("Local Lou", ["500"], levels=["staff"])
    first = await h.people.apply_credential_snapshot(
        snapshot(
            3,
            [
                person("p-1", "Ada", ["123:1001"], ["staff"], role="security", pin="1234"),
                person("p-2", "Bob", ["04:A1:B2:C3"], ["staff", "vault"]),
            ],
        )
    )
    assert first.as_json() == {
        "applied": True,
        "version": 3,
        "previous_version": 0,
        "added": 2,
        "updated": 0,
        "removed": 0,
    }
    ada = await h.store.lookup("123:1001")
    assert (ada.person_name, ada.role, ada.levels) == ("Ada", "security", frozenset({"staff"}))
    assert h.pins.verify("1234", ada.pin_hash)
    assert (await h.store.lookup("04a1b2c3")).levels == frozenset({"staff", "vault"})

    second = await h.people.apply_credential_snapshot(
        snapshot(4, [person("p-1", "Ada L.", ["123:1002"], ["nights"], active=False)])
    )
    assert (second.added, second.updated, second.removed) == (0, 1, 1)
    assert await h.store.lookup("123:1001") is None  # her old card is gone
    ada = await h.store.lookup("123:1002")
    assert (ada.person_name, ada.person_active, ada.levels, ada.role) == ("Ada L.", False, frozenset({"nights"}), None)
    assert h.pins.verify("1234", ada.pin_hash)  # 'pin' absent: the stored PIN is kept
    assert await h.store.lookup("04A1B2C3") is None  # Bob left the snapshot
    assert (await h.store.lookup("500")).person_id == local  # enrolled on the console: untouched
    assert (await h.service.on_badge("reader-front", BadgeRead(credential="123:1002"))).reason == Reason.SUSPENDED

    audits = [e.payload for e in await h.journal.recent(10, "audit") if e.payload["type"] == "credential_snapshot"]
    assert [a["version"] for a in audits] == [4, 3]
    assert "1234" not in repr(audits)


async def test_versions_are_idempotent_and_monotonic(access_harness) -> None:
    h = await access_harness()
    v5 = snapshot(5, [person("p-1", "Ada", ["1"], ["staff"])])
    assert (await h.people.apply_credential_snapshot(v5)).applied
    again = await h.people.apply_credential_snapshot(v5)
    assert (again.applied, again.version) == (False, 5)
    older = await h.people.apply_credential_snapshot(snapshot(4, [person("p-9", "Old", ["9"], [])]))
    assert older.applied is False
    assert await h.store.lookup("9") is None
    assert await applied_version(h.db) == 5
    assert len([p for p in await h.store.list_people()]) == 1


async def test_delta_snapshots(access_harness) -> None:
    h = await access_harness()
    await h.people.apply_credential_snapshot(
        snapshot(1, [person("p-1", "Ada", ["1"], ["staff"]), person("p-2", "Bob", ["2"], ["staff"])])
    )
    delta = snapshot(
        2,
        [person("p-3", "Cy", ["3"], ["vault"], pin="4321"), person("p-1", "Ada", ["1", "11"], ["all"], pin=None)],
        kind="delta",
        base_version=1,
        removed=["p-2", "p-unknown"],
    )
    result = await h.people.apply_credential_snapshot(delta)
    assert (result.added, result.updated, result.removed) == (1, 1, 1)
    assert await h.store.lookup("2") is None
    assert (await h.store.lookup("11")).levels == frozenset({"all"})
    assert h.pins.verify("4321", (await h.store.lookup("3")).pin_hash)
    with pytest.raises(SnapshotConflict):  # built on a version this box does not have
        await h.people.apply_credential_snapshot(snapshot(9, [], kind="delta", base_version=7))
    assert await applied_version(h.db) == 2


async def test_a_bad_snapshot_changes_nothing(access_harness) -> None:
    h = await access_harness()
    await h.store.add_person("Local Lou", ["500"], levels=["staff"])
    await h.people.apply_credential_snapshot(snapshot(1, [person("p-1", "Ada", ["1"], ["staff"])]))
    before = await h.store.list_people()
    # A card that belongs to a console-enrolled person: the whole snapshot is refused, Ada is not removed.
    with pytest.raises(SnapshotRejected, match="belongs to a person outside it"):
        await h.people.apply_credential_snapshot(
            snapshot(2, [person("p-2", "Bob", ["2"], ["staff"]), person("p-3", "Eve", ["500"], ["staff"])])
        )
    with pytest.raises(SnapshotRejected, match="unknown access level"):
        await h.people.apply_credential_snapshot(snapshot(2, [person("p-2", "Bob", ["2"], ["root"])]))
    assert await h.store.list_people() == before
    assert await applied_version(h.db) == 1


@pytest.mark.parametrize(
    "body",
    [
        {"version": 1, "people": [], "surprise": True},  # unknown keys are rejected
        {"version": 0, "people": []},
        {"version": 2, "removed": ["p-1"]},  # 'removed' only in a delta
        {"version": 2, "people": [{"id": "a", "name": "A"}, {"id": "a", "name": "B"}]},
        {"version": 2, "people": [{"id": "a", "name": "A", "credentials": [{"number": "1:2"}, {"number": "01:02"}]}]},
        {"version": 2, "people": [{"id": "a", "name": "A", "pin": "12"}]},
        {"version": 2, "people": [{"id": "a", "name": "A", "valid_until": "2026-01-01T00:00:00"}]},  # naive
    ],
)
def test_snapshot_bodies_are_validated(body) -> None:
    with pytest.raises(ValidationError):
        CredentialSnapshot.model_validate(body)


async def test_decisions_see_the_old_or_the_new_set_never_a_mix(access_harness) -> None:
    """Lookups race a big snapshot; each sees one version entirely, and never goes back once it saw the new."""
    h = await access_harness()
    count = 400
    old = [person(f"p-{i}", f"old-{i}", [f"7:{i}"], ["staff"]) for i in range(count)]
    new = [person(f"p-{i}", f"new-{i}", [f"7:{i}"], ["nights"]) for i in range(count)]
    await h.people.apply_credential_snapshot(snapshot(1, old))
    rng = random.Random(20260610)
    seen: list[str] = []
    done = asyncio.Event()

    async def reader() -> None:
        while not done.is_set():
            i = rng.randrange(count)
            record = await h.store.lookup(f"7:{i}")
            assert record is not None, "a card vanished while the snapshot was applied"
            generation = record.person_name.split("-")[0]
            assert record.levels == frozenset({"staff" if generation == "old" else "nights"}), "mixed state"
            seen.append(generation)

    readers = [asyncio.create_task(reader()) for _ in range(3)]
    try:
        await eventually(lambda: seen.count("old") >= 10, interval_s=0.001)  # reads before the switch...
        result = await h.people.apply_credential_snapshot(snapshot(2, new))
        await eventually(lambda: seen.count("new") >= 10, interval_s=0.001)  # ...and after it
    finally:
        done.set()
        await asyncio.gather(*readers)
    assert result.updated == count
    assert "old" in seen and "new" in seen
    first_new = seen.index("new")
    assert "old" not in seen[first_new + 3 :]  # each reader had at most one lookup in flight at the switch
