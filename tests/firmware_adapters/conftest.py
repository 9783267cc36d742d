"""Fixtures for adapter tests: an edge app started from a custom device list (see sites.py)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import pytest

from edge.app import EdgeRunner
from edge.config import EdgeConfig
from tests.firmware_adapters.sites import EdgeStarter


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
