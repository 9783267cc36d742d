"""The small test site every edge test starts from: its config dict and the passwords behind it."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from edge.broker.directory import hash_password

DEVICE_PASSWORDS = {
    "reader-front": "reader-front-pw",
    "lock-front": "lock-front-pw",
    "contact-front": "contact-front-pw",
    "temp-lobby": "temp-lobby-pw",
}
ADMIN_PASSWORD = "console-admin-pw"
DEVICE_HASHES = {dev: hash_password(pw) for dev, pw in DEVICE_PASSWORDS.items()}
# What the `devices` fixture gives: start(device_id, kind, password=None) -> a started simulated device.
DeviceFactory = Callable[..., Any]


def site_config_dict(data_dir: Path, **overrides: Any) -> dict[str, Any]:
    """A small site: one zone, one door with reader, lock and contact, one sensor."""
    pw_file = data_dir / "admin-password"
    pw_file.parent.mkdir(parents=True, exist_ok=True)
    pw_file.write_text(ADMIN_PASSWORD)
    pw_file.chmod(0o600)
    config: dict[str, Any] = {
        "site": {"id": "test-site", "name": "Test depot", "timezone": "Europe/Berlin"},
        "storage": {"data_dir": str(data_dir)},
        "mqtt": {"host": "127.0.0.1", "port": 0},
        "web": {"host": "127.0.0.1", "port": 0, "initial_admin_password_file": str(pw_file)},
        "zones": [{"id": "lobby", "name": "Lobby"}],
        "devices": [
            {
                "id": "reader-front",
                "kind": "reader",
                "zone": "lobby",
                "password_hash": DEVICE_HASHES["reader-front"],
            },
            {"id": "lock-front", "kind": "lock", "zone": "lobby", "password_hash": DEVICE_HASHES["lock-front"]},
            {
                "id": "contact-front",
                "kind": "contact",
                "zone": "lobby",
                "password_hash": DEVICE_HASHES["contact-front"],
            },
            {"id": "temp-lobby", "kind": "sensor", "zone": "lobby", "password_hash": DEVICE_HASHES["temp-lobby"]},
        ],
        "doors": [
            {
                "id": "front",
                "name": "Front door",
                "zone": "lobby",
                "lock": "lock-front",
                "readers": ["reader-front"],
                "contact": "contact-front",
                "unlock_s": 2,
            }
        ],
    }
    config.update(overrides)
    return config
