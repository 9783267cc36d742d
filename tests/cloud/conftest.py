"""Cloud test fixtures, in layers: database URL -> config -> started cloud -> tenant -> enrolled site.

Every test that takes `db_url` (directly or through `cloud`) runs twice: on a SQLite file and on a fresh
PostgreSQL database. The PostgreSQL run never skips: if the server is unreachable the test errors.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest
from cloud_helpers import TenantFixture, enroll, make_tenant
from playwright.async_api import Browser

from cloud.app import RunningCloud, started_cloud
from cloud.config import CloudConfig
from sync.wire import EnrollResponse
from tests.browser import chromium


@pytest.fixture
def cloud_config(tmp_path: Path, db_url: str) -> CloudConfig:
    """Config of a cloud on a free loopback port."""
    return CloudConfig(data_dir=tmp_path / "cloud", database_url=db_url, host="127.0.0.1", port=0)


@pytest.fixture
async def cloud(cloud_config: CloudConfig) -> AsyncIterator[RunningCloud]:
    """A cloud server started in-process on a real TCP port; fails the test if it leaks tasks."""
    before = asyncio.all_tasks()
    async with started_cloud(cloud_config) as running:
        yield running
    await asyncio.sleep(0)
    leaked = [t for t in asyncio.all_tasks() - before if not t.done() and t is not asyncio.current_task()]
    assert not leaked, f"tasks left running after the cloud stopped: {leaked}"


@pytest.fixture
async def http(cloud: RunningCloud) -> AsyncIterator[httpx.AsyncClient]:
    """An HTTP client for the running cloud."""
    async with httpx.AsyncClient(base_url=cloud.url, timeout=30, follow_redirects=False) as client:
        yield client


@pytest.fixture
async def tenant(cloud: RunningCloud) -> TenantFixture:
    """Tenant "Acme" with admin and code."""
    return await make_tenant(cloud, "Acme")


@pytest.fixture
async def site(http: httpx.AsyncClient, tenant: TenantFixture) -> EnrollResponse:
    """A site enrolled into tenant Acme."""
    return await enroll(http, tenant.code)


@pytest.fixture
async def browser() -> AsyncIterator[Browser]:
    """Debian chromium, headless, for the portal's browser tests."""
    async with chromium() as launched:
        yield launched
