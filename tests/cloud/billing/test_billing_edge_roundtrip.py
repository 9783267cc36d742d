"""A real edge and a real cloud: the box's inventory is metered at HQ, and the box learns its plan's allowances
(shown on its console against what it has configured)."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import httpx
from billing_scenarios import BASIC, publish, subscribe
from sqlalchemy import select

from cloud.admin import bootstrap_tenant
from cloud.app import started_cloud
from cloud.billing.models import UsageDay
from cloud.config import CloudConfig
from cloud.db.models import utcnow
from edge.app import EdgeRunner
from edge.config import EdgeConfig
from provisioning.enroll import claim_site
from tests.edge.console import console_login
from tests.edge.site import site_config_dict
from tests.polling import eventually


async def test_inventory_goes_up_and_plan_limits_come_down(tmp_path: Path) -> None:
    config = CloudConfig(data_dir=tmp_path / "cloud", host="127.0.0.1", port=0)
    async with started_cloud(config) as cloud:
        boot = await bootstrap_tenant(cloud.db, "Acme", "admin@acme.example", "correct-horse-1", site_name="Depot")
        assert boot.enrollment is not None
        (tiny,) = await publish(
            cloud.db, BASIC.model_copy(update={"code": "tiny", "name": "Tiny", "included_doors": 0})
        )
        await subscribe(cloud.db, boot.tenant_id, tiny, utcnow().date())
        enrollment = await asyncio.to_thread(claim_site, cloud.url, boot.enrollment.code, "box-1")
        edge_config = EdgeConfig.model_validate(
            site_config_dict(
                tmp_path / "edge",
                site={"id": enrollment.site_id, "name": enrollment.site_name, "timezone": "UTC"},
                cloud={"url": cloud.url, "secret": enrollment.secret, "sync_interval_s": 0.2},
            )
        )
        runner = EdgeRunner(edge_config)
        await runner.start()
        try:

            async def metered() -> UsageDay | None:
                async with cloud.db() as session:
                    return await session.scalar(select(UsageDay).where(UsageDay.site_id == enrollment.site_id))

            usage = await eventually(metered, timeout_s=30)
            assert (usage.doors, usage.devices) == (len(edge_config.doors), len(edge_config.devices))
            async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{runner.web_port}") as client:
                await console_login(client)

                async def plan() -> dict[str, Any] | None:
                    answer: dict[str, Any] | None = (await client.get("/api/v1/sync")).json().get("plan")
                    return answer

                shown = await eventually(plan, timeout_s=30)
        finally:
            await runner.stop()
    doors = next(item for item in shown["items"] if item["item"] == "doors")
    assert shown["plan"] == "Tiny v1" and doors == {
        "item": "doors",
        "configured": len(edge_config.doors),
        "included": 0,
        "over": len(edge_config.doors) > 0,
    }
