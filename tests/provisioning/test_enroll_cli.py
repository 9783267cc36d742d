"""`outpost-provision enroll` against a real cloud: config written 0600; used/unknown codes fail clearly."""

from __future__ import annotations

import stat
import tomllib
from pathlib import Path

from cloud.admin import bootstrap_tenant
from cloud.app import started_cloud
from cloud.config import CloudConfig
from edge.config import load_config
from tests.provisioning.installer_helpers import provision as _provision


async def test_enroll_writes_private_config_and_codes_are_single_use(tmp_path: Path) -> None:
    config = tmp_path / "etc" / "edge.toml"
    async with started_cloud(CloudConfig(data_dir=tmp_path / "cloud", host="127.0.0.1", port=0)) as cloud:
        boot = await bootstrap_tenant(cloud.db, "Acme", "admin@acme.example", "correct-horse-1", site_name="Depot 7")
        assert boot.enrollment is not None
        code = boot.enrollment.code

        rc, out, err = await _provision("enroll", "--cloud", cloud.url, "--code", code, "--config", str(config))
        assert rc == 0, err
        assert "Enrolled as site" in out
        assert stat.S_IMODE(config.stat().st_mode) == 0o600
        written = tomllib.loads(config.read_text())
        assert written["site"]["name"] == "Depot 7"
        assert len(written["cloud"]["secret"]) == 64
        edge_config = load_config(config, environ={})
        assert edge_config.cloud.url == cloud.url

        other = tmp_path / "other.toml"
        rc, _, err = await _provision("enroll", "--cloud", cloud.url, "--code", code, "--config", str(other))
        assert rc == 1
        assert "already been used" in err or "code_used" in err
        assert not other.exists()

        rc, _, err = await _provision(
            "enroll", "--cloud", cloud.url, "--code", "NOPE-NOPE-NOPE-NOPE", "--config", str(other)
        )
        assert rc == 1
        assert "not recognised" in err
        assert not other.exists()

        rc, _, err = await _provision("enroll", "--cloud", cloud.url, "--code", code, "--config", str(config))
        assert rc == 1 and "already enrolled" in err


async def test_enroll_reports_unreachable_cloud(tmp_path: Path) -> None:
    rc, _, err = await _provision(
        "enroll", "--cloud", "http://127.0.0.1:9", "--code", "ABCD-EFGH", "--config", str(tmp_path / "e.toml")
    )
    assert rc == 1
    assert "cannot reach the cloud at http://127.0.0.1:9" in err


async def test_a_hostname_with_control_characters_is_a_clear_error(tmp_path: Path) -> None:
    config = tmp_path / "e.toml"
    rc, _, err = await _provision(
        "enroll", "--cloud", "http://127.0.0.1:9", "--code", "ABCD-EFGH", "--config", str(config), "--hostname", "a\tb"
    )

    assert rc == 1
    assert "invalid enrollment request (hostname:" in err
    assert "Traceback" not in err
    assert not config.exists()
