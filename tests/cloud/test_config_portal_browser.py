"""The people, badges and policy pages in headless Chromium on a phone-sized screen."""

from __future__ import annotations

import re
from pathlib import Path

import httpx
import pytest
from cloud_helpers import TenantFixture
from config_helpers import document, pull
from playwright.async_api import Browser, expect

from cloud.app import RunningCloud
from sync.wire import EnrollResponse
from tests.browser import PHONE

pytestmark = pytest.mark.browser


@pytest.fixture
def db_url(tmp_path: Path) -> str:
    """SQLite only here: the database paths are covered on both backends by the other tests."""
    return f"sqlite+aiosqlite:///{tmp_path / 'cloud-test.db'}"


async def test_admin_adds_a_person_with_a_badge_revokes_it_and_edits_a_level(
    cloud: RunningCloud,
    http: httpx.AsyncClient,
    tenant: TenantFixture,
    site: EnrollResponse,
    browser: Browser,
) -> None:
    context = await browser.new_context(viewport=PHONE, base_url=cloud.url)
    page = await context.new_page()
    await page.goto("/login")
    await page.get_by_label("E-mail").fill(tenant.admin_email)
    await page.get_by_label("Password").fill(tenant.admin_password)
    await page.get_by_role("button", name="Log in").click()
    await expect(page).to_have_url(re.compile(r"/portal$"))

    await page.get_by_role("link", name="People").click()
    await expect(page.get_by_role("heading", name="People and badges")).to_be_visible()
    await page.get_by_label("Name").fill("Ada Lovelace")
    await page.get_by_label("Badge number").fill("26:1234")
    await page.get_by_label("Warehouse").check()
    await page.get_by_role("button", name="Add person").click()

    await expect(page.get_by_role("heading", name="Ada Lovelace")).to_be_visible()
    badge_row = page.locator('tr[data-badge="26:1234"]')
    await expect(badge_row).to_contain_text("active")
    assert await page.evaluate("document.documentElement.scrollWidth <= window.innerWidth")
    doc = document(site, await pull(http, site, 0))
    assert [(c.number, c.active) for c in doc.people[0].credentials] == [("26:1234", True)]

    await page.get_by_role("button", name="Revoke 26:1234").click()
    await expect(badge_row).to_contain_text("revoked")
    revoked = document(site, await pull(http, site, doc.version))
    assert [(c.number, c.active) for c in revoked.people[0].credentials] == [("26:1234", False)]

    await page.get_by_label("New badge number").fill("26:5678")
    await page.get_by_role("button", name="Add badge").click()
    await expect(page.locator('tr[data-badge="26:5678"]')).to_contain_text("active")

    await page.goto(f"/portal/sites/{site.site_id}/policy")
    await page.get_by_label("Id (a door's id").fill("staff")
    await page.get_by_label("JSON").fill('{"doors": []}')
    await page.get_by_role("button", name="Save").click()
    await expect(page.get_by_role("alert")).to_contain_text("doors")
    await page.get_by_label("JSON").fill('{"name": "Staff", "doors": ["front"]}')
    await page.get_by_role("button", name="Save").click()
    await expect(page.locator('[data-policy="access_level/staff"]')).to_contain_text("front")
    assert await page.evaluate("document.documentElement.scrollWidth <= window.innerWidth")

    await page.get_by_role("link", name="People").click()
    await expect(page.locator("tbody tr")).to_have_count(1)
    await page.get_by_role("link", name="Conflicts").click()
    await expect(page.get_by_text("No conflicts.")).to_be_visible()
    await context.close()
