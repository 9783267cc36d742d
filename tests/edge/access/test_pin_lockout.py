"""Wrong-PIN lockout through the real edge app, broker and simulated reader/lock: count, lockout at every door,
reset on a correct PIN, expiry, restart, and the admin API that lists and clears lockouts."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
from pydantic import ValidationError

from edge import keys
from edge.app import EdgeRunner
from edge.config import AccessConfig
from firmware_adapters.simulated import SimulatedDeviceConfig, SimulatedLock, SimulatedReader
from tests.edge.access.pin_site import CARD, PASSWORDS, PERSON, PIN, edge_config, enter, unlocked
from tests.edge.console import console_headers
from tests.polling import eventually

__all__ = ["edge_config"]  # the PIN site's config fixture (lockout after 3 wrong PINs)


async def start_device(runner: EdgeRunner, device_id: str, kind: type[Any]) -> Any:
    device = kind(SimulatedDeviceConfig(device_id=device_id, password=PASSWORDS[device_id], port=runner.mqtt_port))
    await device.start()
    return device


@pytest.fixture
async def vault(edge_app: EdgeRunner, devices) -> AsyncIterator[tuple[SimulatedReader, SimulatedLock]]:
    """Grace enrolled with a PIN; the vault's reader and lock connected."""
    await edge_app.app[keys.PEOPLE].add_person(PERSON, [CARD], "admin", levels=["staff"], pin=PIN)
    lock = await devices("lock-vault", "lock", PASSWORDS["lock-vault"])
    reader = await devices("reader-vault", "reader", PASSWORDS["reader-vault"])
    yield reader, lock


async def lockout_alarms(runner: EdgeRunner) -> list[dict[str, Any]]:
    """PIN lockout alarm records, oldest first."""
    entries = await runner.app[keys.JOURNAL].recent(200, "event")
    return [e.payload for e in reversed(entries) if e.payload.get("alarm") == "pin_lockout"]


async def test_wrong_pins_lock_the_credential_out_at_every_door(edge_app, devices, vault) -> None:
    reader, lock = vault
    for _ in range(3):
        assert (await enter(edge_app, reader, "0000"))["reason"] == "wrong_pin"
    raised = await lockout_alarms(edge_app)
    assert [(a["state"], a["credential"], a["person"], a["door_id"]) for a in raised] == [
        ("raised", CARD, PERSON, "vault")
    ]
    assert "0000" not in repr(raised) and PIN not in repr(raised)

    # The right PIN during the lockout is denied and does not end it; more wrong PINs raise nothing new.
    assert (await enter(edge_app, reader, PIN))["reason"] == "pin_lockout"
    assert (await enter(edge_app, reader, "1111"))["reason"] == "pin_lockout"
    # Card-only doors too: the credential is locked out everywhere.
    front = await devices("reader-front", "reader")
    read = await front.present(CARD)
    assert await front.wait_receipt(read.id)
    audit = (await edge_app.app[keys.JOURNAL].recent(1, "audit"))[0].payload
    assert (audit["door_id"], audit["granted"], audit["reason"]) == ("front", False, "pin_lockout")
    # Barrier: a command sent after those decisions is the first the vault lock gets.
    barrier = await edge_app.app[keys.ACCESS].command_door("vault", "lock", by="tester")
    assert (await asyncio.wait_for(lock.commands.get(), 5)).id == barrier.id
    assert len(await lockout_alarms(edge_app)) == 1

    async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{edge_app.web_port}") as client:
        assert (await client.get("/api/v1/access/pin-lockouts")).status_code == 401
        await console_headers(client)
        listed = (await client.get("/api/v1/access/pin-lockouts")).json()["lockouts"]
    assert [(lk["credential"], lk["person"], lk["door_id"]) for lk in listed] == [(CARD, PERSON, "vault")]


async def test_a_correct_pin_before_the_limit_resets_the_count(edge_app, vault) -> None:
    reader, lock = vault
    assert [(await enter(edge_app, reader, "0000"))["reason"] for _ in range(2)] == ["wrong_pin"] * 2
    assert (await enter(edge_app, reader, PIN))["reason"] == "granted"
    await unlocked(edge_app, lock)
    assert [(await enter(edge_app, reader, "0000"))["reason"] for _ in range(2)] == ["wrong_pin"] * 2
    assert await lockout_alarms(edge_app) == []
    assert (await enter(edge_app, reader, "0000"))["reason"] == "wrong_pin"  # the third in a row
    assert [a["state"] for a in await lockout_alarms(edge_app)] == ["raised"]


