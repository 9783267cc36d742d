"""A client id in use cannot be taken over without that account's credentials; its owner still can.

amqtt 0.12.1 dropped a connected client's session (clean session) or closed its connection (persistent
session) on any CONNECT with its client id, before checking the credentials: an anonymous client could cut a
lock off from its commands. These tests use real clients (paho, Mosquitto's tools, the simulated lock).
"""

from __future__ import annotations

import asyncio
import logging
import socket
from collections.abc import AsyncIterator

import pytest

from edge import keys
from edge.broker.directory import BrokerUser, hash_password
from edge.broker.server import EmbeddedBroker
from firmware_adapters.outpost_mqtt.codec import Command
from tests.brokers import running_broker
from tests.edge.site import DEVICE_PASSWORDS
from tests.mosquitto_cli import mosquitto
from tests.paho_device import PahoDevice

BRIDGE_PW = "pw-bridge"
SET_TOPIC = "zigbee2mqtt/back_door_lock/set"
# Hashed once at import: argon2 is deliberately slow and must not run on a test's event loop.
HASHES = {pw: hash_password(pw) for pw in (BRIDGE_PW, "pw-core", "pw-other")}

# (username, password) of each kind of client that must not take over the bridge's client id.
BAD_CLIENTS = {
    "anonymous": (None, None),
    "wrong-password": ("z2m-bridge", "not-the-password"),
    "another-valid-account": ("other", "pw-other"),
}


@pytest.fixture
async def broker() -> AsyncIterator[EmbeddedBroker]:
    """A broker with a Zigbee2MQTT bridge account, the site core's account and an unrelated valid account."""
    users = [
        BrokerUser("z2m-bridge", HASHES[BRIDGE_PW], publish=("zigbee2mqtt/#",), subscribe=("zigbee2mqtt/#",)),
        BrokerUser("core", HASHES["pw-core"], publish=("zigbee2mqtt/#",), subscribe=("zigbee2mqtt/#",)),
        BrokerUser("other", HASHES["pw-other"], publish=("other/#",), subscribe=("other/#",)),
    ]
    async with running_broker(users) as started:
        yield started


async def connected(port: int, client_id: str, username: str, password: str, **kwargs: object) -> PahoDevice:
    client = PahoDevice(port, client_id, username, password, **kwargs)  # type: ignore[arg-type]
    assert await client.connect()
    return client


@pytest.mark.parametrize("clean_session", [True, False], ids=["clean", "persistent"])
@pytest.mark.parametrize("kind", list(BAD_CLIENTS))
async def test_bad_client_cannot_take_over_a_connected_bridge(
    broker: EmbeddedBroker, kind: str, clean_session: bool
) -> None:
    bridge = await connected(broker.port, "z2m-bridge", "z2m-bridge", BRIDGE_PW, clean_session=False)
    core = await connected(broker.port, "core", "core", "pw-core")
    username, password = BAD_CLIENTS[kind]
    thief = PahoDevice(broker.port, "z2m-bridge", username, password, clean_session=clean_session)
    try:
        assert await bridge.subscribe("zigbee2mqtt/#") == [1]
        assert not await thief.connect()
        await core.publish(SET_TOPIC, '{"state":"UNLOCK"}')
        await bridge.wait_for(SET_TOPIC, b'{"state":"UNLOCK"}')
        assert not bridge.disconnected.is_set()
        assert broker.refused_connects == {"not_authorized": 1}
    finally:
        for client in (thief, core, bridge):
            client.close()


