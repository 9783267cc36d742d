"""The systemd units against what the code needs: systemd's own verifier, then one check per field finding."""

from __future__ import annotations

import os
import pwd
import re
import shutil
import stat
import subprocess
from pathlib import Path

import pytest

from cloud.config import CloudConfig
from cloud.sessions import SESSION_CREDENTIAL, load_session_secret, session_secret_path
from edge.config import EdgeConfig
from edge.vision.model_files import SYSTEM_MODELS_DIR, candidate_model_paths
from provisioning.enroll import SERVICE_USER, write_private
from provisioning.model_build import DOWNLOAD_SIZE, install_model

ROOT = Path(__file__).resolve().parent.parent
UNITS = ROOT / "systemd"
EDGE_UNIT = UNITS / "outpost-edge.service"
CLOUD_UNIT = UNITS / "outpost-cloud.service"
BACKUP_UNIT = UNITS / "outpost-backup.service"
BACKUP_TIMER = UNITS / "outpost-backup.timer"
HIDDEN_BY_PROTECT_HOME = (Path("/home"), Path("/root"), Path("/run/user"))


def unit_values(path: Path) -> dict[str, list[str]]:
    """Every `Key=value` of a unit file, values of repeated keys (and space-separated lists) in order."""
    values: dict[str, list[str]] = {}
    for line in path.read_text().splitlines():
        line = line.strip()
        if not line or line.startswith(("#", ";", "[")):
            continue
        key, _, value = line.partition("=")
        values.setdefault(key, []).append(value)
    return values


def words(values: dict[str, list[str]], key: str) -> list[str]:
    return [w for value in values.get(key, []) for w in value.split()]


