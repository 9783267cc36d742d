"""Wiegand transport: D0/D1 falling edges from GPIO (or a simulated line pair) into frames and badge reads.

The lowest layer is `WiegandLines` (edges with timestamps). `GpiodWiegandLines` is the real one (libgpiod v2,
kernel-timestamped edge events read from the request's file descriptor on the event loop);
`SimulatedWiegandLines` generates the same edges in memory with real inter-bit timing, for tests and the demo.
Everything above it (frame assembly, format and parity checks) is the same code for both.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable, Mapping
from datetime import timedelta
from typing import Any, ClassVar, Protocol

from firmware_adapters.base import AdapterContext, AdapterError, DeviceAdapter, DeviceSink, OwnedTasks
from firmware_adapters.messages import BadgeRead, Command, SiteMessage, Status
from firmware_adapters.wiegand.codec import (
    FORMATS_BY_NAME,
    ParityError,
    WiegandEdge,
    WiegandError,
    WiegandFormat,
    WiegandFrameAssembler,
    credential_from_bits,
)
from firmware_adapters.wiegand.config import WiegandReaderConfig

log = logging.getLogger(__name__)

MIN_FRAME_BITS = 4
"""Shorter frames are line noise (a reader never sends them)."""


class WiegandLines(Protocol):
    """A reader's D0/D1 input pair: a source of timestamped falling edges."""

    def open(self) -> None:
        """Claim the lines; raise OSError if they cannot be had."""

    def close(self) -> None:
        """Release the lines."""

    async def next_edge(self) -> WiegandEdge:
        """Wait for the next falling edge."""

    def poll_edge(self) -> WiegandEdge | None:
        """Return an edge already received, or None: never waits."""

    def now_ns(self) -> int:
        """The current time on the clock of the edge timestamps."""


class GpiodWiegandLines:
    """D0/D1 on a GPIO chip through libgpiod v2: falling-edge events, kernel timestamps (CLOCK_MONOTONIC)."""

    def __init__(self, config: WiegandReaderConfig) -> None:
        self._config = config
        self._request: Any = None
        self._bit_of_offset: dict[int, int] = {}
        self._queue: asyncio.Queue[WiegandEdge] = asyncio.Queue(maxsize=4096)
        self._loop: asyncio.AbstractEventLoop | None = None
        self.overruns = 0

    def open(self) -> None:
        """Request both lines as inputs with falling-edge detection and watch the request's fd."""
        import gpiod  # imported here: only boxes with Wiegand readers need libgpiod
        from gpiod.line import Bias, Clock, Direction, Edge

        bias = {"as_is": Bias.AS_IS, "pull_up": Bias.PULL_UP, "disabled": Bias.DISABLED}[self._config.bias]
        settings = gpiod.LineSettings(
            direction=Direction.INPUT,
            edge_detection=Edge.FALLING,
            bias=bias,
            event_clock=Clock.MONOTONIC,
            debounce_period=timedelta(0),
        )
        request = gpiod.request_lines(
            self._config.chip,
            consumer="outpost-wiegand",
            config={(self._config.d0, self._config.d1): settings},
            event_buffer_size=256,
        )
        self._bit_of_offset = {offset: bit for bit, offset in enumerate(request.offsets)}
        self._request = request
        self._loop = asyncio.get_running_loop()
        self._loop.add_reader(request.fd, self._readable)

    def close(self) -> None:
        """Stop watching and release the lines."""
        if self._request is not None:
            if self._loop is not None:
                self._loop.remove_reader(self._request.fd)
            self._request.release()
            self._request = None

    def _readable(self) -> None:
        for event in self._request.read_edge_events():
            edge = WiegandEdge(self._bit_of_offset[event.line_offset], event.timestamp_ns)
            try:
                self._queue.put_nowait(edge)
            except asyncio.QueueFull:
                self.overruns += 1

    async def next_edge(self) -> WiegandEdge:
        """Wait for the next falling edge."""
        return await self._queue.get()

    def poll_edge(self) -> WiegandEdge | None:
        """Return an edge already received, or None."""
        try:
            return self._queue.get_nowait()
        except asyncio.QueueEmpty:
            return None

    def now_ns(self) -> int:
        """CLOCK_MONOTONIC, the clock the edge events are stamped with."""
        return time.monotonic_ns()


class SimulatedWiegandLines:
    """An in-memory D0/D1 pair: `send_bits` produces the falling edges a reader would, with real timing."""

    def __init__(self, config: WiegandReaderConfig | None = None) -> None:
        self._queue: asyncio.Queue[WiegandEdge] = asyncio.Queue()
        self.is_open = False

    def open(self) -> None:
        """Nothing to claim."""
        self.is_open = True

    def close(self) -> None:
        """Nothing to release."""
        self.is_open = False

    async def send_bits(self, bits: str, bit_interval_s: float = 0.002) -> None:
        """Pulse D0 for each 0 and D1 for each 1, `bit_interval_s` apart (Wiegand readers use 1-2 ms)."""
        for index, bit in enumerate(bits):
            if index:
                await asyncio.sleep(bit_interval_s)
            self._queue.put_nowait(WiegandEdge(1 if bit == "1" else 0, time.monotonic_ns()))

    def poll_edge_count(self) -> int:
        """Edges queued and not yet taken by the reader."""
        return self._queue.qsize()

    def deliver(self, edges: list[WiegandEdge]) -> None:
        """Queue edges stamped earlier at once, as the kernel hands them over after the loop was busy."""
        for edge in edges:
            self._queue.put_nowait(edge)

    async def next_edge(self) -> WiegandEdge:
        """Wait for the next falling edge."""
        return await self._queue.get()

    def poll_edge(self) -> WiegandEdge | None:
        """Return an edge already received, or None."""
        try:
            return self._queue.get_nowait()
        except asyncio.QueueEmpty:
            return None

    def now_ns(self) -> int:
        """The simulator stamps edges with time.monotonic_ns()."""
        return time.monotonic_ns()


