"""An OFFLINE door is not offered Unlock/Lock: the API refuses with 409 door_offline, the console disables its
buttons; a door contact going offline raises contact_offline. Real broker, simulated devices, HTTP, Chromium."""

from __future__ import annotations

import asyncio

import httpx
import pytest

from edge import keys
from tests.browser import chromium
from tests.edge.console import browser_login, console_login
from tests.polling import eventually


async def test_a_command_to_an_offline_door_is_refused_not_sent(edge_app, devices) -> None:
    state = edge_app.app[keys.SITE_STATE]
    journal = edge_app.app[keys.JOURNAL]
    async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{edge_app.web_port}") as client:
        csrf = await console_login(client)
        assert state.doors["front"].status == "offline"  # the lock never connected
        refused = await client.post("/api/v1/doors/front/unlock", headers={"X-CSRF-Token": csrf})
        assert refused.status_code == 409
        assert refused.json()["error"] == "door_offline"
        assert "lock-front is offline" in refused.json()["detail"]
        assert [e for e in await journal.recent(20, "audit") if e.payload.get("type") == "manual_command"] == []
        doors = (await client.get("/api/v1/doors")).json()
        assert doors[0]["commandable"] is False

        lock = await devices("lock-front", "lock")
        await eventually(lambda: state.doors["front"].lock_online)
        sent = await client.post("/api/v1/doors/front/unlock", headers={"X-CSRF-Token": csrf})
        assert sent.status_code == 202
        assert (await asyncio.wait_for(lock.commands.get(), 5)).action == "unlock"

        await lock.stop()  # publishes offline, as its Last Will would
        await eventually(lambda: not state.doors["front"].lock_online)
        again = await client.post("/api/v1/doors/front/lock", headers={"X-CSRF-Token": csrf})
        assert again.status_code == 409 and again.json()["error"] == "door_offline"


async def test_a_door_contact_going_offline_raises_an_alarm(edge_app, devices) -> None:
    state = edge_app.app[keys.SITE_STATE]
    alarms = edge_app.app[keys.ACCESS].supervisor.alarms
    contact = await devices("contact-front", "contact")
    await eventually(lambda: state.devices["contact-front"].online)

    async def listed(wanted: str) -> bool:
        return ("front", "contact_offline", wanted) in [
            (a.door_id, a.alarm, a.state) for a in await alarms.open_alarms()
        ]

    await contact.stop()  # publishes offline, as its Last Will would
    await eventually(lambda: listed("active_unacknowledged"))
    door = state.doors["front"].as_json()
    assert "door contact unreachable" in [a["text"] for a in door["alarms"]]
    assert door["open"] is None  # no longer known

    await devices("contact-front", "contact")
    await eventually(lambda: listed("cleared_unacknowledged"))


@pytest.mark.browser
async def test_the_console_offers_no_unlock_for_an_offline_door(edge_app, devices) -> None:
    state = edge_app.app[keys.SITE_STATE]
    async with chromium() as browser:
        page = await browser.new_page()
        await browser_login(page, f"http://127.0.0.1:{edge_app.web_port}")
        await page.wait_for_selector('.door[data-door="front"] .state-offline')
        unlock = page.locator('button[data-action="unlock"][data-door="front"]')
        assert await unlock.is_disabled()
        assert await unlock.get_attribute("title") == "lock offline"

        await devices("lock-front", "lock")
        await eventually(lambda: state.doors["front"].lock_online)
        await page.wait_for_selector('.door[data-door="front"] .state-locked', timeout=10000)
        assert await unlock.is_enabled()
        await page.close()
