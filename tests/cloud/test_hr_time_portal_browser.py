"""The HR time pages in headless Chromium on a phone: an `hr` user adds a site holiday, requests and approves
leave, puts a person on nights for a day, sees the holiday in the attendance grid, and submits a week's timesheet;
approving their own submission is refused, another HR user (the manager) approves it; screenshots of each page."""

from __future__ import annotations

import re
from datetime import timedelta
from pathlib import Path

import httpx
import pytest
from cloud_helpers import PASSWORD
from hr_helpers import DAY, two_depots
from playwright.async_api import Browser, Page, expect

from cloud.admin import create_user
from cloud.app import RunningCloud
from tests.browser import PHONE
from tests.screenshots import save_screenshots

pytestmark = [pytest.mark.browser, pytest.mark.timeout(180)]
TUE, WED, THU = (DAY + timedelta(days=n) for n in (1, 2, 3))


@pytest.fixture
def db_url(tmp_path: Path) -> str:
    """SQLite only here: the HR queries run on both backends in test_hr_time_api."""
    return f"sqlite+aiosqlite:///{tmp_path / 'cloud-test.db'}"


async def log_in(browser: Browser, url: str, email: str) -> Page:
    context = await browser.new_context(viewport=PHONE, base_url=url)
    page = await context.new_page()
    await page.goto("/login")
    await page.get_by_label("E-mail").fill(email)
    await page.get_by_label("Password").fill(PASSWORD)
    await page.get_by_role("button", name="Log in").click()
    await expect(page).to_have_url(re.compile(r"/portal$"))
    return page


async def test_holidays_leave_rosters_and_timesheet_approval_pages(
    cloud: RunningCloud, http: httpx.AsyncClient, browser: Browser
) -> None:
    depots = await two_depots(cloud, http)
    await create_user(cloud.db, depots.tenant_id, "manager@acme.example", PASSWORD, role="hr")
    bad = await http.post("/portal/hr/leave", data={"csrf_token": depots.csrf, "person_id": depots.ids["Dan"]})
    assert bad.status_code == 400 and "first_day" in bad.text
    page = await log_in(browser, cloud.url, "hr@acme.example")
    await page.get_by_role("link", name="Attendance").click()
    nav = page.locator("#hr-nav")

    await nav.get_by_role("link", name="Holidays").click()
    await page.get_by_label("Site").select_option(label="Depot A")
    await page.get_by_label("Day").fill(TUE.isoformat())
    await page.get_by_label("Name").fill("St Andrew's Day")
    await page.get_by_role("button", name="Add holiday").click()
    await expect(page.locator("#holidays tbody tr")).to_have_count(1)
    await expect(page.locator("#holidays")).to_contain_text("St Andrew's Day")
    await save_screenshots(page, "hq-hr-holidays")

    await nav.get_by_role("link", name="Leave").click()
    await page.get_by_label("Person").select_option(label="Dan")
    await page.get_by_label("Type").select_option("annual")
    await page.get_by_label("First day").fill(WED.isoformat())
    await page.get_by_label("Last day").fill(WED.isoformat())
    await page.get_by_label("Note").fill("Family visit")
    await page.get_by_role("button", name="Request leave").click()
    leave_row = page.locator("#leave tbody tr").first
    await expect(leave_row.get_by_test_id("status")).to_have_text("requested")
    await leave_row.get_by_role("button", name="Approve leave of Dan").click()
    await expect(leave_row.get_by_test_id("status")).to_contain_text("approved by hr@acme.example")
    await save_screenshots(page, "hq-hr-leave")

    await nav.get_by_role("link", name="Rosters").click()
    await page.get_by_label("Person").select_option(label="Dan")
    await page.get_by_label("Shift").select_option("night")
    await page.get_by_label("From").fill(THU.isoformat())
    await page.get_by_label("Until").fill(THU.isoformat())
    await page.get_by_role("button", name="Add to roster").click()
    await expect(page.locator("#rosters tbody tr")).to_have_count(1)
    await expect(page.locator("#rosters")).to_contain_text("Night")
    await save_screenshots(page, "hq-hr-rosters")

    dan = f"tr[data-person='{depots.ids['Dan']}']"
    for day, text in ((TUE, "holiday: St Andrew's Day"), (WED, "leave: annual")):
        await page.goto(f"/portal/attendance?day={day.isoformat()}")
        await expect(page.locator(dan).locator("td").nth(3)).to_have_text(text)
    await page.goto(f"/portal/attendance?day={THU.isoformat()}")
    await expect(page.locator(dan).locator("td").nth(2)).to_have_text("Night")

    await page.locator("#hr-nav").get_by_role("link", name="Timesheets").click()
    await page.get_by_label("Period").select_option("week")
    await page.get_by_label("Starting").fill(DAY.isoformat())
    await page.get_by_role("button", name="Show").click()
    ben = page.locator(f"tr[data-person='{depots.ids['Ben']}']")
    await expect(ben.get_by_test_id("status")).to_have_text("draft")
    await expect(ben.get_by_test_id("overtime")).to_have_text("0:09")  # 8:09 on Monday, over 8:00
    await expect(page.locator(dan).locator("td").nth(5)).to_have_text("1")  # leave days
    await ben.get_by_role("button", name="Submit Ben").click()
    await expect(ben.get_by_test_id("status")).to_contain_text("submitted")
    await ben.get_by_role("button", name="Approve Ben").click()
    await expect(page.get_by_role("alert")).to_contain_text("cannot approve")
    await expect(ben.get_by_test_id("status")).to_contain_text("submitted")
    await page.context.close()

    manager = await log_in(browser, cloud.url, "manager@acme.example")
    await manager.goto(f"/portal/hr/timesheets?period=week&start={DAY.isoformat()}")
    ben = manager.locator(f"tr[data-person='{depots.ids['Ben']}']")
    await ben.get_by_label("Note for Ben").fill("Checked with the depot")
    await ben.get_by_role("button", name="Approve Ben").click()
    await expect(ben.get_by_test_id("status")).to_contain_text(
        "approved by manager@acme.example: Checked with the depot"
    )
    await save_screenshots(manager, "hq-hr-timesheets")
    csv_link = manager.get_by_role("link", name="Payroll CSV")
    exported = await manager.request.get(await csv_link.get_attribute("href") or "")
    assert "approved" in await exported.text()
    await manager.context.close()
