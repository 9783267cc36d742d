"""Hostile MQTT input against a started edge: payloads on the native device topics and malformed packets after
a valid CONNECT. The process stays up, each rejected payload is counted, and a valid badge read sent behind the
garbage (the barrier) is still served, after the garbage was handled."""

from __future__ import annotations

import asyncio
import struct

import httpx
import paho.mqtt.client as paho

from edge import keys
from edge.app import EdgeRunner
from tests.edge.site import DEVICE_PASSWORDS, DeviceFactory
from tests.polling import eventually

DEPTH = 5000
# Every one is refused on a reader's event topic: not JSON, wrong shape, hostile sizes and nesting.
HOSTILE_EVENTS: list[bytes] = [
    b"",
    b"not json",
    b"\xff\xfe\x00",
    b"{",
    b"[]",
    b"null",
    b"1e999",
    b'{"type":"badge","credential":NaN}',
    b'{"type":"badge","credential":null}',
    b'{"type":"badge","credential":["42"]}',
    b'{"type":"badge","credential":{"$gt":""}}',
    b'{"type":"badge"}',
    b'{"type":"laser","credential":"1"}',
    b'{"type":"badge","credential":"' + b"9" * 200_000 + b'"}',
    b"[" * DEPTH + b"]" * DEPTH,
    b'{"a":' * DEPTH + b"1" + b"}" * DEPTH,
    b'{"type":"badge","credential":"42","extra":"' + b"x" * 300_000 + b'"}',
    b'"' + b"\\ud800" * 1000 + b'"',
]
# Well-formed reads of credentials no one holds: decided (denied), so not counted as bad messages.
HOSTILE_CREDENTIALS: list[bytes] = [b'{"type":"badge","credential":"\\u0000"}']


def _client(edge_app: EdgeRunner, device_id: str) -> paho.Client:
    client = paho.Client(paho.CallbackAPIVersion.VERSION2, client_id=device_id, protocol=paho.MQTTv311)
    client.username_pw_set(device_id, DEVICE_PASSWORDS[device_id])
    client.connect("127.0.0.1", edge_app.mqtt_port)
    client.loop_start()
    return client


async def _close(client: paho.Client) -> None:
    client.disconnect()
    await asyncio.to_thread(client.loop_stop)  # joins paho's thread: not on the event loop


async def test_hostile_payloads_are_counted_and_a_later_badge_is_served(
    edge_app: EdgeRunner, devices: DeviceFactory
) -> None:
    gateway = edge_app.app[keys.GATEWAY]
    await edge_app.app[keys.CREDENTIALS].add_person("Ada", ["42"])
    lock = await devices("lock-front", "lock")
    before = gateway.stats()["bad_messages"]
    reader = _client(edge_app, "reader-front")
    sensor = _client(edge_app, "temp-lobby")
    try:
        for payload in HOSTILE_EVENTS + HOSTILE_CREDENTIALS:
            reader.publish("outpost/reader-front/event", payload, qos=1)
        for payload in HOSTILE_EVENTS[:8]:  # telemetry and status too: counted or ignored, never fatal
            sensor.publish("outpost/temp-lobby/telemetry", payload, qos=1)
            sensor.publish("outpost/temp-lobby/status", payload, qos=1)
        # The barrier: a valid read on the same connection, behind the garbage.
        reader.publish("outpost/reader-front/event", b'{"type":"badge","credential":"42"}', qos=1)
        command = await asyncio.wait_for(lock.commands.get(), 15)
        assert command.action == "unlock"
        # Per-device order: every hostile event was handled (and counted) before the valid read.
        assert gateway.stats()["bad_messages"] >= before + len(HOSTILE_EVENTS)
        sensor.publish("outpost/temp-lobby/telemetry", b'{"values":{"temperature_c":21.5}}', qos=1)
        state = edge_app.app[keys.SITE_STATE]
        await eventually(lambda: state.devices["temp-lobby"].values.get("temperature_c") == 21.5)
    finally:
        await _close(reader)
        await _close(sensor)


def _string(text: str) -> bytes:
    raw = text.encode()
    return struct.pack("!H", len(raw)) + raw


def _connect(device_id: str) -> bytes:
    body = _string("MQTT") + bytes([4, 0xC2]) + struct.pack("!H", 30) + _string(device_id)
    body += _string(device_id) + _string(DEVICE_PASSWORDS[device_id])
    return bytes([0x10, len(body)]) + body


TOPIC = _string("outpost/reader-front/event")
# Sent after a CONNECT the broker accepts.
MALFORMED_PACKETS = {
    "publish topic length beyond the packet": bytes([0x30, 4]) + struct.pack("!H", 500) + b"ab",
    "publish with QoS 3": bytes([0x36, len(TOPIC) + 4]) + TOPIC + b"\x00\x01{}",
    "publish QoS 1 without packet id": bytes([0x32, len(TOPIC)]) + TOPIC,
    "publish to a wildcard topic": bytes([0x30, 4]) + _string("#") + b"x",
    "publish topic not UTF-8": bytes([0x30, 6]) + struct.pack("!H", 3) + b"\xff\xfe\xfd{",
    "subscribe without topics": bytes([0x82, 2, 0, 1]),
    "subscribe with bad flags": bytes([0x80, 8, 0, 1]) + _string("a/b") + b"\x00",
    "reserved packet type 0": bytes([0x00, 0]),
    "reserved packet type 15": bytes([0xF0, 0]),
    "second CONNECT": _connect("reader-front"),
    "length larger than sent": bytes([0x30, 0x7F]) + TOPIC,
    "five-byte length": bytes([0x30, 0xFF, 0xFF, 0xFF, 0xFF, 0x01]),
    "pubrel for nothing": bytes([0x62, 2, 0x12, 0x34]),
}


async def _send_after_connect(port: int, data: bytes) -> bytes:
    """CONNECT as the reader, send `data`, end the stream; return what the broker sends until it closes."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    try:
        writer.write(_connect("reader-front"))
        await writer.drain()
        connack = await asyncio.wait_for(reader.readexactly(4), 10)
        assert connack == bytes([0x20, 2, 0, 0]), connack
        writer.write(data)
        writer.write_eof()
        await writer.drain()
        return await asyncio.wait_for(reader.read(), 15)
    finally:
        writer.close()
        await writer.wait_closed()


async def test_malformed_packets_after_connect_leave_the_site_serving(
    edge_app: EdgeRunner, devices: DeviceFactory
) -> None:
    await edge_app.app[keys.CREDENTIALS].add_person("Ada", ["42"])
    lock = await devices("lock-front", "lock")
    for name, data in MALFORMED_PACKETS.items():
        await _send_after_connect(edge_app.mqtt_port, data)  # closed, answered or ignored: never a crash
        assert lock.commands.empty(), name  # nothing malformed opened a door
    reader = _client(edge_app, "reader-front")
    try:
        reader.publish("outpost/reader-front/event", b'{"type":"badge","credential":"42"}', qos=1)
        command = await asyncio.wait_for(lock.commands.get(), 15)
        assert command.action == "unlock"
    finally:
        await _close(reader)
    async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{edge_app.web_port}") as http:
        assert (await http.get("/healthz")).status_code == 200
