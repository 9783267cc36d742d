"""The portal's offline enrollment: an admin downloads a signed file for a new site; the box's check accepts it."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from cloud_helpers import TenantFixture
from playwright.async_api import Browser, expect

from cloud.app import RunningCloud
from sync.enrollment_file import read_enrollment_file
from tests.browser import PHONE
from tests.screenshots import save_screenshots

pytestmark = pytest.mark.browser


@pytest.fixture
def db_url(tmp_path: Path) -> str:
    """SQLite only here: the database paths are covered on both backends by tests/provisioning."""
    return f"sqlite+aiosqlite:///{tmp_path / 'cloud-test.db'}"


async def test_admin_downloads_an_enrollment_file_and_the_site_awaits_its_box(
    cloud: RunningCloud, tenant: TenantFixture, browser: Browser, tmp_path: Path
) -> None:
    context = await browser.new_context(viewport=PHONE, base_url=cloud.url, accept_downloads=True)
    page = await context.new_page()
    await page.goto("/login")
    await page.get_by_label("E-mail").fill(tenant.admin_email)
    await page.get_by_label("Password").fill(tenant.admin_password)
    await page.get_by_role("button", name="Log in").click()
    await expect(page).to_have_url(re.compile(r"/portal$"))

    shown_key = (await page.get_by_test_id("enrollment-key").inner_text()).strip()
    await page.get_by_label("Name of the offline site").fill("Remote quarry")
    await page.get_by_label("Its time zone").fill("Europe/Oslo")
    await page.get_by_label("File valid for (days)").fill("3")
    async with page.expect_download() as download_info:
        await page.get_by_role("button", name="Download enrollment file").click()
    download = await download_info.value
    assert re.fullmatch(r"outpost-enrollment-[a-z0-9]+\.json", download.suggested_filename)
    saved = tmp_path / download.suggested_filename
    await download.save_as(saved)

    enrollment, signer = read_enrollment_file(saved.read_bytes(), expected_key=shown_key)
    assert signer == shown_key
    assert (enrollment.site_name, enrollment.timezone, enrollment.cloud_url) == (
        "Remote quarry",
        "Europe/Oslo",
        cloud.url,
    )
    assert 2.9 < (enrollment.expires_at - enrollment.issued_at).total_seconds() / 86400 <= 3

    await page.goto("/portal")
    card = page.locator(f'section.site[data-site-id="{enrollment.site_id}"]')
    await expect(card.get_by_test_id("awaiting-box")).to_be_visible()
    await save_screenshots(page, "portal-enrollment-file")

    await page.get_by_label("Name of the offline site").fill("x")
    await page.get_by_label("Its time zone").fill("Mars/Olympus")
    await page.get_by_role("button", name="Download enrollment file").click()
    await expect(page.get_by_role("alert")).to_contain_text("timezone")
    await context.close()
