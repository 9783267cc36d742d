"""The running edge app uploads its camera's snapshots to the cloud after their detection records, and the
portal links each to its event (real vtest.avi, real ONNX detector, real cloud on loopback)."""

from __future__ import annotations

import asyncio
from pathlib import Path

import httpx
from sqlalchemy import select

from cloud.admin import bootstrap_tenant
from cloud.app import started_cloud
from cloud.config import CloudConfig
from cloud.db.models import Record
from cloud.media import complete_media
from edge.app import EdgeRunner
from edge.config import EdgeConfig
from provisioning.enroll import claim_site
from sync.media import media_id_for, media_name
from tests.edge.site import site_config_dict
from tests.polling import eventually

PASSWORD = "correct-horse-1"


async def test_camera_snapshots_reach_the_cloud_and_the_portal(
    tmp_path: Path, vtest_path: Path, nanodet_path: Path
) -> None:
    cloud_config = CloudConfig(
        data_dir=tmp_path / "cloud", database_url=f"sqlite+aiosqlite:///{tmp_path / 'cloud.db'}", port=0
    )
    async with started_cloud(cloud_config) as cloud:
        boot = await bootstrap_tenant(cloud.db, "Acme", "admin@acme.example", PASSWORD, site_name="Depot")
        assert boot.enrollment is not None
        site = await asyncio.to_thread(claim_site, cloud.url, boot.enrollment.code, "box-1")
        config = EdgeConfig.model_validate(
            site_config_dict(
                tmp_path / "edge",
                site={"id": site.site_id, "name": site.site_name, "timezone": "UTC"},
                cloud={"url": cloud.url, "secret": site.secret, "sync_interval_s": 0.2, "max_backoff_s": 0.5},
                cameras=[{"id": "plaza", "name": "Plaza", "zone": "lobby", "source": str(vtest_path), "fps": 5}],
                vision={"detector": {"model_path": str(nanodet_path), "threads": 1}},
            )
        )
        edge = EdgeRunner(config)
        await edge.start()
        try:

            async def linked_snapshot() -> tuple[str, str] | None:
                async with cloud.db() as session:
                    rows = (
                        await session.execute(
                            select(Record.seq, Record.payload).where(
                                Record.site_id == site.site_id, Record.kind == "detection"
                            )
                        )
                    ).all()
                for _seq, payload in rows:
                    if payload.get("snapshot"):
                        media_id = media_id_for("snapshot", media_name(payload["snapshot"], payload["camera_id"]))
                        if complete_media(cloud_config.media_path, site.site_id, media_id):
                            return payload["snapshot"], media_id
                return None

            found = await eventually(linked_snapshot, timeout_s=60)
        finally:
            await edge.stop()
        name, media_id = found
        async with httpx.AsyncClient(base_url=cloud.url) as http:
            login = await http.post("/api/v1/login", json={"email": "admin@acme.example", "password": PASSWORD})
            assert login.status_code == 200
            image = await http.get(f"/portal/sites/{site.site_id}/media/{media_id}")

    assert image.status_code == 200 and image.headers["Content-Type"] == "image/jpeg"
    assert image.content == (config.storage.snapshot_dir / "plaza" / name).read_bytes()
