"""Lock command retries and faults over the real broker: the edge app, its embedded amqtt broker, and
simulated locks (firmware_adapters.simulated) that lose a command or never acknowledge one."""

from __future__ import annotations

import asyncio
import logging
from pathlib import Path

import httpx
import pytest

from edge import keys
from edge.app import EdgeRunner
from edge.config import EdgeConfig
from firmware_adapters.simulated import SimulatedDeviceConfig, SimulatedLock
from tests.edge.access.door_alarms import door_alarms
from tests.edge.access.harness import commands_in_flight
from tests.edge.console import console_headers
from tests.edge.site import DEVICE_PASSWORDS, DeviceFactory, site_config_dict
from tests.polling import eventually

ACK_TIMEOUT_S = 0.2
RETRIES = 2


@pytest.fixture
def edge_config(tmp_path: Path) -> EdgeConfig:
    """The plain test site with short ack waits: a lost command is resent after 0.2 s, then 0.4 s."""
    return EdgeConfig.model_validate(
        site_config_dict(tmp_path / "edge", access={"command_ack_timeout_s": ACK_TIMEOUT_S, "command_retries": RETRIES})
    )


async def start_lock(edge_app: EdgeRunner, **faults: int | bool) -> SimulatedLock:
    """Connect the front door's lock with the given faults and wait until the site sees it locked."""
    config = SimulatedDeviceConfig(
        device_id="lock-front", password=DEVICE_PASSWORDS["lock-front"], port=edge_app.mqtt_port
    )
    lock = SimulatedLock(config, **faults)  # type: ignore[arg-type]
    await lock.start()
    await eventually(lambda: edge_app.app[keys.SITE_STATE].doors["front"].status == "locked")
    return lock


async def test_a_lost_unlock_is_resent_and_acknowledged_once(
    edge_app: EdgeRunner, devices: DeviceFactory, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING, logger="edge.access.commands")
    state = edge_app.app[keys.SITE_STATE]
    commander = edge_app.app[keys.ACCESS].commander
    await edge_app.app[keys.CREDENTIALS].add_person("Ada Lovelace", ["0004217"])
    lock = await start_lock(edge_app, drop_first=1)
    try:
        reader = await devices("reader-front", "reader")

        badge = await reader.present("0004217")
        lost = await asyncio.wait_for(lock.commands.get(), 5)
        resent = await asyncio.wait_for(lock.commands.get(), 5)

        assert (lost.action, lost.duration_s) == ("unlock", 2)
        assert resent == lost  # the same command, same id: a lock carries a repeated id out once
        assert lock.dropped == [lost]
        # The delivery ends with the ack; once it has, no further copy can be sent.
        await eventually(lambda: commands_in_flight(commander) == 0)
        assert lock.acked == [lost.id]
        assert await reader.wait_receipt(badge.id)
        await eventually(lambda: state.doors["front"].status == "unlocked")
        assert not state.doors["front"].faulted and "command_failed" not in state.doors["front"].alarms
        # Barrier: a command sent now is the next the lock gets; no third copy of the unlock came before it.
        barrier = await edge_app.app[keys.ACCESS].command_door("front", "lock", by="tester")
        assert (await asyncio.wait_for(lock.commands.get(), 5)).id == barrier.id
        resends = [r.getMessage() for r in caplog.records if "resending" in r.getMessage()]
        assert len(resends) == 1 and "attempt 2" in resends[0] and lost.id in resends[0]
    finally:
        await lock.stop()
    assert await door_alarms(edge_app, "front") == []


async def test_a_lock_that_never_acks_faults_the_door_and_raises_an_alarm(edge_app: EdgeRunner) -> None:
    state = edge_app.app[keys.SITE_STATE]
    commander = edge_app.app[keys.ACCESS].commander
    lock = await start_lock(edge_app, acknowledge=False)
    try:
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{edge_app.web_port}") as client:
            headers = await console_headers(client)
            sent = await client.post("/api/v1/doors/front/unlock", headers=headers)
            assert sent.status_code == 202
            received = [await asyncio.wait_for(lock.commands.get(), 5) for _ in range(1 + RETRIES)]
            assert {c.id for c in received} == {sent.json()["command_id"]}  # resent with the same id
            await eventually(lambda: state.doors["front"].status == "fault", timeout_s=5)
            assert f"no ack after {1 + RETRIES} attempts" in (state.doors["front"].fault or "")
            await eventually(lambda: commands_in_flight(commander) == 0)
            assert lock.commands.empty()  # bounded: the delivery is over, no fourth copy
            assert lock.acked == []

            async def fault_recorded() -> bool:  # the door shows the fault first; the alarm record follows its commit
                return await door_alarms(edge_app, "front") == [("command_failed", "raised")]

            await eventually(fault_recorded)
            listed = (await client.get("/api/v1/alarms")).json()
            assert [(a["door"], a["alarm"], a["state"]) for a in listed] == [
                ("front", "command_failed", "active_unacknowledged")
            ]

            # The lock's firmware recovers: the next command is acknowledged and clears the fault.
            lock.acknowledge = True
            relock = await client.post("/api/v1/doors/front/lock", headers=headers)
            assert relock.status_code == 202
            assert (await asyncio.wait_for(lock.commands.get(), 5)).id == relock.json()["command_id"]
            await eventually(lambda: state.doors["front"].status == "locked")

            async def fault_cleared() -> bool:
                return await door_alarms(edge_app, "front") == [
                    ("command_failed", "raised"),
                    ("command_failed", "cleared"),
                ]

            await eventually(fault_cleared)
            assert lock.acked == [relock.json()["command_id"]]
    finally:
        await lock.stop()
