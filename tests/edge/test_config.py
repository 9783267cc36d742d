"""Edge config: TOML + env overrides, errors that name the bad key, secret file modes."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
import tomli_w

from edge.config import ConfigError, load_config
from tests.edge.site import site_config_dict


def _write(path: Path, data: dict) -> Path:
    path.write_text(tomli_w.dumps(data))
    path.chmod(0o600)
    return path


def test_valid_file_with_env_override(tmp_path: Path) -> None:
    path = _write(tmp_path / "edge.toml", site_config_dict(tmp_path / "d"))
    config = load_config(path, environ={"OUTPOST_EDGE__WEB__PORT": "9123", "OUTPOST_EDGE__SITE__NAME": "Depot 7"})
    assert config.web.port == 9123
    assert config.site.name == "Depot 7"
    assert "reader-front" in config.doors[0].reader_ids


def test_unknown_key_is_named(tmp_path: Path) -> None:
    data = site_config_dict(tmp_path / "d")
    data["mqtt"]["prot"] = 1884
    with pytest.raises(ConfigError, match=r"mqtt\.prot: Extra inputs are not permitted"):
        load_config(_write(tmp_path / "edge.toml", data), environ={})


def test_bad_reference_is_named(tmp_path: Path) -> None:
    data = site_config_dict(tmp_path / "d")
    data["doors"][0]["lock"] = "reader-front"
    with pytest.raises(ConfigError, match="doors.front.lock: device 'reader-front' is a reader, not a lock"):
        load_config(_write(tmp_path / "edge.toml", data), environ={})


def test_bad_timezone_and_toml(tmp_path: Path) -> None:
    data = site_config_dict(tmp_path / "d")
    data["site"]["timezone"] = "Mars/Olympus"
    with pytest.raises(ConfigError, match="site.timezone: unknown time zone"):
        load_config(_write(tmp_path / "edge.toml", data), environ={})
    broken = tmp_path / "broken.toml"
    broken.write_text("[site\nid=")
    with pytest.raises(ConfigError, match="not valid TOML"):
        load_config(broken, environ={})
    with pytest.raises(ConfigError, match="no such config file"):
        load_config(tmp_path / "missing.toml", environ={})


@pytest.mark.parametrize("zone", ["America", "Europe", "Etc", "Europe/Ber\x00lin", "zone.tab"])
def test_a_time_zone_directory_is_an_unknown_zone(tmp_path: Path, zone: str) -> None:
    data = site_config_dict(tmp_path / "d")
    data["site"]["timezone"] = zone
    with pytest.raises(ConfigError, match="site.timezone: unknown time zone"):
        load_config(_write(tmp_path / "edge.toml", data), environ={})


def test_secret_in_world_readable_config_is_refused(tmp_path: Path) -> None:
    data = site_config_dict(tmp_path / "d")
    data["cloud"] = {"url": "http://127.0.0.1:9", "secret": "ab" * 32}
    path = _write(tmp_path / "edge.toml", data)
    assert load_config(path, environ={}).cloud.read_secret() == "ab" * 32
    path.chmod(0o644)
    with pytest.raises(ConfigError, match="chmod 600"):
        load_config(path, environ={})


def test_cli_check_config_and_help(tmp_path: Path) -> None:
    good = _write(tmp_path / "edge.toml", site_config_dict(tmp_path / "d"))
    run = [sys.executable, "-m", "edge.cli"]
    ok = subprocess.run([*run, "--config", str(good), "--check-config"], capture_output=True, text=True)
    assert ok.returncode == 0, ok.stderr
    assert "OK (4 devices, 1 doors, 0 cameras)" in ok.stdout
    data = site_config_dict(tmp_path / "d")
    data["web"]["colour"] = "red"
    bad = _write(tmp_path / "bad.toml", data)
    failed = subprocess.run([*run, "--config", str(bad), "--check-config"], capture_output=True, text=True)
    assert failed.returncode == 2
    assert "web.colour" in failed.stderr
    helped = subprocess.run([*run, "--help"], capture_output=True, text=True)
    assert helped.returncode == 0 and "--check-config" in helped.stdout


def test_cli_takes_config_before_or_after_the_subcommand(tmp_path: Path) -> None:
    from edge.cli import _parser

    parsed = _parser().parse_args(["add-user", "ana", "--config", str(tmp_path / "a.toml")])
    assert parsed.config == tmp_path / "a.toml" and parsed.command == "add-user"
    parsed = _parser().parse_args(["--config", str(tmp_path / "b.toml"), "add-user", "ana"])
    assert parsed.config == tmp_path / "b.toml"  # not reset by the subcommand's own (unset) --config
    parsed = _parser().parse_args(["add-person", "Ada", "--badge", "42"])
    assert str(parsed.config) == "/etc/outpost/edge.toml"
