"""OSDP transport: the box is the Control Panel of an RS-485 bus of readers, through libosdp.

libosdp runs its protocol state machine in a thread of its own (polling every 20 ms); its event callback
hands each event to the event loop, where the codec maps it. Commands (LED, buzzer) go to libosdp from a worker
thread because its API takes a lock the polling thread holds while it works.

libosdp gives up on an offline reader for 300 s (a compile-time constant); while a reader is offline the adapter
disables and re-enables it every `reprobe_s` so a reader that comes back is seen again within seconds.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import termios
import tty
from collections import OrderedDict
from collections.abc import Mapping
from pathlib import Path
from typing import Any, ClassVar

from firmware_adapters.base import AdapterContext, AdapterError, DeviceAdapter, DeviceSink, OwnedTasks
from firmware_adapters.messages import Ack, BadgeRead, Command, Feedback, PayloadError, SiteMessage, Status
from firmware_adapters.osdp.codec import decode_event, feedback_commands
from firmware_adapters.osdp.config import OsdpReaderConfig
from firmware_adapters.wiegand.codec import ParityError, WiegandError

log = logging.getLogger(__name__)

REMEMBERED_BADGES = 256


class SerialChannel:
    """A serial port in raw mode, non-blocking: the byte channel libosdp reads and writes (from its thread)."""

    def __init__(self, port: str, baud: int) -> None:
        self.id = 0  # one channel per bus: libosdp shares it between the readers on it
        self.io_errors = 0
        self._fd = os.open(port, os.O_RDWR | os.O_NOCTTY | os.O_NONBLOCK)
        try:
            tty.setraw(self._fd)
            attrs = termios.tcgetattr(self._fd)
            speed = getattr(termios, f"B{baud}")
            attrs[2] |= termios.CLOCAL | termios.CREAD
            attrs[4] = attrs[5] = speed
            termios.tcsetattr(self._fd, termios.TCSANOW, attrs)
        except termios.error as err:
            os.close(self._fd)
            raise OSError(f"{port} is not a serial port: {err}") from err

    def read(self, max_bytes: int) -> bytes:
        """Return what has arrived (possibly nothing)."""
        try:
            return os.read(self._fd, max_bytes)
        except BlockingIOError:
            return b""
        except OSError as err:  # the adapter was unplugged: the readers go offline, libosdp keeps polling
            self._io_error(err)
            return b""

    def write(self, buf: bytes) -> int:
        """Write what the port takes now; return how much."""
        try:
            return os.write(self._fd, buf)
        except BlockingIOError:
            return 0
        except OSError as err:
            self._io_error(err)
            return 0

    def _io_error(self, err: OSError) -> None:
        self.io_errors += 1
        if self.io_errors == 1 or self.io_errors % 1000 == 0:
            log.error("osdp: serial port error (%d so far): %s", self.io_errors, err)

    def flush(self) -> None:
        """Drop received bytes not yet read (libosdp does this to resynchronise)."""
        with contextlib.suppress(termios.error):
            termios.tcflush(self._fd, termios.TCIFLUSH)

    def close(self) -> None:
        """Close the port."""
        os.close(self._fd)


def _read_scbk(path: Path) -> bytes:
    if path.stat().st_mode & 0o077:
        raise AdapterError(f"{path}: holds a secure channel key but is readable by others; chmod 600 {path}")
    text = path.read_text().strip()
    try:
        key = bytes.fromhex(text)
    except ValueError as err:
        raise AdapterError(f"{path}: not hex") from err
    if len(key) != 16:
        raise AdapterError(f"{path}: a secure channel base key is 16 bytes (32 hex digits), got {len(key)}")
    return key


class OsdpReaderAdapter(DeviceAdapter[OsdpReaderConfig]):
    """The Control Panel of one bus: card reads -> BadgeRead, reader status -> Status/Telemetry, decisions -> LED.

    Feedback: a `Feedback` message shows the decision (green + beep, or flashing red + two beeps). Until the site
    sends `Feedback`, a receipt `Ack` for a badge read of this reader is shown by its `ok`; a receipt that follows
    a `Feedback` for the same badge is not shown again.
    """

    config_type = OsdpReaderConfig
    device_kinds: ClassVar[frozenset[str] | None] = frozenset({"reader"})

    def __init__(self, devices: Mapping[str, OsdpReaderConfig], context: AdapterContext) -> None:
        super().__init__(devices, context)
        ports = {c.port for c in self.configs.values()}
        bauds = {c.baud for c in self.configs.values()}
        if len(ports) > 1 or len(bauds) > 1:
            raise AdapterError(f"osdp: one bus per adapter; got ports {sorted(ports)} at {sorted(bauds)} baud")
        addresses = [c.address for c in self.configs.values()]
        if len(set(addresses)) != len(addresses):
            raise AdapterError(f"osdp: two readers share an address on {ports.pop()}")
        self._order = list(self.configs)
        self._channel: SerialChannel | None = None
        self._cp: Any = None
        self._events: asyncio.Queue[tuple[int, dict[str, Any]]] = asyncio.Queue()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._tasks = OwnedTasks()
        self.online: dict[str, bool] = {}
        self._badges: OrderedDict[str, str] = OrderedDict()
        self._shown: OrderedDict[str, None] = OrderedDict()
        self.parity_errors = 0

    @classmethod
    def group_key(cls, config: OsdpReaderConfig) -> str:
        """One Control Panel per serial port."""
        return str(config.port)

    async def start(self, sink: DeviceSink) -> None:
        """Open the port and start the Control Panel (readers come online as they answer)."""
        try:
            import osdp  # imported here: only boxes with OSDP readers need the native library
        except ImportError as err:
            raise AdapterError("osdp: the libosdp package is not installed (pip install libosdp)") from err
        if not self.configs:
            return
        first = next(iter(self.configs.values()))
        keys = {d: _read_scbk(c.scbk_file) if c.scbk_file else None for d, c in self.configs.items()}
        try:
            self._channel = SerialChannel(first.port, first.baud)
        except OSError as err:
            raise AdapterError(f"osdp: cannot open {first.port}: {err}") from err
        infos = []
        for device_id, config in self.configs.items():
            flags = [osdp.LibFlag.EnableNotification]
            if keys[device_id] is not None:
                flags.append(osdp.LibFlag.EnforceSecure)
            infos.append(osdp.PDInfo(config.address, self._channel, scbk=keys[device_id], name=device_id, flags=flags))
        self._loop = asyncio.get_running_loop()
        try:
            self._cp = osdp.ControlPanel(infos, log_level=osdp.LogLevel.Warning, event_handler=self._on_event)
            self._cp.start()
        except Exception as err:  # the native library reports setup failures as plain exceptions
            await self.stop()
            raise AdapterError(f"osdp: cannot start the control panel on {first.port}: {err}") from err
        self._tasks.spawn(self._consume(sink), name=f"osdp-{first.port}")
        for device_id in self.configs:
            self._tasks.spawn(self._reprobe(device_id), name=f"osdp-reprobe-{device_id}")

    async def stop(self) -> None:
        """Stop the Control Panel thread and close the port."""
        await self._tasks.cancel_all()
        if self._cp is not None:
            await asyncio.to_thread(self._cp.stop)
            self._cp = None
        if self._channel is not None:
            self._channel.close()
            self._channel = None

    async def send(self, device_id: str, message: SiteMessage) -> None:
        """Show feedback on the reader; readers take no lock commands."""
        config = self.configs.get(device_id)
        if config is None:
            raise AdapterError(f"osdp: no reader {device_id!r}")
        if isinstance(message, Command):
            raise AdapterError(f"osdp: {device_id} is a reader and takes no {message.action} command")
        if isinstance(message, Feedback):
            _remember(self._shown, message.id, None)
            granted, reason = message.granted, message.reason
        elif isinstance(message, Ack):
            if message.id in self._shown or self._badges.get(message.id) != device_id:
                return
            granted, reason = message.ok, message.detail
        if not config.feedback:
            return
        for command in feedback_commands(granted, config.reader_no, reason):
            await self._submit(config.address, command)

    async def _submit(self, address: int, command: dict[str, int | bool]) -> None:
        if self._cp is None:
            raise AdapterError("osdp: the control panel is not running")
        if not await asyncio.to_thread(self._cp.submit_command, address, command):
            raise AdapterError(f"osdp: reader at address {address} did not take the command (offline?)")

    def _on_event(self, pd: int, event: dict[str, Any]) -> int:
        """libosdp's callback, on its thread: hand the event to the event loop."""
        loop = self._loop
        if loop is not None:
            with contextlib.suppress(RuntimeError):  # the loop is closing; nothing left to deliver to
                loop.call_soon_threadsafe(self._events.put_nowait, (pd, event))
        return 0

    async def _consume(self, sink: DeviceSink) -> None:
        while True:
            pd, event = await self._events.get()
            device_id = self._order[pd] if 0 <= pd < len(self._order) else None
            if device_id is None:
                self.reject(f"pd-{pd}", "event from an unknown reader index")
                continue
            self.received += 1
            try:
                message = decode_event(event, self.configs[device_id].credential)
            except ParityError as err:
                self.parity_errors += 1
                self.reject(device_id, err)
                continue
            except (PayloadError, WiegandError) as err:
                self.reject(device_id, err)
                continue
            if message is None:
                continue
            if isinstance(message, Status):
                online = message.state == "online"
                if self.online.get(device_id) == online:
                    continue
                self.online[device_id] = online
            elif isinstance(message, BadgeRead):
                _remember(self._badges, message.id, device_id)
            await self.deliver(sink, device_id, message)

    async def _reprobe(self, device_id: str) -> None:
        config = self.configs[device_id]
        while True:
            await asyncio.sleep(config.reprobe_s)
            if self.online.get(device_id) or self._cp is None:
                continue
            log.info("osdp: %s (address %d) is offline; probing it again", device_id, config.address)
            await asyncio.to_thread(self._cp.disable_pd, config.address)
            await asyncio.sleep(0.1)
            await asyncio.to_thread(self._cp.enable_pd, config.address)


def _remember(seen: OrderedDict[str, Any], key: str, value: Any) -> None:
    seen[key] = value
    while len(seen) > REMEMBERED_BADGES:
        seen.popitem(last=False)
