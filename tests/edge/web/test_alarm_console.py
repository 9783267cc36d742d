"""Alarm acknowledgement on the console in headless Chromium at a guard's phone size."""

from __future__ import annotations

import pytest

from edge import keys
from tests.browser import PHONE, chromium
from tests.edge.console import browser_login

pytestmark = pytest.mark.browser
CARD = "#alarm-list .alarm"


async def test_acknowledge_a_forced_door_on_a_phone(edge_app, devices, tmp_path) -> None:
    await devices("lock-front", "lock")
    contact = await devices("contact-front", "contact")
    base = f"http://127.0.0.1:{edge_app.web_port}"
    async with chromium() as browser:
        page = await browser.new_page(viewport=PHONE)
        await browser_login(page, base)
        await page.wait_for_selector('.door[data-door="front"] .state-locked', timeout=5000)
        assert await page.is_hidden("#alarm-section")  # nothing open: no alarm section

        # Forced open: listed at the top, highlighted, with an Acknowledge button within reach.
        await contact.set_open(True)
        card = page.locator(f'{CARD}[data-state="active_unacknowledged"]')
        await card.wait_for(timeout=5000)
        assert await card.locator("h3").inner_text() == "Front door: door forced open"
        assert "unacked" in (await card.get_attribute("class") or "")
        assert await page.evaluate("document.querySelector('main section').id") == "alarm-section"
        assert await page.inner_text("#alarm-count") == "1"
        button = card.locator("button[data-ack]")
        box = await button.bounding_box()
        assert box is not None and box["x"] + box["width"] <= 390 and box["height"] >= 44
        await page.screenshot(path=str(tmp_path / "alarm-raised.png"), full_page=True)

        await card.locator("input[name=comment]").fill("Checked on site, contractor")
        await button.click()
        acked = page.locator(f'{CARD}[data-state="active_acknowledged"]')
        await acked.wait_for(timeout=5000)
        assert "unacked" not in (await acked.get_attribute("class") or "")
        assert "acknowledged by admin" in await acked.inner_text()
        assert "Checked on site, contractor" in await acked.inner_text()
        assert await acked.locator("button[data-ack]").is_hidden()
        assert await page.inner_text("#alarm-count") == ""

        # The door closes: an acknowledged alarm leaves the list.
        await contact.set_open(False)
        await page.locator(CARD).wait_for(state="detached", timeout=5000)
        await page.locator("#alarm-section").wait_for(state="hidden", timeout=5000)

        # Forced and closed again before anyone looked: it stays, cleared but unacknowledged, until acknowledged.
        await contact.set_open(True)
        await contact.set_open(False)
        cleared = page.locator(f'{CARD}[data-state="cleared_unacknowledged"]')
        await cleared.wait_for(timeout=5000)
        assert "Cleared · not acknowledged" in await cleared.inner_text()
        await page.screenshot(path=str(tmp_path / "alarm-cleared.png"), full_page=True)
        await cleared.locator("button[data-ack]").click()
        await page.locator(CARD).wait_for(state="detached", timeout=5000)

        assert not await page.evaluate("document.documentElement.scrollWidth > window.innerWidth")
        await page.close()

    events = [e.payload for e in await edge_app.app[keys.JOURNAL].recent(50, "event")]
    acks = [(p["by"], p["comment"]) for p in events if p.get("type") == "alarm" and p["state"] == "acknowledged"]
    assert acks == [("admin", ""), ("admin", "Checked on site, contractor")]
