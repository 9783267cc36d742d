"""Console roles in headless Chromium: each role logs in and sees only the controls it may use; screenshots."""

from __future__ import annotations

import pytest

from edge import keys
from edge.web.auth import CONSOLE_AUTH
from tests.browser import PHONE, chromium
from tests.edge.console import browser_login
from tests.polling import eventually
from tests.screenshots import save_screenshots

pytestmark = pytest.mark.browser
UNLOCK = '.door[data-door="front"] button[data-action="unlock"]'


async def test_each_role_in_the_browser(edge_app, devices) -> None:
    auth = edge_app.app[CONSOLE_AUTH]
    await auth.create_user("gina", "guard-password-1", "guard")
    await auth.create_user("victor", "viewer-password-1", "viewer")
    await devices("lock-front", "lock")
    await eventually(lambda: edge_app.app[keys.SITE_STATE].doors["front"].lock_online)
    base = f"http://127.0.0.1:{edge_app.web_port}"
    async with chromium() as browser:
        # A guard unlocks the door from a phone; no Users or Audit link, and the page itself is refused.
        page = await browser.new_page(viewport=PHONE)
        await browser_login(page, base, "guard-password-1", "gina")
        await page.wait_for_selector('.door[data-door="front"] .state-locked', timeout=5000)
        assert await page.locator("a[href='/users']").count() == 0
        await page.click(UNLOCK)
        await page.wait_for_selector('.door[data-door="front"] .state-unlocked', timeout=5000)
        await save_screenshots(page, "console-dashboard-guard")
        response = await page.goto(base + "/users")
        assert response is not None and response.status == 403
        assert "needs the admin role" in await page.inner_text("main")
        await save_screenshots(page, "console-forbidden-guard")
        await page.close()

        # A viewer sees the doors but no button to unlock or lock them.
        page = await browser.new_page(viewport=PHONE)
        await browser_login(page, base, "viewer-password-1", "victor")
        await page.wait_for_selector('.door[data-door="front"] .state', timeout=5000)
        assert await page.locator(UNLOCK).is_hidden()
        assert "viewer" in await page.inner_text("header")
        await save_screenshots(page, "console-dashboard-viewer")
        await page.close()

        # The admin adds a guard on the users page, then reads the audit of what everyone did.
        page = await browser.new_page(viewport=PHONE)
        await browser_login(page, base)
        await page.wait_for_selector("#doors")
        await page.click("a[href='/users']")
        await page.get_by_label("User name").fill("night-guard")
        await page.get_by_label("Password (8+ characters)").fill("night-guard-pw")
        await page.get_by_label("Role", exact=True).select_option("guard")
        await page.click("button:has-text('Add user')")
        await page.wait_for_selector("tr[data-user='night-guard']")
        assert await page.get_by_label("Role of night-guard").input_value() == "guard"
        assert not await page.evaluate("document.documentElement.scrollWidth > window.innerWidth")
        await save_screenshots(page, "console-users")
        await page.click("a[href='/audit']")
        text = await page.inner_text("main")
        assert "admin added console user night-guard (guard)" in text
        assert "gina unlocked Front door" in text
        assert not await page.evaluate("document.documentElement.scrollWidth > window.innerWidth")
        await save_screenshots(page, "console-audit")
        await page.close()