@pytest.mark.parametrize("edge_config", [{"pin_lockout_s": 0.5}], indirect=True)
async def test_a_lockout_ends_by_itself(edge_app, vault) -> None:
    reader, lock = vault
    for _ in range(3):
        await enter(edge_app, reader, "0000")
    assert (await lockout_alarms(edge_app))[0]["state"] == "raised"

    async def cleared() -> bool:
        return [a["state"] for a in await lockout_alarms(edge_app)] == ["raised", "cleared"]

    await eventually(cleared)
    ended = (await lockout_alarms(edge_app))[-1]
    assert (ended["credential"], ended["detail"], ended["by"]) == (CARD, "expired", None)
    assert edge_app.app[keys.ACCESS].pin_lockouts.active() == []
    assert (await enter(edge_app, reader, PIN))["reason"] == "granted"
    await unlocked(edge_app, lock)


@pytest.mark.parametrize("edge_config", [{"pin_lockout_attempts": 0}], indirect=True)
async def test_attempts_zero_turns_the_lockout_off(edge_app, vault) -> None:
    reader, lock = vault
    assert [(await enter(edge_app, reader, "0000"))["reason"] for _ in range(4)] == ["wrong_pin"] * 4
    assert (await enter(edge_app, reader, PIN))["reason"] == "granted"
    await unlocked(edge_app, lock)
    assert await lockout_alarms(edge_app) == []


async def test_counts_and_lockouts_survive_a_restart(edge_config) -> None:
    async def run(wrong: int) -> list[str]:
        runner = EdgeRunner(edge_config)
        await runner.start()
        try:
            reader = await start_device(runner, "reader-vault", SimulatedReader)
            try:
                return [(await enter(runner, reader, "0000"))["reason"] for _ in range(wrong)] + [
                    (await enter(runner, reader, PIN))["reason"]
                ]
            finally:
                await reader.stop()
        finally:
            await runner.stop()

    first = EdgeRunner(edge_config)
    await first.start()
    try:
        await first.app[keys.PEOPLE].add_person(PERSON, [CARD], "admin", levels=["staff"], pin=PIN)
        reader = await start_device(first, "reader-vault", SimulatedReader)
        try:
            assert [(await enter(first, reader, "0000"))["reason"] for _ in range(2)] == ["wrong_pin"] * 2
        finally:
            await reader.stop()
    finally:
        await first.stop()
    # The two wrong PINs before the restart count: one more locks the card out, and the lockout stays.
    assert await run(1) == ["wrong_pin", "pin_lockout"]
    assert await run(0) == ["pin_lockout"]


async def test_an_admin_clears_a_lockout_with_csrf(edge_app, vault) -> None:
    reader, lock = vault
    for _ in range(3):
        await enter(edge_app, reader, "0000")
    url = f"/api/v1/access/pin-lockouts/{CARD}/clear"
    async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{edge_app.web_port}") as client:
        assert (await client.post(url)).status_code == 401
        headers = await console_headers(client)
        assert (await client.post(url)).status_code == 403  # no CSRF token
        assert (await client.post(url, headers={"X-CSRF-Token": "forged"})).status_code == 403
        assert len((await client.get("/api/v1/access/pin-lockouts")).json()["lockouts"]) == 1
        bad = await client.post(url, json={"reason": "x", "force": True}, headers=headers)
        assert (bad.status_code, bad.json()["error"]) == (400, "invalid_body")

        done = await client.post(url, json={"reason": "identity checked"}, headers=headers)
        assert done.status_code == 200
        assert done.json()["cleared"]["credential"] == CARD and done.json()["lockouts"] == []
        again = await client.post(url, headers=headers)
        assert (again.status_code, again.json()["error"]) == (404, "not_locked_out")

    audits = [e.payload for e in await edge_app.app[keys.JOURNAL].recent(50, "audit")]
    cleared = next(a for a in audits if a["type"] == "pin_lockout_cleared")
    assert (cleared["credential"], cleared["person"], cleared["by"], cleared["reason"]) == (
        CARD,
        PERSON,
        "admin",
        "identity checked",
    )
    alarms = await lockout_alarms(edge_app)
    assert [(a["state"], a.get("by")) for a in alarms] == [("raised", None), ("cleared", "admin")]
    assert (await enter(edge_app, reader, PIN))["reason"] == "granted"
    await unlocked(edge_app, lock)


@pytest.mark.parametrize(
    "access",
    [
        {"pin_lockout_attempts": -1},
        {"pin_lockout_attempts": 1000},
        {"pin_lockout_window_s": 0},
        {"pin_lockout_s": -5},
        {"pin_lockout_s": "soon"},
    ],
)
def test_lockout_settings_are_validated(access: dict[str, Any]) -> None:
    with pytest.raises(ValidationError):
        AccessConfig.model_validate(access)


def test_lockout_defaults() -> None:
    config = AccessConfig()
    assert (config.pin_lockout_attempts, config.pin_lockout_window_s, config.pin_lockout_s) == (5, 300, 300)
