"""External Mosquitto (mqtt.mode = "external"): files generated from the device registry, a real mosquitto.

Every test runs a real `mosquitto` on a free port (never the system one on 1883).
"""

from __future__ import annotations

import asyncio
import json
import os
import pwd
import signal
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from edge import keys
from edge.app import EdgeRunner
from edge.broker.directory import BrokerDirectory, BrokerUser
from edge.broker.mosquitto import MOSQUITTO_BINARY, ManagedMosquitto, MosquittoError
from edge.broker.passwords import mosquitto_hash
from edge.config import EdgeConfig
from firmware_adapters.outpost_mqtt.adapter import OutpostMqttAdapter
from tests.edge.site import DEVICE_PASSWORDS, site_config_dict
from tests.net import free_port
from tests.paho_device import PahoDevice
from tests.polling import eventually

BADGE = "0004217"


def external_config_dict(data_dir: Path, **mqtt: Any) -> dict[str, Any]:
    """The small test site with Mosquitto ($7$) hashes and mqtt.mode = external on a free port."""
    config = site_config_dict(data_dir, mqtt={"mode": "external", "host": "127.0.0.1", "port": 0, **mqtt})
    for device in config["devices"]:
        device["password_hash"] = mosquitto_hash(DEVICE_PASSWORDS[device["id"]])
    return config


@pytest.fixture
def edge_config(tmp_path: Path) -> EdgeConfig:
    """Overrides the conftest's: the same site, external mode (so `edge_app` and `devices` use Mosquitto)."""
    return EdgeConfig.model_validate(external_config_dict(tmp_path / "edge"))


def core_directory() -> BrokerDirectory:
    """Accounts as the edge builds them: two devices with their own topics, plus the site core's."""
    directory = BrokerDirectory(password_scheme="mosquitto")
    for device in ("reader-front", "lock-front"):
        publish, subscribe = OutpostMqttAdapter.device_acl(device, None)
        directory.add(BrokerUser(device, mosquitto_hash(DEVICE_PASSWORDS[device]), publish, subscribe))
    publish, subscribe = OutpostMqttAdapter.broker_acl({})
    directory.add(BrokerUser("core", mosquitto_hash("core-pw"), publish, subscribe))
    return directory


@pytest.fixture
async def mosquitto(tmp_path: Path) -> AsyncIterator[ManagedMosquitto]:
    """A private mosquitto fed from `core_directory()`."""
    broker = ManagedMosquitto(core_directory(), host="127.0.0.1", port=0, state_dir=tmp_path / "mosquitto")
    await broker.start()
    try:
        yield broker
    finally:
        await broker.stop()


async def _messages(device: PahoDevice, count: int, timeout_s: float = 5.0) -> list[tuple[str, bytes]]:
    async def arrived() -> bool:
        return len(device.messages) >= count

    await eventually(arrived, timeout_s)
    return device.messages


async def test_generated_files_hold_only_what_the_directory_allows(mosquitto: ManagedMosquitto) -> None:
    passwd = mosquitto.files.password_file.read_text()
    acl = mosquitto.files.acl_file.read_text()
    conf = mosquitto.config_file.read_text()
    for path in (mosquitto.files.password_file, mosquitto.files.acl_file, mosquitto.config_file):
        assert path.stat().st_mode & 0o777 == 0o600
    assert {line.split(":", 1)[0] for line in passwd.splitlines() if line and not line.startswith("#")} == {
        "core",
        "lock-front",
        "reader-front",
    }
    assert all(line.split(":", 1)[1].startswith("$7$") for line in passwd.splitlines() if ":" in line)
    assert DEVICE_PASSWORDS["reader-front"] not in passwd
    reader_block = acl.split("user reader-front\n", 1)[1].split("\nuser ", 1)[0]
    assert "topic write outpost/reader-front/event" in reader_block
    assert "topic read outpost/reader-front/receipt" in reader_block
    assert "lock-front" not in reader_block
    for line in ("allow_anonymous false", f"password_file {mosquitto.files.password_file}", "persistence true"):
        assert line in conf.splitlines()
    assert f"listener {mosquitto.port} 127.0.0.1" in conf.splitlines()


async def test_device_event_reaches_core_and_core_commands_the_lock(mosquitto: ManagedMosquitto) -> None:
    core = PahoDevice(mosquitto.port, "core", "core", "core-pw")
    lock = PahoDevice(mosquitto.port, "lock-front", "lock-front", DEVICE_PASSWORDS["lock-front"])
    reader = PahoDevice(mosquitto.port, "reader-front", "reader-front", DEVICE_PASSWORDS["reader-front"])
    try:
        assert await core.connect() and await lock.connect() and await reader.connect()
        assert await core.subscribe("outpost/+/event") == [1]
        assert await lock.subscribe("outpost/lock-front/command") == [1]
        await reader.publish("outpost/reader-front/event", json.dumps({"type": "badge", "credential": BADGE}))
        [(topic, payload)] = await _messages(core, 1)
        assert topic == "outpost/reader-front/event" and json.loads(payload)["credential"] == BADGE
        await core.publish("outpost/lock-front/command", json.dumps({"action": "unlock"}))
        assert await _messages(lock, 1) == [("outpost/lock-front/command", b'{"action": "unlock"}')]
    finally:
        for client in (core, lock, reader):
            client.close()


