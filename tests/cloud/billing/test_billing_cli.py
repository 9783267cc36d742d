"""`outpost-cloud billing-close` runs the close by hand and prints what it did as one JSON line."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from cloud.cli import main


def test_billing_close_by_hand_prints_one_json_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    config = tmp_path / "cloud.toml"
    config.write_text(f'data_dir = "{tmp_path / "data"}"\n\n[billing]\ngrace_days = 5\n')
    assert main(["billing-close", "--config", str(config), "--today", "2027-02-01"]) == 0
    line = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert line == {"today": "2027-02-01", "ran": True, "drafted": 0, "refreshed": 0, "finalized": 0}


def test_a_bad_day_is_refused_by_name(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    config = tmp_path / "cloud.toml"
    config.write_text(f'data_dir = "{tmp_path / "data"}"\n')
    with pytest.raises(SystemExit):
        main(["billing-close", "--config", str(config), "--today", "2027-13-01"])
    assert "not a YYYY-MM-DD date" in capsys.readouterr().err
