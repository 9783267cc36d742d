"""An alarm acknowledged at HQ reaches the box (real cloud + real edge over HTTP on loopback), and back.

The box raises an alarm, it syncs up, HQ acknowledges it through the portal form or the JSON API, the box's next
configuration pull carries it, the box acknowledges it through its normal path (by ``hq:<email>``), the console
lists it acknowledged and the box's acknowledgement syncs up: the portal shows HQ's acknowledgement "applied".
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
from cloud_helpers import PASSWORD, login, portal_csrf, portal_login

from cloud.admin import bootstrap_tenant, create_user
from cloud.app import started_cloud
from cloud.config import CloudConfig
from edge import keys
from edge.access.alarms import AlarmRecord
from edge.app import EdgeRunner
from edge.config import EdgeConfig
from provisioning.enroll import claim_site
from tests.edge.console import console_headers
from tests.edge.site import site_config_dict
from tests.net import free_port
from tests.polling import eventually

ADMIN = "admin@acme.example"


@dataclass
class Box:
    """A running edge enrolled in the cloud, with a logged-in console client."""

    runner: EdgeRunner
    console: httpx.AsyncClient
    headers: dict[str, str]

    async def raise_alarm(self, alarm: str) -> AlarmRecord:
        """Raise an alarm on the front door through the box's alarm book (journaled and synced like any)."""
        return await self.runner.app[keys.ACCESS].supervisor.alarms.raised("front", alarm, "", datetime.now(UTC))

    async def console_alarm(self, alarm_id: int) -> dict[str, Any] | None:
        """The alarm as the console lists it (None: no longer listed)."""
        listed = (await self.console.get("/api/v1/alarms")).json()
        return next((a for a in listed if a["id"] == alarm_id), None)

    async def acks_of(self, alarm_id: int) -> list[str]:
        """Who acknowledged `alarm_id` according to the box's journal (its audit of alarm changes)."""
        events = await self.runner.app[keys.JOURNAL].recent(500, "event")
        return [
            e.payload["by"]
            for e in events
            if e.payload.get("type") == "alarm"
            and e.payload["state"] == "acknowledged"
            and e.payload["alarm_id"] == alarm_id
        ]


def edge_config(tmp_path: Path, url: str, site_id: str, secret: str) -> EdgeConfig:
    return EdgeConfig.model_validate(
        site_config_dict(
            tmp_path / "edge",
            site={"id": site_id, "name": "Depot", "timezone": "UTC"},
            cloud={"url": url, "secret": secret, "sync_interval_s": 0.2, "max_backoff_s": 0.5, "config_wait_s": 5},
        )
    )


@asynccontextmanager
async def running_box(config: EdgeConfig) -> AsyncIterator[Box]:
    runner = EdgeRunner(config)
    await runner.start()
    try:
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{runner.web_port}", timeout=30) as console:
            yield Box(runner, console, await console_headers(console))
    finally:
        await runner.stop()


async def hq_alarm(http: httpx.AsyncClient, site_id: str, alarm_id: int) -> dict[str, Any] | None:
    """The alarm in the analytics API's open or HQ-acknowledged lists."""
    body = (await http.get("/api/v1/analytics/alarms")).json()
    for row in body["open"] + body["hq_acknowledged"]:
        if (row["site_id"], row["alarm_id"]) == (site_id, alarm_id):
            found: dict[str, Any] = row
            return found
    return None


async def portal_ack(http: httpx.AsyncClient, site_id: str, alarm_id: int) -> None:
    """Acknowledge through the portal's form, as the page's button does."""
    page = await http.get("/portal/alarms")
    assert page.status_code == 200, page.text
    assert f'action="/portal/alarms/{site_id}/{alarm_id}/acknowledge"' in page.text
    sent = await http.post(
        f"/portal/alarms/{site_id}/{alarm_id}/acknowledge", data={"csrf_token": portal_csrf(page.text)}
    )
    assert sent.status_code == 303, sent.text