async def test_anonymous_and_wrong_password_are_refused(mosquitto: ManagedMosquitto) -> None:
    anonymous = PahoDevice(mosquitto.port, "anon", None, None)
    wrong = PahoDevice(mosquitto.port, "reader-front", "reader-front", "not-the-password")
    unknown = PahoDevice(mosquitto.port, "stranger", "stranger", "whatever")
    try:
        assert not await anonymous.connect()
        assert not await wrong.connect()
        assert not await unknown.connect()
    finally:
        for client in (anonymous, wrong, unknown):
            client.close()


async def test_device_cannot_command_or_read_another_device(mosquitto: ManagedMosquitto) -> None:
    lock = PahoDevice(mosquitto.port, "lock-front", "lock-front", DEVICE_PASSWORDS["lock-front"])
    rogue = PahoDevice(mosquitto.port, "reader-front", "reader-front", DEVICE_PASSWORDS["reader-front"])
    core = PahoDevice(mosquitto.port, "core", "core", "core-pw")
    try:
        assert await lock.connect() and await rogue.connect() and await core.connect()
        await lock.subscribe("outpost/lock-front/command")
        # Mosquitto may grant the SUBSCRIBE but checks read access on every delivery.
        await rogue.subscribe("outpost/lock-front/command")
        await rogue.subscribe("outpost/#")
        await rogue.publish("outpost/lock-front/command", json.dumps({"action": "unlock", "from": "rogue"}))
        await core.publish("outpost/lock-front/command", json.dumps({"action": "lock", "from": "core"}))
        # The core's command arrives; the rogue's, acknowledged before it, never does (the core's is the barrier).
        assert [json.loads(p)["from"] for _, p in await _messages(lock, 1)] == ["core"]
        # The rogue sees neither: a receipt to it, published by the core after the command, arrives first.
        await core.publish("outpost/reader-front/receipt", "barrier")
        assert await rogue.wait_for("outpost/reader-front/receipt", b"barrier") == [
            ("outpost/reader-front/receipt", b"barrier")
        ]
        assert [json.loads(p)["from"] for _, p in lock.messages] == ["core"]
    finally:
        for client in (lock, rogue, core):
            client.close()


async def test_client_id_of_another_device_cannot_take_over_its_session(mosquitto: ManagedMosquitto) -> None:
    reader = PahoDevice(mosquitto.port, "reader-front", "reader-front", DEVICE_PASSWORDS["reader-front"])
    thief = PahoDevice(mosquitto.port, "reader-front", "lock-front", DEVICE_PASSWORDS["lock-front"])
    try:
        assert await reader.connect()
        assert await thief.connect()  # accepted, but as client id "lock-front" (use_username_as_clientid)
        # A round trip on the reader's connection after the thief's CONNACK: a takeover would have closed it.
        assert await reader.subscribe("outpost/reader-front/receipt") == [1]
        assert not reader.disconnected.is_set()
    finally:
        reader.close()
        thief.close()


async def test_account_added_later_is_usable_after_reload(mosquitto: ManagedMosquitto) -> None:
    mosquitto.directory.add(BrokerUser("sensor-9", mosquitto_hash("pw-9"), ("outpost/sensor-9/telemetry",), ()))
    assert await mosquitto.wait_reloaded()
    sensor = PahoDevice(mosquitto.port, "sensor-9", "sensor-9", "pw-9")
    try:
        assert await sensor.connect()
    finally:
        sensor.close()


async def test_a_crashed_mosquitto_is_restarted(mosquitto: ManagedMosquitto) -> None:
    first = mosquitto.pid
    assert first is not None
    os.kill(first, signal.SIGKILL)

    async def back() -> bool:
        return mosquitto.pid not in (None, first) and mosquitto._ready.is_set()  # noqa: SLF001

    await eventually(back, 10)
    reader = PahoDevice(mosquitto.port, "reader-front", "reader-front", DEVICE_PASSWORDS["reader-front"])
    try:
        assert await reader.connect()
    finally:
        reader.close()


async def test_argon2_account_is_refused_with_a_clear_error(tmp_path: Path) -> None:
    from edge.broker.directory import hash_password

    directory = core_directory()
    directory.add(BrokerUser("bridge", hash_password("pw"), ("z2m/#",), ()))
    broker = ManagedMosquitto(directory, host="127.0.0.1", port=0, state_dir=tmp_path / "m")
    with pytest.raises(MosquittoError, match="'bridge' has no Mosquitto password hash"):
        await broker.start()


