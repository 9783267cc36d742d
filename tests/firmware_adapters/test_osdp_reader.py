"""OSDP end to end: the adapter is the Control Panel on one side of a pty pair (a serial line), a libosdp
Peripheral Device plays the reader on the other; the real protocol runs both ways."""

from __future__ import annotations

import asyncio
import os
import tty
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import osdp  # the libosdp package
import pytest

from firmware_adapters.base import AdapterContext, AdapterError
from firmware_adapters.messages import Ack, BadgeRead, Command, Feedback, Status, Telemetry
from firmware_adapters.osdp.adapter import OsdpReaderAdapter
from firmware_adapters.osdp.config import OsdpReaderConfig
from firmware_adapters.wiegand.codec import H10301, encode_bits
from tests.firmware_adapters.sinks import Sink
from tests.polling import eventually

ADDRESS = 101


class FdChannel:
    """libosdp channel over the reader's end of the pty."""

    def __init__(self, fd: int) -> None:
        self.id = 0
        self.fd = fd

    def read(self, max_bytes: int) -> bytes:
        try:
            return os.read(self.fd, max_bytes)
        except BlockingIOError:
            return b""

    def write(self, buf: bytes) -> int:
        return os.write(self.fd, buf)

    def flush(self) -> None:
        pass


def start_reader(fd: int) -> Any:
    """A libosdp Peripheral Device with an LED and a buzzer, running its own thread."""
    caps = osdp.PDCapabilities([(osdp.Capability.LEDControl, 1, 1), (osdp.Capability.AudibleControl, 1, 1)])
    pd = osdp.PeripheralDevice(osdp.PDInfo(ADDRESS, FdChannel(fd)), caps, log_level=osdp.LogLevel.Error)
    pd.start()
    return pd


