"""The portal in headless Chromium, on a phone-sized screen: log in, read the site list, create a code."""

from __future__ import annotations

import re
from pathlib import Path

import httpx
import pytest
from cloud_helpers import TenantFixture, make_batch, send_batch
from playwright.async_api import Browser, expect

from cloud.app import RunningCloud
from sync.wire import EnrollResponse
from tests.browser import PHONE

pytestmark = pytest.mark.browser


@pytest.fixture
def db_url(tmp_path: Path) -> str:
    """SQLite only here: the database paths are covered on both backends by the other tests."""
    return f"sqlite+aiosqlite:///{tmp_path / 'cloud-test.db'}"


async def test_admin_logs_in_sees_sites_and_creates_a_code(
    cloud: RunningCloud,
    http: httpx.AsyncClient,
    tenant: TenantFixture,
    site: EnrollResponse,
    browser: Browser,
) -> None:
    await send_batch(http, site, make_batch(site.site_id, [1, 2, 3], kind="event"))
    await send_batch(http, site, make_batch(site.site_id, [4], kind="device_status"))
    context = await browser.new_context(viewport=PHONE, base_url=cloud.url)
    page = await context.new_page()
    external: list[str] = []
    page.on("request", lambda req: None if req.url.startswith(cloud.url) else external.append(req.url))

    await page.goto("/portal")  # not logged in: sent to the login form
    await expect(page).to_have_url(re.compile(r"/login$"))
    await page.get_by_label("E-mail").fill(tenant.admin_email)
    await page.get_by_label("Password").fill("wrong password")
    await page.get_by_role("button", name="Log in").click()
    await expect(page.get_by_role("alert")).to_contain_text("Wrong e-mail or password")
    await page.get_by_label("E-mail").fill(tenant.admin_email)
    await page.get_by_label("Password").fill(tenant.admin_password)
    await page.get_by_role("button", name="Log in").click()

    await expect(page).to_have_url(re.compile(r"/portal$"))
    card = page.locator(f'section.site[data-site-id="{site.site_id}"]')
    await expect(card.get_by_role("link", name="Warehouse")).to_be_visible()
    await expect(card.locator('tr[data-kind="event"] td').nth(1)).to_have_text("3")
    await expect(card.locator('tr[data-kind="device_status"] td').nth(1)).to_have_text("1")
    assert await page.evaluate("document.documentElement.scrollWidth <= window.innerWidth")

    await page.get_by_label("Site name").fill("Loading Dock")
    await page.get_by_role("button", name="Create code").click()

    code = page.get_by_test_id("enrollment-code")
    await expect(code).to_have_text(re.compile(r"^[A-Z2-9]{4}(-[A-Z2-9]{4}){3}$"))
    await expect(page.locator("#new-code")).to_contain_text("Loading Dock")

    await card.get_by_role("link", name="Warehouse").click()
    await expect(page.get_by_role("heading", name="Warehouse")).to_be_visible()
    await expect(page.locator("tbody tr")).to_have_count(4)

    await page.get_by_role("button", name="Log out").click()
    await expect(page).to_have_url(re.compile(r"/login$"))
    await context.close()
    assert external == []
