"""Cloud site configuration documents applied on the edge: atomic, validated, overlaid on the box's config, durable."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import select

from edge.access.assembly import build_access
from edge.access.credentials import CredentialStore
from edge.access.decision import Reason
from edge.access.site_config import load_effective_config
from edge.devices.state import SiteState
from edge.storage.database import Database
from edge.storage.journal import Journal
from edge.storage.schema import outbox, site_config
from firmware_adapters.messages import BadgeRead
from sync.downlink import LocalEdit
from tests.edge.access.harness import AccessHarness, FakeLocks, HarnessFactory, MutableClock
from tests.edge.access.site_documents import T0, applier, badge, document


async def test_document_applies_people_and_policy(access_harness: HarnessFactory) -> None:
    h = await access_harness()
    sink = applier(h)
    assert await badge(h, "77:1") == Reason.UNKNOWN_CREDENTIAL
    outcome = await sink.apply(document(1))
    assert outcome.applied, outcome.reason
    assert await sink.applied_version() == 1
    assert await badge(h, "77:1") == Reason.GRANTED  # a cloud level on a cloud schedule, Wednesday 10:00
    assert ("unlock", 7) in h.locks.actions("lock-front")  # the door policy's unlock_s
    assert await badge(h, "77:1", "reader-vault") == Reason.NO_ACCESS_LEVEL
    h.clock.now = h.clock.now.replace(hour=18, minute=30)  # 20:30 local: outside the cloud schedule
    assert await badge(h, "77:1") == Reason.OUTSIDE_SCHEDULE


async def test_refused_document_changes_nothing(access_harness: HarnessFactory) -> None:
    h = await access_harness()
    sink = applier(h)
    assert (await sink.apply(document(1))).applied
    bad_schedule = document(
        2,
        access_levels={"cloud-day": {"doors": ["front"], "schedule": "nope"}},
        people=[{"id": "hq-bob", "name": "Bob", "credentials": [{"number": "77:2"}], "updated_at": T0}],
    )
    outcome = await sink.apply(bad_schedule)
    assert not outcome.applied and "unknown schedule 'nope'" in outcome.reason
    unknown_door = document(3, doors={"garage": {"unlock_s": 3}})
    outcome = await sink.apply(unknown_door)
    assert not outcome.applied and "unknown door(s) garage" in outcome.reason
    unknown_calendar = document(4, schedules={"cloud-hours": {"windows": [], "holidays": ["mars"]}})
    outcome = await sink.apply(unknown_calendar)
    assert not outcome.applied and "unknown holiday calendar 'mars'" in outcome.reason
    unknown_level = document(5, people=[{"id": "hq-bob", "name": "Bob", "levels": ["ghost"], "updated_at": T0}])
    outcome = await sink.apply(unknown_level)
    assert not outcome.applied and "unknown access level(s) ghost" in outcome.reason
    wrong_site = document(6, site_id="other-site")
    assert not (await sink.apply(wrong_site)).applied
    # Version 1 is still in force, whole: Ada is granted, Bob (only in refused documents) is unknown.
    assert await sink.applied_version() == 1
    assert await badge(h, "77:1") == Reason.GRANTED
    assert await badge(h, "77:2") == Reason.UNKNOWN_CREDENTIAL
    refusals = [e.payload for e in await h.journal.recent(20, "audit") if e.payload["type"] == "site_config_refused"]
    assert len(refusals) == 5


async def test_badge_enrolled_on_the_box_refuses_the_document(access_harness: HarnessFactory) -> None:
    h = await access_harness()
    await h.people.add_person("Local Lou", ["77:1"], "admin")
    outcome = await applier(h).apply(document(1))
    assert not outcome.applied and "enrolled on the box" in outcome.reason
    async with h.db.engine.connect() as conn:
        assert (await conn.execute(select(site_config))).first() is None  # the policy part was rolled back too


async def test_restart_keeps_the_applied_document(access_harness: HarnessFactory) -> None:
    h = await access_harness()
    assert (await applier(h).apply(document(1))).applied
    await h.service.stop()
    await h.db.close()
    # A new process on the same database file: the box's TOML config alone does not know 'cloud-day'.
    db = Database(h.config.storage.database_path)
    await db.migrate()
    try:
        effective = await load_effective_config(db, h.config)
        assert "cloud-day" in effective.access.levels
        journal = Journal(db)
        store = CredentialStore(db)
        locks = FakeLocks()
        service, _people = build_access(
            effective, db, store, journal, locks, SiteState(effective, journal), h.pins, clock=MutableClock(h.clock.now)
        )
        locks.service = service
        await service.load()
        decision = await service.on_badge("reader-front", BadgeRead(credential="77:1"))
        assert decision.reason == Reason.GRANTED
        assert ("unlock", 7) in locks.actions("lock-front")
        await service.stop()
    finally:
        await db.close()


def later() -> datetime:
    """A document time after any edit made on the box so far (edits are stamped with the real clock)."""
    return datetime.now(UTC) + timedelta(hours=1)


async def config_edits(h: AccessHarness) -> list[LocalEdit]:
    """The config_edit records queued in the outbox for HQ, oldest first (validated as the cloud does)."""
    async with h.db.engine.connect() as conn:
        rows = (await conn.execute(select(outbox.c.payload).where(outbox.c.kind == "config_edit"))).scalars()
        return [LocalEdit.model_validate(payload) for payload in rows]


async def ada_id(h: AccessHarness) -> int:
    return next(p["id"] for p in await h.store.list_people() if p["name"] == "Ada")


async def test_local_revoke_survives_older_and_unaware_documents(access_harness: HarnessFactory) -> None:
    h = await access_harness()
    sink = applier(h)
    assert (await sink.apply(document(1))).applied
    person_id = await ada_id(h)
    await h.people.revoke_credential(person_id, "77:1", "guard")
    assert await badge(h, "77:1") == Reason.CREDENTIAL_INACTIVE
    [edit] = await config_edits(h)
    assert (edit.person.id, edit.revoked, edit.base_version, edit.origin) == ("hq-ada", ["77:1"], 1, "api")
    assert [c.active for c in edit.person.credentials] == [False]
    listed = next(p for p in await h.store.list_people() if p["id"] == person_id)
    assert listed["managed_by_hq"] and listed["local_changes"]
    # An older document (Ada last changed at HQ before the revoke) does not undo it.
    assert (await sink.apply(document(2))).applied
    assert await badge(h, "77:1") == Reason.CREDENTIAL_INACTIVE
    # Nor does a newer one made at HQ without knowing of the revoke: a revoke wins until a document shows it.
    renamed = document(3, people=[{**_ada(), "name": "Ada L.", "updated_at": later()}])
    assert (await sink.apply(renamed)).applied
    assert await badge(h, "77:1") == Reason.CREDENTIAL_INACTIVE
    assert (await h.store.get_person(person_id))["name"] == "Ada L."
    # HQ's document shows the revoke: the local change is settled...
    shown = document(
        4, people=[{**_ada(), "credentials": [{"number": "77:1", "active": False}], "updated_at": later()}]
    )
    assert (await sink.apply(shown)).applied
    listed = next(p for p in await h.store.list_people() if p["id"] == person_id)
    assert listed["managed_by_hq"] and not listed["local_changes"]
    # ...and HQ may reinstate the badge later.
    assert (await sink.apply(document(5, people=[{**_ada(), "updated_at": later()}]))).applied
    assert await badge(h, "77:1") == Reason.GRANTED


async def test_later_local_edit_kept_until_the_cloud_is_newer(access_harness: HarnessFactory) -> None:
    h = await access_harness()
    sink = applier(h)
    assert (await sink.apply(document(1))).applied
    person_id = await ada_id(h)
    await h.people.update_person(person_id, {"levels": ["vault", "cloud-day"]}, "guard", origin="console")
    assert (await sink.apply(document(2))).applied  # Ada unchanged at HQ since before the edit
    assert (await h.store.get_person(person_id))["levels"] == ["cloud-day", "vault"]
    assert (await sink.apply(document(3, people=[{**_ada(), "updated_at": later()}]))).applied
    assert (await h.store.get_person(person_id))["levels"] == ["cloud-day"]  # HQ's later edit wins
    assert [e.origin for e in await config_edits(h)] == ["console"]


async def test_pin_change_stays_on_the_box(access_harness: HarnessFactory) -> None:
    h = await access_harness()
    assert (await applier(h).apply(document(1))).applied
    await h.people.update_person(await ada_id(h), {"pin": "4321"}, "guard")
    assert await config_edits(h) == []


async def test_person_enrolled_on_the_box_is_adopted_by_hq(access_harness: HarnessFactory) -> None:
    h = await access_harness()
    lou = await h.people.add_person("Lou", ["77:9"], "guard", levels=["staff"])
    [edit] = await config_edits(h)
    assert edit.person.id == f"test-site/p{lou}" and edit.base_version == 0
    hq_lou = {"id": f"test-site/p{lou}", "name": "Lou", "levels": ["staff"], "credentials": [{"number": "77:9"}]}
    doc = document(1, people=[_ada(), {**hq_lou, "updated_at": later()}])
    assert (await applier(h).apply(doc)).applied, "adopted, not refused as a badge of a box-enrolled person"
    people = {p["name"]: p for p in await h.store.list_people()}
    assert people["Lou"]["id"] == lou and people["Lou"]["managed_by_hq"]
    assert await badge(h, "77:9", "reader-yard-in") == Reason.GRANTED


def _ada() -> dict[str, Any]:
    return document(1).people[0].model_dump()


async def test_door_policy_changes_door_modes_at_once(access_harness: HarnessFactory) -> None:
    h = await access_harness()
    assert h.state.doors["yard"].mode == "secure"
    doc = document(1, doors={"yard": {"unlock_schedule": "cloud-hours", "held_open_s": 90}})
    assert (await applier(h).apply(doc)).applied
    assert h.state.doors["yard"].mode == "unlocked (schedule)"  # Wednesday 10:00 is inside cloud hours
    assert ("unlock", None) in h.locks.actions("lock-yard")
    assert (await applier(h).apply(document(2, doors={}))).applied  # HQ drops the policy: the box's config again
    assert h.state.doors["yard"].mode == "secure"
    assert h.locks.actions("lock-yard")[-1] == ("lock", None)
