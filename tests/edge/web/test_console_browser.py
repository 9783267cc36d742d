"""The LAN console in a real headless Chromium: login, dashboard, unlock button."""

from __future__ import annotations

import asyncio

import pytest

from edge import keys
from tests.browser import PHONE, chromium
from tests.edge.console import browser_login

pytestmark = pytest.mark.browser


async def test_login_dashboard_and_unlock(edge_app, devices, tmp_path) -> None:
    lock = await devices("lock-front", "lock")
    base = f"http://127.0.0.1:{edge_app.web_port}"
    async with chromium() as browser:
        page = await browser.new_page(viewport=PHONE)
        await page.goto(base + "/")
        assert page.url.endswith("/login")
        await page.fill("input[name=username]", "admin")
        await page.fill("input[name=password]", "wrong-password")
        await page.click("button[type=submit]")
        await page.wait_for_selector("text=Wrong username or password.")

        await browser_login(page, base)
        await page.wait_for_selector("text=Front door")
        await page.wait_for_selector('.door[data-door="front"] .state-locked', timeout=5000)

        await page.click('button[data-action="unlock"][data-door="front"]')
        command = await asyncio.wait_for(lock.commands.get(), 5)
        assert command.action == "unlock"
        await page.wait_for_selector('.door[data-door="front"] .state-unlocked', timeout=5000)
        await page.wait_for_selector("text=admin unlocked Front door", timeout=5000)
        await page.screenshot(path=str(tmp_path / "dashboard.png"), full_page=True)

        # No horizontal scrolling on a phone.
        overflow = await page.evaluate("document.documentElement.scrollWidth > window.innerWidth")
        assert not overflow
        await page.close()
    audit = await edge_app.app[keys.JOURNAL].recent(5, "audit")
    assert audit[0].payload["by"] == "admin"
