"""Doors and schedules in headless Chromium: an admin changes a schedule in the week grid from the keyboard and
unlocks a door; a guard unlocks but sees no editing; screenshots at 390 px and 1280 px."""

from __future__ import annotations

from pathlib import Path

import pytest
from playwright.async_api import Page

from edge import keys
from edge.app import EdgeRunner
from edge.config import EdgeConfig
from edge.web.auth import CONSOLE_AUTH
from tests.browser import PHONE, chromium
from tests.edge.console import browser_login
from tests.edge.web.test_doors_console import doors_site
from tests.polling import eventually
from tests.screenshots import save_screenshots

pytestmark = pytest.mark.browser
DOOR = '.door[data-door="front"]'


@pytest.fixture
def edge_config(tmp_path: Path) -> EdgeConfig:
    """The test site with schedules (overrides the edge conftest's)."""
    return EdgeConfig.model_validate(doors_site(tmp_path / "edge"))


async def _no_sideways_scroll(page: Page) -> None:
    assert not await page.evaluate("document.documentElement.scrollWidth > window.innerWidth")


async def test_admin_changes_a_schedule_and_unlocks_a_door(edge_app: EdgeRunner, devices) -> None:
    await devices("lock-front", "lock")
    state = edge_app.app[keys.SITE_STATE]
    await eventually(lambda: state.doors["front"].lock_online)
    base = f"http://127.0.0.1:{edge_app.web_port}"
    async with chromium() as browser:
        page = await browser.new_page(viewport=PHONE)
        await browser_login(page, base)
        await page.wait_for_selector("#doors")
        await page.click("a.nav[href='/doors']")
        await page.wait_for_selector(f"{DOOR} .state-locked", timeout=5000)
        await _no_sideways_scroll(page)
        await save_screenshots(page, "console-doors")

        # The week grid: a typo first (shown next to its range), then Saturday morning added from the keyboard.
        await page.click("a[href='/schedules/office']")
        await page.get_by_label("Saturday range 1 start").fill("09:00")
        await page.get_by_label("Monday range 2 start").fill("17:00")
        await page.get_by_label("Monday range 2 end").fill("19:00")
        await page.click("button:has-text('Save schedule')")
        overlap = page.locator("#error-mon-1")
        await overlap.wait_for()
        assert "overlaps 08:00-18:00" in await overlap.inner_text()
        assert "both a start and an end" in await page.inner_text("#error-sat-0")
        await _no_sideways_scroll(page)
        await save_screenshots(page, "console-schedule-errors")
        await page.get_by_label("Monday range 2 start").fill("")
        await page.get_by_label("Monday range 2 end").fill("")
        end = page.get_by_label("Saturday range 1 end")
        await end.focus()
        await page.keyboard.type("1300")  # a time input takes digits from the keyboard
        assert await end.input_value() == "13:00"
        await page.get_by_label("public").check()
        await page.keyboard.press("Enter")
        await page.wait_for_url("**/doors?saved=schedule+office*")
        assert "Saved: schedule office" in await page.inner_text("main")
        assert await page.locator('[data-schedule="office"] .bar-on').count() == 6  # Mon-Fri and Saturday
        view = await edge_app.app[keys.POLICY].view()
        saturday = [w for w in view.effective.schedules["office"].windows if "sat" in w.days]
        assert [(w.start.isoformat(), w.end.isoformat()) for w in saturday] == [("09:00:00", "13:00:00")]
        await page.click("a[href='/schedules/office']")
        await _no_sideways_scroll(page)
        await save_screenshots(page, "console-schedule-week-grid")

        # Unlock the front door from the doors page.
        await page.goto(base + "/doors")
        await page.click(f'{DOOR} button[data-action="unlock"]')
        await page.wait_for_selector(f"{DOOR} .state-unlocked", timeout=5000)
        await page.click("a[href='/doors/front/settings']")
        await page.get_by_label("Unlock time (s)").fill("0")
        await page.click("button:has-text('Save settings')")
        assert "greater than 0" in await page.inner_text("#error-unlock_s")
        await page.get_by_label("Unlock time (s)").fill("6")
        await page.get_by_label("Card and PIN").check()
        await save_screenshots(page, "console-door-settings")
        await page.click("button:has-text('Save settings')")
        await page.wait_for_url("**/doors?saved=door+front*")
        assert "card and PIN" in await page.inner_text(DOOR)
        await page.close()

        # A guard unlocks from the doors page; the settings are read-only and no editing is offered.
        await edge_app.app[CONSOLE_AUTH].create_user("gina", "guard-password-1", "guard")
        page = await browser.new_page(viewport=PHONE)
        await browser_login(page, base, "guard-password-1", "gina")
        await page.wait_for_selector("#doors")
        await page.goto(base + "/doors")
        assert await page.locator("a[href='/schedules/new']").count() == 0
        await page.click(f'{DOOR} button[data-action="lock"]')
        await page.wait_for_selector(f"{DOOR} .state-locked", timeout=5000)
        await page.click("a[href='/schedules/office']")
        assert await page.locator("button:has-text('Save schedule')").count() == 0
        assert await page.get_by_label("Saturday range 1 start").is_disabled()
        await save_screenshots(page, "console-schedule-guard")
        await page.close()
