"""The users, API keys and audit log pages in headless Chromium, as different roles, on a phone-sized screen."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from cloud_helpers import PASSWORD, TenantFixture
from playwright.async_api import Browser, Page, expect

from cloud.admin import create_user
from cloud.app import RunningCloud
from sync.wire import EnrollResponse
from tests.browser import PHONE
from tests.screenshots import save_screenshots

pytestmark = pytest.mark.browser


@pytest.fixture
def db_url(tmp_path: Path) -> str:
    """SQLite only here: both backends are covered by the HTTP-level tests (test_admin_users.py)."""
    return f"sqlite+aiosqlite:///{tmp_path / 'cloud-test.db'}"


async def _log_in(browser: Browser, cloud: RunningCloud, email: str, password: str = PASSWORD) -> Page:
    context = await browser.new_context(viewport=PHONE, base_url=cloud.url)
    page = await context.new_page()
    await page.goto("/login")
    await page.get_by_label("E-mail").fill(email)
    await page.get_by_label("Password").fill(password)
    await page.get_by_role("button", name="Log in").click()
    await expect(page).to_have_url(re.compile(r"/portal$"))
    return page


async def _fits_the_phone(page: Page) -> None:
    assert await page.evaluate("document.documentElement.scrollWidth <= window.innerWidth")


async def test_owner_invites_a_security_user_who_sets_a_password_and_reads_the_audit_log(
    cloud: RunningCloud, tenant: TenantFixture, site: EnrollResponse, browser: Browser
) -> None:
    owner = await _log_in(browser, cloud, tenant.admin_email, tenant.admin_password)
    await owner.get_by_role("link", name="Users").click()
    await expect(owner.get_by_role("heading", name="Users")).to_be_visible()
    invite = owner.locator('form[action="/portal/users/invite"]')
    await invite.get_by_label("E-mail").fill("guard@acme.example")
    await invite.get_by_label("Role").select_option("security")
    await invite.get_by_label("All sites").uncheck()
    await invite.get_by_label("Warehouse").check()
    await invite.get_by_role("button", name="Invite").click()

    link = await owner.get_by_test_id("link-url").inner_text()
    assert "/set-password/" in link
    await expect(owner.locator('[data-user="guard@acme.example"] [data-testid="status"]')).to_have_text("invited")
    await _fits_the_phone(owner)
    await save_screenshots(owner, "cloud-users")

    guest = await owner.context.browser.new_context(viewport=PHONE)  # type: ignore[union-attr]
    welcome = await guest.new_page()
    await welcome.goto(link)
    await welcome.get_by_label("New password").fill("guard passphrase 1")
    await welcome.get_by_label("Repeat it").fill("guard passphrase 1")
    await welcome.get_by_role("button", name="Set password").click()
    await expect(welcome.get_by_role("status")).to_contain_text("Your password is set")
    await save_screenshots(welcome, "cloud-set-password")

    guard = await _log_in(browser, cloud, "guard@acme.example", "guard passphrase 1")
    nav = guard.locator("nav")
    await expect(nav.get_by_role("link", name="Audit log")).to_be_visible()
    await expect(nav.get_by_role("link", name="Users")).to_have_count(0)
    await expect(nav.get_by_role("link", name="API keys")).to_have_count(0)
    await nav.get_by_role("link", name="Audit log").click()
    await guard.get_by_label("Action").fill("user.invite")
    await guard.get_by_role("button", name="Filter").click()
    rows = guard.locator("tr[data-action]")
    await expect(rows).to_have_count(1)
    await expect(rows.first).to_contain_text(tenant.admin_email)
    await expect(rows.first).to_contain_text("guard@acme.example")
    await _fits_the_phone(guard)
    await save_screenshots(guard, "cloud-audit")
    async with guard.expect_download() as download_info:
        await guard.get_by_test_id("csv").click()
    download = await download_info.value
    assert download.suggested_filename == "outpost-audit.csv"


async def test_admin_creates_a_key_sees_it_once_and_revokes_it(
    cloud: RunningCloud, tenant: TenantFixture, browser: Browser
) -> None:
    await create_user(cloud.db, tenant.tenant_id, "ops@acme.example", PASSWORD, role="admin")
    admin = await _log_in(browser, cloud, "ops@acme.example")
    await admin.get_by_role("link", name="API keys").click()
    await admin.get_by_label("Name").fill("payroll export")
    await admin.get_by_label("people.read").check()
    await admin.get_by_role("button", name="Create key").click()

    token = await admin.get_by_test_id("new-key").inner_text()
    assert token.startswith("opk_")
    card = admin.locator('[data-key="payroll export"]')
    await expect(card).to_contain_text("people.read, sites.read")
    await expect(card.get_by_test_id("last-used")).to_have_text("never")
    await _fits_the_phone(admin)
    await save_screenshots(admin, "cloud-api-keys")

    await card.get_by_role("button", name="Revoke").click()
    await expect(admin.get_by_test_id("new-key")).to_have_count(0)
    await expect(card).to_contain_text("revoked")


async def test_owner_changes_a_role_and_disables_a_user_and_a_viewer_has_no_admin_pages(
    cloud: RunningCloud, tenant: TenantFixture, browser: Browser
) -> None:
    await create_user(cloud.db, tenant.tenant_id, "temp@acme.example", PASSWORD, role="viewer")
    viewer = await _log_in(browser, cloud, "temp@acme.example")
    for name in ("Users", "API keys", "Audit log"):
        await expect(viewer.locator("nav").get_by_role("link", name=name)).to_have_count(0)
    assert (await viewer.goto("/portal/users")).status == 403  # type: ignore[union-attr]

    owner = await _log_in(browser, cloud, tenant.admin_email, tenant.admin_password)
    await owner.goto("/portal/users")
    card = owner.locator('[data-user="temp@acme.example"]')
    await card.get_by_text("Change").click()
    await card.get_by_label("Role").select_option("fleet")
    await card.get_by_role("button", name="Save").click()
    await expect(card.get_by_test_id("role")).to_have_text("fleet")
    await card.get_by_role("button", name="Disable").click()
    await expect(card.get_by_test_id("status")).to_have_text("disabled")
    await save_screenshots(owner, "cloud-users-changed")

    await viewer.goto("/portal")
    await expect(viewer).to_have_url(re.compile(r"/login"))
