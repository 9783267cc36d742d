"""Editing the config file of a running box: validated as a whole, written atomically, private."""

from __future__ import annotations

import stat
import tomllib
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest
import tomli_w

from edge.config import ConfigError
from edge.config.file_edit import ConfigFileInvalid, edit_config_file
from tests.edge.site import site_config_dict


@pytest.fixture
def config_file(tmp_path: Path) -> Path:
    path = tmp_path / "edge.toml"
    path.write_text(tomli_w.dumps(site_config_dict(tmp_path / "edge")))
    path.chmod(0o640)
    return path


def test_a_valid_change_replaces_the_file(config_file: Path) -> None:
    def rename(data: dict[str, Any]) -> str:
        data["site"]["name"] = "North depot"
        return "renamed"

    result, config = edit_config_file(config_file, rename)
    assert result == "renamed" and config.site.name == "North depot"
    assert tomllib.loads(config_file.read_text())["site"]["name"] == "North depot"
    assert stat.S_IMODE(config_file.stat().st_mode) == 0o600
    assert sorted(p.name for p in config_file.parent.iterdir()) == ["edge", "edge.toml"]  # no temporary file left


def test_an_invalid_change_writes_nothing(config_file: Path) -> None:
    before = config_file.read_bytes()

    def break_reference(data: dict[str, Any]) -> None:
        data["doors"][0]["zone"] = "nowhere"

    with pytest.raises(ConfigFileInvalid, match=r"doors\.front\.zone: unknown zone 'nowhere'"):
        edit_config_file(config_file, break_reference)
    assert config_file.read_bytes() == before


def test_an_unreadable_file_is_a_config_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="cannot read"):
        edit_config_file(tmp_path / "missing.toml", lambda data: None)
    broken = tmp_path / "broken.toml"
    broken.write_text("[site\n")
    with pytest.raises(ConfigError, match="not valid TOML"):
        edit_config_file(broken, lambda data: None)


def test_edits_at_the_same_time_all_land(config_file: Path) -> None:
    names = [f"area-{i}" for i in range(8)]

    def add_zone(zone_id: str) -> None:
        def change(data: dict[str, Any]) -> None:
            data["zones"].append({"id": zone_id, "name": zone_id})

        edit_config_file(config_file, change)

    with ThreadPoolExecutor(max_workers=len(names)) as pool:
        list(pool.map(add_zone, names))
    zones = {z["id"] for z in tomllib.loads(config_file.read_text())["zones"]}
    assert zones == {"lobby", *names}
