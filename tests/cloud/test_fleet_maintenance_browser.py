"""The maintenance board in headless Chromium on a phone: a `fleet` user sees the alerts (insurance expiring, a
lock check due), turns a dying lock battery into a work order with one tap, completes it with its cost, and adds
a schedule through the form; screenshots of the board."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pytest
from cloud_helpers import PASSWORD
from fleet_helpers import FLEET_USER, yard
from hr_helpers import put, sync
from playwright.async_api import Browser, expect
from test_fleet_maintenance_api import battery

from cloud.app import RunningCloud
from tests.browser import PHONE
from tests.screenshots import save_screenshots

pytestmark = [pytest.mark.browser, pytest.mark.timeout(120)]


@pytest.fixture
def db_url(tmp_path: Path) -> str:
    """SQLite only here: the maintenance queries run on both backends in test_fleet_maintenance_api."""
    return f"sqlite+aiosqlite:///{tmp_path / 'cloud-test.db'}"


async def test_maintenance_board_page(cloud: RunningCloud, http: httpx.AsyncClient, browser: Browser) -> None:
    depots = await yard(cloud, http)
    a = depots.depot_a.site_id
    today = datetime.now(UTC).date()
    lock = {"name": "Yard lock check", "site_id": a, "device_id": "lock-1", "every_days": 90}
    await put(
        http,
        depots.csrf,
        "/api/v1/fleet/schedules/lock-check",
        {**lock, "last_done_on": str(today - timedelta(days=85))},
    )
    await sync(
        http,
        depots.depot_a,
        [battery(21, "lock-7", 10, 40), battery(22, "lock-7", 5, 30), battery(23, "lock-7", 1, 22)],
    )
    bad_cost = await http.post(
        "/portal/fleet/maintenance/work-orders",
        data={"csrf_token": depots.csrf, "title": "X", "vehicle_id": "van-1", "cost": "lots"},
    )
    assert bad_cost.status_code == 400 and "cost" in bad_cost.text

    context = await browser.new_context(viewport=PHONE, base_url=cloud.url)
    page = await context.new_page()
    await page.goto("/login")
    await page.get_by_label("E-mail").fill(FLEET_USER)
    await page.get_by_label("Password").fill(PASSWORD)
    await page.get_by_role("button", name="Log in").click()
    await expect(page).to_have_url(re.compile(r"/portal$"))
    await page.get_by_role("link", name="Maintenance").click()

    alerts = page.locator("#alerts")
    await expect(alerts.locator("li[data-ref='van-2/insurance']")).to_contain_text("expires in 10 days")
    await expect(alerts.locator("li[data-ref='lock-check']")).to_contain_text("due in 5 days")
    await expect(alerts.locator("li[data-kind='battery']")).to_contain_text("battery of lock-7 at 22%")
    card = page.locator("#battery div[data-device='lock-7']")
    await expect(card).to_contain_text("2.0 points a day")
    await save_screenshots(page, "hq-fleet-maintenance")
    await card.get_by_role("button", name="Create work order").click()

    await expect(page.locator("#battery div[data-device='lock-7']")).to_contain_text("Work order open")
    await expect(alerts.locator("li[data-kind='battery']")).to_have_count(0)
    order = page.locator("form[data-work-order='Replace the battery of lock-7']")
    await order.get_by_label("Replace the battery").check()
    await order.get_by_label("Status").select_option("done")
    await order.get_by_label("Assignee").fill("Tech Team Nord")
    await order.get_by_label("Cost").fill("18.90")
    await order.get_by_role("button", name="Save").click()
    await expect(order.get_by_label("Status")).to_have_value("done")
    await expect(order.get_by_label("Cost")).to_have_value("18.90")
    await expect(order.get_by_label("Replace the battery")).to_be_checked()

    form = page.locator("#new-schedule")
    await form.get_by_label("Schedule id").fill("van3-service")
    await form.get_by_label("Name").fill("Van 3 service")
    await form.get_by_label("Vehicle").select_option(label="Van 3 (MXY808)")
    await form.get_by_label("Every N gate trips").fill("400")
    await form.get_by_label("Last done on").fill(today.isoformat())
    await form.get_by_role("button", name="Save schedule").click()
    await expect(page.locator("#schedules tr[data-schedule='van3-service']")).to_contain_text("ok: 0 of 400 trips")
    await save_screenshots(page, "hq-fleet-maintenance-after")
    await context.close()
