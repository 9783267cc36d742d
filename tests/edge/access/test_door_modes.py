"""Door modes over time: scheduled unlock, first-person-in, lockdown with override, with a hand-moved clock."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from edge.access.decision import Reason
from edge.access.lockdown import LockdownState
from edge.access.modes import door_mode
from edge.access.schedule import Schedule
from edge.config import DoorConfig, ScheduleConfig
from firmware_adapters.messages import BadgeRead
from tests.edge.access.harness import BERLIN

WED_10 = datetime(2026, 6, 10, 8, 0, tzinfo=UTC)  # 10:00 in Berlin


def test_door_mode_is_pure() -> None:
    office = Schedule.compile(
        ScheduleConfig.model_validate({"windows": [{"days": ["wed"], "start": "08:00", "end": "18:00"}]}), BERLIN
    )
    plain = DoorConfig(id="d", name="D", zone="z", lock="l", unlock_schedule="office")
    first_in = plain.model_copy(update={"first_person_in": True})
    evening = WED_10 + timedelta(hours=9)
    assert door_mode(plain, None, WED_10, lockdown=False, armed=False) == "secure"
    assert door_mode(plain, office, WED_10, lockdown=False, armed=False) == "unlocked (schedule)"
    assert door_mode(plain, office, evening, lockdown=False, armed=False) == "secure"
    assert door_mode(first_in, office, WED_10, lockdown=False, armed=False) == "awaiting first person"
    assert door_mode(first_in, office, WED_10, lockdown=False, armed=True) == "unlocked (schedule)"
    assert door_mode(plain, office, WED_10, lockdown=True, armed=True) == "lockdown"


async def test_unlocked_on_schedule_sends_hold_and_relock_at_the_edges(access_harness) -> None:
    h = await access_harness(start=False, tweak=lambda c: c["doors"][2].update(first_person_in=False))
    h.clock.now = WED_10 - timedelta(hours=3)  # 07:00 local, before the window
    await h.service.start()
    assert h.locks.actions("lock-side") == []
    assert h.state.doors["side"].mode == "secure"

    h.clock.now = datetime(2026, 6, 10, 6, 0, tzinfo=UTC)  # 08:00 local: window opens
    await h.service.modes.reevaluate()
    assert h.locks.actions("lock-side") == [("unlock", None)]
    assert h.state.doors["side"].mode == "unlocked (schedule)"
    assert h.service.modes.held_unlocked("side")

    h.clock.now = datetime(2026, 6, 10, 16, 0, tzinfo=UTC)  # 18:00 local: window closes
    await h.service.modes.reevaluate()
    assert h.locks.actions("lock-side") == [("unlock", None), ("lock", None)]
    assert h.state.doors["side"].mode == "secure"


async def test_the_runner_sleeps_until_the_next_edge(access_harness) -> None:
    h = await access_harness(start=False)
    h.clock.now = datetime(2026, 6, 10, 15, 59, 0, tzinfo=UTC)  # 17:59 local, window ends at 18:00
    assert h.service.modes._next_delay() == 60.0
    h.clock.now = WED_10
    assert h.service.modes._next_delay() == 300.0  # capped, so a stepped clock is noticed


async def test_first_person_in(access_harness) -> None:
    h = await access_harness()  # Wednesday 10:00 local, inside office hours
    await h.store.add_person("Ada", ["100"], levels=["staff"])
    assert h.state.doors["side"].mode == "awaiting first person"
    assert h.locks.actions("lock-side") == []
    assert (await h.service.on_badge("reader-side", BadgeRead(credential="999"))).granted is False
    assert h.locks.actions("lock-side") == []  # an unknown card does not start the day

    assert (await h.service.on_badge("reader-side", BadgeRead(credential="100"))).granted
    assert h.locks.actions("lock-side") == [("unlock", None)]  # held, not a 5 s pulse
    assert h.state.doors["side"].mode == "unlocked (schedule)"

    h.clock.now = datetime(2026, 6, 10, 16, 0, tzinfo=UTC)  # 18:00: the window closes, the arming ends
    await h.service.modes.reevaluate()
    assert h.locks.actions("lock-side")[-1] == ("lock", None)
    h.clock.now = datetime(2026, 6, 11, 6, 30, tzinfo=UTC)  # next morning: waits for a badge again
    await h.service.modes.reevaluate()
    assert h.state.doors["side"].mode == "awaiting first person"
    assert len(h.locks.actions("lock-side")) == 2

    # Outside the window a grant is a plain pulse and arms nothing.
    h.clock.now = datetime(2026, 6, 13, 8, 0, tzinfo=UTC)  # Saturday
    await h.service.modes.reevaluate()
    await h.people.update_person(1, {"levels": ["all"]}, "admin")
    h.service.passback._inside.clear()
    assert (await h.service.on_badge("reader-side", BadgeRead(credential="100"))).granted
    assert h.locks.actions("lock-side")[-1] == ("unlock", 5.0)
    assert h.state.doors["side"].mode == "secure"


async def test_lockdown_with_override_role_survives_restart(access_harness) -> None:
    h = await access_harness()
    await h.store.add_person("Ada", ["100"], levels=["staff"])
    await h.store.add_person("Sam", ["900"], levels=["staff"], role="security")

    assert await h.service.set_lockdown("lobby", True, "admin", "intruder reported")
    assert not await h.service.set_lockdown("lobby", True, "admin")  # already on: no second audit
    assert h.locks.actions("lock-front") == [("lock", None)]
    assert h.locks.actions("lock-side") == [("lock", None)]
    assert h.locks.actions("lock-yard") == []  # another zone
    assert h.state.doors["front"].mode == "lockdown"

    denied = await h.service.on_badge("reader-front", BadgeRead(credential="100"))
    assert (denied.granted, denied.reason) == (False, Reason.LOCKDOWN)
    override = await h.service.on_badge("reader-front", BadgeRead(credential="900"))
    assert override.granted and override.lockdown_override
    assert h.locks.actions("lock-front")[-1] == ("unlock", 2.0)
    assert "[lockdown override]" in (await h.journal.recent(1, "audit"))[0].summary
    assert (await h.service.on_badge("reader-yard-in", BadgeRead(credential="100"))).granted

    restarted = LockdownState(h.db)
    await restarted.load()
    assert [(lock.zone, lock.set_by, lock.reason) for lock in restarted.active()] == [
        ("lobby", "admin", "intruder reported")
    ]

    assert await h.service.set_lockdown(None, True, "admin")  # the whole site
    assert (await h.service.on_badge("reader-yard-in", BadgeRead(credential="100"))).reason == Reason.LOCKDOWN
    assert await h.service.set_lockdown(None, False, "admin")
    assert await h.service.set_lockdown("lobby", False, "admin")
    assert h.state.doors["front"].mode == "secure"
    assert h.state.doors["side"].mode == "awaiting first person"
    audits = [e.payload for e in await h.journal.recent(50, "audit") if e.payload["type"] == "lockdown"]
    assert [(a["zone"], a["active"]) for a in reversed(audits)] == [
        ("lobby", True),
        (None, True),
        (None, False),
        ("lobby", False),
    ]


async def test_lockdown_interrupts_a_scheduled_unlock(access_harness) -> None:
    h = await access_harness()
    await h.store.add_person("Ada", ["100"], levels=["staff"])
    await h.service.on_badge("reader-side", BadgeRead(credential="100"))
    assert h.locks.actions("lock-side") == [("unlock", None)]
    await h.service.set_lockdown(None, True, "admin")
    assert h.locks.actions("lock-side")[-1] == ("lock", None)
    await h.service.set_lockdown(None, False, "admin")
    assert h.locks.actions("lock-side")[-1] == ("unlock", None)  # still armed, still in the window
