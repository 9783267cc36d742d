"""Fixtures for adapter tests: captured payload fixtures, and an edge app started from a custom device list."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest

from edge import keys
from edge.app import EdgeRunner
from edge.config import EdgeConfig
from firmware_adapters.outpost_mqtt.codec import Ack, DeviceMessage
from tests.edge.conftest import site_config_dict

FIXTURES = Path(__file__).parent / "fixtures"


def load_fixture(name: str) -> Any:
    """Load a JSON fixture file by its path under fixtures/."""
    return json.loads((FIXTURES / name).read_text())


def adapter_site(
    data_dir: Path, devices: list[dict[str, Any]], doors: list[dict[str, Any]], accounts: list[dict[str, Any]] = ()
) -> dict[str, Any]:
    """The test site (one zone 'lobby') with the given devices, doors and extra broker accounts."""
    return site_config_dict(
        data_dir,
        devices=devices,
        doors=doors,
        mqtt={"host": "127.0.0.1", "port": 0, "accounts": list(accounts)},
    )


EdgeStarter = Callable[[dict[str, Any]], Awaitable[EdgeRunner]]


@pytest.fixture
async def start_edge() -> AsyncIterator[EdgeStarter]:
    """Start edge apps from config dicts (real broker, SQLite, adapters); all are stopped after the test."""
    runners: list[EdgeRunner] = []

    async def start(config: dict[str, Any]) -> EdgeRunner:
        runner = EdgeRunner(EdgeConfig.model_validate(config))
        await runner.start()
        runners.append(runner)
        return runner

    yield start
    for runner in reversed(runners):
        await runner.stop()


class Sink:
    """A DeviceSink that collects what an adapter delivers."""

    def __init__(self) -> None:
        self.messages: asyncio.Queue[tuple[str, DeviceMessage]] = asyncio.Queue()

    async def __call__(self, device_id: str, message: DeviceMessage) -> None:
        self.messages.put_nowait((device_id, message))

    async def next(self, kind: type, timeout_s: float = 2.0) -> tuple[str, Any]:
        """Wait for the next message of `kind` (others are skipped)."""
        while True:
            device_id, message = await asyncio.wait_for(self.messages.get(), timeout_s)
            if isinstance(message, kind):
                return device_id, message


def spy_acks(edge: EdgeRunner) -> asyncio.Queue[Ack]:
    """Acks the access service receives (spied at the router -> access boundary)."""
    access = edge.app[keys.ACCESS]
    acks: asyncio.Queue[Ack] = asyncio.Queue()
    original = access.on_ack

    async def on_ack(device_id: str, ack: Ack) -> None:
        acks.put_nowait(ack)
        await original(device_id, ack)

    access.on_ack = on_ack
    return acks
