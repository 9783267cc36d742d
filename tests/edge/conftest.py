"""Edge fixtures in layers: config -> started edge (real broker, SQLite, web) -> devices."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from edge.app import EdgeRunner
from edge.config import EdgeConfig
from edge.storage.database import Database
from firmware_adapters.simulated import (
    SimulatedContact,
    SimulatedDevice,
    SimulatedDeviceConfig,
    SimulatedLock,
    SimulatedReader,
    SimulatedSensor,
)
from tests.edge.site import DEVICE_PASSWORDS, DeviceFactory, site_config_dict


@pytest.fixture
async def db(tmp_path: Path) -> AsyncIterator[Database]:
    """A migrated edge database in the test's directory."""
    database = Database(tmp_path / "edge.db")
    await database.migrate()
    yield database
    await database.close()


@pytest.fixture
def edge_config(tmp_path: Path) -> EdgeConfig:
    """Validated config of the small test site (no cloud, no camera)."""
    return EdgeConfig.model_validate(site_config_dict(tmp_path / "edge"))


@pytest.fixture
async def edge_app(edge_config: EdgeConfig) -> AsyncIterator[EdgeRunner]:
    """A started edge appliance on free ports."""
    runner = EdgeRunner(edge_config)
    await runner.start()
    try:
        yield runner
    finally:
        await runner.stop()


@pytest.fixture
async def devices(edge_app: EdgeRunner) -> AsyncIterator[DeviceFactory]:
    """Start simulated devices against the edge broker; all are stopped after the test."""
    started: list[SimulatedDevice] = []
    kinds = {
        "reader": SimulatedReader,
        "lock": SimulatedLock,
        "contact": SimulatedContact,
        "sensor": SimulatedSensor,
    }

    async def start(device_id: str, kind: str, password: str | None = None) -> Any:
        cfg = SimulatedDeviceConfig(
            device_id=device_id, password=password or DEVICE_PASSWORDS[device_id], port=edge_app.mqtt_port
        )
        device = kinds[kind](cfg)
        await device.start()
        started.append(device)
        return device

    yield start
    for device in reversed(started):
        await device.stop()
