"""An admin draws a zone on the plaza camera with the mouse in Chromium; it is saved to the config file and the
real vision pipeline (NanoDet on vtest.avi) counts people in it; a viewer sees it without the drawing tools."""

from __future__ import annotations

from pathlib import Path

import pytest
from playwright.async_api import FloatRect, Locator, Page

from edge import keys
from edge.config import load_config
from edge.web.auth import CONSOLE_AUTH
from tests.browser import PHONE, chromium
from tests.edge.console import browser_login
from tests.edge.web.camera_site import edge_from_file, write_camera_site
from tests.polling import eventually
from tests.screenshots import DESKTOP_HEIGHT, DESKTOP_WIDTH, save_screenshots

pytestmark = pytest.mark.browser
VIEWER_PW = "viewer-password-1"
# Where the zone is dragged, as fractions of the image: the plaza's walkway, where people walk all clip long.
DRAG_FROM = (0.05, 0.2)
DRAG_TO = (0.95, 0.98)
CORNER_TO = (0.9, 0.9)
LINE_FROM = (0.5, 0.15)
LINE_TO = (0.5, 0.95)


def at(box: FloatRect, point: tuple[float, float]) -> tuple[float, float]:
    """The page coordinates of a point given as fractions of the image."""
    return box["x"] + point[0] * box["width"], box["y"] + point[1] * box["height"]


async def overlay_box(page: Page) -> FloatRect:
    """Where the image (and the drawing over it) is on the page now."""
    box = await page.locator("#region-overlay").bounding_box()
    assert box is not None
    return box


# Counts how often the page writes its counts from now on (window.countChanges).
COUNT_CHANGES = """() => {
  window.countChanges = 0;
  const seen = () => { window.countChanges += 1; };
  new MutationObserver(seen).observe(document.getElementById("tracks-now"), { childList: true, subtree: true });
}"""


async def _count_changes(page: Page, at_least: int) -> bool:
    return bool(await page.evaluate(f"window.countChanges >= {at_least}"))


async def _image_loaded(page: Page) -> bool:
    return bool(await page.evaluate("document.getElementById('camera-image').naturalWidth === 768"))


async def _shows_people(cell: Locator) -> bool:
    text = await cell.inner_text()
    return text.isdigit() and int(text) > 0


async def _no_sideways_scroll(page: Page) -> bool:
    return not await page.evaluate("document.documentElement.scrollWidth > window.innerWidth")


