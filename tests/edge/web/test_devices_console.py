"""Devices page: online state, last seen, battery, firmware, signal; PIN lockouts cleared by a guard (not a viewer)
with their history; latched alarms acknowledged in the browser; screenshots at 390 px and 1280 px."""

from __future__ import annotations

import httpx
import pytest

from edge import keys
from edge.app import EdgeRunner
from edge.web.auth import CONSOLE_AUTH
from firmware_adapters.messages import ContactChange, Telemetry
from tests.browser import PHONE, chromium
from tests.edge.access.pin_site import CARD, PASSWORDS, PERSON, PIN, edge_config, enter
from tests.edge.console import browser_login, console_login
from tests.polling import eventually
from tests.screenshots import save_screenshots

__all__ = ["edge_config"]  # the PIN site: lockout after 3 wrong PINs


def _client(runner: EdgeRunner) -> httpx.AsyncClient:
    return httpx.AsyncClient(base_url=f"http://127.0.0.1:{runner.web_port}", timeout=10)


async def _lock_out(runner: EdgeRunner, devices) -> None:
    await runner.app[keys.PEOPLE].add_person(PERSON, [CARD], "admin", levels=["staff"], pin=PIN)
    await devices("lock-vault", "lock", PASSWORDS["lock-vault"])
    reader = await devices("reader-vault", "reader", PASSWORDS["reader-vault"])
    for _ in range(3):
        await enter(runner, reader, "0000")
    assert runner.app[keys.ACCESS].pin_lockouts.active()


async def test_devices_with_their_readings_and_lockouts_by_role(edge_app: EdgeRunner, devices) -> None:
    sensor = await devices("temp-lobby", "sensor")
    await sensor.publish("telemetry", Telemetry(values={"battery_pct": 84, "linkquality": 120, "temperature_c": 21}))
    state = edge_app.app[keys.SITE_STATE].devices
    await eventually(lambda: state["temp-lobby"].values.get("battery_pct") == 84)
    await _lock_out(edge_app, devices)
    auth = edge_app.app[CONSOLE_AUTH]
    await auth.create_user("gina", "guard-password-1", "guard")
    await auth.create_user("victor", "viewer-password-1", "viewer")
    async with _client(edge_app) as client:
        token = await console_login(client, "viewer-password-1", "victor")
        page = await client.get("/devices")
        assert page.status_code == 200
        row = page.text[page.text.index('data-device="temp-lobby"') :]
        row = row[: row.index("</tr>")]
        assert "online" in row and "84 %" in row and "LQI 120" in row and "sim-1.0" in row
        offline = page.text[page.text.index('data-device="contact-front"') :]
        assert ">offline<" in offline[: offline.index("</tr>")] and "never" in offline[: offline.index("</tr>")]
        assert f'data-credential="{CARD}"' in page.text and "PIN lockout of Grace" in page.text
        refused = await client.post("/devices/pin-lockouts/clear", data={"csrf_token": token, "credential": CARD})
        assert refused.status_code == 403
    assert edge_app.app[keys.ACCESS].pin_lockouts.active()
    async with _client(edge_app) as client:
        token = await console_login(client, "guard-password-1", "gina")
        missing = await client.post("/devices/pin-lockouts/clear", data={"csrf_token": token, "credential": "999"})
        assert missing.status_code == 404 and "is not locked out" in missing.text
        form = {"csrf_token": token, "credential": CARD, "reason": "called the holder"}
        cleared = await client.post("/devices/pin-lockouts/clear", data=form)
        assert cleared.status_code == 303
        page = await client.get(cleared.headers["location"])
        assert "PIN lockout of 55501 cleared" in page.text and 'id="no-lockouts"' in page.text
        assert "cleared by gina" in page.text  # the history
    assert edge_app.app[keys.ACCESS].pin_lockouts.active() == []
    audits = [e.payload for e in await edge_app.app[keys.JOURNAL].recent(50, "audit")]
    assert any(a.get("type") == "pin_lockout_cleared" and a.get("by") == "gina" for a in audits)


@pytest.mark.browser
async def test_a_guard_acknowledges_a_latched_alarm_on_a_phone(edge_app: EdgeRunner, devices) -> None:
    await devices("lock-front", "lock")
    contact = await devices("contact-front", "contact")
    await eventually(lambda: edge_app.app[keys.SITE_STATE].doors["front"].lock_online)
    await contact.publish("event", ContactChange(open=True))  # forced open: no grant before it
    await contact.publish("event", ContactChange(open=False))
    alarms = edge_app.app[keys.ACCESS].supervisor.alarms
    await eventually(lambda: alarms.open_alarms())
    await edge_app.app[CONSOLE_AUTH].create_user("gina", "guard-password-1", "guard")
    base = f"http://127.0.0.1:{edge_app.web_port}"
    async with chromium() as browser:
        page = await browser.new_page(viewport=PHONE)
        await browser_login(page, base, "guard-password-1", "gina")
        await page.wait_for_selector("#doors")
        await page.click("a.nav[href='/devices']")
        await page.wait_for_selector('tr[data-device="lock-front"] td.online')
        card = page.locator("#alarm-list .alarm").first
        await card.wait_for()
        assert "forced open" in await card.inner_text()
        assert "forced open" in await page.inner_text("#alarm-history")
        assert not await page.evaluate("document.documentElement.scrollWidth > window.innerWidth")
        await save_screenshots(page, "console-devices")
        await card.get_by_label("Comment").fill("checked on camera")
        await card.locator("button[data-ack]").click()
        await eventually(lambda: _acknowledged(edge_app), timeout_s=5)
        await page.close()


async def _acknowledged(runner: EdgeRunner) -> bool:
    alarms = await runner.app[keys.ACCESS].supervisor.alarms.open_alarms()
    return all(a.acknowledged for a in alarms)
