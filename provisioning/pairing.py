"""Pair a device with the box from the installer's command line (the logic is the edge's: `edge.devices.pairing`)."""

from __future__ import annotations

from pathlib import Path

from edge.devices.pairing import (
    TOPIC_LEVEL,
    DeviceRole,
    DeviceSettings,
    PairArgs,
    PairingError,
    PairKind,
    device_entry,
    lan_address,
    new_password,
    pair_in_config,
    settings_for,
)
from provisioning.config_edit import edit_config

__all__ = [
    "TOPIC_LEVEL",
    "DeviceRole",
    "DeviceSettings",
    "PairArgs",
    "PairKind",
    "PairingError",
    "device_entry",
    "lan_address",
    "new_password",
    "pair_device",
    "pair_in_config",
    "settings_for",
]


def pair_device(config_path: Path, args: PairArgs, owner: str | None = None) -> tuple[DeviceSettings, bool]:
    """Create the device's account in the edge config (validated, atomic); return its settings."""
    return edit_config(config_path, lambda data: pair_in_config(data, args, args.broker_host), owner)
