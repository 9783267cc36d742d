"""`outpost-provision init-local`: a box runs with no cloud (sync off) and journals; a later `enroll` attaches it
and everything journaled before goes up with the first sync, once."""

from __future__ import annotations

import stat
import tomllib
from pathlib import Path

import tomli_w
from sqlalchemy import select

from cloud.app import started_cloud
from cloud.config import CloudConfig
from cloud.db.models import Person, Record
from edge import keys
from edge.app import EdgeRunner
from edge.config import load_config
from tests.cloud.cloud_helpers import make_tenant
from tests.edge.site import site_config_dict
from tests.net import free_port
from tests.polling import eventually
from tests.provisioning.installer_helpers import issue_file, provision


def use_test_ports(config_path: Path, data_dir: Path) -> None:
    """What the installer would edit by hand, for loopback: free ports, a first admin, quick sync retries."""
    data = tomllib.loads(config_path.read_text())
    test_site = site_config_dict(data_dir)
    data.update({key: test_site[key] for key in ("mqtt", "web")})
    data.setdefault("cloud", {}).update({"sync_interval_s": 0.2, "max_backoff_s": 0.5})
    config_path.write_text(tomli_w.dumps(data))


async def test_local_site_runs_without_cloud_and_enrolls_later_keeping_its_journal(tmp_path: Path) -> None:
    config_path = tmp_path / "etc" / "edge.toml"
    data_dir = tmp_path / "var"
    rc, out, err = await provision(
        "init-local",
        "--site-name",
        "Farm shed",
        "--timezone",
        "Europe/Vienna",
        "--config",
        str(config_path),
        "--data-dir",
        str(data_dir),
    )
    assert rc == 0, err
    assert "no cloud: sync is off" in out
    assert stat.S_IMODE(config_path.stat().st_mode) == 0o600
    local_id = tomllib.loads(config_path.read_text())["site"]["id"]
    assert local_id.startswith("local-")
    use_test_ports(config_path, data_dir)

    box = EdgeRunner(load_config(config_path, environ={}))
    await box.start()
    try:
        assert box.app[keys.SYNC] is None  # sync is off
        for n in range(3):
            await box.app[keys.JOURNAL].record("event", {"type": "test", "n": n}, source="test", summary="before")
        person_id = await box.app[keys.PEOPLE].add_person("Ada", ["0004217"], by="installer")
    finally:
        await box.stop()

    rc, _, err = await provision("init-local", "--site-name", "Again", "--config", str(config_path))
    assert rc == 1 and "already exists" in err

    async with started_cloud(CloudConfig(data_dir=tmp_path / "cloud", host="127.0.0.1", port=0)) as cloud:
        tenant = await make_tenant(cloud, "Acme", site_name="Farm shed")
        rc, out, err = await provision(
            "enroll", "--cloud", cloud.url, "--code", tenant.code, "--config", str(config_path)
        )
        assert rc == 0, err
        site = tomllib.loads(config_path.read_text())["site"]
        assert site["local_id"] == local_id and site["id"] != local_id
        assert tomllib.loads(config_path.read_text())["storage"]["data_dir"] == str(data_dir)

        box = EdgeRunner(load_config(config_path, environ={}))
        await box.start()
        try:
            await box.app[keys.JOURNAL].record("event", {"type": "test", "n": 3}, source="test", summary="after")
            # Edited after enrollment: HQ must see the person created before it, not a second one.
            await box.app[keys.PEOPLE].update_person(person_id, {"name": "Ada Lovelace"}, by="installer")

            async def all_four_stored() -> bool:
                async with cloud.db() as session:
                    rows = (
                        await session.scalars(
                            select(Record).where(Record.site_id == site["id"], Record.kind == "event")
                        )
                    ).all()
                ns = sorted(r.payload["n"] for r in rows if r.payload.get("type") == "test")
                assert len(ns) == len(set(ns)), f"an event arrived twice: {ns}"
                return ns == [0, 1, 2, 3]

            assert await eventually(all_four_stored, timeout_s=30)

            async def one_person_renamed() -> bool:
                async with cloud.db() as session:
                    people = (await session.scalars(select(Person).where(Person.tenant_id == tenant.tenant_id))).all()
                return [(p.id, p.name) for p in people] == [(f"{local_id}/p{person_id}", "Ada Lovelace")]

            assert await eventually(one_person_renamed, timeout_s=30)
        finally:
            await box.stop()


async def test_init_local_arguments_are_validated(tmp_path: Path) -> None:
    config_path = tmp_path / "edge.toml"
    rc, _, err = await provision(
        "init-local", "--site-name", "Shed", "--timezone", "Mars/Olympus", "--config", str(config_path)
    )
    assert rc == 1 and "--timezone:" in err and "Traceback" not in err
    rc, _, err = await provision("init-local", "--site-name", " ", "--config", str(config_path))
    assert rc == 1 and "--site-name:" in err
    assert not config_path.exists()


async def test_local_site_enrolled_by_file_keeps_its_peoples_ids(tmp_path: Path) -> None:
    """Offline all along: a person created before the enrollment and edited after it (before the box ever reached
    HQ, so HQ cannot have told it an id) is one person at HQ, under the id derived from the local site id."""
    config_path = tmp_path / "edge.toml"
    rc, _, err = await provision(
        "init-local", "--site-name", "Shed", "--config", str(config_path), "--data-dir", str(tmp_path / "var")
    )
    assert rc == 0, err
    local_id = tomllib.loads(config_path.read_text())["site"]["id"]
    use_test_ports(config_path, tmp_path / "var")
    box = EdgeRunner(load_config(config_path, environ={}))
    await box.start()
    try:
        person_id = await box.app[keys.PEOPLE].add_person("Ada", ["0004217"], by="installer")
    finally:
        await box.stop()

    cloud_config = CloudConfig(data_dir=tmp_path / "cloud", host="127.0.0.1", port=free_port())
    async with started_cloud(cloud_config) as cloud:
        tenant = await make_tenant(cloud, "Acme")
        raw, _ = await issue_file(cloud.url, tenant.admin_email, "Shed")
    file_path = tmp_path / "enrollment.json"
    file_path.write_bytes(raw)
    rc, _, err = await provision("enroll", "--file", str(file_path), "--config", str(config_path))
    assert rc == 0, err
    box = EdgeRunner(load_config(config_path, environ={}))
    await box.start()
    try:
        await box.app[keys.PEOPLE].update_person(person_id, {"name": "Ada Lovelace"}, by="installer")
        async with started_cloud(cloud_config) as cloud:

            async def edits_arrived() -> list[str]:
                async with cloud.db() as session:
                    rows = (await session.scalars(select(Record).where(Record.kind == "config_edit"))).all()
                return [r.payload["person"]["id"] for r in rows] if len(rows) == 2 else []

            assert await eventually(edits_arrived, timeout_s=30) == [f"{local_id}/p{person_id}"] * 2

            async def one_person_renamed() -> bool:
                async with cloud.db() as session:
                    people = (await session.scalars(select(Person).where(Person.tenant_id == tenant.tenant_id))).all()
                return [(p.id, p.name) for p in people] == [(f"{local_id}/p{person_id}", "Ada Lovelace")]

            assert await eventually(one_person_renamed, timeout_s=30)
    finally:
        await box.stop()