def test_systemd_analyze_verify_accepts_both_units(tmp_path: Path) -> None:
    """`systemd-analyze verify` in a scratch root (the machine's own units untouched): no warning at all."""
    analyze = shutil.which("systemd-analyze")
    assert analyze is not None, "systemd-analyze missing: apt-get install systemd"
    root = tmp_path / "root"
    shutil.copytree("/usr/lib/systemd/system", root / "usr/lib/systemd/system", symlinks=True)
    (root / "etc/systemd/system").mkdir(parents=True)
    for unit in (EDGE_UNIT, CLOUD_UNIT, BACKUP_UNIT, BACKUP_TIMER):
        shutil.copy(unit, root / "etc/systemd/system" / unit.name)
        for command in words(unit_values(unit), "ExecStart")[:1]:
            binary = root / command.lstrip("/")
            binary.parent.mkdir(parents=True, exist_ok=True)
            binary.write_text("#!/bin/sh\n")
            binary.chmod(0o755)
    for unit in (EDGE_UNIT, CLOUD_UNIT, BACKUP_UNIT, BACKUP_TIMER):
        result = subprocess.run(
            [analyze, "verify", "--man=no", f"--root={root}", f"/etc/systemd/system/{unit.name}"],
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert result.returncode == 0 and result.stderr == "" and result.stdout == "", result.stderr


def test_the_default_model_location_is_visible_to_the_service() -> None:
    edge = unit_values(EDGE_UNIT)
    assert edge["ProtectHome"] == ["yes"]
    assert SYSTEM_MODELS_DIR in [p.parent for p in candidate_model_paths()]
    assert not any(SYSTEM_MODELS_DIR.is_relative_to(hidden) for hidden in HIDDEN_BY_PROTECT_HOME)
    state_dirs = [Path("/var/lib") / d for d in words(edge, "StateDirectory")]
    assert any(SYSTEM_MODELS_DIR.is_relative_to(d) for d in state_dirs)
    assert EdgeConfig().storage.data_dir in state_dirs


def test_a_model_installed_for_the_service_is_readable_by_others(tmp_path: Path) -> None:
    built = tmp_path / "cache" / "nanodet-coco-416.onnx"
    built.parent.mkdir()
    built.write_bytes(b"onnx")
    built.chmod(0o600)
    installed = install_model(built, tmp_path / "var-lib-outpost" / "models")
    assert installed.read_bytes() == b"onnx"
    assert stat.S_IMODE(installed.stat().st_mode) == 0o644
    assert stat.S_IMODE(installed.parent.stat().st_mode) == 0o755


def test_enroll_writes_the_config_owned_by_the_service_user(tmp_path: Path) -> None:
    assert unit_values(EDGE_UNIT)["User"] == [SERVICE_USER]
    # As root (the installer) the file goes to another account; here any account other than ours proves the chown.
    other = pwd.getpwnam("nobody") if os.geteuid() == 0 else pwd.getpwuid(os.geteuid())
    config = tmp_path / "etc" / "edge.toml"
    write_private(config, '[cloud]\nsecret = "s"\n', owner=other.pw_name)
    info = config.stat()
    assert (info.st_uid, info.st_gid) == (other.pw_uid, other.pw_gid)
    assert stat.S_IMODE(info.st_mode) == 0o600


def test_devices_and_groups_cover_every_camera_serial_bus_and_gpio_chip() -> None:
    edge = unit_values(EDGE_UNIT)
    allowed = {value.split()[0] for value in edge["DeviceAllow"]}
    assert {"char-video4linux", "char-ttyUSB", "char-ttyACM", "char-gpiochip"} <= allowed
    assert "/dev/video0" not in allowed  # a second camera must work too
    assert {"video", "dialout", "gpio"} <= set(words(edge, "SupplementaryGroups"))
    rule = (UNITS / "60-outpost-gpio.rules").read_text()
    assert 'GROUP="gpio"' in rule and "gpiochip" in rule


def test_the_documented_mosquitto_reload_works_without_new_privileges() -> None:
    edge = unit_values(EDGE_UNIT)
    assert edge["NoNewPrivileges"] == ["yes"]
    documented = re.search(r"external_reload_command = (\[.*\])", (ROOT / "docs" / "MQTT.md").read_text())
    assert documented is not None
    assert "sudo" not in documented.group(1)  # sudo needs new privileges: it cannot work in this unit
    rule = (UNITS / "50-outpost-mosquitto.rules").read_text()
    assert 'subject.user == "outpost"' in rule and '"mosquitto.service"' in rule and '"reload"' in rule
    # The files it reloads are written by the service: ProtectSystem=strict needs them writable.
    assert "-/etc/mosquitto/outpost" in words(edge, "ReadWritePaths")


def test_the_cloud_reads_the_session_secret_credential_of_its_unit(tmp_path: Path) -> None:
    cloud = unit_values(CLOUD_UNIT)
    (credential_name,) = [value.split(":", 1)[0] for value in cloud["LoadCredential"]]
    assert credential_name == SESSION_CREDENTIAL
    credentials = tmp_path / "credentials"
    credentials.mkdir()
    (credentials / credential_name).write_text("c" * 64 + "\n")
    config = CloudConfig(data_dir=tmp_path / "data")
    environ = {"CREDENTIALS_DIRECTORY": str(credentials)}
    assert session_secret_path(config, environ) == credentials / credential_name
    assert load_session_secret(config, environ) == b"c" * 64
    assert not (tmp_path / "data" / "session_secret").exists()  # nothing generated beside it
    # Without the credential the cloud still generates its own on first start.
    assert load_session_secret(config, {}) != b"c" * 64


@pytest.mark.parametrize("doc", ["README.md", "docs/INSTALL.md"])
def test_the_model_build_download_is_stated_one_way(doc: str) -> None:
    assert "1.8 GB" in DOWNLOAD_SIZE and "140 MB" in DOWNLOAD_SIZE
    text = (ROOT / doc).read_text()
    assert "1.8 GB" in text and "140 MB" in text
    assert "~2 GB" not in text and "~1 GB" not in text


def test_the_edge_unit_is_notify_with_a_watchdog_the_edge_feeds() -> None:
    edge = unit_values(EDGE_UNIT)
    assert edge["Type"] == ["notify"]
    assert edge["NotifyAccess"] == ["main"]  # the ExecStart process itself sends READY and WATCHDOG
    (watchdog,) = edge["WatchdogSec"]
    assert 10 <= int(watchdog) <= 120
    assert edge["Restart"] == ["always"]  # a watchdog timeout is a failure: restarted
    source = (ROOT / "edge" / "service_notify.py").read_text()
    assert "WATCHDOG=1" in source and "READY=1" in (ROOT / "edge" / "app.py").read_text()


def test_the_backup_timer_runs_the_backup_command_daily_into_the_doctor_checked_folder() -> None:
    service = unit_values(BACKUP_UNIT)
    (command,) = service["ExecStart"]
    assert command.split()[:2] == ["/opt/outpost/venv/bin/outpost-provision", "backup"]
    assert "--keep" in command and "/var/backups/outpost" in command
    # The backup writes its stamp beside the database (doctor reads it) and the archive in the backup folder.
    assert {"/var/backups/outpost", "/var/lib/outpost"} <= set(words(service, "ReadWritePaths"))
    timer = unit_values(BACKUP_TIMER)
    assert timer["OnCalendar"] == ["daily"] and timer["Persistent"] == ["true"]
