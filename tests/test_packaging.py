"""Packaging: console scripts answer --help; the edge runtime never imports torch or ultralytics."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

BIN = Path(sys.executable).parent


@pytest.mark.parametrize(
    "command",
    [
        ["outpost-edge", "--help"],
        ["outpost-cloud", "--help"],
        ["outpost-cloud", "serve", "--help"],
        ["outpost-provision", "--help"],
        ["outpost-provision", "enroll", "--help"],
        ["outpost-provision", "model", "build-default", "--help"],
        ["outpost-provision", "model", "import", "--help"],
        ["outpost-demo", "--help"],
    ],
)
def test_console_scripts_have_help(command: list[str]) -> None:
    script = BIN / command[0]
    assert script.exists(), f"{script} is not installed (pip install -e .)"
    result = subprocess.run([str(script), *command[1:]], capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    assert "usage:" in result.stdout


def test_edge_runtime_does_not_import_torch() -> None:
    code = (
        "import sys, edge.app, edge.cli, edge.vision\n"
        "bad = sorted(m for m in sys.modules if m.split('.')[0] in ('torch', 'ultralytics', 'torchvision'))\n"
        "print(','.join(bad))"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == ""


def test_unknown_subcommand_is_a_clear_error() -> None:
    result = subprocess.run([str(BIN / "outpost-provision"), "frobnicate"], capture_output=True, text=True)
    assert result.returncode == 2
    assert "invalid choice: 'frobnicate'" in result.stderr