def box_ack_cell(html: str, site_id: str, alarm_id: int) -> str:
    """The "At the box" cell of an alarm in the page's HQ-acknowledged table."""
    row = html.split(f'<tr data-site="{site_id}" data-alarm="{alarm_id}">', 1)[1].split("</tr>", 1)[0]
    return row.split('class="box-ack"', 1)[1].split("</td>", 1)[0]


async def test_hq_acknowledgement_reaches_the_box_and_comes_back_applied(tmp_path: Path, db_url: str) -> None:
    port = free_port()
    cloud_config = CloudConfig(data_dir=tmp_path / "cloud", database_url=db_url, host="127.0.0.1", port=port)
    async with started_cloud(cloud_config) as cloud, httpx.AsyncClient(base_url=cloud.url, timeout=30) as hq:
        boot = await bootstrap_tenant(cloud.db, "Acme", ADMIN, PASSWORD, site_name="Depot")
        assert boot.enrollment is not None
        enrolled = await asyncio.to_thread(claim_site, cloud.url, boot.enrollment.code, "box-1")
        site = enrolled.site_id
        async with running_box(edge_config(tmp_path, cloud.url, site, enrolled.secret)) as box:
            forced = await box.raise_alarm("forced")
            held = await box.raise_alarm("held_open")
            await box.runner.app[keys.ACCESS].supervisor.alarms.cleared("front", "held_open")  # cleared, unacked

            async def synced_up() -> bool:
                rows = [await hq_alarm(hq, site, a.id) for a in (forced, held)]
                return all(r is not None and r["open"] for r in rows)

            assert (await portal_login(hq, ADMIN, PASSWORD)).status_code == 303
            await eventually(synced_up, timeout_s=15)

            # Through the portal form: the box acknowledges it as the HQ user; the console lists it acknowledged.
            await portal_ack(hq, site, forced.id)

            async def acked_on_box() -> dict[str, Any] | None:
                row = await box.console_alarm(forced.id)
                return row if row is not None and row["state"] == "active_acknowledged" else None

            on_box = await eventually(acked_on_box, timeout_s=15)
            assert on_box["acknowledged_by"] == f"hq:{ADMIN}"

            async def applied(alarm_id: int) -> dict[str, Any] | None:
                row = await hq_alarm(hq, site, alarm_id)
                return row if row is not None and row["box_ack"] == "applied" else None

            row = await eventually(lambda: applied(forced.id), timeout_s=15)
            assert (row["hq_acknowledged_by"], row["acknowledged_by"], row["open"]) == (ADMIN, f"hq:{ADMIN}", False)
            page = (await hq.get("/portal/alarms")).text
            assert "Applied" in box_ack_cell(page, site, forced.id)

            # Through the JSON API, of an alarm already cleared on the box: acknowledged there too (and closed).
            token = await login(hq, ADMIN)
            path = f"/api/v1/analytics/alarms/{site}/{held.id}/acknowledge"
            answer = await hq.post(path, json={"comment": "seen on camera"}, headers={"X-CSRF-Token": token})
            assert answer.status_code == 200, answer.text
            assert answer.json()["box_ack"] == "pending"
            row = await eventually(lambda: applied(held.id), timeout_s=15)
            assert row["acknowledged_by"] == f"hq:{ADMIN}"
            assert await box.console_alarm(held.id) is None  # cleared and acknowledged: no longer listed

            # Idempotent: acknowledging again at HQ changes nothing on the box (a later ack is the barrier).
            again = await hq.post(
                f"/api/v1/analytics/alarms/{site}/{forced.id}/acknowledge", json={}, headers={"X-CSRF-Token": token}
            )
            assert again.status_code == 200 and again.json()["box_ack"] == "applied"
            barrier = await box.raise_alarm("tamper")
            await eventually(lambda: hq_alarm(hq, site, barrier.id), timeout_s=15)
            await portal_ack(hq, site, barrier.id)
            await eventually(lambda: applied(barrier.id), timeout_s=15)
            assert await box.acks_of(forced.id) == [f"hq:{ADMIN}"]
            assert await box.acks_of(held.id) == [f"hq:{ADMIN}"]

            # The reverse: acknowledged at the console, HQ sees it acknowledged by the site.
            local = await box.raise_alarm("command_failed")
            await eventually(lambda: hq_alarm(hq, site, local.id), timeout_s=15)  # synced up, open
            acked = await box.console.post(f"/api/v1/alarms/{local.id}/ack", json={}, headers=box.headers)
            assert acked.status_code == 200, acked.text

            async def acked_by_site() -> bool:
                return await hq_alarm(hq, site, local.id) is None  # neither open nor acknowledged at HQ

            await eventually(acked_by_site, timeout_s=15)
            # HQ acknowledging an alarm the box already acknowledged: fine, and applied at once.
            late = await hq.post(
                f"/api/v1/analytics/alarms/{site}/{local.id}/acknowledge", json={}, headers={"X-CSRF-Token": token}
            )
            assert late.status_code == 200, late.text
            assert (late.json()["acknowledged_by"], late.json()["box_ack"]) == ("admin", "applied")
            assert await box.acks_of(local.id) == ["admin"]

            # The security role may acknowledge; a viewer may not.
            path = f"/api/v1/analytics/alarms/{site}/{local.id}/acknowledge"
            for email, role, status in (("sec@acme.example", "security", 200), ("view@acme.example", "viewer", 403)):
                await create_user(cloud.db, boot.tenant_id, email, PASSWORD, role)
                async with httpx.AsyncClient(base_url=cloud.url) as other:
                    other_token = await login(other, email)
                    answer = await other.post(path, json={}, headers={"X-CSRF-Token": other_token})
                    assert answer.status_code == status, (role, answer.text)


