"""The PIN test site: the small site plus a card+PIN vault (lockout after 3 wrong PINs), and its moves."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import pytest

from edge import keys
from edge.app import EdgeRunner
from edge.broker.directory import hash_password
from edge.config import EdgeConfig
from firmware_adapters.messages import BadgeRead
from firmware_adapters.simulated import SimulatedLock, SimulatedReader
from tests.edge.site import DEVICE_PASSWORDS, site_config_dict
from tests.polling import eventually

PASSWORDS = {**DEVICE_PASSWORDS, "reader-vault": "reader-vault-pw", "lock-vault": "lock-vault-pw"}
VAULT_HASHES = {dev: hash_password(PASSWORDS[dev]) for dev in ("reader-vault", "lock-vault")}
CARD, PIN, PERSON = "55501", "8642", "Grace"


def pin_site(data_dir: Path, **access: Any) -> dict[str, Any]:
    """The test site plus a card+PIN vault; the front door stays card-only. Lockout after 3 wrong PINs."""
    config = site_config_dict(data_dir)
    config["zones"].append({"id": "vault", "name": "Vault"})
    config["devices"] += [
        {"id": dev, "kind": dev.split("-")[0], "zone": "vault", "password_hash": VAULT_HASHES[dev]}
        for dev in VAULT_HASHES
    ]
    config["doors"].append(
        {
            "id": "vault",
            "name": "Vault",
            "zone": "vault",
            "lock": "lock-vault",
            "readers": ["reader-vault"],
            "require_pin": True,
            "unlock_s": 1,
        }
    )
    config["access"] = {
        "levels": {"staff": {"doors": ["front", "vault"]}},
        "pin_lockout_attempts": 3,
        "pin_lockout_window_s": 600,
        "pin_lockout_s": 600,
        **access,
    }
    return config


@pytest.fixture
def edge_config(tmp_path: Path, request: pytest.FixtureRequest) -> EdgeConfig:
    """The PIN site; `indirect` parametrisation overrides `[access]` keys."""
    return EdgeConfig.model_validate(pin_site(tmp_path / "edge", **getattr(request, "param", {})))


async def enter(runner: EdgeRunner, reader: SimulatedReader, pin: str | None, card: str = CARD) -> dict[str, Any]:
    """Present the card (with a PIN) at the reader; return the decision's audit record once acknowledged."""
    read = BadgeRead(credential=card, pin=pin)
    await reader.publish("event", read)
    assert await reader.wait_receipt(read.id)
    audits = await runner.app[keys.JOURNAL].recent(50, "audit")
    return next(e.payload for e in audits if e.payload.get("event_id") == read.id)


async def unlocked(runner: EdgeRunner, lock: SimulatedLock) -> None:
    """The vault lock was commanded open; let the simulated lock report it before it is stopped."""
    command = await asyncio.wait_for(lock.commands.get(), 5)
    assert command.action == "unlock"
    await eventually(lambda: runner.app[keys.SITE_STATE].doors["vault"].status == "unlocked")
