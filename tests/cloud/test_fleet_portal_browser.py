"""The fleet pages in headless Chromium on a phone: a `fleet` user adds a van through the form, sees the register
with the expiring insurance and the current driver, and the gate log with time on site, the misread plate
matched with its confidence and the unknown plate flagged; screenshots of both pages."""

from __future__ import annotations

import re
from pathlib import Path

import httpx
import pytest
from cloud_helpers import PASSWORD
from fleet_helpers import DAY, FLEET_USER, yard
from playwright.async_api import Browser, expect

from cloud.app import RunningCloud
from tests.browser import PHONE
from tests.screenshots import save_screenshots

pytestmark = [pytest.mark.browser, pytest.mark.timeout(120)]


@pytest.fixture
def db_url(tmp_path: Path) -> str:
    """SQLite only here: the fleet queries run on both backends in test_fleet_api."""
    return f"sqlite+aiosqlite:///{tmp_path / 'cloud-test.db'}"


async def test_vehicles_and_gate_log_pages(cloud: RunningCloud, http: httpx.AsyncClient, browser: Browser) -> None:
    depots = await yard(cloud, http)
    taken = await http.post(
        "/portal/fleet/vehicles", data={"csrf_token": depots.csrf, "id": "van-9", "plate": "BAB1234", "type": "van"}
    )
    assert taken.status_code == 409 and "belongs to vehicle van-1" in taken.text
    context = await browser.new_context(viewport=PHONE, base_url=cloud.url)
    page = await context.new_page()
    await page.goto("/login")
    await page.get_by_label("E-mail").fill(FLEET_USER)
    await page.get_by_label("Password").fill(PASSWORD)
    await page.get_by_role("button", name="Log in").click()
    await expect(page).to_have_url(re.compile(r"/portal$"))

    await page.get_by_role("link", name="Vehicles").click()
    table = page.locator("#vehicles")
    await expect(table.locator("tr[data-vehicle='van-1']")).to_contain_text("Ben")
    await expect(table.locator("tr[data-vehicle='van-2']")).to_contain_text("expires in 10 d")
    form = page.locator("#vehicle-form")
    await form.get_by_label("Vehicle id").fill("van-4")
    await form.get_by_label("Plate").fill("hh-cd 42")
    await form.get_by_label("Name").fill("Van 4")
    await form.get_by_label("Home site").select_option(label="Depot B")
    await form.get_by_role("button", name="Save vehicle").click()
    await expect(table.locator("tr[data-vehicle='van-4']")).to_contain_text("HHCD42")
    await expect(table.locator("tr[data-vehicle='van-4']")).to_contain_text("Depot B")
    await save_screenshots(page, "hq-fleet-vehicles")

    # The new van's page: its insurance and a driver; a second driver overlapping the first is refused.
    await table.locator("tr[data-vehicle='van-4']").get_by_role("link", name="HHCD42").click()
    documents = page.locator("#document-form")
    await documents.get_by_label("Kind").fill("insurance")
    await documents.get_by_label("Number").fill("INS-4")
    await documents.get_by_label("Valid until").fill("2027-06-30")
    await documents.get_by_role("button", name="Save document").click()
    await expect(page.locator("#documents li[data-kind='insurance']")).to_contain_text("INS-4: until 2027-06-30")
    assign = page.locator("#assignment-form")
    await assign.get_by_label("Driver").select_option(label="Ada")
    await assign.get_by_label("From").fill("2026-12-01T08:00")
    await assign.get_by_label("Until (empty: open-ended)").fill("2026-12-01T17:00")
    await assign.get_by_role("button", name="Assign").click()
    await expect(page.locator("#drivers tbody tr")).to_have_count(1)
    await expect(page.locator("#drivers")).to_contain_text("Ada")
    await expect(page.locator("#drivers")).to_contain_text("2026-12-01 08:00")  # Depot B's (Berlin) time
    await assign.get_by_label("Driver").select_option(label="Ben")
    await assign.get_by_label("From").fill("2026-12-01T16:00")
    await assign.get_by_role("button", name="Assign").click()
    await expect(page.get_by_role("alert")).to_contain_text("overlaps assignment")
    await expect(page.locator("#drivers tbody tr")).to_have_count(1)
    await save_screenshots(page, "hq-fleet-vehicle")

    await page.get_by_role("link", name="Gate log").first.click()
    await page.get_by_label("From").fill(DAY.isoformat())
    await page.get_by_label("To").fill(DAY.isoformat())
    await page.get_by_role("button", name="Show").click()
    reads = page.locator("#reads")
    await expect(reads.locator("tr[data-read='MXYB08']")).to_contain_text("one character off, 90% sure")
    await expect(reads.locator("tr[data-read='MXYB08']")).to_contain_text("07:15")  # Berlin time, as synced (06:15 UTC)
    await expect(reads.locator("tr[data-read='ZZ9999']")).to_contain_text("unknown")
    await expect(reads.locator("tr[data-read='BAB1236']")).to_contain_text("ambiguous")
    await expect(page.locator("#visits tr[data-plate='MXY808']")).to_contain_text("8:30")
    await expect(page.locator("#gate-log-counts")).to_contain_text("2 unknown or ambiguous")
    await save_screenshots(page, "hq-fleet-gate-log")

    await page.get_by_label("Site").select_option(label="Depot B")
    await page.get_by_role("button", name="Show").click()
    await expect(page.locator("#visits tbody tr")).to_have_count(1)

    # Depot B's camera is marked as an entry gate: both of van 1's reads there become arrivals.
    gate = page.locator("#gate-form")
    await gate.get_by_label("Gate at").select_option(label="Depot B")
    await gate.get_by_label("Gate (door id)").fill("gate")
    await gate.get_by_label("Direction").select_option("in")
    await gate.get_by_role("button", name="Save gate").click()
    await expect(page.locator("#gates li[data-gate='gate']")).to_contain_text("Depot B / gate: in")
    await page.get_by_label("From").fill(DAY.isoformat())
    await page.get_by_label("To").fill(DAY.isoformat())
    await page.get_by_label("Site").select_option(label="Depot B")
    await page.get_by_role("button", name="Show").click()
    await expect(page.locator("#visits tbody tr")).to_have_count(2)
    await expect(page.locator("#reads tbody tr td:nth-child(6)")).to_have_text(["arrival", "arrival"])
    await context.close()
