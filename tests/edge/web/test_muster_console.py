"""Muster during a lockdown: the console lists, per zone, who badged in and not out next to the people the
zone's camera counts (real camera on vtest.avi with NanoDet, real badges, headless Chromium at phone size);
badging out takes a person off the list (real SQLite journal)."""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest

from edge import keys
from edge.access.muster import MusterRoll
from edge.app import EdgeRunner
from edge.config import EdgeConfig
from edge.storage.database import Database
from edge.storage.journal import Journal
from firmware_adapters.messages import BadgeRead
from tests.browser import PHONE, chromium
from tests.edge.console import browser_login, console_headers
from tests.edge.site import site_config_dict
from tests.polling import eventually
from tests.screenshots import save_screenshots


@pytest.fixture
def edge_config(tmp_path: Path, vtest_path: Path, nanodet_path: Path) -> EdgeConfig:
    data = site_config_dict(
        tmp_path / "edge",
        cameras=[{"id": "plaza", "name": "Plaza", "zone": "lobby", "source": str(vtest_path), "fps": 5}],
        vision={"detector": {"model_path": str(nanodet_path), "threads": 1}},
    )
    data["access"] = {"levels": {"staff": {"doors": ["front"]}}}
    return EdgeConfig.model_validate(data)


@pytest.mark.browser
async def test_the_console_shows_who_is_inside_during_a_lockdown(edge_app: EdgeRunner) -> None:
    app = edge_app.app
    base = f"http://127.0.0.1:{edge_app.web_port}"
    async with httpx.AsyncClient(base_url=base) as client:
        client.headers.update(await console_headers(client))
        for name, card in (("Ada Lovelace", "11:1"), ("Grace Hopper", "11:2")):
            created = await client.post("/api/v1/people", json={"name": name, "credentials": [card]})
            assert created.status_code == 201
            await client.patch(f"/api/v1/people/{created.json()['id']}", json={"levels": ["staff"]})
        assert (await app[keys.ACCESS].on_badge("reader-front", BadgeRead(credential="11:1"))).granted
        assert not (await app[keys.ACCESS].on_badge("reader-front", BadgeRead(credential="99:9"))).granted
        await eventually(lambda: app[keys.CAMERAS]["plaza"].analytics()["tracks"]["person"] > 0, timeout_s=30)
        muster = (await client.get("/api/v1/access/muster")).json()
        assert muster["lockdown"] is False
        lobby = next(z for z in muster["zones"] if z["zone"] == "lobby")
        assert [p["person"] for p in lobby["badged_in"]] == ["Ada Lovelace"]  # Grace never badged; 99:9 was denied
        assert lobby["cameras"] == ["plaza"] and lobby["camera_count"] >= 1
        assert (
            await client.put("/api/v1/access/lockdown", json={"active": True, "reason": "drill"})
        ).status_code == 200

    async with chromium() as browser:
        page = await browser.new_page(viewport=PHONE)
        await browser_login(page, base)
        card = page.locator('#muster .muster-zone[data-zone="lobby"]')
        await card.wait_for(timeout=10000)
        assert "Ada Lovelace" in await card.locator(".muster-people").inner_text()
        counts = await card.locator(".muster-counts").inner_text()
        assert counts.startswith("1 badged in") and "seen by camera" in counts
        assert not await page.evaluate("document.documentElement.scrollWidth > window.innerWidth")
        await page.locator("#muster-section").scroll_into_view_if_needed()
        await save_screenshots(page, "console-muster")
        await page.close()


async def test_badging_out_leaves_the_list_and_a_restart_remembers(tmp_path: Path, db: Database) -> None:
    config = EdgeConfig.model_validate(site_config_dict(tmp_path))
    journal = Journal(db)
    roll = MusterRoll(journal, config.doors)
    await roll.load()

    def badge(person_id: int, direction: str, granted: bool = True) -> dict[str, object]:
        return {
            "type": "access_decision",
            "door_id": "front",
            "direction": direction,
            "granted": granted,
            "person_id": person_id,
            "person": f"P{person_id}",
        }

    try:
        await journal.record("audit", badge(1, "in"))
        await journal.record("audit", badge(2, "in"))
        await journal.record("audit", badge(3, "in", granted=False))
        await journal.record("audit", badge(1, "out"))
        assert [p.person for p in roll.inside("lobby")] == ["P2"]
    finally:
        roll.stop()
    again = MusterRoll(journal, config.doors)
    await again.load()
    again.stop()
    assert [p.person for p in again.inside("lobby")] == ["P2"]
