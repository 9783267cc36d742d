"""`outpost-edge add-person` applies the console's person-name rule: control characters are refused clearly."""

from __future__ import annotations

import sqlite3
import subprocess
import sys
from pathlib import Path

import tomli_w

from edge.config import load_config
from tests.edge.site import site_config_dict


def _add_person(config: Path, name: str) -> subprocess.CompletedProcess[str]:
    command = [sys.executable, "-m", "edge.cli", "--config", str(config), "add-person", name, "--badge", "42"]
    return subprocess.run(command, capture_output=True, text=True, timeout=60)


def test_a_name_with_control_characters_is_refused(tmp_path: Path) -> None:
    config = tmp_path / "edge.toml"
    config.write_text(tomli_w.dumps(site_config_dict(tmp_path / "d")))
    config.chmod(0o600)
    for name in ("Line\nbreak", "Esc\x1b[31m", "Del\x7f", ""):
        refused = _add_person(config, name)
        assert refused.returncode == 2, refused.stdout + refused.stderr
        assert "outpost-edge: a person's name must" in refused.stderr, refused.stderr
        assert "Traceback" not in refused.stderr
    added = _add_person(config, "Zoë O'Neil-Ångström")
    assert added.returncode == 0, added.stderr
    database = load_config(config, environ={}).storage.database_path
    with sqlite3.connect(database) as conn:
        names = [row[0] for row in conn.execute("SELECT name FROM people")]
    assert names == ["Zoë O'Neil-Ångström"]
