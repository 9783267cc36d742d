"""The events timeline in headless Chromium: a guard on a phone filters by door and kind with the keyboard and the
labelled fields, sees the door frame beside the denied badge with its reason in words and opens it; a viewer pages
to older events and opens a camera record; nothing scrolls sideways at 390 px; screenshots at 390 and 1280 px."""

from __future__ import annotations

from pathlib import Path

import pytest

from edge.app import EdgeRunner
from edge.config import EdgeConfig
from edge.web.auth import CONSOLE_AUTH
from tests.browser import PHONE, chromium
from tests.edge.console import browser_login
from tests.edge.web.events_site import events_site_config, seed_site
from tests.screenshots import save_screenshots

pytestmark = pytest.mark.browser
NO_SIDEWAYS_SCROLL = "document.documentElement.scrollWidth <= window.innerWidth"


@pytest.fixture
def edge_config(tmp_path: Path) -> EdgeConfig:
    return events_site_config(tmp_path / "edge")


async def test_guard_and_viewer_use_the_timeline(edge_app: EdgeRunner, vtest_path: Path) -> None:
    history = await seed_site(edge_app, vtest_path, 300)
    auth = edge_app.app[CONSOLE_AUTH]
    await auth.create_user("gina", "guard-password-1", "guard")
    await auth.create_user("victor", "viewer-password-1", "viewer")
    base = f"http://127.0.0.1:{edge_app.web_port}"
    async with chromium() as browser:
        page = await browser.new_page(viewport=PHONE)
        await browser_login(page, base, "guard-password-1", "gina")
        await page.wait_for_selector("#doors")
        await page.click("a.nav[href='/events']")
        await page.wait_for_selector("#timeline")
        assert await page.evaluate(NO_SIDEWAYS_SCROLL)
        await save_screenshots(page, "console-events-guard")

        # Filter with the labelled fields, submitting from the keyboard.
        await page.get_by_label("Door").select_option("front")
        await page.get_by_label("Kind").select_option("audit")
        await page.get_by_label("Person").focus()
        await page.keyboard.press("Enter")
        await page.wait_for_url("**/events?*door=front*")
        items = page.locator("#timeline li")
        assert await items.count() > 0
        kinds = set(await page.locator("#timeline li").evaluate_all("els => els.map(e => e.dataset.kind)"))
        assert kinds == {"audit"}
        badge = page.locator(f'#timeline li[data-event-id="{history.door_record.id}"]')
        assert "Not opened: unknown card" in await badge.inner_text()
        thumb = badge.locator("img")
        await thumb.wait_for()
        assert await thumb.evaluate("i => i.complete && i.naturalWidth") == 160
        assert await page.evaluate(NO_SIDEWAYS_SCROLL)
        await save_screenshots(page, "console-events-filtered")

        # Open it from the keyboard: the detail shows the full frame and the reason.
        await badge.locator(".event-summary a").focus()
        await page.keyboard.press("Enter")
        await page.wait_for_url(f"**/events/{history.door_record.id}")
        image = page.locator(".event-image img")
        await image.wait_for()
        assert await image.evaluate("i => i.complete && i.naturalWidth") > 160
        assert "unknown card" in await page.inner_text(".detail-reason")
        assert await page.evaluate(NO_SIDEWAYS_SCROLL)
        await save_screenshots(page, "console-event-detail")
        await page.close()

        # A viewer pages back through the history, then opens the camera record with its snapshot.
        page = await browser.new_page(viewport=PHONE)
        await browser_login(page, base, "viewer-password-1", "victor")
        await page.wait_for_selector("#doors")
        await page.goto(base + "/events")
        first = await page.locator("#timeline li").first.get_attribute("data-event-id")
        await page.click("a[rel=next]")
        await page.wait_for_url("**/events?*before=*")
        assert await page.locator(f'#timeline li[data-event-id="{first}"]').count() == 0
        await page.click("a[rel=prev]")
        await page.wait_for_url("**/events?*after=*")
        assert await page.locator("#timeline li").first.get_attribute("data-event-id") == first
        await page.get_by_label("Camera").select_option("plaza")
        await page.click("button:has-text('Show events')")
        camera = page.locator(f'#timeline li[data-event-id="{history.camera_record.id}"]')
        await camera.locator("img").wait_for()
        await camera.locator(".event-summary a").click()
        await page.locator(".event-image img").wait_for()
        assert "Plaza" in await page.inner_text(".event-facts")
        await save_screenshots(page, "console-event-detail-camera")
        await page.close()
