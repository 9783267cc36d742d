"""The rules pages of the console in a real browser: create a rule in the form, see a field error, fix it, dry-run,
see the run history after a real event, and a failing notification listed; plus the JSON API's 422s."""

from __future__ import annotations

import json
from pathlib import Path

import httpx
import pytest
from playwright.async_api import Page

from edge import keys
from edge.app import EdgeRunner
from edge.config import EdgeConfig
from tests.browser import PHONE, chromium
from tests.edge.console import browser_login, console_headers
from tests.edge.rules.receivers import webhook_receiver, webhook_secret
from tests.edge.site import site_config_dict
from tests.polling import eventually
from tests.screenshots import save_screenshots

pytestmark = pytest.mark.browser

TRIGGER = {"type": "event", "filter": {"type": "door_contact", "door": "front", "match": {"open": True}}}
BAD_ACTIONS = [{"type": "door", "door": "garage", "action": "lock"}]
GOOD_ACTIONS = [
    {"type": "alarm", "op": "raise", "source": "front", "alarm": "after_hours", "detail": "{summary}"},
    {"type": "webhook", "channel": "guard-co"},
]


async def fill_json(page: Page, selector: str, value: object) -> None:
    await page.fill(selector, json.dumps(value))


async def test_rule_editor_list_dry_run_history_and_failures(tmp_path: Path) -> None:
    secret_file = tmp_path / "guard.secret"
    webhook_secret(secret_file)
    async with webhook_receiver(statuses=[503]) as hook:  # the guard company's endpoint is failing
        config = site_config_dict(tmp_path / "edge")
        config["rules"] = {
            "channels": {"guard-co": {"type": "webhook", "url": hook.url, "secret_file": str(secret_file)}},
            "first_retry_s": 60,
        }
        edge = EdgeRunner(EdgeConfig.model_validate(config))
        await edge.start()
        try:
            base = f"http://127.0.0.1:{edge.web_port}"
            journal = edge.app[keys.JOURNAL]
            # Yesterday's events to replay: the door opened twice.
            for _ in range(2):
                await journal.record(
                    "event", {"type": "door_contact", "door_id": "front", "open": True}, summary="front opened"
                )
            async with chromium() as browser:
                page = await browser.new_page(viewport=PHONE)
                await browser_login(page, base)
                await page.click("a.nav[href='/rules']")
                await page.wait_for_selector("text=No rules yet")
                await page.click("text=New rule")
                await page.fill("#rule-id", "front-after-hours")
                await page.fill("#rule-name", "Front door opened")
                await fill_json(page, "#rule-trigger", TRIGGER)
                await fill_json(page, "#rule-conditions", [])
                await fill_json(page, "#rule-actions", BAD_ACTIONS)
                await page.fill("#rule-max-runs", "0")
                await page.click("button[name=do][value=save]")
                # Errors next to their fields: the rate limit (pydantic) ...
                error = await page.wait_for_selector("#error-max_runs")
                assert "greater than or equal to 1" in await error.inner_text()
                await page.fill("#rule-max-runs", "5")
                await page.click("button[name=do][value=save]")
                # ... and the site check (an unknown door), next to the actions.
                error = await page.wait_for_selector("#error-actions")
                assert "actions.0.door: unknown door 'garage'" in await error.inner_text()
                await save_screenshots(page, "rules-editor-errors")
                await fill_json(page, "#rule-actions", GOOD_ACTIONS)
                await page.click("button[name=do][value=dry-run]")
                await page.wait_for_selector("#dry-run")
                assert "front-after-hours: 2 would have run" in await page.inner_text(".dry-counts")
                await save_screenshots(page, "rules-dry-run")
                await page.click("button[name=do][value=save]")
                await page.wait_for_selector("text=Saved; the rule runs from now on.")
                # A real event: the rule runs, its history shows it, the failing webhook is listed.
                await journal.record(
                    "event", {"type": "door_contact", "door_id": "front", "open": True}, summary="front opened"
                )
                await eventually(lambda: hook.received)
                await eventually(lambda: edge.app[keys.RULES].history.recent("front-after-hours"))
                await page.reload()
                assert "ran" in await page.inner_text("table.history")
                await save_screenshots(page, "rules-editor")
                await page.goto(base + "/rules")

                async def listed() -> bool:
                    await page.reload()
                    return await page.locator("#notification-problems .notification-pending").count() == 1

                await eventually(listed, timeout_s=10, interval_s=0.3)
                problem = await page.inner_text("#notification-problems")
                assert "guard-co" in problem and "HTTP 503" in problem
                assert "Front door opened" in await page.inner_text(".rules-table")
                await save_screenshots(page, "rules-list")
        finally:
            await edge.stop()


async def test_rules_api_refuses_invalid_rules_with_field_paths(edge_app: EdgeRunner) -> None:
    base = f"http://127.0.0.1:{edge_app.web_port}"
    async with httpx.AsyncClient(base_url=base) as client:
        headers = await console_headers(client)
        body = {"id": "x", "name": "X", "trigger": {"type": "time", "at": "25:00"}, "actions": []}
        response = await client.put("/api/v1/rules/x", json=body, headers=headers)
        assert response.status_code == 422
        locs = {tuple(d["loc"]) for d in response.json()["detail"]}
        assert ("trigger", "time", "at") in locs and ("actions",) in locs
        good = {"id": "x", "name": "X", "trigger": {"type": "time", "at": "20:00"}, "actions": BAD_ACTIONS}
        response = await client.put("/api/v1/rules/x", json=good, headers=headers)
        assert response.status_code == 422 and response.json()["detail"][0]["loc"] == ["actions", "0", "door"]
        good["actions"] = [{"type": "lockdown", "active": True}]
        assert (await client.put("/api/v1/rules/x", json=good, headers=headers)).status_code == 200
        assert [r["rule"]["id"] for r in (await client.get("/api/v1/rules")).json()] == ["x"]
        assert (await client.put("/api/v1/rules/x", content=b"{", headers=headers)).status_code == 422
        assert (await client.delete("/api/v1/rules/x", headers=headers)).status_code == 200
        assert (await client.delete("/api/v1/rules/x", headers=headers)).status_code == 404