async def test_a_box_offline_at_ack_time_applies_it_on_reconnect(tmp_path: Path, db_url: str) -> None:
    cloud_config = CloudConfig(data_dir=tmp_path / "cloud", database_url=db_url, host="127.0.0.1", port=free_port())
    async with started_cloud(cloud_config) as cloud, httpx.AsyncClient(base_url=cloud.url, timeout=30) as hq:
        boot = await bootstrap_tenant(cloud.db, "Acme", ADMIN, PASSWORD, site_name="Depot")
        assert boot.enrollment is not None
        enrolled = await asyncio.to_thread(claim_site, cloud.url, boot.enrollment.code, "box-1")
        site = enrolled.site_id
        config = edge_config(tmp_path, cloud.url, site, enrolled.secret)
        assert (await portal_login(hq, ADMIN, PASSWORD)).status_code == 303
        async with running_box(config) as box:
            forced = await box.raise_alarm("forced")
            await eventually(lambda: hq_alarm(hq, site, forced.id), timeout_s=15)
        # The box is off now: HQ acknowledges, the portal shows it pending at the box.
        await portal_ack(hq, site, forced.id)
        page = (await hq.get("/portal/alarms")).text
        assert "Pending" in box_ack_cell(page, site, forced.id)
        assert (await hq_alarm(hq, site, forced.id) or {})["box_ack"] == "pending"

        async with running_box(config) as box:

            async def acked_on_box() -> dict[str, Any] | None:
                row = await box.console_alarm(forced.id)
                return row if row is not None and row["acknowledged_by"] == f"hq:{ADMIN}" else None

            await eventually(acked_on_box, timeout_s=15)

            async def applied() -> bool:
                return (await hq_alarm(hq, site, forced.id) or {}).get("box_ack") == "applied"

            await eventually(applied, timeout_s=15)
            page = (await hq.get("/portal/alarms")).text
            assert "Applied" in box_ack_cell(page, site, forced.id)
            assert await box.acks_of(forced.id) == [f"hq:{ADMIN}"]
