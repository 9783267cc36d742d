"""Which MQTT versions the embedded broker serves, and how it refuses the rest (docs/MQTT.md).

MQTT 3.1.1 and 3.1 are served; MQTT 5 gets an MQTT 5 CONNACK with reason 0x84. Nothing a client sends before
or inside its CONNECT logs a traceback or stops the broker: each refusal is counted by reason.
"""

from __future__ import annotations

import asyncio
import logging
import random
import struct
from collections.abc import AsyncIterator

import paho.mqtt.client as paho
import pytest

from edge.broker.directory import BrokerUser, hash_password
from edge.broker.server import EmbeddedBroker
from tests.brokers import running_broker
from tests.mosquitto_cli import mosquitto
from tests.paho_device import PahoDevice

PW = "pw-dev"
PW_HASH = hash_password(PW)  # at import: argon2 must not run on a test's event loop


@pytest.fixture
async def broker() -> AsyncIterator[EmbeddedBroker]:
    users = [BrokerUser("dev", PW_HASH, publish=("site/#",), subscribe=("site/#",))]
    async with running_broker(users) as started:
        yield started


def refused(broker: EmbeddedBroker) -> dict[str, int]:
    return dict(broker.refused_connects)


def connect_packet(
    name: str = "MQTT", level: int = 4, client_id: str = "dev", flags: int = 0xC2, extra: bytes = b""
) -> bytes:
    """A CONNECT with username "dev" and the right password (flags 0xC2: username, password, clean session)."""

    def string(text: str) -> bytes:
        raw = text.encode()
        return struct.pack("!H", len(raw)) + raw

    body = string(name) + bytes([level, flags]) + struct.pack("!H", 30) + extra + string(client_id)
    body += string("dev") + string(PW)
    return bytes([0x10, len(body)]) + body


