"""Access fixtures: `access_harness` builds access services on real SQLite with fake locks (see harness.py)."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest

from edge.access.assembly import build_access
from edge.access.credentials import CredentialStore
from edge.access.pins import PinHasher
from edge.config import EdgeConfig
from edge.devices.state import SiteState
from edge.storage.database import Database
from edge.storage.journal import Journal
from tests.edge.access.harness import (
    BERLIN_WEDNESDAY_10H,
    PIN_KEY,
    AccessHarness,
    FakeLocks,
    HarnessFactory,
    MutableClock,
    access_site_dict,
)


@pytest.fixture
async def access_harness(tmp_path: Path) -> AsyncIterator[HarnessFactory]:
    """Build `AccessHarness`es (config overrides as keyword arguments); all are stopped after the test."""
    built: list[AccessHarness] = []

    async def build(
        now: datetime = BERLIN_WEDNESDAY_10H,
        start: bool = True,
        tweak: Callable[[dict[str, Any]], None] | None = None,
        **overrides: Any,
    ) -> AccessHarness:
        data = access_site_dict(tmp_path / f"site{len(built)}", **overrides)
        if tweak is not None:
            tweak(data)
        config = EdgeConfig.model_validate(data)
        db = Database(config.storage.database_path)
        await db.migrate()
        journal = Journal(db)
        store = CredentialStore(db)
        state = SiteState(config, journal)
        locks = FakeLocks()
        clock = MutableClock(now)
        pins = PinHasher(PIN_KEY)
        service, people = build_access(config, db, store, journal, locks, state, pins, clock=clock)
        locks.service = service
        harness = AccessHarness(config, db, journal, store, state, service, locks, clock, pins, people)
        built.append(harness)
        await service.load()
        if start:
            await service.start()
        return harness

    yield build
    for harness in built:
        await harness.service.stop()
        await harness.db.close()
