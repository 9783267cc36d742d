"""The attendance day grid in headless Chromium on a phone: an `hr` user picks the day and a site, sees the night
shift, the person at two sites who came late, the missing exit and the absence; screenshots of the page."""

from __future__ import annotations

import re
from pathlib import Path

import httpx
import pytest
from cloud_helpers import PASSWORD
from hr_helpers import DAY, two_depots
from playwright.async_api import Browser, expect

from cloud.app import RunningCloud
from tests.browser import PHONE
from tests.screenshots import save_screenshots

pytestmark = [pytest.mark.browser, pytest.mark.timeout(120)]


@pytest.fixture
def db_url(tmp_path: Path) -> str:
    """SQLite only here: the attendance queries run on both backends in test_hr_api."""
    return f"sqlite+aiosqlite:///{tmp_path / 'cloud-test.db'}"


async def test_attendance_day_grid_page(cloud: RunningCloud, http: httpx.AsyncClient, browser: Browser) -> None:
    depots = await two_depots(cloud, http)
    form_path = f"/portal/attendance/{depots.ids['Cleo']}/{DAY.isoformat()}"
    no_reason = await http.post(form_path, data={"csrf_token": depots.csrf, "worked_minutes": "540", "reason": ""})
    assert no_reason.status_code == 400 and "reason" in no_reason.text
    context = await browser.new_context(viewport=PHONE, base_url=cloud.url)
    page = await context.new_page()
    await page.goto("/login")
    await page.get_by_label("E-mail").fill("hr@acme.example")
    await page.get_by_label("Password").fill(PASSWORD)
    await page.get_by_role("button", name="Log in").click()
    await expect(page).to_have_url(re.compile(r"/portal$"))

    await page.get_by_role("link", name="Attendance").click()
    await page.get_by_label("Day").fill(DAY.isoformat())
    await page.get_by_role("button", name="Show").click()

    grid = page.locator("#attendance")
    ada = grid.locator(f"tr[data-person='{depots.ids['Ada']}']")
    ben = grid.locator(f"tr[data-person='{depots.ids['Ben']}']")
    cleo = grid.locator(f"tr[data-person='{depots.ids['Cleo']}']")
    dan = grid.locator(f"tr[data-person='{depots.ids['Dan']}']")
    await expect(ada).to_contain_text("21:57")
    await expect(ada).to_contain_text("06:02")
    await expect(ada).to_contain_text("8:05")
    await expect(ben).to_contain_text("8:09")
    await expect(ben.locator("td").nth(9)).to_have_text("12")
    await expect(cleo).to_contain_text("no exit for 07:55")
    await expect(dan.locator("td").nth(3)).to_have_text("absent")
    await expect(page.locator("#attendance-counts")).to_contain_text("2 present, 1 with a missing punch, 1 absent")

    await cleo.get_by_role("link", name="Cleo", exact=True).click()
    await expect(page.locator("#missing-punches")).to_contain_text("no exit for 07:55")
    await page.get_by_label("Minutes to count").fill("540")
    await page.get_by_label("Reason").fill("Forgot to badge out")
    await save_screenshots(page, "hq-attendance-person-day")
    await page.get_by_role("button", name="Save correction").click()
    await expect(page).to_have_url(re.compile(r"/portal/attendance\?day="))
    await expect(cleo).to_contain_text("9:00 (corrected by hr@acme.example: Forgot to badge out)")
    await expect(cleo).to_contain_text("no exit for 07:55")  # the badges stay as they were
    await save_screenshots(page, "hq-attendance")

    await page.get_by_label("Site").select_option(label="Depot B")
    await page.get_by_role("button", name="Show").click()
    await expect(grid.locator("tbody tr")).to_have_count(1)
    await expect(ben).to_be_visible()
    await context.close()