def test_external_mode_rejects_argon2_hashes_naming_the_key(tmp_path: Path) -> None:
    data = site_config_dict(tmp_path / "d", mqtt={"mode": "external", "port": 0})
    with pytest.raises(ValueError, match=r"devices\.reader-front\.password_hash: not a mosquitto password hash"):
        EdgeConfig.model_validate(data)
    data = external_config_dict(tmp_path / "d", external_manage=False)
    with pytest.raises(ValueError, match="external_reload_command is required"):
        EdgeConfig.model_validate(data)


async def test_edge_in_external_mode_runs_badge_to_unlock(edge_app: EdgeRunner, devices: Any) -> None:
    assert isinstance(edge_app.app[keys.BROKER], ManagedMosquitto)
    await edge_app.app[keys.CREDENTIALS].add_person("Ada Lovelace", [BADGE])
    lock = await devices("lock-front", "lock")
    reader = await devices("reader-front", "reader")
    badge = await reader.present(BADGE)
    command = await asyncio.wait_for(lock.commands.get(), 10)
    assert command.action == "unlock"
    assert await reader.wait_receipt(badge.id), "the site never confirmed the badge event"
    audit = (await edge_app.app[keys.JOURNAL].recent(10, "audit"))[0]
    assert audit.payload["granted"] is True and audit.payload["person"] == "Ada Lovelace"

    async def unlocked() -> bool:
        return edge_app.app[keys.SITE_STATE].doors["front"].status == "unlocked"

    await eventually(unlocked)


async def test_edge_with_system_managed_mosquitto(tmp_path: Path) -> None:
    """external_manage = false: the edge writes the files; "the system" (here: this test) runs mosquitto."""
    files = tmp_path / "system-mosquitto"
    files.mkdir()
    for name in ("passwd", "acl"):
        (files / name).write_text("")
    port = free_port()
    (files / "mosquitto.conf").write_text(
        f"listener {port} 127.0.0.1\nallow_anonymous false\npassword_file {files / 'passwd'}\n"
        f"acl_file {files / 'acl'}\nlog_dest none\nuser {pwd.getpwuid(os.geteuid()).pw_name}\n"
    )
    system = await asyncio.create_subprocess_exec(str(MOSQUITTO_BINARY), "-c", str(files / "mosquitto.conf"))
    data = external_config_dict(
        tmp_path / "edge",
        external_manage=False,
        external_port=port,
        external_files_dir=str(files),
        external_reload_command=["kill", "-HUP", str(system.pid)],
    )
    runner = EdgeRunner(EdgeConfig.model_validate(data))
    try:
        await runner.start()
        assert runner.mqtt_port == port
        assert "user adapter-outpost_mqtt" in (files / "acl").read_text()
        assert (files / "passwd").stat().st_mode & 0o777 == 0o640
        await runner.app[keys.CREDENTIALS].add_person("Ada Lovelace", [BADGE])
        lock = PahoDevice(port, "lock-front", "lock-front", DEVICE_PASSWORDS["lock-front"])
        reader = PahoDevice(port, "reader-front", "reader-front", DEVICE_PASSWORDS["reader-front"])
        try:
            assert await lock.connect() and await reader.connect()
            await lock.subscribe("outpost/lock-front/command")
            await reader.publish("outpost/reader-front/event", json.dumps({"type": "badge", "credential": BADGE}))
            [(_, payload)] = await _messages(lock, 1, timeout_s=10)
            assert json.loads(payload)["action"] == "unlock"
        finally:
            lock.close()
            reader.close()
    finally:
        await runner.stop()
        system.terminate()
        await asyncio.wait_for(system.wait(), 10)


async def test_mosquitto_left_over_by_a_dead_edge_is_stopped_at_start(tmp_path: Path) -> None:
    old = ManagedMosquitto(core_directory(), host="127.0.0.1", port=0, state_dir=tmp_path / "m")
    await old.start()
    # The old edge "dies": nothing supervises or stops its mosquitto any more.
    assert old._supervisor is not None  # noqa: SLF001
    old._supervisor.cancel()  # noqa: SLF001
    await asyncio.gather(old._supervisor, return_exceptions=True)  # noqa: SLF001
    stale = old.pid
    new = ManagedMosquitto(core_directory(), host="127.0.0.1", port=old.port, state_dir=tmp_path / "m")
    await new.start()
    try:
        assert new.pid != stale
        await asyncio.wait_for(old._proc.wait(), 5)  # type: ignore[union-attr]  # noqa: SLF001
        reader = PahoDevice(new.port, "reader-front", "reader-front", DEVICE_PASSWORDS["reader-front"])
        try:
            assert await reader.connect()
        finally:
            reader.close()
    finally:
        await new.stop()
        await old.stop()
    assert not new.pid_file.exists()
