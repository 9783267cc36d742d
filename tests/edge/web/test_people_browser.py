"""People and badges in a real headless Chromium: add a person and see the badge work at a simulated reader,
enrol a card by tapping it, issue a visitor badge, bulk import with one bad row; screenshots at 390 and 1280 px."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
from playwright.async_api import Page
from sqlalchemy import insert

from edge import keys
from edge.config import EdgeConfig
from edge.storage.schema import person_access
from tests.browser import PHONE, chromium
from tests.edge.console import browser_login
from tests.edge.site import site_config_dict
from tests.screenshots import save_screenshots

pytestmark = pytest.mark.browser


@pytest.fixture
def edge_config(tmp_path: Path) -> EdgeConfig:
    """The small test site with two access levels."""
    levels = {"staff": {"doors": ["front"]}, "night": {"doors": ["*"]}}
    return EdgeConfig.model_validate(site_config_dict(tmp_path / "edge", access={"levels": levels}))


async def _fits_a_phone(page: Page) -> None:
    await page.set_viewport_size(PHONE)
    assert not await page.evaluate("document.documentElement.scrollWidth > window.innerWidth"), page.url


async def test_people_badges_enrolment_and_import_in_the_browser(edge_app, devices, tmp_path) -> None:
    lock = await devices("lock-front", "lock")
    reader = await devices("reader-front", "reader")
    base = f"http://127.0.0.1:{edge_app.web_port}"
    async with chromium() as browser:
        page = await browser.new_page(viewport={"width": 1280, "height": 900})
        await browser_login(page, base)
        await page.wait_for_selector("text=Front door")
        await page.click("a.nav[href='/people']")
        await page.wait_for_selector("#no-people")

        # Add a person with a badge and a level; the badge then opens the door at the simulated reader.
        await page.click("#add-person summary")
        await page.fill("#p-name", "Ada Lovelace")
        await page.fill("#p-badges", "123:999")
        await page.select_option("#p-levels", ["staff"])
        await page.click("#add-person button[type=submit]")
        await page.wait_for_selector("#person-name:has-text('Ada Lovelace')")
        await page.wait_for_selector("tr[data-badge='123:999']")
        badge = await reader.present("123:999")
        assert await reader.wait_receipt(badge.id)
        command = await asyncio.wait_for(lock.commands.get(), 5)
        assert command.action == "unlock"
        await page.goto(base + "/")
        await page.wait_for_selector("text=GRANTED Ada Lovelace at Front door")

        # Enrol a second card by tapping it at the reader.
        await page.goto(base + "/people")
        await page.click("text=Ada Lovelace")
        await page.select_option("#enrol-reader", "reader-front")
        await page.click(".enrol-form button[type=submit]")
        await page.wait_for_selector("#tap-now:has-text('Tap the card now')")
        await save_screenshots(page, "console-people-enrol-waiting")
        tap = await reader.present("ca:fe:02")
        assert await reader.wait_receipt(tap.id)
        await page.wait_for_selector("#enrol-result:has-text('Badge CAFE02 enrolled by tap at reader-front')")
        await page.wait_for_selector("tr[data-badge='CAFE02']")
        await save_screenshots(page, "console-people-person")
        await _fits_a_phone(page)

        # A visitor badge that expires by itself.
        await page.set_viewport_size({"width": 1280, "height": 900})
        await page.goto(base + "/people")
        await page.click("#add-visitor summary")
        await page.fill("#v-name", "Vera Visitor")
        await page.fill("#v-host", "Ada")
        await page.fill("#v-badge", "777")
        await page.fill("#v-hours", "4")
        await page.click("#add-visitor button[type=submit]")
        await page.wait_for_selector("#person-name .tag-visitor")
        record = edge_app.app[keys.ACCESS].credential_index.get("777")
        assert record is not None and record.role == "visitor" and record.person_valid_until is not None

        # Bulk import with one bad row: the preview shows it and writes nothing; the confirm writes the others.
        csv_file = tmp_path / "people.csv"
        csv_file.write_text(
            "name,badges,levels\nAlan Turing,200:1,staff\nBad Row,200:2,no-such-level\nGrace Hopper,200:3,night\n"
        )
        await page.goto(base + "/people/import")
        await page.set_input_files("#import-file", str(csv_file))
        await page.click("#import-form button[type=submit]")
        await page.wait_for_selector("#import-preview:has-text('2 rows are ready, 1 row has errors')")
        await page.wait_for_selector("tr.row-bad:has-text('unknown access level(s): no-such-level')")
        assert edge_app.app[keys.ACCESS].credential_index.get("200:1") is None  # nothing written yet
        await save_screenshots(page, "console-people-import-preview")
        await _fits_a_phone(page)
        await page.set_viewport_size({"width": 1280, "height": 900})
        await page.click("#confirm-form button[type=submit]")
        await page.wait_for_selector("#import-result:has-text('2 people imported; 1 row refused')")
        await save_screenshots(page, "console-people-import-done")
        assert edge_app.app[keys.ACCESS].credential_index.get("200:3") is not None
        assert edge_app.app[keys.ACCESS].credential_index.get("200:2") is None

        await page.goto(base + "/people")
        for name in ("Ada Lovelace", "Alan Turing", "Grace Hopper", "Vera Visitor (visiting Ada)"):
            await page.wait_for_selector(f"tr[data-person] a:has-text('{name}')")
        await save_screenshots(page, "console-people-list")
        await _fits_a_phone(page)
        await page.fill("#people-search", "200:3")
        await page.click(".search-form button")
        await page.wait_for_selector("tr[data-person] a:has-text('Grace Hopper')")
        assert await page.locator("tr[data-person]").count() == 1

        # When HQ manages a person the pages say so, and mark a change made here until HQ's document shows it.
        ada = edge_app.app[keys.ACCESS].credential_index.get("123:999")
        assert ada is not None
        async with edge_app.app[keys.DATABASE].engine.begin() as conn:  # as HQ's document enrols a person
            await conn.execute(insert(person_access).values(person_id=ada.person_id, external_id="hq-ada"))
        await page.goto(base + f"/people/{ada.person_id}")
        await page.wait_for_selector("#hq-note:has-text('HQ manages this person')")
        await page.click("button[aria-label='Revoke badge 123:999']")
        await page.wait_for_selector("#hq-note:has-text('badge(s) 123:999 revoked here')")
        await page.wait_for_selector("tr[data-badge='123:999'] :text('revoked')")
        await save_screenshots(page, "console-people-hq-local-change")
        await page.goto(base + "/people")
        await page.wait_for_selector(f"tr[data-person='{ada.person_id}'] .tag-local")
        await page.close()
