"""Wiegand adapter: edges from simulated D0/D1 lines (real timing) -> frames -> BadgeRead through the sink."""

from __future__ import annotations

import asyncio

import pytest

from firmware_adapters.base import AdapterContext, AdapterError
from firmware_adapters.messages import BadgeRead, Command, Feedback, Status
from firmware_adapters.wiegand.adapter import SimulatedWiegandLines, WiegandReaderAdapter
from firmware_adapters.wiegand.codec import H10301, H10304, W34, WiegandEdge, encode_bits
from firmware_adapters.wiegand.config import WiegandReaderConfig
from tests.firmware_adapters.sinks import Sink
from tests.polling import eventually


@pytest.fixture
async def readers():
    # The longest frame timeout allowed: on a loaded 2-core box the simulated sender can stall well past the
    # 25 ms default between two bits of one frame, splitting it. The tests wait on reads, never on the timeout.
    configs = {
        "reader-a": WiegandReaderConfig(d0=17, d1=18, frame_timeout_ms=250),
        "reader-b": WiegandReaderConfig(d0=22, d1=23, formats=["H10301"], accept_raw=True, frame_timeout_ms=250),
    }
    lines: dict[str, SimulatedWiegandLines] = {}

    def factory(device_id: str, config: WiegandReaderConfig) -> SimulatedWiegandLines:
        lines[device_id] = SimulatedWiegandLines(config)
        return lines[device_id]

    adapter = WiegandReaderAdapter(configs, AdapterContext(), lines_factory=factory)
    sink = Sink()
    await adapter.start(sink)
    try:
        yield adapter, lines, sink
    finally:
        await adapter.stop()
    assert not any(line.is_open for line in lines.values())


async def test_card_formats_become_badge_reads(readers) -> None:
    adapter, lines, sink = readers
    assert {(await sink.next(Status))[0] for _ in range(2)} == {"reader-a", "reader-b"}
    for fmt, facility, card in ((H10301, 18, 12345), (W34, 4660, 22136), (H10304, 1234, 456789)):
        await lines["reader-a"].send_bits(encode_bits(fmt, facility, card))
        device_id, badge = await sink.next(BadgeRead)
        assert device_id == "reader-a"
        assert badge.credential == f"{facility}:{card}"
    assert adapter.frames == 3


async def test_parity_errors_are_counted_and_dropped(readers) -> None:
    adapter, lines, sink = readers
    good = encode_bits(H10301, 7, 4242)
    await lines["reader-a"].send_bits(good[:5] + ("0" if good[5] == "1" else "1") + good[6:])
    await eventually(lambda: adapter.parity_errors == 1)
    assert adapter.bad_messages["reader-a"] == 1
    await lines["reader-a"].send_bits(good)
    _, badge = await sink.next(BadgeRead)
    assert badge.credential == "7:4242"


async def test_back_to_back_frames_and_noise_on_two_readers(readers) -> None:
    adapter, lines, sink = readers
    raw32 = "00000100101000011011001011000011"  # 04 A1 B2 C3
    await asyncio.gather(
        lines["reader-a"].send_bits(encode_bits(H10301, 1, 1)),
        lines["reader-b"].send_bits(raw32),
    )
    reads: dict[str, list[str]] = {}

    async def read(count: int) -> None:
        for _ in range(count):
            device_id, badge = await sink.next(BadgeRead)
            reads.setdefault(device_id, []).append(badge.credential)

    await read(2)  # both frames ended (the frame timeout passed) before the next edge
    await lines["reader-a"].send_bits("1")  # a single glitch edge
    await eventually(lambda: adapter.bad_messages["reader-a"] == 1)  # its frame ended too
    await lines["reader-a"].send_bits(encode_bits(H10301, 1, 2))
    await read(1)
    assert reads == {"reader-a": ["1:1", "1:2"], "reader-b": ["04A1B2C3"]}
    assert adapter.bad_messages["reader-a"] == 1  # the glitch


async def test_formats_not_configured_are_raw_or_rejected(readers) -> None:
    adapter, lines, sink = readers
    frame = encode_bits(W34, 1, 1)
    # reader-b accepts only H10301 and passes other lengths on raw: the 34 bits left-aligned, with the count.
    await lines["reader-b"].send_bits(frame)
    _, badge = await sink.next(BadgeRead)
    assert badge.credential == f"{int(frame + '000000', 2):010X}/34"
    # reader-a knows W34 but not a 35-bit frame, and does not accept raw.
    await lines["reader-a"].send_bits(frame + "1")
    await eventually(lambda: adapter.bad_messages["reader-a"] == 1)
    assert adapter.parity_errors == 0


async def test_readers_take_no_commands(readers) -> None:
    adapter, _lines, _sink = readers
    with pytest.raises(AdapterError):
        await adapter.send("reader-a", Command(action="unlock"))
    await adapter.send("reader-a", Feedback(id="x", granted=True))  # accepted, nowhere to show it


async def test_a_missing_gpio_chip_fails_start_cleanly() -> None:
    adapter = WiegandReaderAdapter(
        {"reader-x": WiegandReaderConfig(chip="/dev/gpiochip-missing", d0=1, d1=2)}, AdapterContext()
    )
    with pytest.raises(AdapterError, match="gpiochip-missing"):
        await adapter.start(Sink())
    await adapter.stop()


async def test_a_frame_queued_while_the_loop_was_busy_is_read_whole() -> None:
    # The kernel stamps each edge as it happens; when the event loop was busy past the frame timeout, a whole
    # frame's edges are queued at once. Their timestamps, not the late wake-up, decide where the frame ends.
    lines = SimulatedWiegandLines()
    adapter = WiegandReaderAdapter(
        {"reader-a": WiegandReaderConfig(d0=17, d1=18)}, AdapterContext(), lines_factory=lambda _id, _c: lines
    )
    sink = Sink()
    await adapter.start(sink)
    try:
        await sink.next(Status)
        bits = encode_bits(H10301, 18, 12345)
        start = lines.now_ns() - 10 * adapter.configs["reader-a"].frame_timeout_ms * 1_000_000
        edges = [WiegandEdge(int(bit), start + index * 2_000_000) for index, bit in enumerate(bits)]
        lines.deliver(edges[:1])
        await eventually(lambda: lines.poll_edge_count() == 0)  # the reader holds the first bit
        lines.deliver(edges[1:])
        device_id, badge = await sink.next(BadgeRead)
        assert (device_id, badge.credential) == ("reader-a", "18:12345")
        assert adapter.frames == 1
        assert not adapter.bad_messages.get("reader-a")
    finally:
        await adapter.stop()
