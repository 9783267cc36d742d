"""The console shows cloud sync: a 'sync stuck' banner, the backlog, the last error, and quarantined records.

Real parts: the edge appliance (SQLite, broker, web), the cloud on a loopback port (down, then up), Chromium.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest

from cloud.admin import bootstrap_tenant
from cloud.app import started_cloud
from cloud.config import CloudConfig
from edge import keys
from edge.app import EdgeRunner
from edge.config import EdgeConfig
from provisioning.enroll import claim_site
from tests.browser import PHONE, chromium
from tests.edge.console import browser_login, console_login
from tests.edge.site import site_config_dict
from tests.net import free_port
from tests.polling import eventually


@pytest.fixture
def cloud_config(tmp_path: Path) -> CloudConfig:
    return CloudConfig(
        data_dir=tmp_path / "cloud",
        database_url=f"sqlite+aiosqlite:///{tmp_path / 'cloud.db'}",
        host="127.0.0.1",
        port=free_port(),
    )


@pytest.fixture
async def synced_edge(tmp_path: Path, cloud_config: CloudConfig) -> AsyncIterator[EdgeRunner]:
    """An edge enrolled with a cloud that is down by the time the edge starts."""
    async with started_cloud(cloud_config) as cloud:
        boot = await bootstrap_tenant(cloud.db, "Acme", "admin@acme.example", "correct-horse-1", site_name="Depot")
        assert boot.enrollment is not None
        enrollment = await asyncio.to_thread(claim_site, cloud.url, boot.enrollment.code, "box-1")
    config = EdgeConfig.model_validate(
        site_config_dict(
            tmp_path / "edge",
            site={"id": enrollment.site_id, "name": enrollment.site_name, "timezone": "UTC"},
            cloud={
                "url": cloud.url,
                "secret": enrollment.secret,
                "sync_interval_s": 0.2,
                "max_backoff_s": 0.5,
                "stuck_after_s": 0.5,
            },
        )
    )
    runner = EdgeRunner(config)
    await runner.start()
    try:
        yield runner
    finally:
        await runner.stop()


async def poison_and_backlog(edge: EdgeRunner) -> None:
    journal = edge.app[keys.JOURNAL]
    await journal.record("event", {"type": "test", "name": "Eve\ud800"}, source="console", summary="added Eve")
    for n in range(3):
        await journal.record("event", {"type": "test", "n": n}, source="test", summary=f"offline {n}")


async def test_sync_api_reports_stuck_then_recovered(synced_edge: EdgeRunner, cloud_config: CloudConfig) -> None:
    await poison_and_backlog(synced_edge)
    async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{synced_edge.web_port}") as client:
        csrf = await console_login(client)

        async def stuck() -> bool:
            return (await client.get("/api/v1/sync")).json()["stuck"]

        await eventually(stuck, timeout_s=10)
        state = (await client.get("/api/v1/sync")).json()
        assert state["backlog"] >= 3 and state["last_error"] and state["oldest_pending_age_s"] > 0.5
        assert state["quarantined_count"] == 1
        assert state["quarantined"][0]["error"] == "unencodable" and state["quarantined"][0]["summary"] == "added Eve"
        assert (await client.get("/api/v1/status")).json()["sync"]["stuck"] is True

        async with started_cloud(cloud_config):

            async def recovered() -> bool:
                state = (await client.get("/api/v1/sync")).json()
                return state["state"] == "ok" and state["backlog"] == 0

            await eventually(recovered, timeout_s=15)
            released = await client.post("/api/v1/sync/quarantine/release", headers={"X-CSRF-Token": csrf})
            assert released.json() == {"released": 1}
            bad = await client.post(
                "/api/v1/sync/quarantine/release", json={"seqs": "all"}, headers={"X-CSRF-Token": csrf}
            )
            assert bad.status_code == 400
            retried = await client.post("/api/v1/sync/retry", headers={"X-CSRF-Token": csrf})
            assert retried.status_code == 202


@pytest.mark.browser
async def test_dashboard_shows_a_stuck_sync_banner_and_quarantine(
    synced_edge: EdgeRunner, cloud_config: CloudConfig, tmp_path: Path
) -> None:
    await poison_and_backlog(synced_edge)
    base = f"http://127.0.0.1:{synced_edge.web_port}"
    async with chromium() as browser:
        page = await browser.new_page(viewport=PHONE)
        await browser_login(page, base)

        banner = page.locator("#sync-banner")
        await banner.wait_for(state="visible", timeout=15000)
        assert "Sync stuck" in await banner.inner_text()
        assert "record(s) waiting" in await banner.inner_text()
        await page.locator("#sync-quarantine tr[data-seq]").first.wait_for(timeout=5000)
        row = await page.locator("#sync-quarantine tr[data-seq]").first.inner_text()
        assert "added Eve" in row and "unencodable" in row
        await page.screenshot(path=str(tmp_path / "sync-stuck.png"), full_page=True)

        async with started_cloud(cloud_config):
            await banner.wait_for(state="hidden", timeout=15000)
            await page.wait_for_function(
                "document.querySelector('[data-sync=backlog]').textContent === '0 record(s)'", timeout=15000
            )
        overflow = await page.evaluate("document.documentElement.scrollWidth > window.innerWidth")
        assert not overflow
        await page.close()
