"""The console in headless Chromium: door alarms shown from device reports, lockdown toggle per zone."""

from __future__ import annotations

import asyncio

import pytest

from edge import keys
from tests.browser import PHONE, chromium
from tests.edge.console import browser_login

pytestmark = pytest.mark.browser


async def test_forced_door_and_zone_lockdown_on_the_console(edge_app, devices, tmp_path) -> None:
    lock = await devices("lock-front", "lock")
    contact = await devices("contact-front", "contact")
    base = f"http://127.0.0.1:{edge_app.web_port}"
    async with chromium() as browser:
        page = await browser.new_page(viewport=PHONE)
        await browser_login(page, base)
        await page.wait_for_selector('.door[data-door="front"] .state-locked', timeout=5000)

        await contact.set_open(True)  # nobody badged: forced
        await page.wait_for_selector('.door[data-door="front"] .state-forced', timeout=5000)
        await page.wait_for_selector('.door[data-door="front"] .alarms >> text=door forced open', timeout=5000)
        await contact.set_open(False)
        await page.wait_for_selector('.door[data-door="front"] .state-locked', timeout=5000)

        page.on("dialog", lambda dialog: asyncio.ensure_future(dialog.accept()))
        await page.click('.zone[data-zone="lobby"] button[data-lockdown="start"]')
        command = await asyncio.wait_for(lock.commands.get(), 5)
        assert command.action == "lock"
        await page.wait_for_selector("#lockdown-banner >> text=LOCKDOWN lobby (admin)", timeout=5000)
        await page.wait_for_selector('.door[data-door="front"] [data-role="mode"] >> text=lockdown', timeout=5000)
        await page.screenshot(path=str(tmp_path / "lockdown.png"), full_page=True)
        await page.click('.zone[data-zone="lobby"] button[data-lockdown="lift"]')
        await page.wait_for_selector('.zone[data-zone="lobby"] button[data-lockdown="start"]', timeout=5000)
        assert not await page.evaluate("document.documentElement.scrollWidth > window.innerWidth")
        await page.close()
    audits = [e.payload for e in await edge_app.app[keys.JOURNAL].recent(10, "audit")]
    assert [(a["type"], a["active"]) for a in audits if a["type"] == "lockdown"] == [
        ("lockdown", False),
        ("lockdown", True),
    ]
