"""`outpost-provision install --root DIR`: the box's layout under a temporary root, usable where it is, safe to
run again; without --root it needs root and says so."""

from __future__ import annotations

import asyncio
import os
import stat
import subprocess
import sys
from pathlib import Path

import pytest

from edge.config import load_config
from provisioning.cli import main
from tests.provisioning.test_backup_restore import provision


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


async def test_install_into_a_root_lays_out_a_working_box_and_is_idempotent(tmp_path: Path) -> None:
    root = tmp_path / "box"
    rc, out, err = await provision("install", "--root", str(root), "--reuse-venv")
    assert rc == 0, err
    assert "service user outpost" in out and "Next: outpost-provision enroll" in out

    sysusers = (root / "usr/lib/sysusers.d/outpost.conf").read_text()  # noqa: ASYNC240 - small files
    assert f'u outpost - "Outpost edge appliance" {root}/var/lib/outpost /usr/sbin/nologin' in sysusers
    assert {"m outpost video", "m outpost dialout", "m outpost gpio", "g gpio -"} <= set(sysusers.splitlines())
    tmpfiles = (root / "usr/lib/tmpfiles.d/outpost.conf").read_text()  # noqa: ASYNC240 - small files
    assert f"d {root}/etc/outpost/secrets 0700 outpost outpost -" in tmpfiles
    assert f"d {root}/var/lib/outpost 0700 outpost outpost -" in tmpfiles

    assert mode(root / "etc/outpost") == 0o755
    assert mode(root / "etc/outpost/secrets") == 0o700
    assert mode(root / "var/lib/outpost") == 0o700
    assert mode(root / "var/backups/outpost") == 0o700
    config_path = root / "etc/outpost/edge.toml"
    assert mode(config_path) == 0o600
    config = load_config(config_path, environ={})
    assert config.site.id == "unenrolled" and config.storage.data_dir == root / "var/lib/outpost"
    venv_dir = root / "opt/outpost/venv"
    assert venv_dir.is_symlink() and venv_dir.resolve() == Path(sys.prefix).resolve()  # noqa: ASYNC240

    unit = (root / "etc/systemd/system/outpost-edge.service").read_text()  # noqa: ASYNC240 - small files
    assert f"ExecStart={venv_dir}/bin/outpost-edge --config {config_path}\n" in unit
    assert f"ReadWritePaths={root}/var/lib/outpost {root}/etc/outpost -/etc/mosquitto/outpost" in unit
    assert "Type=notify" in unit and "WatchdogSec=" in unit
    verify = await asyncio.to_thread(
        subprocess.run,
        ["systemd-analyze", "verify", "--man=no", str(root / "etc/systemd/system/outpost-edge.service")],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert verify.returncode == 0, verify.stderr
    assert (root / "etc/udev/rules.d/60-outpost-gpio.rules").is_file()

    # The installed edge checks its installed config (the unit's ExecStartPre=).
    check = await asyncio.create_subprocess_exec(
        str(venv_dir / "bin" / "outpost-edge"),
        "--config",
        str(config_path),
        "--check-config",
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    out_b, err_b = await asyncio.wait_for(check.communicate(), 120)
    assert check.returncode == 0, err_b.decode()
    assert "OK" in out_b.decode()

    # Again, after the box was configured: nothing changes, the config is kept.
    config_path.write_text(config_path.read_text() + "\n[web]\nport = 8443\n")  # noqa: ASYNC240 - small file
    (root / "etc/outpost/secrets").chmod(0o755)  # drifted: put back
    rc, out, err = await provision("install", "--root", str(root), "--reuse-venv")
    assert rc == 0, err
    assert f"kept {config_path}" in out and "port = 8443" in config_path.read_text()  # noqa: ASYNC240
    assert mode(root / "etc/outpost/secrets") == 0o700
    assert f"unchanged {root}/etc/systemd/system/outpost-edge.service" in out
    assert "Done: 1 changed" in out  # only the secrets folder's mode


def test_install_onto_the_machine_needs_root(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    # As an installer without sudo (this test may run as root, so the check is made to see a user).
    monkeypatch.setattr(os, "geteuid", lambda: 1000)
    assert main(["install"]) == 1
    err = capsys.readouterr().err
    assert "needs root" in err and "sudo" in err and "--root DIR" in err


async def test_install_help() -> None:
    rc, out, _ = await provision("install", "--help")
    assert rc == 0 and "--root" in out and "--reuse-venv" in out
