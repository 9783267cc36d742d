"""Offline enrollment end to end: the HQ API issues a signed file, `outpost-provision enroll --file` configures a
box while the cloud is down, the box journals events, and once the cloud is up they arrive exactly once; a second
box with the same file is refused."""

from __future__ import annotations

import json
import stat
import tomllib
from pathlib import Path
from typing import Any

import httpx
from playwright.async_api import expect
from sqlalchemy import select

from cloud.app import started_cloud
from cloud.config import CloudConfig
from cloud.db.models import OfflineEnrollment, Record, Site
from edge import keys
from edge.app import EdgeRunner
from edge.config import load_config
from tests.browser import PHONE, chromium
from tests.cloud.cloud_helpers import login, make_tenant
from tests.edge.console import browser_login
from tests.net import free_port
from tests.polling import eventually
from tests.provisioning.installer_helpers import base_edge_config, issue_file, provision
from tests.screenshots import save_screenshots


async def stored_events(cloud_db: Any, site_id: str, marker: str) -> int:
    async with cloud_db() as session:
        rows = (await session.scalars(select(Record).where(Record.site_id == site_id, Record.kind == "event"))).all()
    return sum(1 for r in rows if r.payload.get("marker") == marker)


async def stored_count_is(cloud_db: Any, site_id: str, marker: str, expected: int) -> bool:
    """Whether exactly `expected` events with `marker` are stored (more would fail the next check too)."""
    count = await stored_events(cloud_db, site_id, marker)
    assert count <= expected, f"{count} events stored, more than the {expected} sent"
    return count == expected


async def test_file_enrolls_offline_and_events_arrive_once_the_cloud_is_up(tmp_path: Path, db_url: str) -> None:
    cloud_config = CloudConfig(data_dir=tmp_path / "cloud", database_url=db_url, host="127.0.0.1", port=free_port())
    file_path = tmp_path / "usb" / "enrollment.json"
    file_path.parent.mkdir()
    async with started_cloud(cloud_config) as cloud:
        tenant = await make_tenant(cloud, "Acme")
        raw, fingerprint = await issue_file(cloud.url, tenant.admin_email, "Remote quarry")
        file_path.write_bytes(raw)
        site_id = json.loads(raw)["enrollment"]["site_id"]
        async with httpx.AsyncClient(base_url=cloud.url) as http:
            await login(http, tenant.admin_email)
            listed = (await http.get(f"/api/v1/sites/{site_id}")).json()
        assert listed["status"] == "awaiting_box" and listed["name"] == "Remote quarry"
    # The cloud is down from here on: the box is enrolled and runs without it.
    config_path = tmp_path / "etc" / "edge.toml"
    config_path.parent.mkdir()
    base_edge_config(config_path, tmp_path / "box-1")
    rc, out, err = await provision(
        "enroll", "--file", str(file_path), "--config", str(config_path), "--cloud-key", fingerprint
    )
    assert rc == 0, err
    assert f"signed by cloud key {fingerprint} (as expected)" in out
    assert f"Enrolled offline as site {site_id}" in out
    assert stat.S_IMODE(config_path.stat().st_mode) == 0o600
    written = tomllib.loads(config_path.read_text())
    assert written["site"]["id"] == site_id and written["site"]["timezone"] == "Europe/Berlin"
    assert written["cloud"]["url"] == cloud.url and len(written["cloud"]["enrollment_claim"]) == 32

    box = EdgeRunner(load_config(config_path, environ={}))
    await box.start()
    try:
        journal = box.app[keys.JOURNAL]
        for n in range(5):
            await journal.record("event", {"type": "test", "marker": "box-1", "n": n}, source="test", summary="x")
        agent = box.app[keys.SYNC]
        assert agent is not None
        assert await eventually(lambda: agent.last_error is not None, timeout_s=20)  # the cloud is away
        assert await box.app[keys.OUTBOX].backlog() >= 5

        async with started_cloud(cloud_config) as cloud:
            assert await eventually(lambda: stored_count_is(cloud.db, site_id, "box-1", 5), timeout_s=30)
            async with cloud.db() as session:
                enrollment = await session.scalar(select(OfflineEnrollment).where(OfflineEnrollment.site_id == site_id))
                site = await session.get(Site, site_id)
            assert enrollment is not None and enrollment.used_at is not None
            assert site is not None and site.secret == written["cloud"]["secret"]
            assert await eventually(lambda: agent.last_error is None, timeout_s=20)

            # A second box with the same file: applying it works offline, but the cloud refuses its sync.
            second_config = tmp_path / "etc" / "second.toml"
            base_edge_config(second_config, tmp_path / "box-2")
            rc, _, err = await provision("enroll", "--file", str(file_path), "--config", str(second_config))
            assert rc == 0, err
            second = EdgeRunner(load_config(second_config, environ={}))
            await second.start()
            try:
                await second.app[keys.JOURNAL].record(
                    "event", {"type": "test", "marker": "box-2"}, source="test", summary="x"
                )
                second_agent = second.app[keys.SYNC]
                assert second_agent is not None

                def refused() -> bool:
                    return "enrollment_used" in (second_agent.last_error or "")

                assert await eventually(refused, timeout_s=20)
                rc, out, _ = await provision("doctor", "--config", str(second_config), "--json")
                checks = {c["name"]: c for c in json.loads(out)["checks"]}
                assert rc == 1 and checks["cloud credentials"]["status"] == "fail"
                assert "enroll --file PATH --force" in checks["cloud credentials"]["fix"]
                # Barrier: the first box's later event arrives, and the second box's never did.
                await journal.record("event", {"type": "test", "marker": "box-1"}, source="test", summary="x")
                assert await eventually(lambda: stored_count_is(cloud.db, site_id, "box-1", 6), timeout_s=20)
                assert await stored_events(cloud.db, site_id, "box-2") == 0
            finally:
                await second.stop()
    finally:
        await box.stop()


