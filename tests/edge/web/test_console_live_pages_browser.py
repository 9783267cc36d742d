"""Live console pages in headless Chromium: the events timeline takes new records at the top (only matching ones,
only on its first page), says when the box is away and catches up after its restart; the dashboard's recent events
and people link to their own pages."""

from __future__ import annotations

from pathlib import Path

import pytest

from edge import keys
from edge.app import EdgeRunner
from edge.config import EdgeConfig
from tests.browser import PHONE, chromium
from tests.edge.console import browser_login
from tests.edge.site import site_config_dict
from tests.net import free_port
from tests.screenshots import save_screenshots

pytestmark = pytest.mark.browser
NO_SIDEWAYS_SCROLL = "document.documentElement.scrollWidth <= window.innerWidth"


async def test_events_page_takes_new_matching_records_live(edge_app: EdgeRunner) -> None:
    journal = edge_app.app[keys.JOURNAL]
    await journal.record("audit", {"type": "note"}, source="test", summary="already there")
    base = f"http://127.0.0.1:{edge_app.web_port}"
    async with chromium() as browser:
        page = await browser.new_page(viewport=PHONE)
        await browser_login(page, base)
        await page.wait_for_url(base + "/")

        # Filtered to audit records: a record of another kind stays out, the audit record after it comes in on top.
        await page.goto(base + "/events?kind=audit")
        await page.wait_for_selector('body[data-live="connected"]', timeout=10000)
        await page.evaluate("window.notReloaded = true")
        await journal.record("event", {"type": "note"}, source="test", summary="not an audit record")
        barrier = await journal.record("audit", {"type": "note"}, source="test", summary="audit arrives live")
        first = page.locator("#timeline li").first
        await page.locator(f'#timeline li[data-event-id="{barrier.id}"]').wait_for(timeout=5000)
        assert await first.get_attribute("data-event-id") == str(barrier.id)
        assert "audit arrives live" in await first.inner_text()
        assert await page.locator("#timeline li", has_text="not an audit record").count() == 0
        assert await page.locator("#timeline li").count() == 2
        assert await page.evaluate("window.notReloaded === true")
        assert await page.evaluate(NO_SIDEWAYS_SCROLL)
        await save_screenshots(page, "console-events-live")

        # The live record links to its detail page like the rest.
        await first.locator(".event-summary a").click()
        await page.wait_for_url(f"{base}/events/{barrier.id}")
        await page.close()


async def test_dashboard_events_and_people_link_to_their_pages(edge_app: EdgeRunner) -> None:
    app = edge_app.app
    person_id = await app[keys.PEOPLE].add_person("Lou Reed", ["5:5"], "admin")
    old = await app[keys.JOURNAL].record("event", {"type": "note"}, source="test", summary="on the page at load")
    base = f"http://127.0.0.1:{edge_app.web_port}"
    async with chromium() as browser:
        page = await browser.new_page(viewport=PHONE)
        await browser_login(page, base)
        await page.wait_for_selector('body[data-live="connected"]', timeout=10000)
        assert await page.locator(f'#events tr[data-event-id="{old.id}"] a[href="/events/{old.id}"]').count() == 1
        new = await app[keys.JOURNAL].record("event", {"type": "note"}, source="test", summary="pushed live")
        pushed = page.locator(f'#events tr[data-event-id="{new.id}"] a[href="/events/{new.id}"]')
        await pushed.wait_for(timeout=5000)
        assert await pushed.inner_text() == "pushed live"
        person = page.locator(f'#people a[href="/people/{person_id}"]')
        await person.wait_for(timeout=5000)
        assert await person.inner_text() == "Lou Reed"
        await person.click()
        await page.wait_for_url(f"{base}/people/{person_id}")
        assert "Lou Reed" in await page.inner_text("main")
        await page.goto(base + "/")
        await page.locator(f'#events a[href="/events/{new.id}"]').click()
        await page.wait_for_url(f"{base}/events/{new.id}")
        assert "pushed live" in await page.inner_text("main")
        await page.close()


async def test_events_page_says_when_the_box_is_away_and_catches_up(tmp_path: Path) -> None:
    data = site_config_dict(tmp_path / "edge")
    data["web"]["port"] = free_port()  # the same port after the restart, as on a real box
    config = EdgeConfig.model_validate(data)
    runner = EdgeRunner(config)
    await runner.start()
    base = f"http://127.0.0.1:{runner.web_port}"
    try:
        async with chromium() as browser:
            page = await browser.new_page(viewport=PHONE)
            await browser_login(page, base)
            await page.wait_for_url(base + "/")
            await page.goto(base + "/events")
            await page.wait_for_selector('body[data-live="connected"]', timeout=10000)
            await page.evaluate("window.notReloaded = true")
            assert await page.is_hidden("#connection-banner")

            await runner.stop()
            await page.wait_for_selector("#connection-banner", state="visible", timeout=20000)
            assert "Connection to the box lost" in await page.inner_text("#connection-banner")
            assert await page.evaluate(NO_SIDEWAYS_SCROLL)
            await save_screenshots(page, "console-events-connection-lost")

            runner = EdgeRunner(config)
            await runner.start()
            await page.wait_for_selector("#connection-banner", state="hidden", timeout=20000)
            entry = await runner.app[keys.JOURNAL].record("event", {"type": "note"}, source="test", summary="back")
            await page.locator(f'#timeline li[data-event-id="{entry.id}"]').wait_for(timeout=5000)
            assert await page.evaluate("window.notReloaded === true")
            await page.close()
    finally:
        await runner.stop()
