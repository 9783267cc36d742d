"""Live console updates over SSE: pushed without reloads, and back by themselves after the box restarts."""

from __future__ import annotations

import json
from pathlib import Path

import httpx
import pytest

from edge import keys
from edge.app import EdgeRunner
from edge.config import EdgeConfig
from firmware_adapters.simulated import SimulatedDeviceConfig, SimulatedLock
from tests.browser import PHONE, chromium
from tests.edge.console import browser_login, console_login
from tests.edge.site import DEVICE_PASSWORDS, site_config_dict
from tests.net import free_port
from tests.screenshots import save_screenshots

FRONT = '.door[data-door="front"]'


def _config(tmp_path: Path) -> EdgeConfig:
    data = site_config_dict(tmp_path / "edge")
    data["web"]["port"] = free_port()  # the same port after the restart, as on a real box
    return EdgeConfig.model_validate(data)


async def _first_message(client: httpx.AsyncClient) -> tuple[str, dict]:
    async with client.stream("GET", "/api/v1/live") as response:
        assert response.status_code == 200
        assert response.headers["content-type"].startswith("text/event-stream")
        event = ""
        async for line in response.aiter_lines():
            if line.startswith("event: "):
                event = line.removeprefix("event: ")
            elif line.startswith("data: "):
                return event, json.loads(line.removeprefix("data: "))
    raise AssertionError("the stream ended without a message")


async def test_stream_starts_with_the_whole_state_and_needs_a_login(edge_app) -> None:
    async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{edge_app.web_port}") as client:
        assert (await client.get("/api/v1/live")).status_code == 401
        await console_login(client)
        event, hello = await _first_message(client)
    assert event == "hello"
    assert [d["door_id"] for d in hello["doors"]] == ["front"]
    assert hello["alarms"] == [] and hello["lockdowns"] == [] and hello["resync"] is True


@pytest.mark.browser
async def test_live_dashboard_survives_a_box_restart(tmp_path) -> None:
    config = _config(tmp_path)
    runner = EdgeRunner(config)
    await runner.start()
    base = f"http://127.0.0.1:{runner.web_port}"
    lock: SimulatedLock | None = None
    try:
        async with chromium() as browser:
            page = await browser.new_page(viewport=PHONE)
            await browser_login(page, base)
            await page.wait_for_selector('body[data-live="connected"]', timeout=10000)
            await page.evaluate("window.notReloaded = true")

            # Pushed, not polled (the page re-reads everything only every 30 s): the lock comes online...
            lock = SimulatedLock(
                SimulatedDeviceConfig(
                    device_id="lock-front", password=DEVICE_PASSWORDS["lock-front"], port=runner.mqtt_port
                )
            )
            await lock.start()
            await page.wait_for_selector(f"{FRONT} .state-locked", timeout=5000)
            # ...and a new event lands at the top of the list.
            await runner.app[keys.JOURNAL].record("event", {"type": "note"}, source="test", summary="before restart")
            await page.locator("#events tr", has_text="before restart").wait_for(timeout=5000)
            assert await page.is_hidden("#connection-banner")

            # The box goes away: the banner says so.
            await lock.stop()
            lock = None
            await runner.stop()
            await page.wait_for_selector("#connection-banner", state="visible", timeout=20000)
            assert "Connection to the box lost" in await page.inner_text("#connection-banner")
            await save_screenshots(page, "console-connection-lost")

            # It comes back on the same port: the page reconnects by itself, without a reload.
            runner = EdgeRunner(config)
            await runner.start()
            await page.wait_for_selector("#connection-banner", state="hidden", timeout=20000)
            await runner.app[keys.JOURNAL].record("event", {"type": "note"}, source="test", summary="after restart")
            await page.locator("#events tr", has_text="after restart").wait_for(timeout=5000)
            assert await page.evaluate("window.notReloaded === true")
            await save_screenshots(page, "console-dashboard-live")
            await page.close()
    finally:
        if lock is not None:
            await lock.stop()
        await runner.stop()
