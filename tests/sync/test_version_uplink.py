"""A real edge's sync agent carries the installed software version; the cloud keeps it for the site."""

from __future__ import annotations

import asyncio
from pathlib import Path

from sqlalchemy import select

from cloud.admin import bootstrap_tenant
from cloud.app import started_cloud
from cloud.config import CloudConfig
from cloud.db.models import SiteSyncState
from edge import keys
from edge.app import EdgeRunner
from edge.config import EdgeConfig
from observability.version import software_version
from provisioning.enroll import claim_site
from tests.edge.site import site_config_dict
from tests.polling import eventually


async def test_the_cloud_learns_the_edge_s_version_from_its_sync(tmp_path: Path, db_url: str) -> None:
    cloud_config = CloudConfig(data_dir=tmp_path / "cloud", database_url=db_url, host="127.0.0.1", port=0)
    async with started_cloud(cloud_config) as cloud:
        boot = await bootstrap_tenant(cloud.db, "Acme", "admin@acme.example", "correct-horse-1", site_name="Depot")
        assert boot.enrollment is not None
        enrollment = await asyncio.to_thread(claim_site, cloud.url, boot.enrollment.code, "box-1")
        config = EdgeConfig.model_validate(
            site_config_dict(
                tmp_path / "edge",
                site={"id": enrollment.site_id, "name": enrollment.site_name, "timezone": "UTC"},
                cloud={"url": cloud.url, "secret": enrollment.secret, "sync_interval_s": 0.2},
            )
        )
        edge = EdgeRunner(config)
        await edge.start()
        try:
            await edge.app[keys.JOURNAL].record("event", {"type": "test"}, source="test", summary="hello")

            async def stored_version() -> str | None:
                async with cloud.db() as session:
                    state = await session.scalar(
                        select(SiteSyncState).where(SiteSyncState.site_id == enrollment.site_id)
                    )
                return state.software_version if state is not None else None

            assert await eventually(stored_version, timeout_s=20) == software_version()
        finally:
            await edge.stop()
