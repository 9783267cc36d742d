"""Pairing a device from the console: the account lands in the config file and the running broker, the settings
are shown once, the device connects with them; bad input comes back by field; only an admin pairs."""

from __future__ import annotations

import tomllib
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest
import tomli_w

from edge import keys
from edge.app import EdgeRunner
from edge.config import load_config
from edge.web.auth import CONSOLE_AUTH
from firmware_adapters.base import AdapterError
from firmware_adapters.simulated import SimulatedDeviceConfig, SimulatedLock
from tests.browser import PHONE, chromium
from tests.edge.console import browser_login, console_login
from tests.edge.site import site_config_dict
from tests.net import free_port
from tests.screenshots import save_screenshots


@pytest.fixture
async def filed_edge(tmp_path: Path) -> AsyncIterator[tuple[EdgeRunner, Path]]:
    """The test site started from a config file on a fixed broker port (devices need a port to type in)."""
    data = site_config_dict(tmp_path / "edge")
    data["mqtt"]["port"] = free_port()
    path = tmp_path / "edge.toml"
    path.write_text(tomli_w.dumps(data))
    path.chmod(0o600)
    runner = EdgeRunner(load_config(path), path)
    await runner.start()
    try:
        yield runner, path
    finally:
        await runner.stop()


def _client(runner: EdgeRunner) -> httpx.AsyncClient:
    return httpx.AsyncClient(base_url=f"http://127.0.0.1:{runner.web_port}", timeout=30)


def _setting(page: str, name: str) -> str:
    start = page.index(f'data-setting="{name}">') + len(f'data-setting="{name}">')
    return page[start : page.index("</dd>", start)]


async def test_pair_a_lock_and_it_connects_with_the_settings_shown_once(filed_edge) -> None:
    runner, path = filed_edge
    await runner.app[CONSOLE_AUTH].create_user("gina", "guard-password-1", "guard")
    async with _client(runner) as client:
        token = await console_login(client, "guard-password-1", "gina")
        assert (await client.get("/devices/pair")).status_code == 403
        form = {"csrf_token": token, "kind": "native", "id": "lock-back", "role": "lock", "zone": "lobby"}
        assert (await client.post("/devices/pair", data=form)).status_code == 403
    async with _client(runner) as client:
        token = await console_login(client)
        assert "Pair a new device" in (await client.get("/devices")).text
        bad = {"csrf_token": token, "kind": "shelly", "id": "Bad Id!", "zone": "lobby"}
        answer = await client.post("/devices/pair", data=bad)
        assert answer.status_code == 422 and 'id="error-id"' in answer.text
        taken = {"csrf_token": token, "kind": "native", "id": "lock-front", "role": "lock", "zone": "lobby"}
        answer = await client.post("/devices/pair", data=taken)
        assert answer.status_code == 409 and "already has an MQTT account" in answer.text
        answer = await client.post("/devices/pair", data={**taken, "id": "lock-back", "name": "Back door lock"})
        assert answer.status_code == 200, answer.text
        assert answer.headers["Cache-Control"] == "no-store"
        password = _setting(answer.text, "password")
        assert _setting(answer.text, "port") == str(runner.mqtt_port)
        assert _setting(answer.text, "username") == "lock-back"
        assert "outpost/lock-back/command" in _setting(answer.text, "subscribe")
        # Shown once: the devices page and the form again do not carry it.
        assert password not in (await client.get("/devices/pair")).text
    stored = tomllib.loads(path.read_text())
    entry = next(d for d in stored["devices"] if d["id"] == "lock-back")
    assert entry["kind"] == "lock" and entry["password_hash"].startswith("$argon2") and password not in path.read_text()
    assert path.stat().st_mode & 0o777 == 0o600
    # The running broker takes the new account at once; a wrong password is still refused.
    port = runner.mqtt_port
    lock = SimulatedLock(SimulatedDeviceConfig(device_id="lock-back", password=password, port=port))
    await lock.start()
    await lock.stop()
    wrong = SimulatedLock(SimulatedDeviceConfig(device_id="lock-back", password="not-it", port=port))
    with pytest.raises(AdapterError):
        await wrong.start(timeout_s=3)
    audits = [e.payload for e in await runner.app[keys.JOURNAL].recent(50, "audit")]
    paired = next(a for a in audits if a.get("type") == "device_paired")
    assert paired["device_id"] == "lock-back" and password not in repr(audits)


@pytest.mark.browser
async def test_pairing_in_the_browser(filed_edge) -> None:
    runner, _path = filed_edge
    base = f"http://127.0.0.1:{runner.web_port}"
    async with chromium() as browser:
        page = await browser.new_page(viewport=PHONE)
        await browser_login(page, base)
        await page.wait_for_selector("#doors")
        await page.goto(base + "/devices")
        await page.click("a[href='/devices/pair']")
        await page.get_by_label("Kind of device").select_option("tasmota")
        await page.get_by_label("Device id (also its MQTT user)").fill("strike-gate")
        await page.get_by_label("Topic / Shelly id / Zigbee2MQTT base topic").fill("gate_relay")
        await save_screenshots(page, "console-device-pair")
        await page.click("button:has-text('Pair device')")
        await page.wait_for_selector("#device-settings")
        assert "MqttUser strike-gate" in await page.inner_text("#device-settings pre")
        assert not await page.evaluate("document.documentElement.scrollWidth > window.innerWidth")
        await save_screenshots(page, "console-device-pair-settings")
        await page.close()
