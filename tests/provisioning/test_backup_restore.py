"""`outpost-provision backup` of a running edge -> wipe -> `restore` onto a fresh box: same site, same events,
and it still syncs to a real cloud on loopback. Corrupt and mismatched archives are refused, each by name."""

from __future__ import annotations

import asyncio
import gzip
import io
import json
import shutil
import sqlite3
import stat
import tarfile
from pathlib import Path
from typing import Any

import pytest
import tomli_w
from sqlalchemy import select

from cloud.admin import bootstrap_tenant
from cloud.app import RunningCloud, started_cloud
from cloud.config import CloudConfig
from cloud.db.models import Record
from edge import keys
from edge.app import EdgeRunner
from edge.config import load_config
from provisioning.cli import main
from provisioning.enroll import claim_site
from tests.edge.site import site_config_dict
from tests.polling import eventually
from tests.provisioning.installer_helpers import provision


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


async def cloud_summaries(cloud: RunningCloud, site_id: str) -> list[str]:
    async with cloud.db() as session:
        rows = await session.execute(select(Record.payload).where(Record.site_id == site_id))
    return [payload.get("summary", "") for (payload,) in rows]


async def enrolled_config(cloud: RunningCloud, box: Path) -> tuple[Path, str, str]:
    """A box enrolled into `cloud` whose sync secret is in a file; returns its config, site id and secret."""
    boot = await bootstrap_tenant(cloud.db, "Acme", "admin@acme.example", "correct-horse-1", site_name="Depot")
    assert boot.enrollment is not None
    enrollment = await asyncio.to_thread(claim_site, cloud.url, boot.enrollment.code, "box-1")
    secret_file = box / "etc" / "secrets" / "sync-secret"
    secret_file.parent.mkdir(parents=True, mode=0o700)
    secret_file.write_text(enrollment.secret + "\n")
    secret_file.chmod(0o600)
    data: dict[str, Any] = site_config_dict(
        box / "data",
        site={"id": enrollment.site_id, "name": enrollment.site_name, "timezone": "UTC"},
        cloud={"url": cloud.url, "secret_file": str(secret_file), "sync_interval_s": 0.2},
    )
    config = box / "etc" / "edge.toml"
    config.write_text(tomli_w.dumps(data))
    config.chmod(0o600)
    return config, enrollment.site_id, enrollment.secret


async def test_backup_a_running_edge_wipe_restore_same_site_events_and_sync(tmp_path: Path) -> None:
    async with started_cloud(CloudConfig(data_dir=tmp_path / "cloud", host="127.0.0.1", port=0)) as cloud:
        old_box = tmp_path / "old-box"
        config, site_id, secret = await enrolled_config(cloud, old_box)
        edge = EdgeRunner(load_config(config, environ={}))
        await edge.start()
        try:
            for i in range(3):
                await edge.app[keys.JOURNAL].record("event", {"type": "test"}, source="t", summary=f"before {i}")
            await eventually(lambda: _all_in(cloud, site_id, {"before 0", "before 1", "before 2"}), timeout_s=20)
            archive = tmp_path / "backups" / "site.tar.gz"
            rc, out, err = await provision("backup", "--config", str(config), "--output", str(archive))
            assert rc == 0, err
            assert "online, SQLite backup API" in out and f"Backup written: {archive}" in out
            # Written after the backup: lost with the old box, and its seq must not swallow a new record's.
            await edge.app[keys.JOURNAL].record("event", {"type": "test"}, source="t", summary="after backup")
            await eventually(lambda: _all_in(cloud, site_id, {"after backup"}), timeout_s=20)
        finally:
            await edge.stop()

        assert mode(archive) == 0o600
        with tarfile.open(archive) as tar:
            manifest = json.loads(tar.extractfile("manifest.json").read())  # type: ignore[union-attr]
        assert manifest["site_id"] == site_id and manifest["schema_version"] > 0
        roles = {f["role"]: f for f in manifest["files"]}
        assert {"database", "config", "sync_secret", "pin_key", "console_key"} <= set(roles)
        assert roles["sync_secret"]["mode"] == 0o600 and len(roles["database"]["sha256"]) == 64

        shutil.rmtree(old_box)  # the box is gone
        new_box = tmp_path / "new-box"
        new_config = new_box / "etc" / "edge.toml"
        rc, out, err = await provision(
            "restore", str(archive), "--config", str(new_config), "--data-dir", str(new_box / "data")
        )
        assert rc == 0, err
        assert f"Restored site {site_id}" in out
        assert mode(new_config) == 0o600
        restored = load_config(new_config, environ={})
        assert restored.site.id == site_id and restored.cloud.read_secret() == secret
        assert restored.storage.data_dir == new_box / "data"
        assert restored.cloud.secret_file is not None and mode(restored.cloud.secret_file) == 0o600
        assert mode(restored.cloud.secret_file.parent) == 0o700
        for name in ("edge.db", "access-pin.key", "console_key"):
            assert mode(new_box / "data" / name) == 0o600
        with sqlite3.connect(new_box / "data" / "edge.db") as db:
            summaries = {r[0] for r in db.execute("SELECT summary FROM events WHERE kind = 'event'")}
        db.close()
        assert summaries == {"before 0", "before 1", "before 2"}

        edge = EdgeRunner(restored)
        await edge.start()
        try:
            await edge.app[keys.JOURNAL].record("event", {"type": "test"}, source="t", summary="after restore")
            await eventually(lambda: _all_in(cloud, site_id, {"after restore"}), timeout_s=20)
        finally:
            await edge.stop()
        summaries_in_cloud = await cloud_summaries(cloud, site_id)
        assert sorted(summaries_in_cloud).count("before 0") == 1  # nothing sent twice

        # Restoring over the running (now restored) box again needs --force.
        rc, _, err = await provision(
            "restore", str(archive), "--config", str(new_config), "--data-dir", str(new_box / "data")
        )
        assert rc == 1 and "already exists" in err and "--force" in err


