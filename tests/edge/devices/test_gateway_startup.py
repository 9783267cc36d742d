"""Edge startup hashes the adapters' broker passwords off the event loop (the broker is already serving)."""

from __future__ import annotations

import threading

import pytest

from edge import keys
from edge.app import EdgeRunner
from edge.broker import directory as directory_module
from edge.config import EdgeConfig
from edge.devices.gateway import adapter_username


async def test_adapter_accounts_are_hashed_off_the_loop(
    edge_config: EdgeConfig, monkeypatch: pytest.MonkeyPatch
) -> None:
    loop_thread = threading.get_ident()
    hashed_in: list[int] = []
    real_hash = directory_module._hash_password

    def recording_hash(password: str, scheme: directory_module.HashScheme) -> str:
        hashed_in.append(threading.get_ident())
        return real_hash(password, scheme)  # the real argon2 hash: the broker must accept it

    monkeypatch.setattr(directory_module, "_hash_password", recording_hash)
    runner = EdgeRunner(edge_config)
    await runner.start()
    try:
        users = runner.app[keys.BROKER].directory.users
        assert adapter_username("outpost_mqtt", "outpost_mqtt") in users
    finally:
        await runner.stop()
    assert hashed_in, "startup hashed no adapter account"
    assert loop_thread not in hashed_in, "an argon2 hash ran on the event loop thread"
