"""End to end with the real cloud: a badge revoked in HQ's API is refused at an online site's door within 5 s.

The real cloud app (SQLite, loopback port) and the real edge app (embedded broker, SQLite, its config puller
long-polling the cloud) with a simulated reader over MQTT. The site is enrolled with a real enrollment code;
HQ defines the level and the person through the JSON API. Measured from HQ's revoke request to the first read of
that badge the site refuses.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from cloud.admin import bootstrap_tenant
from cloud.app import RunningCloud, started_cloud
from cloud.config import CloudConfig
from cloud.db.models import SiteConfig
from edge.app import EdgeRunner
from edge.config import EdgeConfig
from sync.wire import ENROLL_PATH, EnrollResponse
from tests.edge.access.site_documents import decision_for
from tests.edge.site import site_config_dict
from tests.polling import eventually

TIME_TO_EFFECT_S = 5.0
PASSWORD = "correct horse battery staple"


@pytest.fixture
async def real_cloud(tmp_path: Path) -> AsyncIterator[RunningCloud]:
    config = CloudConfig(
        data_dir=tmp_path / "cloud",
        database_url=f"sqlite+aiosqlite:///{tmp_path / 'cloud.db'}",
        host="127.0.0.1",
        port=0,
    )
    async with started_cloud(config) as running:
        yield running


@pytest.fixture
async def hq(real_cloud: RunningCloud) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(base_url=real_cloud.url, timeout=30) as client:
        yield client


@pytest.fixture
async def enrolled(real_cloud: RunningCloud, hq: httpx.AsyncClient) -> EnrollResponse:
    result = await bootstrap_tenant(real_cloud.db, "Acme", "admin@acme.example", PASSWORD, site_name="Depot")
    assert result.enrollment is not None
    response = await hq.post(ENROLL_PATH, json={"code": result.enrollment.code, "hostname": "box-1"})
    assert response.status_code == 200, response.text
    return EnrollResponse.model_validate_json(response.content)


@pytest.fixture
def edge_config(tmp_path: Path, real_cloud: RunningCloud, enrolled: EnrollResponse) -> EdgeConfig:
    """The test site, enrolled with the real cloud (long-poll of 25 s, as in production)."""
    data: dict[str, Any] = site_config_dict(tmp_path / "edge")
    data["site"]["id"] = enrolled.site_id
    data["cloud"] = {"url": real_cloud.url, "secret": enrolled.secret, "config_wait_s": 25, "max_backoff_s": 1}
    return EdgeConfig.model_validate(data)


async def applied(cloud: RunningCloud, site_id: str, version: int) -> bool:
    """Whether the box reported the document `version` applied."""
    async with cloud.db() as session:
        config = await session.get(SiteConfig, site_id, populate_existing=True)
    return config is not None and (config.report_status, config.report_version) == ("applied", version)


async def test_badge_revoked_in_hq_api_is_refused_at_the_door_within_5_s(
    edge_app: EdgeRunner, devices: Any, real_cloud: RunningCloud, hq: httpx.AsyncClient, enrolled: EnrollResponse
) -> None:
    await devices("lock-front", "lock")
    reader = await devices("reader-front", "reader")
    login = await hq.post("/api/v1/login", json={"email": "admin@acme.example", "password": PASSWORD})
    csrf = {"X-CSRF-Token": login.json()["csrf_token"]}
    level = await hq.put(
        f"/api/v1/sites/{enrolled.site_id}/policy/access-levels/cloud-front", json={"doors": ["front"]}, headers=csrf
    )
    assert level.status_code == 200, level.text
    created = await hq.post(
        "/api/v1/people",
        json={"name": "Ada", "levels": ["cloud-front"], "sites": [enrolled.site_id], "badges": [{"number": "77:1"}]},
        headers=csrf,
    )
    assert created.status_code == 201, created.text
    version = (await hq.get(f"/api/v1/sites/{enrolled.site_id}/policy")).json()["version"]
    await eventually(lambda: applied(real_cloud, enrolled.site_id, version), timeout_s=20)
    badge = await reader.present("77:1")
    assert await reader.wait_receipt(badge.id)
    assert await decision_for(edge_app, badge.id) == "granted"

    loop = asyncio.get_running_loop()
    revoked_at = loop.time()
    revoked = await hq.post(f"/api/v1/people/{created.json()['id']}/badges/77:1/revoke", headers=csrf)
    assert revoked.status_code == 200, revoked.text
    reasons = []
    while loop.time() - revoked_at < TIME_TO_EFFECT_S * 2:
        badge = await reader.present("77:1")
        assert await reader.wait_receipt(badge.id)
        reasons.append(await decision_for(edge_app, badge.id))
        if reasons[-1] == "credential_inactive":
            break
    refused_after = loop.time() - revoked_at
    assert reasons[-1] == "credential_inactive", reasons
    assert refused_after < TIME_TO_EFFECT_S, f"refused {refused_after:.2f} s after HQ's revoke"
    print(f"time to effect of an HQ revoke through the real cloud: {refused_after:.3f} s over {len(reasons)} read(s)")
    await eventually(lambda: applied(real_cloud, enrolled.site_id, version + 1), timeout_s=20)
