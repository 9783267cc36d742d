"""The live MJPEG view streams annotated frames of the real clip, in the browser and over plain HTTP."""

from __future__ import annotations

from pathlib import Path

import cv2
import httpx
import numpy as np
import pytest

from edge.app import EdgeRunner
from edge.config import EdgeConfig
from tests.browser import PHONE, chromium
from tests.edge.console import browser_login, console_login
from tests.edge.site import site_config_dict
from tests.polling import eventually


async def _natural_width(img) -> bool:  # type: ignore[no-untyped-def]
    return await img.evaluate("el => el.naturalWidth") == 768


@pytest.fixture
async def camera_edge(tmp_path: Path, vtest_path: Path, nanodet_path: Path):  # type: ignore[no-untyped-def]
    config = EdgeConfig.model_validate(
        site_config_dict(
            tmp_path / "edge",
            cameras=[{"id": "plaza", "name": "Plaza", "zone": "lobby", "source": str(vtest_path), "fps": 5}],
            vision={"detector": {"model_path": str(nanodet_path), "threads": 1}},
        )
    )
    runner = EdgeRunner(config)
    await runner.start()
    try:
        yield runner
    finally:
        await runner.stop()


async def test_mjpeg_stream_yields_jpeg_frames(camera_edge) -> None:
    base = f"http://127.0.0.1:{camera_edge.web_port}"
    async with httpx.AsyncClient(base_url=base, timeout=30) as client:
        assert (await client.get("/api/v1/cameras/plaza/live.mjpeg")).status_code == 401
        await console_login(client)
        assert (await client.get("/api/v1/cameras/nope/live.mjpeg")).status_code == 404
        async with client.stream("GET", "/api/v1/cameras/plaza/live.mjpeg") as response:
            assert response.headers["content-type"].startswith("multipart/x-mixed-replace")
            buffer = b""
            async for chunk in response.aiter_bytes():
                buffer += chunk
                if buffer.count(b"\xff\xd9") >= 2:  # two complete JPEG frames
                    break
    start = buffer.index(b"\xff\xd8")
    frame = cv2.imdecode(np.frombuffer(buffer[start : buffer.index(b"\xff\xd9") + 2], np.uint8), cv2.IMREAD_COLOR)
    assert frame.shape == (576, 768, 3)


@pytest.mark.browser
async def test_live_toggle_in_the_console(camera_edge) -> None:
    base = f"http://127.0.0.1:{camera_edge.web_port}"
    async with chromium() as browser:
        page = await browser.new_page(viewport=PHONE)
        await browser_login(page, base)
        await page.click('button[data-live="plaza"]')
        img = page.locator('img[data-camera="plaza"]')
        assert "live.mjpeg" in (await img.get_attribute("src") or "")
        await eventually(lambda: _natural_width(img), timeout_s=15)
        await page.close()
