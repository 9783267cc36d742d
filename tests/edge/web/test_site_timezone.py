"""The console shows times in the site's time zone (the test site's is Europe/Berlin), not the browser's or UTC:
rendered by the server and by the page's scripts alike."""

from __future__ import annotations

from datetime import UTC, datetime

import httpx
import pytest

from edge import keys
from edge.app import EdgeRunner
from edge.web.site_time import in_zone, site_time_filter
from tests.browser import PHONE, chromium
from tests.edge.console import browser_login, console_login

BEFORE = datetime(2026, 7, 1, 10, 0, 0, tzinfo=UTC)  # 12:00:00 in Berlin (summer time)
AFTER = datetime(2026, 12, 1, 10, 5, 0, tzinfo=UTC)  # 11:05:00 in Berlin (winter time)


def test_site_time_converts_aware_and_naive_utc() -> None:
    site_time = site_time_filter("Europe/Berlin")
    assert site_time(BEFORE, "%H:%M %Z") == "12:00 CEST"
    assert site_time(AFTER.replace(tzinfo=None), "%H:%M %Z") == "11:05 CET"  # naive values are UTC
    assert site_time(None, "%H:%M") == ""
    assert in_zone(BEFORE, "America/New_York").hour == 6


async def test_dashboard_times_are_in_the_site_zone(edge_app: EdgeRunner) -> None:
    journal = edge_app.app[keys.JOURNAL]
    await journal.record("audit", {"type": "tz_check"}, source="test", summary="before the page", occurred_at=BEFORE)
    async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{edge_app.web_port}") as client:
        await console_login(client)
        page = (await client.get("/")).text
    assert '<td>12:00:00</td><td>audit</td><td><a href="/events/' in page and ">before the page</a></td>" in page
    assert "Europe/Berlin" in page


@pytest.mark.browser
async def test_scripts_show_site_times_whatever_the_browser_zone(edge_app: EdgeRunner) -> None:
    journal = edge_app.app[keys.JOURNAL]
    await journal.record("audit", {"type": "tz_check"}, source="test", summary="before the page", occurred_at=BEFORE)
    base = f"http://127.0.0.1:{edge_app.web_port}"
    async with chromium() as browser:
        page = await browser.new_page(viewport=PHONE, timezone_id="America/New_York")
        await browser_login(page, base)
        await page.wait_for_selector("body[data-live='connected']")
        # Pushed over the live stream and rendered by console.js.
        entry = await journal.record(
            "audit", {"type": "tz_check"}, source="test", summary="after the page", occurred_at=AFTER
        )
        row = page.locator(f"tr[data-event-id='{entry.id}'] td").first
        await row.wait_for()
        assert await row.inner_text() == "11:05:00"
        assert await page.evaluate("new Date('2026-12-01T10:05:00Z').getHours()") == 5  # the browser's own zone
        await page.close()