async def test_mosquitto_clients_cannot_take_over_a_connected_bridge(broker: EmbeddedBroker) -> None:
    bridge = await connected(broker.port, "z2m-bridge", "z2m-bridge", BRIDGE_PW)
    core = await connected(broker.port, "core", "core", "pw-core")
    common = ("-h", "127.0.0.1", "-p", str(broker.port), "-V", "mqttv311", "-i", "z2m-bridge")
    try:
        assert await bridge.subscribe("zigbee2mqtt/#") == [1]
        code, _, err = await mosquitto("mosquitto_sub", *common, "-c", "-q", "1", "-t", "zigbee2mqtt/#", "-C", "1")
        assert code != 0 and "not authori" in err.lower(), err
        code, _, err = await mosquitto(
            "mosquitto_pub", *common, "-u", "other", "-P", "pw-other", "-t", "other/x", "-m", "x"
        )
        assert code != 0 and "not authori" in err.lower(), err
        code, _, err = await mosquitto(
            "mosquitto_pub", *common, "-u", "z2m-bridge", "-P", "guess", "-t", SET_TOPIC, "-m", "x"
        )
        assert code != 0 and "not authori" in err.lower(), err
        await core.publish(SET_TOPIC, '{"state":"LOCK"}')
        await bridge.wait_for(SET_TOPIC, b'{"state":"LOCK"}')
        assert not bridge.disconnected.is_set()
    finally:
        core.close()
        bridge.close()


@pytest.mark.parametrize("clean_session", [True, False], ids=["clean", "persistent"])
async def test_owner_takes_over_its_own_client_id(broker: EmbeddedBroker, clean_session: bool) -> None:
    """MQTT-3.1.4-2: the same account reconnecting closes its old connection; its Last Will is not sent."""
    state = "zigbee2mqtt/bridge/state"
    old = await connected(
        broker.port, "z2m-bridge", "z2m-bridge", BRIDGE_PW, clean_session=clean_session, will=(state, "offline")
    )
    core = await connected(broker.port, "core", "core", "pw-core")
    new = PahoDevice(broker.port, "z2m-bridge", "z2m-bridge", BRIDGE_PW, clean_session=clean_session)
    try:
        assert await old.subscribe("zigbee2mqtt/#") == [1]
        assert await core.subscribe(state) == [1]
        assert await new.connect()
        assert await old.wait_disconnected()
        assert new.session_present is (not clean_session)
        if clean_session:
            assert await new.subscribe("zigbee2mqtt/#") == [1]  # a clean session starts without subscriptions
        await core.publish(SET_TOPIC, '{"state":"UNLOCK"}')
        await new.wait_for(SET_TOPIC, b'{"state":"UNLOCK"}')
        # Barrier: a message on the state topic after the takeover; the old Will would have come before it.
        await core.publish(state, "online")
        assert await core.wait_for(state, b"online") == [(state, b"online")]
    finally:
        for client in (new, core, old):
            client.close()


async def test_clean_session_does_not_leave_state_for_a_persistent_reconnect(broker: EmbeddedBroker) -> None:
    """A clean session's subscriptions end with its connection [MQTT-3.1.2-6], even if the next CONNECT keeps state."""
    core = await connected(broker.port, "core", "core", "pw-core")
    first = await connected(broker.port, "z2m-bridge", "z2m-bridge", BRIDGE_PW, clean_session=True)
    second = PahoDevice(broker.port, "z2m-bridge", "z2m-bridge", BRIDGE_PW, clean_session=False)
    try:
        assert await first.subscribe("zigbee2mqtt/#") == [1]
        first.close()
        assert await second.connect()
        assert second.session_present is False
        assert await second.subscribe("zigbee2mqtt/bridge/ping") == [1]
        await core.publish(SET_TOPIC, "not for the new session")
        await core.publish("zigbee2mqtt/bridge/ping", "barrier")
        assert await second.wait_for("zigbee2mqtt/bridge/ping", b"barrier") == [("zigbee2mqtt/bridge/ping", b"barrier")]
    finally:
        for client in (second, core):
            client.close()


async def test_lock_keeps_its_commands_after_takeover_attempts(edge_app, devices) -> None:
    """The issue's field case: a real lock stays reachable; a badge after every attempt still unlocks it."""
    await edge_app.app[keys.CREDENTIALS].add_person("Ada Lovelace", ["55502"])
    lock = await devices("lock-front", "lock")
    reader = await devices("reader-front", "reader")
    port = edge_app.mqtt_port
    attempts = [
        ("lock-front", None, None),
        ("lock-front", "lock-front", "wrong"),
        ("lock-front", "reader-front", DEVICE_PASSWORDS["reader-front"]),
    ]
    for clean_session in (True, False):
        for client_id, username, password in attempts:
            await _refused(port, client_id, username, password, clean_session)
    code, _, err = await mosquitto(
        "mosquitto_sub", "-h", "127.0.0.1", "-p", str(port), "-V", "mqttv311", "-i", "lock-front",
        "-t", "outpost/lock-front/command", "-C", "1",
    )  # fmt: skip
    assert code != 0 and "not authori" in err.lower(), err
    assert edge_app.app[keys.BROKER].refused_connects["not_authorized"] == 7  # in /api/v1/status
    await reader.present("55502")
    command = await _next_command(lock)
    assert command.action == "unlock"
    # And the site still reaches it directly.
    await edge_app.app[keys.GATEWAY].send("lock-front", Command(id="after-attempts", action="lock"))
    assert (await _next_command(lock)).id == "after-attempts"