async def exchange(port: int, data: bytes) -> bytes:
    """Send `data` and end the stream; return everything the broker sends until it closes the connection."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    try:
        writer.write(data)
        writer.write_eof()
        await writer.drain()
        return await asyncio.wait_for(reader.read(), 5)
    finally:
        writer.close()
        await writer.wait_closed()


def assert_no_traceback(caplog: pytest.LogCaptureFixture) -> None:
    bad = [r for r in caplog.records if r.exc_info or r.levelno >= logging.ERROR]
    assert not bad, [r.getMessage() for r in bad]


async def test_mosquitto_mqtt5_client_is_told_the_version_is_unsupported(
    broker: EmbeddedBroker, caplog: pytest.LogCaptureFixture
) -> None:
    code, _, err = await mosquitto(
        "mosquitto_pub", "-h", "127.0.0.1", "-p", str(broker.port), "-V", "mqttv5", "-i", "dev",
        "-u", "dev", "-P", PW, "-t", "site/a", "-m", "x",
    )  # fmt: skip
    assert code != 0
    assert "unsupported protocol version" in err.lower(), err
    assert refused(broker) == {"unsupported_protocol": 1}
    assert_no_traceback(caplog)


async def test_mqtt5_connack_carries_reason_0x84(broker: EmbeddedBroker) -> None:
    # An MQTT 5 CONNECT has a properties length (here 0) after the keep-alive.
    assert await exchange(broker.port, connect_packet(level=5, extra=b"\x00")) == bytes([0x20, 3, 0, 0x84, 0])


async def test_unknown_level_gets_return_code_1(broker: EmbeddedBroker) -> None:
    """MQTT-3.1.2-2: an MQTT 3.1.1 server answers a protocol level it does not serve with 0x01, then closes."""
    assert await exchange(broker.port, connect_packet(level=6)) == bytes([0x20, 2, 0, 0x01])
    assert await exchange(broker.port, connect_packet(name="MQIsdp", level=4)) == bytes([0x20, 2, 0, 0x01])
    assert refused(broker) == {"unsupported_protocol": 2}


async def test_mosquitto_mqtt31_clients_are_served(broker: EmbeddedBroker) -> None:
    common = ("-h", "127.0.0.1", "-p", str(broker.port), "-V", "mqttv31", "-u", "dev", "-P", PW)
    code, _, err = await mosquitto(
        "mosquitto_pub", *common, "-i", "dev-pub", "-t", "site/door", "-q", "1", "-r", "-m", "v31"
    )
    assert code == 0, err
    code, out, err = await mosquitto(
        "mosquitto_sub", *common, "-i", "dev-sub", "-t", "site/#", "-q", "1", "-C", "1", "-W", "10"
    )
    assert (code, out) == (0, "v31\n"), err
    assert refused(broker) == {}


async def test_paho_mqtt31_publish_and_subscribe(broker: EmbeddedBroker) -> None:
    sub = PahoDevice(broker.port, "dev-31-sub", "dev", PW, protocol=paho.MQTTv31)
    pub = PahoDevice(broker.port, "dev-31-pub", "dev", PW, protocol=paho.MQTTv31)
    try:
        assert await sub.connect() and await pub.connect()
        assert await sub.subscribe("site/live") == [1]
        assert await sub.subscribe("other/topic") == [0x80]
        await pub.publish("site/live", "hello")
        await sub.wait_for("site/live", b"hello")
    finally:
        sub.close()
        pub.close()


async def test_mqtt31_connack_has_no_session_present_flag(broker: EmbeddedBroker) -> None:
    """MQTT 3.1 has no session-present flag: byte 1 of its CONNACK stays 0 even for a resumed session."""
    persistent = 0xC0  # username, password, no clean session
    for _ in range(2):
        reader, writer = await asyncio.open_connection("127.0.0.1", broker.port)
        try:
            writer.write(connect_packet(name="MQIsdp", level=3, client_id="dev-31", flags=persistent))
            assert await asyncio.wait_for(reader.readexactly(4), 5) == bytes([0x20, 2, 0, 0])
            writer.write(bytes([0xE0, 0]))  # DISCONNECT
            await writer.drain()
            assert await asyncio.wait_for(reader.read(), 5) == b""
        finally:
            writer.close()
            await writer.wait_closed()


async def test_mqtt31_client_id_rules(broker: EmbeddedBroker) -> None:
    """MQTT 3.1: client ids of 1-23 characters; others are answered with 0x02 (identifier rejected)."""
    assert await exchange(broker.port, connect_packet("MQIsdp", 3, "x" * 24)) == bytes([0x20, 2, 0, 0x02])
    assert await exchange(broker.port, connect_packet("MQIsdp", 3, "")) == bytes([0x20, 2, 0, 0x02])
    assert refused(broker) == {"identifier_rejected": 2}


async def test_malformed_connects_are_counted_not_crashing(
    broker: EmbeddedBroker, caplog: pytest.LogCaptureFixture
) -> None:
    good = connect_packet()
    cases = {
        "not a CONNECT first": bytes([0x30, 2, 0, 0]),
        "not MQTT": b"GET / HTTP/1.1\r\nHost: site\r\n\r\n",
        "truncated": good[:12],
        "length beyond the body": bytes([0x10, 0x7F]) + good[2:],
        "reserved flag": connect_packet(flags=0xC3),
        "bad will flags": connect_packet(flags=0xDA),
        "client id not UTF-8": good.replace(b"\x00\x03dev\x00\x03dev", b"\x00\x03\xff\xfe\xfd\x00\x03dev"),
        "trailing bytes": bytes([0x10, good[1] + 2]) + good[2:] + b"\x00\x00",
        "five-byte length": bytes([0x10, 0xFF, 0xFF, 0xFF, 0xFF, 0x01]),
    }
    for name, data in cases.items():
        assert await exchange(broker.port, data) == b"", name
    assert refused(broker) == {"malformed": len(cases)}
    # Seeded fuzz: random bodies behind a CONNECT header; bounded, reproducible.
    rng = random.Random(8)
    for _ in range(40):
        body = bytes(good[2:14]) + rng.randbytes(rng.randrange(0, 40))
        answer = await exchange(broker.port, bytes([0x10, len(body)]) + body)
        assert answer == b"" or answer[:2] == bytes([0x20, 2]), answer
    client = PahoDevice(broker.port, "dev", "dev", PW)
    try:
        assert await client.connect()  # the broker still serves
    finally:
        client.close()
    assert_no_traceback(caplog)


async def test_silent_connection_is_closed(caplog: pytest.LogCaptureFixture) -> None:
    """A client that opens a socket and sends nothing is closed after the CONNECT timeout, and counted."""
    directory_users = [BrokerUser("dev", PW_HASH, publish=(), subscribe=())]
    async with running_broker(directory_users) as broker:
        assert broker._broker is not None
        broker._broker.connect_timeout_s = 0.2
        reader, writer = await asyncio.open_connection("127.0.0.1", broker.port)
        try:
            assert await asyncio.wait_for(reader.read(), 5) == b""
        finally:
            writer.close()
            await writer.wait_closed()
        assert refused(broker) == {"timeout": 1}
    assert_no_traceback(caplog)