async def test_admin_draws_a_zone_that_vision_counts_in(tmp_path: Path, vtest_path: Path, nanodet_path: Path) -> None:
    camera = {"id": "plaza", "name": "Plaza", "zone": "lobby", "source": str(vtest_path), "fps": 5}
    vision = {"detector": {"model_path": str(nanodet_path), "threads": 1}}
    config_path = write_camera_site(tmp_path, camera, vision=vision)
    async with edge_from_file(config_path) as edge, chromium() as browser:
        await edge.app[CONSOLE_AUTH].create_user("victor", VIEWER_PW, "viewer")
        base = f"http://127.0.0.1:{edge.web_port}"
        page = await browser.new_page(viewport={"width": DESKTOP_WIDTH, "height": DESKTOP_HEIGHT})
        await browser_login(page, base)
        await page.wait_for_selector("#doors")
        await page.click("header a[href='/cameras']")
        await page.wait_for_selector("a[data-camera-card='plaza']")
        await save_screenshots(page, "console-cameras")
        await page.click("a[data-camera-card='plaza']")
        await page.wait_for_selector("#region-overlay")
        await eventually(lambda: _image_loaded(page), timeout_s=30)

        # Draw: press on the image, drag, release (real mouse events through Chromium).
        await page.click("#draw-zone")
        box = await overlay_box(page)
        await page.mouse.move(*at(box, DRAG_FROM))
        await page.mouse.down()
        await page.mouse.move(*at(box, DRAG_TO), steps=12)
        await page.mouse.up()
        await page.wait_for_selector("#zone-rows tr[data-zone='zone-1']")
        assert await page.locator("#region-overlay polygon[data-zone='zone-1']").count() == 1
        assert await page.locator("#regions-dirty").is_visible()
        name = page.get_by_label("Name of zone zone-1")
        await name.fill("walkway")
        await name.press("Tab")

        # Reshape: drag the zone's third corner (bottom right) up and left.
        box = await overlay_box(page)  # again: typing the name may have scrolled the page
        corner = await page.locator(".region-handle").nth(2).bounding_box()
        assert corner is not None
        await page.mouse.move(corner["x"] + corner["width"] / 2, corner["y"] + corner["height"] / 2)
        await page.mouse.down()
        await page.mouse.move(*at(box, CORNER_TO), steps=8)
        await page.mouse.up()

        # A counting line down the middle of the plaza, dragged from its top end to its bottom end.
        await page.click("#draw-line")
        box = await overlay_box(page)
        await page.mouse.move(*at(box, LINE_FROM))
        await page.mouse.down()
        await page.mouse.move(*at(box, LINE_TO), steps=12)
        await page.mouse.up()
        await page.wait_for_selector("#line-rows tr[data-line='line-1']")
        line_name = page.get_by_label("Name of line line-1")
        await line_name.fill("middle")
        await line_name.press("Tab")
        assert edge.app[keys.CONFIG].cameras[0].zones == []  # nothing is used before it is saved
        await page.click("#save-regions")
        await page.wait_for_selector("#regions-result:has-text('Saved')")
        assert await page.locator("#regions-dirty").is_hidden()

        # Saved to the config file, where the drag put it (normalised to the image).
        saved = load_config(config_path).cameras[0]
        assert [z.name for z in saved.zones] == ["walkway"]
        expected = [DRAG_FROM, (DRAG_TO[0], DRAG_FROM[1]), CORNER_TO, (DRAG_FROM[0], DRAG_TO[1])]
        for got, want in zip(saved.zones[0].polygon, expected, strict=True):
            assert abs(got[0] - want[0]) < 0.01 and abs(got[1] - want[1]) < 0.01, (saved.zones[0].polygon, expected)
        assert [ln.name for ln in saved.lines] == ["middle"]
        for got, want in ((saved.lines[0].a, LINE_FROM), (saved.lines[0].b, LINE_TO)):
            assert abs(got[0] - want[0]) < 0.01 and abs(got[1] - want[1]) < 0.01

        # Used by vision: the running camera counts people in the new zone, and journals them entering it.
        pipeline = edge.app[keys.CAMERAS]["plaza"]
        await eventually(lambda: pipeline.analytics()["zones"].get("walkway", {}).get("person", 0) > 0, timeout_s=90)

        async def entered() -> bool:
            entries = await edge.app[keys.JOURNAL].recent(200, "detection", source="plaza")
            return any(e.payload.get("kind") == "zone_entered" and e.payload["region"] == "walkway" for e in entries)

        await eventually(entered, timeout_s=30)

        def crossed() -> bool:
            counts = pipeline.analytics()["lines"].get("middle", {"in": {}, "out": {}})
            return sum(counts["in"].values()) + sum(counts["out"].values()) > 0

        await eventually(crossed, timeout_s=120)  # people walk across the plaza, through the middle line
        # ...and the page shows it (its counts come from the camera's analytics).
        people = page.locator("#zone-rows tr[data-zone='walkway'] td:nth-child(2)")
        await eventually(lambda: _shows_people(people), timeout_s=15)
        await save_screenshots(page, "console-camera-admin")
        await page.close()

        # A viewer on a phone sees the zone on the image and its count, but no tool to change it.
        page = await browser.new_page(viewport=PHONE)
        await browser_login(page, base, VIEWER_PW, "victor")
        await page.wait_for_selector("#doors")
        await page.goto(base + "/cameras/plaza")
        await page.wait_for_selector("#region-overlay polygon[data-zone='walkway']", state="attached")
        assert await page.locator("#draw-zone").count() == 0
        assert await page.locator(".region-handle").count() == 0
        assert await page.locator("#save-regions").count() == 0
        assert "walkway" in await page.inner_text("#zone-rows")
        # The counts come from the live stream, not from polling the analytics.
        polls: list[str] = []
        page.on("request", lambda r: polls.append(r.url) if r.url.endswith("/analytics") else None)
        await page.wait_for_selector('body[data-live="connected"]', timeout=10000)
        polls.clear()
        await page.evaluate(COUNT_CHANGES)
        await eventually(lambda: _count_changes(page, 4), timeout_s=30)  # longer than one 2 s poll
        assert polls == []
        await eventually(lambda: _image_loaded(page), timeout_s=15)
        assert await _no_sideways_scroll(page)
        await save_screenshots(page, "console-camera-viewer")

        # The System page: disk use, retention, version, backups, sync.
        await page.click("header a[href='/system']")
        text = await page.inner_text("main")
        for fact in ("Software version", "Database", "Snapshots", "deleted after 30.0 days", "runs offline"):
            assert fact in text, fact
        assert "Europe/Berlin" in text
        assert await _no_sideways_scroll(page)
        await save_screenshots(page, "console-system")
        await page.close()
