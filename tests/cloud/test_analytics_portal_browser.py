"""The HQ analytics pages in headless Chromium: the overview with 1,000 sites (filter, sort, page), a site's
drill-down, charts with a second period to compare, and alarms acknowledged by an admin (a viewer cannot)."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from cloud_helpers import PASSWORD, enroll, make_tenant, send_batch
from playwright.async_api import Browser, BrowserContext, Page, expect
from sqlalchemy import insert, update

from bench._site_records import stream
from cloud.admin import create_user
from cloud.app import RunningCloud
from cloud.db.models import Site, SiteSyncState
from sync.wire import SyncBatch, SyncRecord, SyncStatus, new_nonce
from tests.browser import PHONE
from tests.screenshots import save_screenshots

pytestmark = [pytest.mark.browser, pytest.mark.timeout(180)]

EXTRA_SITES = 1000


@pytest.fixture
def db_url(tmp_path: Path) -> str:
    """SQLite only here: the queries run on both backends in test_analytics_api."""
    return f"sqlite+aiosqlite:///{tmp_path / 'cloud-test.db'}"


def special(first_seq: int, at: datetime) -> list[SyncRecord]:
    alarm = {"type": "alarm", "alarm": "forced", "state": "raised", "door_id": "back", "alarm_id": 900}
    offline = {"device_id": "lock-back", "online": False}
    return [
        SyncRecord(seq=first_seq, kind="event", occurred_at=at, payload=alarm),
        SyncRecord(seq=first_seq + 1, kind="device_status", occurred_at=at, payload=offline),
    ]


@pytest.fixture
async def hq(cloud: RunningCloud, http: httpx.AsyncClient) -> dict[str, Any]:
    """Tenant Acme: a New York site with three days of records and an open alarm, 1,000 more sites, a viewer."""
    made = await make_tenant(cloud, "Acme")
    site = await enroll(http, made.code)
    now = datetime.now(UTC)
    records = list(stream(4, now - timedelta(days=3), timedelta(minutes=6), 700))
    records += special(len(records) + 1, now - timedelta(hours=2))
    # The box reports more waiting behind its last batch, from a day ago on: the analytics are complete up to then.
    behind = SyncStatus(backlog=600, oldest_pending_at=now - timedelta(days=1))
    for i in range(0, len(records), 500):
        batch = SyncBatch(
            site_id=site.site_id, sent_at=now, nonce=new_nonce(), records=records[i : i + 500], status=behind
        )
        assert (await send_batch(http, site, batch)).status_code == 200
    async with cloud.db.begin() as session:
        await session.execute(update(Site).where(Site.id == site.site_id).values(timezone="America/New_York"))
        rows = [
            {"id": f"depot{i:04d}", "tenant_id": made.tenant_id, "name": f"Depot {i:04d}", "secret": "0" * 64}
            for i in range(EXTRA_SITES)
        ]
        await session.execute(insert(Site), rows)
        states = [
            {"site_id": f"depot{i:04d}", "backlog": i, "last_batch_at": now - timedelta(hours=i + 1)}
            for i in range(0, 1000, 7)
        ]
        await session.execute(insert(SiteSyncState), states)
    await create_user(cloud.db, made.tenant_id, "viewer@acme.example", PASSWORD)
    return {"admin": made.admin_email, "site": site}


async def logged_in(browser: Browser, cloud: RunningCloud, email: str) -> tuple[BrowserContext, Page]:
    context = await browser.new_context(viewport=PHONE, base_url=cloud.url)
    page = await context.new_page()
    await page.goto("/login")
    await page.get_by_label("E-mail").fill(email)
    await page.get_by_label("Password").fill(PASSWORD)
    await page.get_by_role("button", name="Log in").click()
    await expect(page).to_have_url(re.compile(r"/portal$"))
    return context, page


async def no_sideways_scroll(page: Page) -> None:
    assert await page.evaluate("document.documentElement.scrollWidth <= window.innerWidth")


async def test_overview_of_1000_sites_filters_sorts_and_pages(
    cloud: RunningCloud, hq: dict[str, Any], browser: Browser
) -> None:
    context, page = await logged_in(browser, cloud, "viewer@acme.example")
    external: list[str] = []
    page.on("request", lambda req: None if req.url.startswith(cloud.url) else external.append(req.url))

    await page.get_by_role("link", name="Overview").click()
    await expect(page.locator("#site-count")).to_have_text("1001 sites; page 1 of 21")
    await expect(page.locator("#sites tbody tr")).to_have_count(50)
    await no_sideways_scroll(page)
    await save_screenshots(page, "hq-overview")

    await page.get_by_role("link", name="Next").click()
    await expect(page.locator("#sites tbody tr").first).to_contain_text("Depot 0050")
    await page.get_by_role("link", name=re.compile("^Backlog")).click()
    await page.get_by_role("link", name=re.compile("^Backlog")).click()  # again: most waiting first
    await expect(page.locator("#sites tbody tr").first).to_contain_text("Depot 0994")
    await page.get_by_label("Name contains").fill("depot 012")
    await page.get_by_role("button", name="Filter").click()
    await expect(page.locator("#site-count")).to_have_text("10 sites; page 1 of 1")
    await page.get_by_label("Name contains").fill("")
    await page.get_by_label("Status").select_option("online")
    await page.get_by_role("button", name="Filter").click()
    await expect(page.locator("#sites tbody tr")).to_have_count(1)
    await expect(page.locator("#sites tbody tr")).to_contain_text("Warehouse")
    await context.close()
    assert external == []


async def test_site_drilldown_and_charts_comparing_two_periods(
    cloud: RunningCloud, hq: dict[str, Any], browser: Browser
) -> None:
    context, page = await logged_in(browser, cloud, hq["admin"])
    await page.goto("/portal/overview?sort=open_alarms&order=desc")
    await page.locator("#sites").get_by_role("link", name="Warehouse").click()

    await expect(page.get_by_role("heading", name=re.compile("^Warehouse"))).to_be_visible()
    await expect(page.locator("#devices")).to_contain_text("lock-back")
    await no_sideways_scroll(page)
    await save_screenshots(page, "hq-site")

    await page.get_by_role("link", name="Charts").click()
    await expect(page.locator("figure.chart polyline")).to_have_count(2)
    await page.get_by_label("Chart").select_option("access")
    await page.get_by_label("Buckets").select_option("day")
    today = datetime.now(UTC).date()
    await page.get_by_label("From", exact=True).fill((today - timedelta(days=3)).isoformat())
    await page.get_by_label("To", exact=True).fill(today.isoformat())
    await page.get_by_label("Compare with period from").fill((today - timedelta(days=10)).isoformat())
    await page.get_by_role("button", name="Show").click()

    await expect(page.locator("figure.chart polyline")).to_have_count(4)
    await expect(page.locator("figure.chart polyline.dashed")).to_have_count(2)
    await expect(page.locator(".legend")).to_contain_text("Denied")
    await expect(page.locator("figure.chart rect.pending")).to_have_count(1)  # the buckets still arriving
    await expect(page.locator("#pending-note")).to_be_visible()
    assert "America/New_York" in await page.locator("main").inner_text()
    await no_sideways_scroll(page)
    await save_screenshots(page, "hq-analytics")
    await context.close()


async def test_an_admin_acknowledges_an_alarm_a_viewer_cannot(
    cloud: RunningCloud, hq: dict[str, Any], browser: Browser
) -> None:
    viewer, page = await logged_in(browser, cloud, "viewer@acme.example")
    await page.get_by_role("link", name="Alarms").click()
    row = page.locator("#alarms tbody tr", has_text="back")
    await expect(row).to_contain_text("Warehouse")
    await expect(page.get_by_role("button", name=re.compile("^Acknowledge"))).to_have_count(0)
    await viewer.close()

    context, page = await logged_in(browser, cloud, hq["admin"])
    await page.get_by_role("link", name="Alarms").click()
    await save_screenshots(page, "hq-alarms")
    await page.get_by_role("button", name="Acknowledge forced at back, Warehouse").click()

    await expect(page.locator("#alarms tbody tr", has_text="back")).to_have_count(0)
    await expect(page.locator("#alarm-stats")).to_contain_text("mean time to acknowledge")
    # HQ's acknowledgement waits for the box (it goes down with the site's next document) ...
    acked = page.locator("#hq-acks tbody tr", has_text="back")
    await expect(acked.locator(".box-ack")).to_have_text("Pending")
    await expect(acked).to_contain_text(hq["admin"])
    await no_sideways_scroll(page)
    # ... until the box's own acknowledgement record (as the box sends it after applying it) has synced up.
    site = hq["site"]
    box_ack = {"type": "alarm", "alarm": "forced", "state": "acknowledged", "door_id": "back", "alarm_id": 900}
    record = SyncRecord(
        seq=10**6, kind="event", occurred_at=datetime.now(UTC), payload=box_ack | {"by": f"hq:{hq['admin']}"}
    )
    async with httpx.AsyncClient(base_url=cloud.url) as box:
        batch = SyncBatch(site_id=site.site_id, sent_at=datetime.now(UTC), nonce=new_nonce(), records=[record])
        assert (await send_batch(box, site, batch)).status_code == 200
    await page.reload()
    await expect(acked.locator(".box-ack")).to_have_text(f"Applied (hq:{hq['admin']})")
    await save_screenshots(page, "hq-alarms-acknowledged")
    await context.close()
