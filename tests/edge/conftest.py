"""Edge fixtures in layers: config -> started edge (real broker, SQLite, web) -> devices."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import pytest

from edge.app import EdgeRunner
from edge.broker.directory import hash_password
from edge.config import EdgeConfig
from firmware_adapters.simulated import (
    SimulatedContact,
    SimulatedDevice,
    SimulatedDeviceConfig,
    SimulatedLock,
    SimulatedReader,
    SimulatedSensor,
)

DEVICE_PASSWORDS = {
    "reader-front": "reader-front-pw",
    "lock-front": "lock-front-pw",
    "contact-front": "contact-front-pw",
    "temp-lobby": "temp-lobby-pw",
}
ADMIN_PASSWORD = "console-admin-pw"
_HASHES = {dev: hash_password(pw) for dev, pw in DEVICE_PASSWORDS.items()}


def site_config_dict(data_dir: Path, **overrides: Any) -> dict[str, Any]:
    """A small site: one zone, one door with reader, lock and contact, one sensor."""
    pw_file = data_dir / "admin-password"
    pw_file.parent.mkdir(parents=True, exist_ok=True)
    pw_file.write_text(ADMIN_PASSWORD)
    pw_file.chmod(0o600)
    config: dict[str, Any] = {
        "site": {"id": "test-site", "name": "Test depot", "timezone": "Europe/Berlin"},
        "storage": {"data_dir": str(data_dir)},
        "mqtt": {"host": "127.0.0.1", "port": 0},
        "web": {"host": "127.0.0.1", "port": 0, "initial_admin_password_file": str(pw_file)},
        "zones": [{"id": "lobby", "name": "Lobby"}],
        "devices": [
            {
                "id": "reader-front",
                "kind": "reader",
                "zone": "lobby",
                "password_hash": _HASHES["reader-front"],
            },
            {"id": "lock-front", "kind": "lock", "zone": "lobby", "password_hash": _HASHES["lock-front"]},
            {
                "id": "contact-front",
                "kind": "contact",
                "zone": "lobby",
                "password_hash": _HASHES["contact-front"],
            },
            {"id": "temp-lobby", "kind": "sensor", "zone": "lobby", "password_hash": _HASHES["temp-lobby"]},
        ],
        "doors": [
            {
                "id": "front",
                "name": "Front door",
                "zone": "lobby",
                "lock": "lock-front",
                "readers": ["reader-front"],
                "contact": "contact-front",
                "unlock_s": 2,
            }
        ],
    }
    config.update(overrides)
    return config


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


DeviceFactory = Callable[..., Any]


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
