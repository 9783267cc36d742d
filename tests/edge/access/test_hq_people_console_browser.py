"""The console shows which people HQ manages and which have local changes HQ's document does not show yet."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from edge import keys
from edge.access.site_config import SiteConfigApplier
from sync.downlink import SiteConfigDocument
from tests.browser import PHONE, chromium
from tests.edge.console import browser_login

pytestmark = pytest.mark.browser


async def test_people_list_marks_hq_managed_and_local_changes(edge_app, tmp_path) -> None:
    app = edge_app.app
    applier = SiteConfigApplier(app[keys.CONFIG], app[keys.DATABASE], app[keys.PEOPLE], app[keys.JOURNAL])
    person = {"name": "Ada", "credentials": [{"number": "77:1"}], "updated_at": datetime(2026, 1, 1, tzinfo=UTC)}
    doc = {"site_id": "test-site", "version": 1, "issued_at": datetime.now(UTC)}
    people = [{"id": "hq-ada", **person}, {"id": "hq-bob", **person, "name": "Bob", "credentials": []}]
    assert (await applier.apply(SiteConfigDocument.model_validate({**doc, "people": people}))).applied
    ada = next(p["id"] for p in await app[keys.CREDENTIALS].list_people() if p["name"] == "Ada")
    await app[keys.PEOPLE].revoke_credential(ada, "77:1", "admin")
    await app[keys.PEOPLE].add_person("Lou", ["5:5"], "admin")
    base = f"http://127.0.0.1:{edge_app.web_port}"
    async with chromium() as browser:
        page = await browser.new_page(viewport=PHONE)
        await browser_login(page, base)
        await page.wait_for_selector("#people tr[data-person-id]")
        rows = {
            cells[0]: cells[2:]
            for cells in [
                [await td.inner_text() for td in await tr.query_selector_all("td")]
                for tr in await page.query_selector_all("#people tr")
            ]
        }
        assert rows == {
            "Ada": ["HQ", "yes, not yet at HQ"],
            "Bob": ["HQ", ""],
            "Lou": ["this site", ""],
        }
        assert not await page.evaluate("document.documentElement.scrollWidth > window.innerWidth")
        await page.screenshot(path=str(tmp_path / "people.png"), full_page=True)
        await page.close()