async def _all_in(cloud: RunningCloud, site_id: str, wanted: set[str]) -> bool:
    return wanted <= set(await cloud_summaries(cloud, site_id))


def _rewrite(archive: Path, target: Path, change: Any) -> None:
    """Copy `archive` to `target`, passing each (name, bytes) through `change`."""
    with tarfile.open(archive) as src, tarfile.open(target, "w:gz") as dst:
        for member in src.getmembers():
            body = src.extractfile(member).read()  # type: ignore[union-attr]
            name, body = change(member.name, body)
            info = tarfile.TarInfo(name)
            info.size, info.mode = len(body), member.mode
            dst.addfile(info, io.BytesIO(body))


async def test_corrupt_and_mismatched_archives_are_refused_by_name(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    box = tmp_path / "box"
    data: dict[str, Any] = site_config_dict(box / "data", site={"id": "depot-7", "name": "Depot", "timezone": "UTC"})
    config = box / "edge.toml"
    config.write_text(tomli_w.dumps(data))
    config.chmod(0o600)
    edge = EdgeRunner(load_config(config, environ={}))
    await edge.start()
    await edge.stop()
    archive = tmp_path / "good.tar.gz"
    rc, _, err = await provision("backup", "--config", str(config), "--output", str(archive))
    assert rc == 0, err

    def flip_db(name: str, body: bytes) -> tuple[str, bytes]:
        return name, body[:-1] + bytes([body[-1] ^ 1]) if name == "files/edge.db" else body

    def other_site(name: str, body: bytes) -> tuple[str, bytes]:
        if name == "manifest.json":
            return name, body.replace(b'"depot-7"', b'"depot-8"')
        return name, body

    def smuggle(name: str, body: bytes) -> tuple[str, bytes]:
        return ("../../etc/evil" if name == "files/console_key" else name), body

    cases = {
        "flipped.tar.gz": (flip_db, "is corrupt: files/edge.db (database) does not match the checksum"),
        "site.tar.gz": (other_site, "its config is for site 'depot-7' but its manifest says 'depot-8'"),
        "smuggled.tar.gz": (smuggle, "holds files its manifest does not list: ../../etc/evil"),
    }
    for name, (change, _message) in cases.items():
        _rewrite(archive, tmp_path / name, change)
    (tmp_path / "truncated.tar.gz").write_bytes(archive.read_bytes()[:300])
    cases["truncated.tar.gz"] = (None, "is not a readable Outpost backup archive")
    (tmp_path / "not-gzip.tar.gz").write_bytes(gzip.compress(b"hello"))
    cases["not-gzip.tar.gz"] = (None, "is not a readable Outpost backup archive")
    target = tmp_path / "fresh" / "edge.toml"
    for name, (_change, message) in cases.items():
        # In process (the CLI's own entry point) to keep the test quick; the CLI subprocess is covered above.
        rc = await asyncio.to_thread(main, ["restore", str(tmp_path / name), "--config", str(target)])
        err = capsys.readouterr().err
        assert rc == 1 and message in err, (name, err)
        assert not target.exists(), name  # nothing written
    assert not (tmp_path / "etc" / "evil").exists()

    # A box already enrolled as another site keeps its identity unless told otherwise.
    target.parent.mkdir()
    target.write_text(tomli_w.dumps({"site": {"id": "other-site"}}))
    rc, _, err = await provision(
        "restore", str(archive), "--config", str(target), "--data-dir", str(tmp_path / "fresh" / "data")
    )
    assert rc == 1 and "enrolled as site 'other-site'" in err and "--force" in err
    rc, _, err = await provision(
        "restore", str(archive), "--config", str(target), "--data-dir", str(tmp_path / "fresh" / "data"), "--force"
    )
    assert rc == 0, err
    assert load_config(target, environ={}).site.id == "depot-7"
