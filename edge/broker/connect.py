"""The first packet of a connection: read and check a CONNECT before the broker touches any session.

amqtt 0.12.1 parses every CONNECT with the MQTT 3.1.1 layout. An MQTT 5 CONNECT (its properties follow the
keep-alive) then fails in the middle of the payload with an error amqtt does not catch: the client gets no
CONNACK and the broker logs a traceback. MQTT 3.1 (`MQIsdp`, level 3) is refused without a CONNACK although
it differs from 3.1.1 only in details the broker can honour (no session-present flag, client ids of 1-23
characters). Here the CONNECT is read whole (bounded in size and time), its protocol decided from the first
bytes, and every way it can be wrong ends in a `ConnectRefused` carrying the answer the client's own protocol
version expects (or none, where MQTT says to just close).
"""

from __future__ import annotations

import asyncio
import struct
from dataclasses import dataclass
from typing import Literal

from amqtt.adapters import ReaderAdapter
from amqtt.mqtt.connect import ConnectPacket, ConnectPayload, ConnectVariableHeader
from amqtt.mqtt.packet import CONNECT, MQTTFixedHeader
from amqtt.session import Session
from amqtt.utils import gen_client_id

CONNECT_TIMEOUT_S = 10.0
"""A connection must deliver its whole CONNECT within this long (a silent socket is not held open forever)."""
MAX_CONNECT_BYTES = 12 + 5 * (2 + 65535)
"""Variable header plus the five length-prefixed payload fields at their largest: anything longer is malformed."""
MQTT31_MAX_CLIENT_ID = 23
"""MQTT 3.1 (section 3.1): a client id longer than this is answered with 0x02 (identifier rejected)."""

# CONNACK return codes (MQTT 3.1 / 3.1.1) and the MQTT 5 reason code used here.
UNACCEPTABLE_PROTOCOL_VERSION = 0x01
IDENTIFIER_REJECTED = 0x02
BAD_USERNAME_PASSWORD = 0x04
NOT_AUTHORIZED = 0x05
MQTT5_UNSUPPORTED_PROTOCOL_VERSION = 0x84

MQTT5_REFUSAL = bytes([0x20, 0x03, 0x00, MQTT5_UNSUPPORTED_PROTOCOL_VERSION, 0x00])
"""An MQTT 5 CONNACK: no session present, reason 0x84, no properties (MQTT 5 section 3.2)."""

RefusalReason = Literal[
    "no_connect",
    "timeout",
    "malformed",
    "unsupported_protocol",
    "identifier_rejected",
    "bad_credentials",
    "not_authorized",
]


def connack(return_code: int, session_present: bool = False) -> bytes:
    """An MQTT 3.1/3.1.1 CONNACK (3.1 has no session-present flag: pass False)."""
    return bytes([0x20, 0x02, 0x01 if session_present else 0x00, return_code])


class ConnectRefused(Exception):
    """The connection is refused before any session is touched; send `reply` (may be empty), then close."""

    def __init__(self, reason: RefusalReason, detail: str, reply: bytes = b"") -> None:
        super().__init__(detail)
        self.reason: RefusalReason = reason
        self.detail = detail
        self.reply = reply


@dataclass(frozen=True)
class ConnectRequest:
    """A well-formed MQTT 3.1 or 3.1.1 CONNECT."""

    packet: ConnectPacket
    level: int
    """Protocol level: 3 (MQTT 3.1, `MQIsdp`) or 4 (MQTT 3.1.1)."""
    client_id: str
    client_id_is_random: bool
    clean_session: bool
    keep_alive: int
    username: str | None
    password: str | None
    will: tuple[str, bytes, int, bool] | None
    """(topic, message, qos, retain) of the Last Will, if any."""

    def connack(self, return_code: int, session_present: bool = False) -> bytes:
        """The CONNACK for this client's protocol version."""
        return connack(return_code, session_present and self.level >= 4)

    def session(self, remote_address: str, remote_port: int) -> Session:
        """A new amqtt session for this CONNECT (as amqtt's `init_from_connect` builds it)."""
        session = Session()
        session.client_id = self.client_id
        session.clean_session = self.clean_session
        session.will_flag = self.will is not None
        if self.will is not None:
            session.will_topic, session.will_message, session.will_qos, session.will_retain = self.will
        session.username = self.username
        session.password = self.password
        session.remote_address = remote_address
        session.remote_port = remote_port
        session.keep_alive = self.keep_alive
        return session


async def read_connect(reader: ReaderAdapter, timeout_s: float = CONNECT_TIMEOUT_S) -> ConnectRequest:
    """Read the first packet of a connection; raise ConnectRefused unless it is a CONNECT this broker serves."""
    try:
        async with asyncio.timeout(timeout_s):
            first = await _read(reader, 1, allow_eof=True)
            if not first:
                raise ConnectRefused("no_connect", "closed before sending CONNECT")
            if first[0] != CONNECT << 4:  # [MQTT-3.1.0-1] first packet must be CONNECT, flags 0 [MQTT-2.2.2-2]
                raise ConnectRefused("malformed", f"first packet is not CONNECT (0x{first[0]:02x})")
            length = await _read_remaining_length(reader)
            if length > MAX_CONNECT_BYTES:
                raise ConnectRefused("malformed", f"CONNECT of {length} bytes")
            body = await _read(reader, length)
    except TimeoutError:
        raise ConnectRefused("timeout", f"no complete CONNECT within {timeout_s:.0f} s") from None
    return parse_connect(body)


