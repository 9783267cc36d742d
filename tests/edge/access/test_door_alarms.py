"""Door supervision from the contact: forced open, held open, request-to-exit, cleared when closed."""

from __future__ import annotations

import time

from firmware_adapters.messages import BadgeRead, Telemetry
from tests.polling import eventually


async def test_forced_open_without_grant_and_cleared_on_close(access_harness) -> None:
    h = await access_harness()
    await h.lock_online("lock-front", locked=True)
    await h.contact("contact-front", True)
    door = h.state.doors["front"]
    assert door.status == "forced"
    assert await h.alarms() == [("front", "forced_open", "raised")]
    entry = (await h.journal.recent(5, "event"))[0]
    assert entry.payload["type"] == "door_contact" or entry.payload["type"] == "alarm"
    alarm = next(e for e in await h.journal.recent(5, "event") if e.payload.get("type") == "alarm")
    assert alarm.summary == "ALARM Front door: door forced open (opened while locked, without a grant or exit request)"

    await h.contact("contact-front", False)
    assert door.status == "locked"
    assert await h.alarms() == [("front", "forced_open", "raised"), ("front", "forced_open", "cleared")]


async def test_grant_manual_unlock_and_rex_are_not_forced(access_harness) -> None:
    h = await access_harness()
    await h.store.add_person("Ada", ["100"], levels=["staff"])
    await h.lock_online("lock-front", locked=True)

    assert (await h.service.on_badge("reader-front", BadgeRead(credential="100"))).granted
    await h.contact("contact-front", True)  # the lock's "unlocked" report may not even be here yet
    await h.contact("contact-front", False)
    await h.service.command_door("front", "unlock", "admin")
    await h.contact("contact-front", True)
    await h.contact("contact-front", False)
    await h.contact("rex-front", True)  # someone pushes the exit button, then opens the door
    await h.contact("rex-front", False)
    await h.contact("contact-front", True)
    await h.contact("contact-front", False)
    assert await h.alarms() == []
    rex = [e.payload for e in await h.journal.recent(20, "event") if e.payload["type"] == "request_to_exit"]
    assert [r["active"] for r in rex] == [False, True]
    assert len({r["event_id"] for r in rex}) == 2  # the device's event id, remembered across a restart


async def test_unknown_lock_state_or_unlocked_lock_is_not_forced(access_harness) -> None:
    h = await access_harness()
    await h.contact("contact-front", True)  # lock never reported
    await h.contact("contact-front", False)
    await h.lock_online("lock-front", locked=False)
    await h.contact("contact-front", True)
    await h.contact("contact-front", False)
    assert await h.alarms() == []


async def test_held_open_alarm_after_held_open_s(access_harness) -> None:
    h = await access_harness()
    await h.store.add_person("Ada", ["100"], levels=["staff"])
    await h.lock_online("lock-front", locked=True)
    await h.service.on_badge("reader-front", BadgeRead(credential="100"))
    await h.state.on_telemetry("lock-front", Telemetry(values={"locked": 0.0}))
    opened_at = time.monotonic()
    await h.contact("contact-front", True)
    assert h.state.doors["front"].status == "open"
    await eventually(lambda: h.state.doors["front"].status == "held", timeout_s=5)
    assert time.monotonic() - opened_at >= 0.5  # never before held_open_s (0.5 at the front door)
    await h.contact("contact-front", False)
    assert h.state.doors["front"].status == "unlocked"
    assert await h.alarms() == [("front", "held_open", "raised"), ("front", "held_open", "cleared")]

    # Closing in time raises nothing: a timer left running would fire before the barrier opening's own timer,
    # i.e. less than held_open_s after that opening.
    await h.contact("contact-front", True)
    await h.contact("contact-front", False)
    reopened_at = time.monotonic()
    await h.contact("contact-front", True)  # the barrier
    await eventually(lambda: h.state.doors["front"].status == "held", timeout_s=5)
    assert time.monotonic() - reopened_at >= 0.5
    await h.contact("contact-front", False)
    assert await h.alarms() == [("front", "held_open", "raised"), ("front", "held_open", "cleared")] * 2


def _side_door_with_contact(config: dict) -> None:
    config["doors"][1].pop("contact")
    config["doors"][2].update(first_person_in=False, contact="contact-vault", held_open_s=0.2)


async def test_held_open_is_not_raised_while_held_unlocked_by_schedule(access_harness) -> None:
    h = await access_harness(tweak=_side_door_with_contact)  # 10:00, office hours: side door held unlocked
    await h.lock_online("lock-side", locked=False)
    assert h.service.modes.held_unlocked("side")
    await h.contact("contact-vault", True)
    # Barrier: the front door (lock state unknown, so not forced) opened after it with a longer held_open_s
    # (0.5 s > 0.2 s); a held-open timer at the side door would have fired first.
    await h.contact("contact-front", True)

    async def front_held_journaled() -> bool:
        return ("front", "held_open", "raised") in await h.alarms()

    await eventually(front_held_journaled, timeout_s=5)
    assert await h.alarms() == [("front", "held_open", "raised")]
    # When the window ends with the door still open, the held-open timer starts.
    h.clock.now = h.clock.now.replace(hour=16)  # 18:00 local
    await h.service.modes.reevaluate()
    await eventually(lambda: "held_open" in h.state.doors["side"].alarms, timeout_s=2)
