"""Outpost's broker auth and ACL, over TCP with real paho clients and Mosquitto's own clients."""

from __future__ import annotations

import asyncio
import json
import subprocess
from pathlib import Path

from edge import keys
from edge.broker.directory import BrokerDirectory, BrokerUser, hash_password
from edge.broker.server import EmbeddedBroker
from firmware_adapters.outpost_mqtt.codec import Ack, Command, encode
from tests.edge.site import DEVICE_PASSWORDS
from tests.mosquitto_cli import mosquitto
from tests.paho_device import PahoDevice


async def test_anonymous_and_wrong_password_are_refused(edge_app) -> None:
    anonymous = PahoDevice(edge_app.mqtt_port, "anon", None, None)
    wrong = PahoDevice(edge_app.mqtt_port, "reader-front", "reader-front", "not-the-password")
    try:
        assert not await anonymous.connect()
        assert not await wrong.connect()
    finally:
        anonymous.close()
        wrong.close()


async def test_device_cannot_command_another_device(edge_app, devices) -> None:
    lock = await devices("lock-front", "lock")
    rogue = PahoDevice(edge_app.mqtt_port, "reader-front", "reader-front", DEVICE_PASSWORDS["reader-front"])
    assert await rogue.connect()
    try:
        denied_before = edge_app.app[keys.BROKER].directory.denied
        await rogue.publish("outpost/lock-front/command", json.dumps({"action": "unlock"}))
        # Subscribing to other devices' topics, or wildcards beyond its own, is refused too.
        assert await rogue.subscribe("outpost/lock-front/command") == [0x80]
        assert await rogue.subscribe("outpost/reader-front/#") == [0x80]
        assert await rogue.subscribe("outpost/reader-front/receipt") == [1]
        # Barrier: the rogue's publish was acknowledged, so it was routed; a site command sent after it
        # must be the first (and only) command the lock sees.
        await edge_app.app[keys.GATEWAY].send("lock-front", Command(id="barrier", action="lock"))
        assert (await asyncio.wait_for(lock.commands.get(), 10)).id == "barrier"
        assert lock.commands.empty()
        assert edge_app.app[keys.BROKER].directory.denied >= denied_before + 3
    finally:
        rogue.close()


async def test_client_id_of_another_device_is_refused(edge_app) -> None:
    first = PahoDevice(edge_app.mqtt_port, "shared-id", "reader-front", DEVICE_PASSWORDS["reader-front"])
    assert await first.connect()
    first.close()
    thief = PahoDevice(edge_app.mqtt_port, "shared-id", "lock-front", DEVICE_PASSWORDS["lock-front"])
    try:
        assert not await thief.connect()
    finally:
        thief.close()


async def test_plus_grant_does_not_allow_hash_subscription(tmp_path: Path) -> None:
    directory = BrokerDirectory()
    directory.add(BrokerUser("sensor", hash_password("pw-sensor"), publish=(), subscribe=("site/x/+",)))
    broker = EmbeddedBroker(directory, host="127.0.0.1", port=0)
    await broker.start()
    client = PahoDevice(broker.port, "sensor", "sensor", "pw-sensor")
    try:
        assert await client.connect()
        assert await client.subscribe("site/x/#") == [0x80]
        assert await client.subscribe("site/x/+") == [1]
        assert await client.subscribe("site/x/a") == [1]
    finally:
        client.close()
        await broker.stop()


