"""The console's event list shows the door camera's frame beside a badge event (real camera on vtest.avi, real
NanoDet, headless Chromium), and the frame file is served only to a logged-in console user."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import httpx
import pytest

from edge import keys
from edge.app import EdgeRunner
from edge.config import EdgeConfig
from firmware_adapters.messages import BadgeRead
from tests.browser import PHONE, chromium
from tests.edge.console import browser_login, console_login
from tests.edge.site import site_config_dict
from tests.polling import eventually
from tests.screenshots import save_screenshots

pytestmark = pytest.mark.browser


@pytest.fixture
def edge_config(tmp_path: Path, vtest_path: Path, nanodet_path: Path) -> EdgeConfig:
    data = site_config_dict(
        tmp_path / "edge",
        cameras=[{"id": "plaza", "name": "Plaza", "zone": "lobby", "source": str(vtest_path), "fps": 5}],
        vision={"detector": {"model_path": str(nanodet_path), "threads": 1}},
    )
    data["doors"][0]["camera"] = "plaza"
    return EdgeConfig.model_validate(data)


async def test_the_badge_event_shows_the_door_frame(edge_app: EdgeRunner) -> None:
    app = edge_app.app
    await eventually(lambda: app[keys.CAMERAS]["plaza"].status.frames_processed > 2, timeout_s=30)
    decision = await app[keys.ACCESS].on_badge("reader-front", BadgeRead(credential="99:999"))
    assert not decision.granted  # an unknown badge: denied, and still pictured

    async def door_frame() -> Any:
        events = await app[keys.JOURNAL].recent(20, "event")
        return next((e.payload for e in events if e.payload.get("type") == "door_snapshot"), None)

    frame = await eventually(door_frame, timeout_s=10)
    base = f"http://127.0.0.1:{edge_app.web_port}"
    url = f"/api/v1/cameras/plaza/door-frames/{frame['thumbnail']}"
    async with httpx.AsyncClient(base_url=base) as client:
        assert (await client.get(url)).status_code in (302, 303, 401)  # not without a session
        await console_login(client)
        thumb = await client.get(url)
        assert thumb.status_code == 200 and thumb.headers["content-type"] == "image/jpeg"
        assert (await client.get("/api/v1/cameras/plaza/door-frames/latest.jpg")).status_code == 404
        assert (await client.get("/api/v1/cameras/nowhere/door-frames/" + frame["thumbnail"])).status_code == 404
        events = (await client.get("/api/v1/events?limit=30")).json()
        badge = next(e for e in events if e["id"] == frame["of_journal_id"])
        assert badge["payload"]["type"] == "access_decision" and badge["door_frame"]["thumbnail"] == url

    async with chromium() as browser:
        page = await browser.new_page(viewport=PHONE)
        await browser_login(page, base)
        img = page.locator(f'#events img.door-thumb[src="{url}"]')
        await img.wait_for(timeout=10000)
        assert await img.evaluate("i => i.complete && i.naturalWidth") == 160
        row = page.locator("#events tr", has=page.locator(f'img.door-thumb[src="{url}"]'))
        assert "DENIED" in await row.inner_text()
        assert not await page.evaluate("document.documentElement.scrollWidth > window.innerWidth")
        await save_screenshots(page, "console-door-frames")
        await page.close()