def parse_connect(body: bytes) -> ConnectRequest:
    """Decode the variable header and payload of a CONNECT (everything after the remaining length)."""
    cursor = _Cursor(body)
    name = cursor.string("protocol name")
    level = cursor.byte("protocol level")
    if name not in ("MQTT", "MQIsdp"):
        # [MQTT-3.1.2-1]: not MQTT at all; close without a CONNACK.
        raise ConnectRefused("malformed", f"protocol name {name!r}")
    if name == "MQTT" and level == 5:
        raise ConnectRefused("unsupported_protocol", "MQTT 5 (served: 3.1.1 and 3.1)", MQTT5_REFUSAL)
    if (name, level) not in (("MQTT", 4), ("MQIsdp", 3)):
        # [MQTT-3.1.2-2]: an unsupported level gets return code 0x01, then the connection closes.
        raise ConnectRefused("unsupported_protocol", f"{name} level {level}", connack(UNACCEPTABLE_PROTOCOL_VERSION))
    flags = cursor.byte("connect flags")
    keep_alive = cursor.uint16("keep alive")
    if flags & 0x01:
        raise ConnectRefused("malformed", "reserved connect flag set")  # [MQTT-3.1.2-3]
    will_flag, will_qos, will_retain = bool(flags & 0x04), (flags >> 3) & 0x03, bool(flags & 0x20)
    if will_qos == 3 or (not will_flag and (will_qos or will_retain)):
        raise ConnectRefused("malformed", "inconsistent will flags")  # [MQTT-3.1.2-13/14/15]
    username_flag, password_flag, clean_session = bool(flags & 0x80), bool(flags & 0x40), bool(flags & 0x02)

    client_id = cursor.string("client id")
    will = None
    if will_flag:
        will = (cursor.string("will topic"), cursor.data("will message"), will_qos, will_retain)
    username = cursor.string("username") if username_flag else None
    password = cursor.password() if password_flag else None
    if not cursor.at_end():
        raise ConnectRefused("malformed", "bytes after the CONNECT payload")

    reply = connack(IDENTIFIER_REJECTED)
    if level == 3 and not 1 <= len(client_id) <= MQTT31_MAX_CLIENT_ID:
        raise ConnectRefused("identifier_rejected", f"MQTT 3.1 client id of {len(client_id)} characters", reply)
    if not client_id and not clean_session:
        raise ConnectRefused("identifier_rejected", "empty client id without clean session", reply)  # [MQTT-3.1.3-8]
    if password_flag and not username_flag:
        raise ConnectRefused("bad_credentials", "password without username", connack(BAD_USERNAME_PASSWORD))
    is_random = not client_id
    if is_random:
        client_id = gen_client_id()  # [MQTT-3.1.3-6]

    header = ConnectVariableHeader(flags, keep_alive, name, level)
    payload = ConnectPayload(client_id, will[0] if will else None, will[1] if will else None, username, password)
    payload.client_id_is_random = is_random
    packet = ConnectPacket(MQTTFixedHeader(CONNECT, 0x00, len(body)), header, payload)
    return ConnectRequest(packet, level, client_id, is_random, clean_session, keep_alive, username, password, will)


async def _read(reader: ReaderAdapter, n: int, *, allow_eof: bool = False) -> bytes:
    try:
        data = bytes(await reader.read(n))
    except asyncio.IncompleteReadError as err:
        data = err.partial
    except (ConnectionResetError, BrokenPipeError):
        data = b""
    if len(data) < n and not (allow_eof and not data):
        raise ConnectRefused("malformed", "connection closed inside the CONNECT")
    return data


async def _read_remaining_length(reader: ReaderAdapter) -> int:
    length, multiplier = 0, 1
    for _ in range(4):  # [MQTT-2.2.3]: at most four bytes
        byte = (await _read(reader, 1))[0]
        length += (byte & 0x7F) * multiplier
        if not byte & 0x80:
            return length
        multiplier *= 128
    raise ConnectRefused("malformed", "remaining length longer than four bytes")


class _Cursor:
    """Reads MQTT fields from a CONNECT body; anything short or not UTF-8 is malformed."""

    def __init__(self, body: bytes) -> None:
        self._body = body
        self._at = 0

    def _take(self, n: int, what: str) -> bytes:
        if self._at + n > len(self._body):
            raise ConnectRefused("malformed", f"CONNECT ends inside the {what}")
        chunk = self._body[self._at : self._at + n]
        self._at += n
        return chunk

    def byte(self, what: str) -> int:
        return self._take(1, what)[0]

    def uint16(self, what: str) -> int:
        return int(struct.unpack("!H", self._take(2, what))[0])

    def data(self, what: str) -> bytes:
        return self._take(self.uint16(what), what)

    def string(self, what: str) -> str:
        raw = self.data(what)
        try:
            text = raw.decode("utf-8")
        except UnicodeDecodeError:
            raise ConnectRefused("malformed", f"{what} is not UTF-8") from None  # [MQTT-1.5.3-1]
        if "\x00" in text:
            raise ConnectRefused("malformed", f"{what} contains U+0000")  # [MQTT-1.5.3-2]
        return text

    def password(self) -> str:
        # Binary data in MQTT 3.1.1; Outpost's accounts have text passwords, so other bytes cannot match.
        raw = self.data("password")
        try:
            return raw.decode("utf-8")
        except UnicodeDecodeError:
            raise ConnectRefused("bad_credentials", "password is not UTF-8", connack(BAD_USERNAME_PASSWORD)) from None

    def at_end(self) -> bool:
        return self._at == len(self._body)
