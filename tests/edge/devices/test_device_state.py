"""Device online/offline from the LWT, telemetry and bad payloads over the real broker."""

from __future__ import annotations

import asyncio
import json
import socket

import paho.mqtt.client as paho

from edge import keys
from tests.edge.site import DEVICE_PASSWORDS
from tests.polling import eventually


async def test_last_will_marks_a_vanished_device_offline(edge_app) -> None:
    state = edge_app.app[keys.SITE_STATE]
    client = paho.Client(paho.CallbackAPIVersion.VERSION2, client_id="temp-lobby", protocol=paho.MQTTv311)
    client.username_pw_set("temp-lobby", DEVICE_PASSWORDS["temp-lobby"])
    client.will_set("outpost/temp-lobby/status", json.dumps({"state": "offline"}), qos=1, retain=True)
    client.connect("127.0.0.1", edge_app.mqtt_port, keepalive=60)
    client.loop_start()
    client.publish("outpost/temp-lobby/status", json.dumps({"state": "online"}), qos=1, retain=True)
    client.publish("outpost/temp-lobby/telemetry", json.dumps({"values": {"temperature_c": 22.5}}), qos=1)
    await eventually(lambda: state.devices["temp-lobby"].online and state.devices["temp-lobby"].values)
    assert state.devices["temp-lobby"].values["temperature_c"] == 22.5

    # Simulate a power cut: the TCP connection dies without DISCONNECT, so the broker sends the will.
    await asyncio.to_thread(client.loop_stop)  # joins paho's thread (up to 1 s): not on the event loop
    sock = client.socket()
    assert sock is not None
    sock.shutdown(socket.SHUT_RDWR)
    sock.close()
    await eventually(lambda: not state.devices["temp-lobby"].online)
    statuses = await edge_app.app[keys.JOURNAL].recent(10, "device_status")
    assert [e.payload["online"] for e in statuses[:2]] == [False, True]


async def test_bad_payloads_are_counted_not_fatal(edge_app, devices) -> None:
    gateway = edge_app.app[keys.GATEWAY]
    client = paho.Client(paho.CallbackAPIVersion.VERSION2, client_id="reader-front", protocol=paho.MQTTv311)
    client.username_pw_set("reader-front", DEVICE_PASSWORDS["reader-front"])
    client.connect("127.0.0.1", edge_app.mqtt_port)
    client.loop_start()
    try:
        for payload in (b"not json", b'{"type":"badge"}', b'{"type":"laser","credential":"1"}', b"\xff\xfe"):
            info = client.publish("outpost/reader-front/event", payload, qos=1)
            # Waited for off the loop: the broker that sends the PUBACK runs on it.
            await asyncio.to_thread(info.wait_for_publish, 5)
        await eventually(lambda: gateway.stats()["bad_messages"] >= 4)
        # The site still works after garbage.
        await edge_app.app[keys.CREDENTIALS].add_person("Ada", ["42"])
        lock = await devices("lock-front", "lock")
        client.publish("outpost/reader-front/event", b'{"type":"badge","credential":"42"}', qos=1)
        command = await asyncio.wait_for(lock.commands.get(), 5)
        assert command.action == "unlock"
    finally:
        client.disconnect()  # before loop_stop: wakes paho's thread, which then ends at once
        await asyncio.to_thread(client.loop_stop)  # joins that thread: not on the event loop
