"""The site core's adapters join the embedded broker in-process by default, or over TCP when configured so."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from edge import keys
from edge.app import EdgeRunner
from edge.config import EdgeConfig
from firmware_adapters.simulated.adapter import SimulatedDeviceConfig, SimulatedLock, SimulatedReader
from tests.edge.site import DEVICE_PASSWORDS, site_config_dict

ADAPTER_ACCOUNT = "adapter-outpost_mqtt"


@pytest.fixture(params=[True, False], ids=["in-process", "tcp"])
async def edge(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[EdgeRunner]:
    """The test site with `mqtt.core_in_process` on and off."""
    data = site_config_dict(tmp_path / "edge")
    data["mqtt"]["core_in_process"] = request.param
    runner = EdgeRunner(EdgeConfig.model_validate(data))
    await runner.start()
    try:
        yield runner
    finally:
        await runner.stop()


async def test_badge_opens_the_door_either_way(edge: EdgeRunner) -> None:
    """Same decision, command and receipt whether the core is in-process or a TCP client of its broker."""
    broker = edge.app[keys.BROKER]
    in_process = edge.config.mqtt.core_in_process
    assert broker.local is not None
    # The adapters' account joins in-process or over TCP; other in-process parts (rules) follow the same setting.
    assert (ADAPTER_ACCOUNT in broker.local.accounts) is in_process
    assert broker.local.connection_count == 0 or in_process
    tcp_clients = set(broker._broker._sessions)  # noqa: SLF001 - amqtt's connected sessions
    assert (ADAPTER_ACCOUNT in tcp_clients) is not in_process

    await edge.app[keys.CREDENTIALS].add_person("Ada Lovelace", ["0004217"])
    devices = [
        cls(SimulatedDeviceConfig(device_id=name, password=DEVICE_PASSWORDS[name], port=edge.mqtt_port))
        for cls, name in ((SimulatedLock, "lock-front"), (SimulatedReader, "reader-front"))
    ]
    lock, reader = devices
    assert isinstance(lock, SimulatedLock) and isinstance(reader, SimulatedReader)
    for device in devices:
        await device.start()
    try:
        badge = await reader.present("0004217")
        command = await lock.commands.get()
        assert command.action == "unlock"
        assert await reader.wait_receipt(badge.id)
    finally:
        for device in reversed(devices):
            await device.stop()
