"""End to end: a badge revoked at HQ is refused at an online site's door within 5 s.

The real edge app (embedded broker, SQLite, its config puller) pulls from a real HTTP server on loopback that
speaks the downlink contract; the badge is read by a simulated reader over MQTT. Measured from the moment HQ
publishes the revoking document to the first read of that badge that the site refuses.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from edge import keys
from edge.app import EdgeRunner
from edge.config import EdgeConfig
from edge.web.sync_view import sync_status
from firmware_adapters.messages import BadgeRead
from sync.downlink import SiteConfigDocument
from tests.edge.access.site_documents import decision_for
from tests.edge.site import site_config_dict
from tests.polling import eventually
from tests.sync.contract_cloud import ContractCloud

TIME_TO_EFFECT_S = 5.0


def hq_document(version: int, *, active: bool) -> SiteConfigDocument:
    """Ada with badge 77:1 on a cloud level for the front door, at all times."""
    return SiteConfigDocument.model_validate(
        {
            "site_id": "test-site",
            "version": version,
            "issued_at": datetime.now(UTC),
            "people": [
                {
                    "id": "hq-ada",
                    "name": "Ada",
                    "levels": ["cloud-front"],
                    "credentials": [{"number": "77:1", "active": active}],
                    "updated_at": datetime.now(UTC),
                }
            ],
            "access_levels": {"cloud-front": {"doors": ["front"]}},
        }
    )


@pytest.fixture
async def cloud() -> AsyncIterator[ContractCloud]:
    server = ContractCloud()
    await server.start()
    yield server
    await server.stop()


@pytest.fixture
def edge_config(tmp_path: Path, cloud: ContractCloud) -> EdgeConfig:
    """The test site, enrolled with the loopback cloud (long-poll of 25 s, as in production)."""
    data: dict[str, Any] = site_config_dict(tmp_path / "edge")
    data["cloud"] = {"url": cloud.url, "secret": cloud.secret, "config_wait_s": 25, "max_backoff_s": 1}
    return EdgeConfig.model_validate(data)


async def test_badge_revoked_at_hq_is_refused_within_5_s(edge_app: EdgeRunner, devices, cloud) -> None:
    await devices("lock-front", "lock")
    reader = await devices("reader-front", "reader")
    cloud.publish(hq_document(1, active=True))
    await eventually(lambda: [r.status for r in cloud.reports] == ["applied"])
    badge = await reader.present("77:1")
    assert await reader.wait_receipt(badge.id)
    assert await decision_for(edge_app, badge.id) == "granted"

    # The puller is now parked in a long poll; HQ revokes the badge.
    await eventually(lambda: cloud.polled_versions[-1:] == [1])
    loop = asyncio.get_running_loop()
    published = loop.time()
    cloud.publish(hq_document(2, active=False))
    reasons = []
    while loop.time() - published < TIME_TO_EFFECT_S * 2:
        badge = await reader.present("77:1")
        assert await reader.wait_receipt(badge.id)
        reasons.append(await decision_for(edge_app, badge.id))
        if reasons[-1] == "credential_inactive":
            break
    refused_after = loop.time() - published
    assert reasons[-1] == "credential_inactive", reasons
    assert refused_after < TIME_TO_EFFECT_S, f"refused {refused_after:.2f} s after HQ's revoke"
    print(f"time to effect of an HQ revoke: {refused_after:.3f} s over {len(reasons)} read(s)")
    await eventually(lambda: [r.status for r in cloud.reports] == ["applied", "applied"])
    shown = await sync_status(edge_app.app)  # what the console's sync section shows
    assert shown is not None and shown["config"]["version"] == 2 and shown["config"]["refused_version"] is None


async def test_restarted_box_without_cloud_keeps_enforcing_hq_config(edge_config: EdgeConfig, cloud) -> None:
    """Applied from the cloud, then restarted while the cloud is away: the document is still in force."""
    first = EdgeRunner(edge_config)
    await first.start()
    try:
        cloud.publish(hq_document(1, active=True))
        await eventually(lambda: [r.status for r in cloud.reports] == ["applied"])
    finally:
        await first.stop()
    await cloud.stop()  # the cloud is away from now on
    second = EdgeRunner(edge_config)
    await second.start()
    try:
        access = second.app[keys.ACCESS]
        assert "cloud-front" in access.policy.levels  # HQ's level, not in the box's TOML
        decision = await access.on_badge("reader-front", BadgeRead(credential="77:1"))
        assert decision.reason.value == "granted"
        puller = second.app[keys.CONFIG_PULLER]
        assert puller is not None
        await eventually(lambda: puller.errors >= 1)  # it keeps trying, the site keeps working
    finally:
        await second.stop()