async def test_account_names_are_reserved_client_ids(edge_app) -> None:
    """A device cannot claim another account's name as its client id, even before that account connects.

    The site core's adapters join in-process (no client id in use), and a lock that has not connected yet holds
    no session: first-use binding alone would let a reader squat both ids for good.
    """
    port = edge_app.mqtt_port
    reader_pw = DEVICE_PASSWORDS["reader-front"]
    for client_id in ("adapter-outpost_mqtt", "contact-front"):
        await _refused(port, client_id, "reader-front", reader_pw, True)
    owner = PahoDevice(port, "contact-front", "contact-front", DEVICE_PASSWORDS["contact-front"])
    try:
        assert await owner.connect()
    finally:
        owner.close()


async def _refused(port: int, client_id: str, username: str | None, password: str | None, clean: bool) -> None:
    thief = PahoDevice(port, client_id, username, password, clean_session=clean)
    try:
        assert not await thief.connect(), f"{username} got client id {client_id}"
    finally:
        thief.close()


async def _next_command(lock) -> Command:  # type: ignore[no-untyped-def]
    return await asyncio.wait_for(lock.commands.get(), 10)


async def test_owner_takes_over_from_a_connection_that_stopped_reading(
    broker: EmbeddedBroker, caplog: pytest.LogCaptureFixture
) -> None:
    """A device whose old connection is half-dead (the broker's writes to it back up) can still reconnect."""
    stuck = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    stuck.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    stuck.connect(("127.0.0.1", broker.port))
    reader, writer = await asyncio.open_connection(sock=stuck)
    core = await connected(broker.port, "core", "core", "pw-core")
    new = PahoDevice(broker.port, "z2m-bridge", "z2m-bridge", BRIDGE_PW)
    try:
        writer.write(connect_packet("z2m-bridge", "z2m-bridge", BRIDGE_PW))
        assert await asyncio.wait_for(reader.readexactly(4), 5) == bytes([0x20, 2, 0, 0])
        topic = b"zigbee2mqtt/#"
        writer.write(bytes([0x82, 2 + 2 + len(topic) + 1, 0, 1, 0, len(topic)]) + topic + b"\x00")
        assert await asyncio.wait_for(reader.readexactly(5), 5) == bytes([0x90, 3, 0, 1, 0])
        # From here on the old connection reads nothing: 8 MB for it back up in the broker.
        payload = "x" * 65536
        for _ in range(128):
            await core.publish("zigbee2mqtt/flood", payload, qos=0)
        await core.publish("zigbee2mqtt/flood", "last", qos=1)
        assert await new.connect()
        assert await new.subscribe("zigbee2mqtt/bridge/request") == [1]
        await core.publish("zigbee2mqtt/bridge/request", "after takeover")
        await new.wait_for("zigbee2mqtt/bridge/request", b"after takeover")
        # The old connection's queued deliveries end quietly (not one warning per message).
        assert [r.getMessage() for r in caplog.records if r.levelno >= logging.WARNING] == []
    finally:
        writer.close()
        new.close()
        core.close()


def connect_packet(client_id: str, username: str, password: str) -> bytes:
    """An MQTT 3.1.1 CONNECT with clean session, username and password."""

    def string(text: str) -> bytes:
        return len(text).to_bytes(2, "big") + text.encode()

    body = string("MQTT") + bytes([4, 0xC2]) + (60).to_bytes(2, "big")
    body += string(client_id) + string(username) + string(password)
    return bytes([0x10, len(body)]) + body