def card_event(bits: str, fmt: int) -> dict[str, Any]:
    padded = bits + "0" * (-len(bits) % 8)
    data = int(padded, 2).to_bytes(len(padded) // 8, "big")
    return {
        "event": osdp.Event.CardRead,
        "reader_no": 0,
        "direction": 0,
        "format": fmt,
        "length": len(bits),
        "data": data,
    }


@dataclass
class Bus:
    adapter: OsdpReaderAdapter
    sink: Sink
    pd: Any
    fd: int

    async def commands(self, count: int) -> list[dict[str, Any]]:
        out = []
        for _ in range(count):
            command = await asyncio.to_thread(self.pd.get_command, 3)
            assert command is not None, "the reader never got the command"
            out.append(command)
        return out


@pytest.fixture
async def bus() -> AsyncIterator[Bus]:
    master, slave = os.openpty()
    tty.setraw(master)
    os.set_blocking(master, False)
    port = os.ttyname(slave)
    pd = start_reader(master)
    config = OsdpReaderConfig(port=port, address=ADDRESS, baud=115200, reprobe_s=1.0)
    adapter = OsdpReaderAdapter({"reader-osdp": config}, AdapterContext())
    sink = Sink()
    await adapter.start(sink)
    bus = Bus(adapter, sink, pd, master)
    try:
        assert await sink.next(Status, timeout_s=5) == ("reader-osdp", Status(state="online"))
        yield bus
    finally:
        await adapter.stop()
        if bus.pd.thread is not None:
            await asyncio.to_thread(bus.pd.stop)
        os.close(master)
        os.close(slave)


async def test_card_reads_become_badge_reads(bus: Bus) -> None:
    bus.pd.submit_event(card_event(encode_bits(H10301, 18, 12345), osdp.CardFormat.Wiegand))
    device_id, badge = await bus.sink.next(BadgeRead)
    assert (device_id, badge.credential) == ("reader-osdp", "18:12345")

    bus.pd.submit_event(card_event("00000100101000011011001011000011", osdp.CardFormat.Unspecified))
    _, badge = await bus.sink.next(BadgeRead)
    assert badge.credential == "04A1B2C3"

    good = encode_bits(H10301, 18, 12345)
    bus.pd.submit_event(card_event(good[:-1] + ("1" if good[-1] == "0" else "0"), osdp.CardFormat.Wiegand))
    await eventually(lambda: bus.adapter.parity_errors == 1)
    assert bus.adapter.bad_messages["reader-osdp"] == 1

    bus.pd.submit_event({"event": osdp.Event.Status, "type": osdp.StatusReportType.Local, "report": bytes([1, 0])})
    _, telemetry = await bus.sink.next(Telemetry)
    assert telemetry.values["tamper"] == 1.0


async def test_decisions_drive_the_readers_led_and_buzzer(bus: Bus) -> None:
    bus.pd.submit_event(card_event(encode_bits(H10301, 1, 2), osdp.CardFormat.Wiegand))
    _, badge = await bus.sink.next(BadgeRead)

    await bus.adapter.send("reader-osdp", Feedback(id=badge.id, granted=True))
    led, buzzer = await bus.commands(2)
    assert (led["command"], led["on_color"], led["temporary"]) == (osdp.Command.LED, osdp.CommandLEDColor.Green, True)
    assert (buzzer["command"], buzzer["rep_count"]) == (osdp.Command.Buzzer, 1)
    # The receipt that follows the feedback is not shown again.
    await bus.adapter.send("reader-osdp", Ack(id=badge.id))
    assert await asyncio.to_thread(bus.pd.get_command, 0.5) is None

    # Without feedback, a receipt shows its ok (the interim contract): denied -> red, two beeps.
    bus.pd.submit_event(card_event(encode_bits(H10301, 1, 3), osdp.CardFormat.Wiegand))
    _, badge = await bus.sink.next(BadgeRead)
    await bus.adapter.send("reader-osdp", Ack(id=badge.id, ok=False))
    led, buzzer = await bus.commands(2)
    assert led["on_color"] == osdp.CommandLEDColor.Red
    assert buzzer["rep_count"] == 2

    with pytest.raises(AdapterError):
        await bus.adapter.send("reader-osdp", Command(action="unlock"))


async def test_a_dead_reader_goes_offline_and_comes_back(bus: Bus) -> None:
    await asyncio.to_thread(bus.pd.stop)
    # libosdp gives up after 8 unanswered polls (~8.5 s).
    assert await bus.sink.next(Status, timeout_s=15) == ("reader-osdp", Status(state="offline"))
    bus.pd = start_reader(bus.fd)
    # libosdp alone would wait 300 s before polling an offline reader again; the adapter re-probes it.
    assert await bus.sink.next(Status, timeout_s=15) == ("reader-osdp", Status(state="online"))
    bus.pd.submit_event(card_event(encode_bits(H10301, 5, 6), osdp.CardFormat.Wiegand))
    _, badge = await bus.sink.next(BadgeRead, timeout_s=5)
    assert badge.credential == "5:6"


async def test_a_missing_serial_port_fails_start_cleanly() -> None:
    adapter = OsdpReaderAdapter({"r": OsdpReaderConfig(port="/dev/ttyOUTPOST-missing", address=1)}, AdapterContext())
    with pytest.raises(AdapterError, match="ttyOUTPOST-missing"):
        await adapter.start(Sink())
    await adapter.stop()


async def test_secure_channel_with_a_key_file(tmp_path) -> None:
    key = bytes(range(16))
    key_file = tmp_path / "scbk"
    key_file.write_text(key.hex())
    key_file.chmod(0o644)
    master, slave = os.openpty()
    tty.setraw(master)
    os.set_blocking(master, False)
    caps = osdp.PDCapabilities([(osdp.Capability.LEDControl, 1, 1)])
    pd = osdp.PeripheralDevice(
        osdp.PDInfo(ADDRESS, FdChannel(master), scbk=key, flags=[osdp.LibFlag.EnforceSecure]),
        caps,
        log_level=osdp.LogLevel.Error,
    )
    pd.start()
    config = OsdpReaderConfig(port=os.ttyname(slave), address=ADDRESS, scbk_file=key_file)
    adapter = OsdpReaderAdapter({"reader-sc": config}, AdapterContext())
    sink = Sink()
    try:
        with pytest.raises(AdapterError, match="chmod 600"):
            await adapter.start(sink)
        key_file.chmod(0o600)
        await adapter.start(sink)
        assert await sink.next(Status, timeout_s=5) == ("reader-sc", Status(state="online"))
        await eventually(lambda: pd.is_sc_active())
        pd.submit_event(card_event(encode_bits(H10301, 9, 99), osdp.CardFormat.Wiegand))
        _, badge = await sink.next(BadgeRead)
        assert badge.credential == "9:99"
    finally:
        await adapter.stop()
        await asyncio.to_thread(pd.stop)
        os.close(master)
        os.close(slave)


async def test_osdp_badge_through_the_site_opens_the_door(start_edge, tmp_path) -> None:
    """PD card read -> edge access decision -> native lock unlocks; the reader shows the decision (Feedback)."""
    from edge import keys
    from firmware_adapters.simulated import SimulatedDeviceConfig, SimulatedLock
    from tests.edge.site import DEVICE_HASHES, DEVICE_PASSWORDS
    from tests.firmware_adapters.sites import adapter_site

    master, slave = os.openpty()
    tty.setraw(master)
    os.set_blocking(master, False)
    pd = start_reader(master)
    devices = [
        {"id": "lock-front", "kind": "lock", "zone": "lobby", "password_hash": DEVICE_HASHES["lock-front"]},
        {
            "id": "reader-osdp",
            "kind": "reader",
            "zone": "lobby",
            "adapter": {"type": "osdp", "port": os.ttyname(slave), "address": ADDRESS, "baud": 115200},
        },
    ]
    doors = [{"id": "front", "name": "Front", "zone": "lobby", "lock": "lock-front", "readers": ["reader-osdp"]}]
    lock = None
    try:
        edge = await start_edge(adapter_site(tmp_path / "edge", devices, doors))
        await edge.app[keys.CREDENTIALS].add_person("Ada Lovelace", ["18:12345"])
        lock = SimulatedLock(
            SimulatedDeviceConfig(device_id="lock-front", password=DEVICE_PASSWORDS["lock-front"], port=edge.mqtt_port)
        )
        await lock.start()
        state = edge.app[keys.SITE_STATE]
        await eventually(lambda: state.devices["reader-osdp"].online, timeout_s=5)
        pd.submit_event(card_event(encode_bits(H10301, 18, 12345), osdp.CardFormat.Wiegand))
        command = await asyncio.wait_for(lock.commands.get(), 5)
        assert command.action == "unlock"
        # The unlock goes out concurrently with the durable audit write: wait for the record.
        journal = edge.app[keys.JOURNAL]
        await eventually(lambda: _has_audit(journal), timeout_s=5)
        audit = (await journal.recent(1, "audit"))[0].payload
        assert (audit["credential"], audit["granted"], audit["reader_id"]) == ("18:12345", True, "reader-osdp")
        led = await asyncio.to_thread(pd.get_command, 3)
        assert led is not None and led["on_color"] == osdp.CommandLEDColor.Green
        assert (await asyncio.to_thread(pd.get_command, 3))["command"] == osdp.Command.Buzzer
        # An unknown card: denied, red on the reader, the lock is not touched.
        pd.submit_event(card_event(encode_bits(H10301, 18, 999), osdp.CardFormat.Wiegand))
        led = await asyncio.to_thread(pd.get_command, 3)
        assert led is not None and led["on_color"] == osdp.CommandLEDColor.Red
        assert lock.commands.empty()
    finally:
        if lock is not None:
            await lock.stop()
        await asyncio.to_thread(pd.stop)
        os.close(master)
        os.close(slave)


async def _has_audit(journal) -> bool:  # type: ignore[no-untyped-def]
    return bool(await journal.recent(1, "audit"))
