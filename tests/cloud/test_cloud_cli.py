"""`outpost-cloud` command line and config loading."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from cloud.cli import main
from cloud.config import CloudConfig, ConfigError, load_config

REPO = Path(__file__).resolve().parents[2]


def write_config(tmp_path: Path, body: str) -> Path:
    path = tmp_path / "cloud.toml"
    path.write_text(body, encoding="utf-8")
    return path


@pytest.mark.parametrize("command", [None, "serve", "bootstrap", "create-code"])
def test_help_works_for_every_subcommand(command: str | None, capsys: pytest.CaptureFixture[str]) -> None:
    argv = ["--help"] if command is None else [command, "--help"]

    with pytest.raises(SystemExit) as exit_info:
        main(argv)

    assert exit_info.value.code == 0
    out = capsys.readouterr().out
    assert "usage: outpost-cloud" in out
    if command is not None:
        assert "--config" in out


def test_check_config_names_the_bad_key(tmp_path: Path) -> None:
    path = write_config(tmp_path, 'data_dir = "data"\nprot = 8600\n')

    # A real process, as systemd's ExecStartPre= runs it.
    result = subprocess.run(
        [sys.executable, "-m", "cloud", "serve", "--config", str(path), "--check-config"],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=60,
    )

    assert result.returncode != 0
    assert "prot: Extra inputs are not permitted" in result.stderr


def test_check_config_accepts_a_good_file(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = write_config(tmp_path, 'data_dir = "data"\nport = 8601\npublic_url = "https://cloud.example"\n')

    assert main(["serve", "--config", str(path), "--check-config"]) == 0
    assert "OK" in capsys.readouterr().out
    assert load_config(path, environ={}).secure_cookies  # https public URL: Secure session cookies


def test_config_defaults_env_overrides_and_relative_paths(tmp_path: Path) -> None:
    path = write_config(tmp_path, 'data_dir = "data"\n')

    config = load_config(path, environ={"OUTPOST_CLOUD__PORT": "9000", "OUTPOST_CLOUD__HOST": "0.0.0.0"})

    assert config.data_dir == tmp_path / "data"
    assert config.database_url == f"sqlite+aiosqlite:///{tmp_path / 'data' / 'cloud.db'}"
    assert (config.host, config.port) == ("0.0.0.0", 9000)
    assert not config.secure_cookies


def test_config_errors_name_each_bad_key(tmp_path: Path) -> None:
    path = write_config(tmp_path, 'data_dir = "data"\nport = "many"\npublic_url = "ftp://x"\n')

    with pytest.raises(ConfigError) as err:
        load_config(path, environ={"OUTPOST_CLOUD__DATABASE_URL": "mysql://x"})

    assert "port: Input should be a valid integer" in str(err.value)
    with pytest.raises(ConfigError, match="data_dir: Field required"):
        load_config(write_config(tmp_path, "port = 1\n"), environ={})
    with pytest.raises(ConfigError, match="invalid TOML"):
        load_config(write_config(tmp_path, "data_dir = \n"), environ={})


def test_every_config_field_is_described() -> None:
    assert all(field.description for field in CloudConfig.model_fields.values())


def test_bootstrap_then_create_code(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    config = write_config(tmp_path, 'data_dir = "data"\n')
    password_file = tmp_path / "admin-password"
    password_file.write_text("a long enough password\n", encoding="utf-8")
    boot = ["bootstrap", "--config", str(config), "--tenant", "Acme", "--admin-email", "ops@acme.example"]
    boot += ["--admin-password-file", str(password_file)]

    assert main([*boot, "--site-name", "HQ"]) == 0
    first = json.loads(capsys.readouterr().out)
    assert main(boot) == 0  # idempotent: same tenant, admin kept
    second = json.loads(capsys.readouterr().out)
    assert (
        main(
            [
                "create-code",
                "--config",
                str(config),
                "--tenant-id",
                first["tenant_id"],
                "--site-name",
                "Depot",
            ]
        )
        == 0
    )
    code = capsys.readouterr().out.strip()
    unknown = main(["create-code", "--config", str(config), "--tenant-id", "nope", "--site-name", "X"])

    assert set(first) == {"tenant_id", "enrollment_code", "expires_at"}
    assert second == {"tenant_id": first["tenant_id"]}
    assert len(code) == 19 and code.count("-") == 3 and code != first["enrollment_code"]
    assert unknown == 1 and "unknown tenant" in capsys.readouterr().err
    assert (tmp_path / "data" / "cloud.db").exists()


@pytest.mark.parametrize("zone", ["America", "Etc", "Nowhere/City"])
def test_a_time_zone_that_is_no_zone_is_a_usage_error(
    tmp_path: Path, zone: str, capsys: pytest.CaptureFixture[str]
) -> None:
    config = write_config(tmp_path, 'data_dir = "data"\n')

    with pytest.raises(SystemExit) as exit_info:
        main(["create-code", "--config", str(config), "--tenant-id", "t", "--site-name", "X", "--timezone", zone])

    assert exit_info.value.code == 2
    assert f"unknown time zone {zone!r}" in capsys.readouterr().err
    assert not (tmp_path / "data" / "cloud.db").exists()  # refused before anything was opened