async def test_tampered_foreign_and_expired_files_are_refused(tmp_path: Path) -> None:
    cloud_config = CloudConfig(data_dir=tmp_path / "cloud", host="127.0.0.1", port=0)
    async with started_cloud(cloud_config) as cloud:
        tenant = await make_tenant(cloud, "Acme")
        raw, fingerprint = await issue_file(cloud.url, tenant.admin_email, "Depot")
    config_path = tmp_path / "edge.toml"
    document = json.loads(raw)

    edited = tmp_path / "edited.json"
    document["enrollment"]["cloud_url"] = "https://evil.example"
    edited.write_text(json.dumps(document))
    rc, _, err = await provision("enroll", "--file", str(edited), "--config", str(config_path))
    assert rc == 1 and "signature does not verify" in err and "Traceback" not in err

    original = tmp_path / "original.json"
    original.write_bytes(raw)
    other_key = "0000 1111 2222 3333 4444 5555 6666 7777"
    rc, _, err = await provision(
        "enroll", "--file", str(original), "--config", str(config_path), "--cloud-key", other_key
    )
    assert rc == 1 and f"signed by cloud key {fingerprint}, not the expected {other_key}" in err

    rc, _, err = await provision("enroll", "--file", str(original), "--config", str(config_path), "--cloud-key", "nope")
    assert rc == 1 and "--cloud-key:" in err

    rc, _, err = await provision("enroll", "--file", str(tmp_path / "missing.json"), "--config", str(config_path))
    assert rc == 1 and "cannot read" in err and "USB stick" in err

    not_json = tmp_path / "photo.json"
    not_json.write_text("hello")
    rc, _, err = await provision("enroll", "--file", str(not_json), "--config", str(config_path))
    assert rc == 1 and "not an Outpost enrollment file" in err

    rc, _, err = await provision("enroll", "--file", str(original), "--code", "ABCD", "--config", str(config_path))
    assert rc == 1 and "either --file or --cloud and --code" in err
    assert not config_path.exists()

    rc, out, err = await provision("enroll", "--file", str(original), "--config", str(config_path))
    assert rc == 0, err
    rc, _, err = await provision("enroll", "--file", str(original), "--config", str(config_path))
    assert rc == 1 and "already enrolled" in err and "--force" in err