async def test_persistent_subscription_survives_broker_restart(tmp_path: Path) -> None:
    """With session persistence, restored subscriptions keep passing the ACL (amqtt's own ACL drops them)."""
    directory = BrokerDirectory()
    directory.add(BrokerUser("lock-9", hash_password("pw-lock"), publish=(), subscribe=("outpost/lock-9/command",)))
    directory.add(BrokerUser("core", hash_password("pw-core"), publish=("outpost/+/command",), subscribe=()))
    session_db = tmp_path / "sessions.db"
    broker = EmbeddedBroker(directory, host="127.0.0.1", port=0, session_db=session_db)
    port = broker.port
    await broker.start()
    lock = PahoDevice(port, "lock-9", "lock-9", "pw-lock", clean_session=False)
    assert await lock.connect()
    assert await lock.subscribe("outpost/lock-9/command") == [1]
    lock.close()
    await broker.stop()

    broker = EmbeddedBroker(directory, host="127.0.0.1", port=port, session_db=session_db)
    await broker.start()
    core = PahoDevice(port, "core", "core", "pw-core")
    lock = PahoDevice(port, "lock-9", "lock-9", "pw-lock", clean_session=False)
    try:
        assert await core.connect()
        await core.publish("outpost/lock-9/command", '{"action":"unlock"}')
        assert await lock.connect()  # no new SUBSCRIBE: the restored one must deliver
        assert await lock.wait_for("outpost/lock-9/command", b'{"action":"unlock"}') == [
            ("outpost/lock-9/command", b'{"action":"unlock"}')
        ]
    finally:
        core.close()
        lock.close()
        await broker.stop()


async def test_mosquitto_clients_interoperate(edge_app, devices) -> None:
    """Mosquitto's own client tools act as reader and lock: an independent MQTT implementation."""
    await edge_app.app[keys.CREDENTIALS].add_person("Grace Hopper", ["55501"])
    port = str(edge_app.mqtt_port)
    sub = await asyncio.create_subprocess_exec(
        "stdbuf", "-oL", "mosquitto_sub", "-d", "-h", "127.0.0.1", "-p", port, "-V", "mqttv311",
        "-i", "lock-front", "-u", "lock-front", "-P", DEVICE_PASSWORDS["lock-front"],
        "-t", "outpost/lock-front/command", "-q", "1", "-C", "1", "-W", "15",
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
    )  # fmt: skip
    assert sub.stdout is not None
    lines: list[str] = []
    try:
        # -d prints the protocol exchange (line-buffered through stdbuf): publish the badge once the lock's
        # SUBACK is in, not after a guess.
        while not any("received SUBACK" in line for line in lines):
            line = (await asyncio.wait_for(sub.stdout.readline(), 10)).decode()
            assert line, f"mosquitto_sub ended before subscribing: {lines}"
            lines.append(line)
        code, _, err = await mosquitto(
            "mosquitto_pub", "-h", "127.0.0.1", "-p", port, "-V", "mqttv311",
            "-i", "reader-front", "-u", "reader-front", "-P", DEVICE_PASSWORDS["reader-front"],
            "-t", "outpost/reader-front/event", "-q", "1",
            "-m", json.dumps({"type": "badge", "credential": "55501"}),
        )  # fmt: skip
        assert code == 0, err
        out, err_bytes = await asyncio.wait_for(sub.communicate(), 15)
    finally:
        if sub.returncode is None:
            sub.kill()
            await sub.wait()
    assert sub.returncode == 0, err_bytes.decode()
    [payload] = [line for line in out.decode().splitlines() if line.startswith("{")]
    assert json.loads(payload)["action"] == "unlock"


def test_mosquitto_tools_present() -> None:
    for tool in ("mosquitto_pub", "mosquitto_sub"):
        assert subprocess.run(["which", tool], capture_output=True).returncode == 0, f"{tool} not installed"


async def test_retained_messages_of_others_are_not_leaked_on_connect(edge_app, devices) -> None:
    """amqtt 0.12.1 sends a new client the retained messages of every filter anyone subscribed to."""
    # Started means its retained "online" status was acknowledged, so the broker holds it (the core subscribes to it).
    await devices("lock-front", "lock")
    snoop = PahoDevice(edge_app.mqtt_port, "reader-front", "reader-front", DEVICE_PASSWORDS["reader-front"])
    try:
        assert await snoop.connect()
        assert await snoop.subscribe("outpost/reader-front/receipt") == [1]
        # Barrier: a receipt the site sends now arrives after anything sent on connect or on that SUBSCRIBE.
        await edge_app.app[keys.GATEWAY].send("reader-front", Ack(id="barrier"))
        received = await snoop.wait_for("outpost/reader-front/receipt", encode(Ack(id="barrier")))
        assert [topic for topic, _ in received] == ["outpost/reader-front/receipt"]
    finally:
        snoop.close()