LinesFactory = Callable[[str, WiegandReaderConfig], WiegandLines]


class WiegandReaderAdapter(DeviceAdapter[WiegandReaderConfig]):
    """Wiegand readers on one GPIO chip; each reader's edges are assembled into frames and decoded.

    A frame with a parity error is counted (`parity_errors`, and in `bad_messages`) and dropped: the reader
    misread, the person badges again. Readers take no commands; receipts and feedback are dropped (no LED wiring).
    """

    config_type = WiegandReaderConfig
    device_kinds: ClassVar[frozenset[str] | None] = frozenset({"reader"})

    def __init__(
        self,
        devices: Mapping[str, WiegandReaderConfig],
        context: AdapterContext,
        *,
        lines_factory: LinesFactory | None = None,
    ) -> None:
        super().__init__(devices, context)
        self._factory: LinesFactory = lines_factory or (lambda _device_id, config: GpiodWiegandLines(config))
        self.lines: dict[str, WiegandLines] = {}
        self._tasks = OwnedTasks()
        self.parity_errors = 0
        self.frames = 0

    @classmethod
    def group_key(cls, config: WiegandReaderConfig) -> str:
        """One adapter per GPIO chip."""
        return str(config.chip)

    async def start(self, sink: DeviceSink) -> None:
        """Claim every reader's lines and start assembling frames."""
        for device_id, config in self.configs.items():
            lines = self._factory(device_id, config)
            try:
                lines.open()
            except (OSError, ValueError) as err:
                await self.stop()
                raise AdapterError(
                    f"wiegand {device_id}: cannot claim {config.d0}/{config.d1} on {config.chip}: {err}"
                ) from err
            self.lines[device_id] = lines
            formats = {FORMATS_BY_NAME[name].length: FORMATS_BY_NAME[name] for name in config.formats}
            assembler = WiegandFrameAssembler(int(config.frame_timeout_ms * 1_000_000))
            self._tasks.spawn(self._read(sink, device_id, lines, assembler, formats), name=f"wiegand-{device_id}")
        for device_id in self.configs:
            await self.deliver(sink, device_id, Status(state="online"))

    async def stop(self) -> None:
        """Stop reading and release every line."""
        await self._tasks.cancel_all()
        for lines in self.lines.values():
            lines.close()
        self.lines.clear()

    async def send(self, device_id: str, message: SiteMessage) -> None:
        """Readers cannot act on commands; receipts and feedback have nowhere to go and are dropped."""
        if device_id not in self.configs:
            raise AdapterError(f"wiegand: no reader {device_id!r}")
        if isinstance(message, Command):
            raise AdapterError(f"wiegand: {device_id} is a reader and takes no {message.action} command")

    async def _read(
        self,
        sink: DeviceSink,
        device_id: str,
        lines: WiegandLines,
        assembler: WiegandFrameAssembler,
        formats: dict[int, WiegandFormat],
    ) -> None:
        accept_raw = self.configs[device_id].accept_raw
        while True:
            deadline = assembler.deadline_ns()
            if deadline is None:
                frame = assembler.feed(await lines.next_edge())
            else:
                # Edges carry their own timestamps, so one already queued belongs to this frame or starts the
                # next, however late this task woke: only a quiet queue may end a frame by the clock.
                edge = lines.poll_edge()
                if edge is None:
                    try:
                        remaining_s = max(0.0, (deadline - lines.now_ns()) / 1e9)
                        edge = await asyncio.wait_for(lines.next_edge(), remaining_s)
                    except TimeoutError:
                        edge = lines.poll_edge()
                frame = assembler.flush(lines.now_ns()) if edge is None else assembler.feed(edge)
            if frame is not None:
                await self._frame(sink, device_id, frame, formats, accept_raw)

    async def _frame(
        self, sink: DeviceSink, device_id: str, bits: str, formats: dict[int, WiegandFormat], accept_raw: bool
    ) -> None:
        self.received += 1
        self.frames += 1
        if len(bits) < MIN_FRAME_BITS:
            self.reject(device_id, f"{len(bits)}-bit frame (noise)")
            return
        try:
            credential = credential_from_bits(bits, accept_raw=accept_raw, formats=formats)
        except ParityError as err:
            self.parity_errors += 1
            self.reject(device_id, err)
            return
        except WiegandError as err:
            self.reject(device_id, err)
            return
        await self.deliver(sink, device_id, BadgeRead(credential=credential))
