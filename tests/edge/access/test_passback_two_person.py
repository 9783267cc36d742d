"""Anti-passback (hard and soft, persisted across restarts) and the two-person rule, through the service."""

from __future__ import annotations

from datetime import timedelta

from edge.access.decision import Reason
from edge.access.passback import PassbackTracker
from firmware_adapters.messages import BadgeRead


async def badge(h, reader: str, credential: str, pin: str | None = None):
    return await h.service.on_badge(reader, BadgeRead(credential=credential, pin=pin))


async def test_hard_passback_denies_reentry_until_exit(access_harness) -> None:
    h = await access_harness()
    ada = await h.store.add_person("Ada", ["100"], levels=["staff"])
    await h.store.add_person("Bob", ["200"], levels=["staff"])

    assert (await badge(h, "reader-front", "100")).granted  # first use: unknown -> allowed
    denied = await badge(h, "reader-front", "100")  # card passed back to a friend
    assert (denied.granted, denied.reason) == (False, Reason.PASSBACK)
    audit = (await h.audits())[0]
    assert audit["reason"] == "passback" and audit["passback_violation"] is True
    assert (await badge(h, "reader-side", "100")).reason == Reason.PASSBACK  # any door into the zone
    assert (await badge(h, "reader-front", "200")).granted  # others unaffected
    assert (await badge(h, "reader-front-out", "100")).granted  # leaves...
    assert (await badge(h, "reader-front-out", "100")).reason == Reason.PASSBACK  # ...cannot leave twice
    assert (await badge(h, "reader-front", "100")).granted  # ...and may come back in

    # Presence survives a restart; an operator reset forgets it.
    reloaded = PassbackTracker(h.db, {"lobby": "hard"})
    await reloaded.load()
    assert reloaded.inside(ada, "lobby") is True
    await h.people.update_person(ada, {"reset_passback": True}, "admin")
    assert h.service.passback.inside(ada, "lobby") is None
    assert (await badge(h, "reader-front", "100")).granted


async def test_soft_passback_grants_and_flags(access_harness) -> None:
    h = await access_harness()
    await h.store.add_person("Ada", ["100"], levels=["staff"])
    assert (await badge(h, "reader-yard-in", "100")).granted
    again = await badge(h, "reader-yard-in", "100")
    assert (again.granted, again.passback_violation) == (True, True)
    entry = (await h.journal.recent(1, "audit"))[0]
    assert entry.payload["passback_violation"] is True and "[passback]" in entry.summary
    assert h.locks.actions("lock-yard") == [("unlock", 5.0), ("unlock", 5.0)]


async def test_denied_badges_do_not_move_people(access_harness) -> None:
    h = await access_harness()
    ada = await h.store.add_person("Ada", ["100"], levels=["staff"])
    h.clock.now += timedelta(hours=12)  # 22:00 local: outside office hours
    assert (await badge(h, "reader-front", "100")).reason == Reason.OUTSIDE_SCHEDULE
    assert h.service.passback.inside(ada, "lobby") is None


async def test_two_person_rule(access_harness) -> None:
    h = await access_harness()
    ada = await h.people.add_person("Ada", ["1"], "admin", levels=["vault"], pin="1111")
    bob = await h.people.add_person("Bob", ["2"], "admin", levels=["vault"], pin="2222")
    await h.people.add_person("Eve", ["3"], "admin", levels=["staff"], pin="3333")

    first = await badge(h, "reader-vault", "1", "1111")
    assert (first.granted, first.reason) == (False, Reason.TWO_PERSON_PENDING)
    assert h.locks.actions("lock-vault") == []
    same = await badge(h, "reader-vault", "1", "1111")  # the same person twice is not two people
    assert same.reason == Reason.TWO_PERSON_PENDING
    intruder = await badge(h, "reader-vault", "3", "3333")  # not authorised: does not count
    assert intruder.reason == Reason.NO_ACCESS_LEVEL
    h.clock.now += timedelta(seconds=5)
    second = await badge(h, "reader-vault", "2", "2222")
    assert second.granted
    audit = (await h.audits())[0]
    assert (audit["person_id"], audit["companion_id"]) == (bob, ada)
    assert h.locks.actions("lock-vault") == [("unlock", 5.0)]

    # The second badge must come within the window.
    assert (await badge(h, "reader-vault", "1", "1111")).reason == Reason.TWO_PERSON_PENDING
    h.clock.now += timedelta(seconds=11)
    late = await badge(h, "reader-vault", "2", "2222")
    assert late.reason == Reason.TWO_PERSON_PENDING  # starts a new pair instead
    summaries = [e.summary for e in await h.journal.recent(3, "audit")]
    assert summaries[0].startswith("WAITING Bob at Vault (two_person_pending)")
