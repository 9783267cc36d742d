"""The access-latency bench credits each command to its own read: over a real Mosquitto, with a test decider
that answers the first badge only after the bench gave up on it."""

from __future__ import annotations

import argparse
import asyncio
import json
import uuid
from pathlib import Path

from bench._common import PahoClient, PrivateMosquitto
from bench.access_latency import LOCKS, READERS, DoorClients, measure_reads, site_config
from edge.app import build_directory
from edge.broker.directory import BrokerUser
from edge.broker.passwords import hash_password
from edge.config import EdgeConfig
from firmware_adapters.outpost_mqtt.adapter import OutpostMqttAdapter
from tests.polling import eventually

TIMEOUT_S = 0.3


class SlowFirstDecider:
    """Answers badges with unlocks, but holds the first one until the next badge, then sends it just before
    a `lock` command to the same lock (a barrier: that lock's client handles both in order) and the new unlock."""

    def __init__(self, port: int) -> None:
        self.client = PahoClient("decider", "decider-pw")
        self.client.on_message(self._on_badge)
        self.client.connect("127.0.0.1", port)
        self.client.subscribe("outpost/+/event")
        self.held: list[str] = []
        self.answered = 0
        self.badges_from: list[str] = []

    def _on_badge(self, topic: str, _payload: bytes) -> None:
        reader = topic.split("/")[1]
        self.badges_from.append(reader)
        lock = LOCKS[READERS.index(reader)]
        if self.answered == 0 and not self.held:
            self.held.append(lock)
            return
        for late_lock in self.held:
            self._send(late_lock, "unlock")
            self._send(late_lock, "lock")
        self.held.clear()
        self._send(lock, "unlock")
        self.answered += 1

    def _send(self, lock: str, action: str) -> None:
        self.client.publish(f"outpost/{lock}/command", json.dumps({"id": uuid.uuid4().hex, "action": action}))


async def test_a_late_command_is_reported_late_and_never_credited_to_the_next_read(tmp_path: Path) -> None:
    passwords = {dev: f"{dev}-pw" for dev in (*READERS, *LOCKS)}
    config = EdgeConfig.model_validate(site_config(tmp_path / "site", passwords, "mosquitto", "external"))
    directory = build_directory(config)
    publish, subscribe = OutpostMqttAdapter.broker_acl({})
    directory.add(BrokerUser("decider", hash_password("decider-pw", "mosquitto"), publish, subscribe))
    broker = await asyncio.to_thread(PrivateMosquitto(directory, tmp_path / "mosquitto").__enter__)
    try:
        decider = await asyncio.to_thread(SlowFirstDecider, broker.port)
        clients = await asyncio.to_thread(DoorClients, broker.port, passwords, False)
        try:
            first = await asyncio.to_thread(clients.read, 0, TIMEOUT_S, True)
            second = await asyncio.to_thread(clients.read, 1, TIMEOUT_S, True)
            await eventually(lambda: clients.block.other_commands == 1)  # lock-door1 handled the late unlock
        finally:
            await asyncio.to_thread(clients.close)
            await asyncio.to_thread(decider.client.close)
    finally:
        await asyncio.to_thread(broker.__exit__, None, None, None)

    block = clients.block
    assert (first, second) == (False, True)
    assert block.timeouts == 1 and block.latencies_ms[0] == TIMEOUT_S * 1000  # counted as the timeout
    assert block.latencies_ms[1] < TIMEOUT_S * 1000  # the second read got its own command
    assert len(block.late_ms) == 1 and block.late_ms[0] > TIMEOUT_S * 1000
    assert block.stray_commands == 0


async def test_a_door_that_timed_out_is_not_read_again(tmp_path: Path) -> None:
    passwords = {dev: f"{dev}-pw" for dev in (*READERS, *LOCKS)}
    config = EdgeConfig.model_validate(site_config(tmp_path / "site", passwords, "mosquitto", "external"))
    directory = build_directory(config)
    publish, subscribe = OutpostMqttAdapter.broker_acl({})
    directory.add(BrokerUser("decider", hash_password("decider-pw", "mosquitto"), publish, subscribe))
    broker = await asyncio.to_thread(PrivateMosquitto(directory, tmp_path / "mosquitto").__enter__)
    try:
        decider = await asyncio.to_thread(SlowFirstDecider, broker.port)
        args = argparse.Namespace(warmup=0, per_round=6, timeout=TIMEOUT_S)
        block = await asyncio.to_thread(measure_reads, broker.port, passwords, args, False, 7)
        await asyncio.to_thread(decider.client.close)
    finally:
        await asyncio.to_thread(broker.__exit__, None, None, None)

    assert block.timeouts == 1 and len(block.latencies_ms) == 6
    assert decider.badges_from.count(READERS[0]) == 1  # retired after its timeout
    assert set(decider.badges_from[1:]) == set(READERS[1:])
    assert block.stray_commands == 0
