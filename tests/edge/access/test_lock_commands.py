"""Lock commands are acknowledged; unacknowledged ones are resent with backoff, then become a fault alarm."""

from __future__ import annotations

from firmware_adapters.messages import Ack, BadgeRead
from tests.edge.access.harness import commands_in_flight
from tests.polling import eventually


async def test_acked_command_is_sent_once(access_harness) -> None:
    h = await access_harness()
    await h.lock_online("lock-front")
    command = await h.service.command_door("front", "unlock", "admin")
    # Barrier: a later command to a silent lock runs its whole retry schedule; a resend of the acked command
    # would have been due before that one's fault.
    await h.lock_online("lock-yard")
    h.locks.silent.add("lock-yard")
    await h.service.command_door("yard", "unlock", "admin")

    async def barrier_faulted() -> bool:
        return ("yard", "command_failed", "raised") in await h.alarms()

    await eventually(barrier_faulted, timeout_s=3)
    assert [c.id for dev, c in h.locks.sent if dev == "lock-front"] == [command.id]
    assert commands_in_flight(h.service.commander) == 0
    assert await h.alarms() == [("yard", "command_failed", "raised")]


async def test_silent_lock_is_retried_with_backoff_then_faulted(access_harness) -> None:
    h = await access_harness()
    await h.lock_online("lock-front")
    h.locks.silent.add("lock-front")
    command = await h.service.command_door("front", "unlock", "admin")

    async def fault_journaled() -> bool:
        return ("front", "command_failed", "raised") in await h.alarms()

    await eventually(fault_journaled, timeout_s=3)
    sent = [c for dev, c in h.locks.sent if dev == "lock-front"]
    assert [c.id for c in sent] == [command.id] * 3  # 1 + command_retries (2), same id each time
    gaps = [b - a for a, b in zip(h.locks.sent_at, h.locks.sent_at[1:], strict=False)]
    # The wait doubles: 0.05 s, then 0.1 s (command_ack_timeout_s 0.05). Lower bounds only: a loaded box delays
    # timers, it never fires them early.
    assert gaps[0] >= 0.05 and gaps[1] >= 0.1
    assert h.state.doors["front"].status == "fault"
    assert h.state.doors["front"].faulted
    assert "no ack after 3 attempts" in h.state.doors["front"].fault
    assert await h.alarms() == [("front", "command_failed", "raised")]

    # The lock comes back to its senses: the next acknowledged command clears the fault.
    h.locks.silent.clear()
    await h.service.command_door("front", "lock", "admin")

    async def fault_cleared() -> bool:
        return ("front", "command_failed", "cleared") in await h.alarms()

    await eventually(fault_cleared)
    assert h.state.doors["front"].status == "locked"
    assert (await h.alarms())[-1] == ("front", "command_failed", "cleared")


async def test_newer_command_supersedes_one_in_flight(access_harness) -> None:
    h = await access_harness()
    await h.lock_online("lock-front")
    h.locks.silent.add("lock-front")
    unlock = await h.service.command_door("front", "unlock", "admin")
    lock = await h.service.command_door("front", "lock", "admin")
    await eventually(lambda: "command_failed" in h.state.doors["front"].alarms, timeout_s=3)
    ids = [c.id for _, c in h.locks.sent]
    assert ids.count(unlock.id) == 1  # never resent after the lock command
    assert ids.count(lock.id) == 3
    assert lock.id in h.state.doors["front"].fault


async def test_acks_only_count_from_the_commanded_lock_and_refusals_fault(access_harness) -> None:
    h = await access_harness()
    await h.lock_online("lock-front")
    h.locks.silent.update({"lock-front", "lock-side"})
    command = await h.service.command_door("front", "unlock", "admin")
    assert not h.service.commander.on_ack("lock-side", Ack(id=command.id))  # another device cannot ack it
    assert h.service.commander.on_ack("lock-front", Ack(id=command.id, ok=False, detail="jammed"))
    await eventually(lambda: "command_failed" in h.state.doors["front"].alarms)
    assert [dev for dev, _ in h.locks.sent] == ["lock-front"]  # a refusal is not retried
    assert "refused (jammed)" in h.state.doors["front"].fault


async def test_decisions_and_commands_while_the_lock_is_offline(access_harness) -> None:
    h = await access_harness()
    await h.store.add_person("Ada", ["100"], levels=["staff"])
    await h.lock_online("lock-yard")
    await h.lock_offline("lock-yard")
    yard = h.state.doors["yard"]
    assert yard.status == "unlocked (fail-safe)"  # fail-safe: without control the lock releases
    assert yard.faulted and yard.as_json()["fault"] is True
    assert await h.alarms() == [("yard", "lock_offline", "raised")]

    h.locks.silent.add("lock-yard")
    decision = await h.service.on_badge("reader-yard-in", BadgeRead(credential="100"))
    assert decision.granted  # decided and audited locally...
    audit = (await h.audits())[0]
    assert audit["lock_online"] is False and audit["granted"] is True
    await eventually(lambda: "command_failed" in yard.alarms, timeout_s=3)  # ...and the command faults

    await h.lock_online("lock-yard")
    assert "lock_offline" not in yard.alarms
    await h.lock_online("lock-front")
    await h.lock_offline("lock-front")
    assert h.state.doors["front"].status == "offline"  # fail-secure