def test_an_expired_file_is_refused_by_the_box() -> None:
    from datetime import UTC, datetime, timedelta

    import pytest

    from sync.enrollment_file import (
        EnrollmentFileError,
        OfflineEnrollment,
        read_enrollment_file,
        sign_enrollment,
        signing_key_from_secret,
    )

    now = datetime.now(UTC)
    enrollment = OfflineEnrollment(
        enrollment_id="0" * 32,
        cloud_url="http://127.0.0.1:1",
        tenant_id="t",
        site_id="abc",
        site_name="Depot",
        enrollment_secret="1" * 64,
        issued_at=now - timedelta(days=8),
        expires_at=now - timedelta(days=1),
    )
    raw = sign_enrollment(signing_key_from_secret(b"x" * 32), enrollment).model_dump_json().encode()
    with pytest.raises(EnrollmentFileError, match="expired at"):
        read_enrollment_file(raw)
    assert read_enrollment_file(raw, now=now - timedelta(days=2))[0].site_id == "abc"


async def test_a_box_with_nothing_to_send_claims_its_site_at_once(tmp_path: Path) -> None:
    """The claim does not wait for the first event: the agent sends an empty batch, and the config pull works."""
    cloud_config = CloudConfig(data_dir=tmp_path / "cloud", host="127.0.0.1", port=0)
    async with started_cloud(cloud_config) as cloud:
        tenant = await make_tenant(cloud, "Acme")
        raw, _ = await issue_file(cloud.url, tenant.admin_email, "Quiet site")
        file_path = tmp_path / "enrollment.json"
        file_path.write_bytes(raw)
        config_path = tmp_path / "edge.toml"
        base_edge_config(config_path, tmp_path / "box")
        rc, _, err = await provision("enroll", "--file", str(file_path), "--config", str(config_path))
        assert rc == 0, err
        box = EdgeRunner(load_config(config_path, environ={}))
        await box.start()
        try:

            async def claimed() -> bool:
                async with cloud.db() as session:
                    row = await session.scalar(select(OfflineEnrollment))
                return row is not None and row.used_at is not None

            assert await eventually(claimed, timeout_s=20)
            puller = box.app[keys.CONFIG_PULLER]
            assert puller is not None
            assert await eventually(lambda: puller.last_success is not None, timeout_s=30)  # signed pulls accepted
        finally:
            await box.stop()


async def test_the_console_shows_a_pending_and_a_refused_enrollment_file(tmp_path: Path) -> None:
    cloud_config = CloudConfig(data_dir=tmp_path / "cloud", host="127.0.0.1", port=free_port())
    async with started_cloud(cloud_config) as cloud:
        tenant = await make_tenant(cloud, "Acme")
        raw, _ = await issue_file(cloud.url, tenant.admin_email, "Quarry")
    file_path = tmp_path / "enrollment.json"
    file_path.write_bytes(raw)
    boxes = []
    for name in ("box-1", "box-2"):
        config_path = tmp_path / f"{name}.toml"
        base_edge_config(config_path, tmp_path / name)
        rc, _, err = await provision("enroll", "--file", str(file_path), "--config", str(config_path))
        assert rc == 0, err
        boxes.append(EdgeRunner(load_config(config_path, environ={})))
    first, second = boxes
    await first.start()
    try:
        async with chromium() as browser:
            page = await browser.new_page(viewport=PHONE)
            await browser_login(page, f"http://127.0.0.1:{first.web_port}")
            line = page.locator("#sync-enrollment")
            await expect(line).to_contain_text("Enrolled from a file", timeout=15000)  # the cloud is down
            async with started_cloud(cloud_config):
                await expect(line).to_be_hidden(timeout=20000)  # claimed
                await second.start()
                try:
                    await page.goto(f"http://127.0.0.1:{second.web_port}/")
                    await browser_login(page, f"http://127.0.0.1:{second.web_port}")
                    await expect(page.locator("#sync-enrollment")).to_contain_text(
                        "refuses this box's enrollment file", timeout=20000
                    )
                    await save_screenshots(page, "console-enrollment-refused")
                finally:
                    await second.stop()
    finally:
        await first.stop()
