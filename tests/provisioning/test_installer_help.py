"""Every installer subcommand explains itself with --help (exit 0) and says what it does."""

from __future__ import annotations

import pytest

from tests.provisioning.installer_helpers import provision


@pytest.mark.parametrize(
    ("command", "expected"),
    [
        ("enroll", "--file PATH"),
        ("init-local", "--site-name"),
        ("add-camera", "snapshot"),
        ("add-door", "--no-reader"),
        ("pair-device", "zigbee2mqtt"),
    ],
)
async def test_help(command: str, expected: str) -> None:
    rc, out, err = await provision(command, "--help")
    assert rc == 0, err
    assert f"usage: outpost-provision {command}" in out and expected in out
