"""A person's attendance timeline in headless Chromium on a phone: from the day grid to Cleo's timeline (bars on a
24 h axis, the missing exit flagged, the correction marked), a bad range refused, on to a day's page and back, and
from the person's page; screenshots at 390 and 1280 px."""

from __future__ import annotations

import re
from datetime import timedelta
from pathlib import Path

import httpx
import pytest
from cloud_helpers import PASSWORD
from hr_helpers import DAY, put, two_depots
from playwright.async_api import Browser, expect

from cloud.app import RunningCloud
from tests.browser import PHONE
from tests.screenshots import save_screenshots

pytestmark = [pytest.mark.browser, pytest.mark.timeout(120)]


@pytest.fixture
def db_url(tmp_path: Path) -> str:
    """SQLite only here: the timeline queries run on both backends in test_hr_timeline_api."""
    return f"sqlite+aiosqlite:///{tmp_path / 'cloud-test.db'}"


async def test_person_timeline_page(cloud: RunningCloud, http: httpx.AsyncClient, browser: Browser) -> None:
    depots = await two_depots(cloud, http)
    cleo, ada = depots.ids["Cleo"], depots.ids["Ada"]
    tuesday = DAY + timedelta(days=1)
    fix = {"worked_minutes": 540, "reason": "Forgot to badge out"}
    await put(http, depots.csrf, f"/api/v1/hr/people/{cleo}/days/{tuesday.isoformat()}", fix)
    context = await browser.new_context(viewport=PHONE, base_url=cloud.url)
    page = await context.new_page()
    await page.goto("/login")
    await page.get_by_label("E-mail").fill("hr@acme.example")
    await page.get_by_label("Password").fill(PASSWORD)
    await page.get_by_role("button", name="Log in").click()
    await expect(page).to_have_url(re.compile(r"/portal$"))

    await page.goto(f"/portal/attendance?day={DAY.isoformat()}")
    await page.get_by_role("link", name="Cleo's timeline").click()
    await expect(page).to_have_url(re.compile(rf"/portal/attendance/{cleo}\?end={DAY.isoformat()}$"))
    await expect(page.get_by_role("heading", name="Cleo")).to_be_visible()
    await expect(page.locator("#timeline tbody tr[data-day]")).to_have_count(14)
    await page.get_by_label("To").fill(tuesday.isoformat())
    await page.get_by_role("button", name="Show").click()
    monday = page.locator(f"tr[data-day='{DAY.isoformat()}']")
    await expect(monday).to_have_class(re.compile("status-incomplete"))
    await expect(monday.locator("td.missing")).to_have_text("no exit for 07:55")
    await expect(monday.locator(".tl-miss")).to_have_count(1)
    await expect(monday.locator(".tl-shift")).to_have_attribute("title", "shift 08:00-17:00")
    tuesday_row = page.locator(f"tr[data-day='{tuesday.isoformat()}']")
    await expect(tuesday_row.locator("td.counted")).to_contain_text("9:00 corrected")
    await expect(tuesday_row.locator("td").nth(1)).to_have_text("absent")
    await save_screenshots(page, "hq-attendance-timeline")

    await page.get_by_label("From").fill(tuesday.isoformat())
    await page.get_by_label("To").fill(DAY.isoformat())
    await page.get_by_role("button", name="Show").click()
    await expect(page.get_by_role("alert")).to_contain_text("end is before start")

    await page.goto(f"/portal/attendance/{ada}?start={DAY.isoformat()}&end={tuesday.isoformat()}")
    night = page.locator(f"tr[data-day='{DAY.isoformat()}']")
    await expect(night.locator(".tl-bar.spills")).to_have_count(1)  # 21:57 to 06:02 runs past midnight
    await expect(night.locator(".pairs")).to_have_text("21:57-06:02 (+1)")
    await expect(night).to_contain_text("8:05")
    await night.get_by_role("link", name=re.compile(DAY.isoformat())).click()
    await expect(page).to_have_url(re.compile(rf"/portal/attendance/{ada}/{DAY.isoformat()}$"))
    await page.get_by_role("link", name="Ada's timeline").click()
    await expect(page.get_by_role("heading", name="Ada")).to_be_visible()

    await page.goto(f"/portal/people/{cleo}")
    await page.locator("#timeline-link").click()
    await expect(page).to_have_url(re.compile(rf"/portal/attendance/{cleo}$"))
    await expect(page.locator("#timeline tbody tr[data-day]")).to_have_count(14)
    await context.close()
