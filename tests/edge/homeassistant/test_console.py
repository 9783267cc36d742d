"""The console shows whether Home Assistant discovery is on and which entities it exposes (API and dashboard)."""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest

from edge.app import EdgeRunner
from edge.config import EdgeConfig
from tests.browser import PHONE, chromium
from tests.edge.console import browser_login, console_login
from tests.edge.homeassistant.test_discovery import NODE, ha_config_dict, start_edge
from tests.screenshots import save_screenshots


async def test_api_lists_the_exposed_entities_and_permissions(tmp_path: Path) -> None:
    runner = await start_edge(EdgeConfig.model_validate(ha_config_dict(tmp_path / "edge")))
    try:
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{runner.web_port}") as client:
            assert (
                await client.get("/api/v1/homeassistant", headers={"Accept": "application/json"})
            ).status_code == 401
            await console_login(client)
            status = (await client.get("/api/v1/homeassistant")).json()
        assert (status["enabled"], status["running"], status["username"]) == (True, True, "homeassistant")
        assert status["command_doors"] == ["front"] and status["command_lockdown"] is False
        entities = {e["unique_id"]: e for e in status["entities"]}
        front = entities[f"outpost_{NODE}_door_front_lock"]
        assert (front["component"], front["device"], front["commandable"]) == ("lock", "Front door", True)
        assert entities[f"outpost_{NODE}_door_back_lock"]["commandable"] is False
    finally:
        await runner.stop()


async def test_api_says_off_when_discovery_is_off(edge_app: EdgeRunner) -> None:
    async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{edge_app.web_port}") as client:
        await console_login(client)
        status = (await client.get("/api/v1/homeassistant")).json()
    assert (status["enabled"], status["running"], status["entities"]) == (False, False, [])


@pytest.mark.browser
async def test_dashboard_section_on_a_phone(tmp_path: Path) -> None:
    runner = await start_edge(EdgeConfig.model_validate(ha_config_dict(tmp_path / "edge")))
    try:
        async with chromium() as browser:
            page = await browser.new_page(viewport=PHONE)
            await browser_login(page, f"http://127.0.0.1:{runner.web_port}")
            section = page.locator("#ha-section")
            await section.wait_for(timeout=10000)
            assert (await page.locator("#ha-state").inner_text()) == "on"
            assert (await page.locator("#ha-command-doors").inner_text()) == "front"
            await section.locator("summary").click()
            text = await section.inner_text()
            assert "Front door · Lock" in text and f"outpost_{NODE}_door_front_lock" in text
            assert "entities exposed" in text
            overflow = await page.evaluate("document.documentElement.scrollWidth > window.innerWidth")
            assert not overflow
            await section.scroll_into_view_if_needed()
            await save_screenshots(page, "console-homeassistant")
            await page.close()
    finally:
        await runner.stop()
