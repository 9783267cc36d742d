"""The embedded broker's direct fan-out over TCP: order, acknowledgement, back-pressure, QoS 2, protocol errors."""

from __future__ import annotations

import asyncio
import socket
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator

import pytest

from edge.broker.amqtt_broker import WRITE_BUFFER_LIMIT, OutpostBroker
from edge.broker.directory import BrokerUser, hash_password
from edge.broker.server import EmbeddedBroker
from tests.brokers import running_broker
from tests.paho_device import PahoDevice
from tests.polling import eventually

ACCOUNTS: dict[str, tuple[tuple[str, ...], tuple[str, ...]]] = {
    # username: (publish filters, subscribe filters)
    "publisher": (("fan/#",), ()),
    "subscriber": ((), ("fan/#",)),
    "anything": (("#",), ("#",)),  # its ACL would let it publish anywhere: only the protocol can refuse
}

DeviceFactory = Callable[..., PahoDevice]


@pytest.fixture(scope="module")
def password_hashes() -> dict[str, str]:
    """argon2 hashes are slow: compute each account's once per module."""
    return {name: hash_password(f"pw-{name}") for name in ACCOUNTS}


@pytest.fixture
async def broker(password_hashes: dict[str, str]) -> AsyncIterator[EmbeddedBroker]:
    """A standalone embedded broker with the accounts above."""
    users: list[BrokerUser] = []
    for name, (publish, subscribe) in ACCOUNTS.items():
        users.append(BrokerUser(name, password_hashes[name], publish=publish, subscribe=subscribe))
    async with running_broker(users) as site_broker:
        yield site_broker


def amqtt_broker(broker: EmbeddedBroker) -> OutpostBroker:
    """The running OutpostBroker behind an EmbeddedBroker."""
    assert broker._broker is not None
    return broker._broker


@pytest.fixture
def device(broker: EmbeddedBroker) -> Iterator[DeviceFactory]:
    """Make paho clients; all are closed before the broker stops."""
    made: list[PahoDevice] = []

    def make(username: str, client_id: str, clean_session: bool = True) -> PahoDevice:
        client = PahoDevice(broker.port, client_id, username, f"pw-{username}", clean_session=clean_session)
        made.append(client)
        return client

    yield make
    for client in made:
        client.close()


def record_with_qos(client: PahoDevice) -> list[tuple[str, bytes, int]]:
    """Make `client` record (topic, payload, qos) of each message instead of (topic, payload)."""
    received: list[tuple[str, bytes, int]] = []
    client.client.on_message = lambda _c, _u, m: received.append((m.topic, m.payload, m.qos))
    return received


async def publish_all(client: PahoDevice, topic: str, payloads: list[bytes], qos: int) -> None:
    """Queue every payload in paho at once, then wait until the last one is out (QoS 0) or acknowledged."""
    infos = [client.client.publish(topic, payload, qos=qos) for payload in payloads]
    await asyncio.get_running_loop().run_in_executor(None, infos[-1].wait_for_publish, 10)
    assert all(info.is_published() for info in infos)


# --- a hand-rolled MQTT 3.1.1 client: it reads from its socket only when asked --------------------------------


def _varint(n: int) -> bytes:
    out = bytearray()
    while True:
        n, digit = divmod(n, 128)
        out.append(digit | (0x80 if n else 0))
        if not n:
            return bytes(out)


def _str(value: str) -> bytes:
    data = value.encode()
    return len(data).to_bytes(2, "big") + data


def _packet(first_byte: int, body: bytes) -> bytes:
    return bytes([first_byte]) + _varint(len(body)) + body


class RawClient:
    """A minimal MQTT 3.1.1 client on a non-blocking socket with no background reading."""

    def __init__(self, sock: socket.socket) -> None:
        self.sock = sock
        self.buffer = bytearray()
        self.loop = asyncio.get_running_loop()

    @classmethod
    async def connect(
        cls, port: int, client_id: str, username: str, password: str, tiny_window: bool = False
    ) -> RawClient:
        """Open a TCP connection, send CONNECT (clean session, no keep-alive) and expect an accepting CONNACK."""
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        if tiny_window:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
            # Linux sizes the broker's send buffer from the MSS: on loopback (MSS ~64 KiB) it starts at ~4 MiB
            # and would swallow everything. A small advertised MSS keeps it small.
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_MAXSEG, 536)
        sock.setblocking(False)
        client = cls(sock)
        try:
            await client.loop.sock_connect(sock, ("127.0.0.1", port))
            flags = 0x80 | 0x40 | 0x02  # username, password, clean session
            body = _str("MQTT") + bytes([4, flags]) + (0).to_bytes(2, "big")
            await client.send(_packet(0x10, body + _str(client_id) + _str(username) + _str(password)))
            first, connack = await asyncio.wait_for(client.read_packet(), 5)
            assert (first, connack) == (0x20, b"\x00\x00"), f"refused: {first:#x} {connack!r}"
        except BaseException:
            client.close()
            raise
        return client

    async def send(self, data: bytes) -> None:
        """Write raw bytes."""
        await self.loop.sock_sendall(self.sock, data)

    async def subscribe(self, topic_filter: str, qos: int) -> int:
        """SUBSCRIBE to one filter; return the granted QoS (0x80 = refused)."""
        await self.send(_packet(0x82, (1).to_bytes(2, "big") + _str(topic_filter) + bytes([qos])))
        first, suback = await asyncio.wait_for(self.read_packet(), 5)
        assert first == 0x90 and suback[:2] == b"\x00\x01", (first, suback)
        return suback[2]

    async def publish(self, topic: str, payload: bytes) -> None:
        """PUBLISH at QoS 0 (the topic is sent as given, valid or not)."""
        await self.send(_packet(0x30, _str(topic) + payload))

    async def _fill(self, size: int) -> None:
        while len(self.buffer) < size:
            chunk = await self.loop.sock_recv(self.sock, 65536)
            if not chunk:
                raise EOFError("connection closed by the broker")
            self.buffer += chunk

    async def read_packet(self) -> tuple[int, bytes]:
        """Read one packet: (first byte, body)."""
        length, multiplier, header = 0, 1, 1
        while True:
            await self._fill(header + 1)
            digit = self.buffer[header]
            header += 1
            length += (digit & 0x7F) * multiplier
            if not digit & 0x80:
                break
            multiplier *= 128
        await self._fill(header + length)
        first, body = self.buffer[0], bytes(self.buffer[header : header + length])
        del self.buffer[: header + length]
        return first, body

    async def read_publish(self) -> tuple[str, bytes]:
        """Read one QoS 0 PUBLISH: (topic, payload)."""
        first, body = await self.read_packet()
        assert first & 0xF0 == 0x30 and first & 0x06 == 0, f"expected a QoS 0 PUBLISH, got {first:#x}"
        topic_length = int.from_bytes(body[:2], "big")
        return body[2 : 2 + topic_length].decode(), body[2 + topic_length :]

    async def closed_by_peer(self) -> bool:
        """Read (and drop) until the broker closes the connection; True once it has."""
        try:
            while await self.loop.sock_recv(self.sock, 65536):
                pass
        except ConnectionResetError:
            pass
        return True

    def close(self) -> None:
        """Close the socket."""
        self.sock.close()


RawFactory = Callable[..., Awaitable[RawClient]]


@pytest.fixture
async def raw(broker: EmbeddedBroker) -> AsyncIterator[RawFactory]:
    """Open RawClients to the broker; all are closed at the end."""
    opened: list[RawClient] = []

    async def connect(username: str, client_id: str, tiny_window: bool = False) -> RawClient:
        client = await RawClient.connect(broker.port, client_id, username, f"pw-{username}", tiny_window)
        opened.append(client)
        return client

    yield connect
    for client in opened:
        client.close()


# --- tests ----------------------------------------------------------------------------------------------------


async def test_qos1_deliveries_in_order_and_acknowledged(broker: EmbeddedBroker, device: DeviceFactory) -> None:
    """200 QoS 1 messages reach a paho subscriber in order at QoS 1; its PUBACKs empty the broker's in-flight window."""
    subscriber = device("subscriber", "sub-q1")
    received = record_with_qos(subscriber)
    publisher = device("publisher", "pub-q1")
    assert await subscriber.connect()
    assert await publisher.connect()
    assert await subscriber.subscribe("fan/q1", qos=1) == [1]
    payloads = [f"message-{i:04d}".encode() for i in range(200)]
    await publish_all(publisher, "fan/q1", payloads, qos=1)
    await eventually(lambda: len(received) >= 200)
    assert received == [("fan/q1", payload, 1) for payload in payloads]

    session, handler = amqtt_broker(broker)._sessions["sub-q1"]
    await eventually(lambda: not session.inflight_out)
    assert not handler._puback_waiters
    assert not amqtt_broker(broker)._slow_deliveries


async def test_backed_up_subscriber_gets_everything_in_order(
    broker: EmbeddedBroker, device: DeviceFactory, raw: RawFactory
) -> None:
    """A subscriber that stops reading sends deliveries down the slow path; then it gets all, in order."""
    count, size = 600, 1024
    assert count * size > 4 * WRITE_BUFFER_LIMIT
    slow = await raw("subscriber", "slow-sub", tiny_window=True)
    assert await slow.subscribe("fan/bulk", qos=0) == 0
    publisher = device("publisher", "pub-bulk")
    assert await publisher.connect()
    payloads = [f"{i:06d}".encode().ljust(size, b".") for i in range(count)]
    broker_impl = amqtt_broker(broker)
    await publish_all(publisher, "fan/bulk", payloads, qos=0)
    # The subscriber has read nothing: more than WRITE_BUFFER_LIMIT is stuck in its socket, so amqtt's flow
    # (which waits for the socket to drain) holds the rest until it reads.
    await eventually(lambda: bool(broker_impl._slow_deliveries))

    received: list[bytes] = []
    async with asyncio.timeout(15):
        while len(received) < count:
            topic, payload = await slow.read_publish()
            assert topic == "fan/bulk"
            received.append(payload)
    assert [payload[:6] for payload in received] == [payload[:6] for payload in payloads]
    assert received == payloads
    await eventually(lambda: not broker_impl._slow_deliveries and not broker_impl._queued_per_handler)


async def test_qos2_end_to_end_exactly_once(broker: EmbeddedBroker, device: DeviceFactory) -> None:
    """A QoS 2 publish from paho reaches a QoS 2 paho subscriber exactly once, at QoS 2."""
    subscriber = device("subscriber", "sub-q2")
    received = record_with_qos(subscriber)
    publisher = device("publisher", "pub-q2")
    assert await subscriber.connect()
    assert await publisher.connect()
    assert await subscriber.subscribe("fan/q2", qos=2) == [2]
    await publish_all(publisher, "fan/q2", [b"once"], qos=2)
    await eventually(lambda: len(received) >= 1)
    # A second message as a barrier: a duplicate of the first would have arrived before it.
    await publish_all(publisher, "fan/q2", [b"twice"], qos=2)
    await eventually(lambda: len(received) >= 2)
    assert received == [("fan/q2", b"once", 2), ("fan/q2", b"twice", 2)]
    session, _ = amqtt_broker(broker)._sessions["sub-q2"]
    await eventually(lambda: not session.inflight_out)


@pytest.mark.parametrize(
    "topic",
    [
        "fan/+/bad",
        "fan/#",
        "$SYS/forged",
        "$fan/x",
    ],
)
async def test_invalid_topic_closes_only_the_offending_connection(
    broker: EmbeddedBroker, device: DeviceFactory, raw: RawFactory, topic: str
) -> None:
    """Publishing to a wildcard or '$' topic gets the client disconnected; others carry on."""
    watcher = device("anything", "watcher")
    publisher = device("publisher", "pub-ok")
    assert await watcher.connect()
    assert await publisher.connect()
    assert await watcher.subscribe("#", qos=1) == [1]
    rogue = await raw("anything", "rogue")
    await rogue.publish(topic, b"forged")
    assert await asyncio.wait_for(rogue.closed_by_peer(), 3)

    await publish_all(publisher, "fan/ok", [b"still here"], qos=1)
    await eventually(lambda: len(watcher.messages) >= 1)
    assert watcher.messages == [("fan/ok", b"still here")]
    assert watcher.client.is_connected() and publisher.client.is_connected()


async def test_payload_after_a_malformed_publish_is_not_read_as_packets(
    broker: EmbeddedBroker, device: DeviceFactory, raw: RawFactory
) -> None:
    """A PUBLISH that does not decode ends the connection: its payload cannot smuggle in a packet of its own."""
    watcher = device("anything", "watcher")
    assert await watcher.connect()
    assert await watcher.subscribe("#", qos=1) == [1]
    rogue = await raw("anything", "rogue")
    await rogue.publish("fan/#", _packet(0x30, _str("fan/smuggled") + b"inner"))
    assert await asyncio.wait_for(rogue.closed_by_peer(), 3)
    publisher = device("publisher", "pub-after")
    assert await publisher.connect()
    await publish_all(publisher, "fan/after", [b"marker"], qos=1)
    await eventually(lambda: ("fan/after", b"marker") in watcher.messages)
    assert ("fan/smuggled", b"inner") not in watcher.messages


async def test_offline_persistent_session_gets_queued_qos1_messages(
    broker: EmbeddedBroker, device: DeviceFactory
) -> None:
    """QoS 1 messages published while a clean_session=False subscriber is away are delivered when it returns."""
    first = device("subscriber", "persistent", clean_session=False)
    assert await first.connect()
    assert await first.subscribe("fan/offline", qos=1) == [1]
    first.close()
    session, _ = amqtt_broker(broker)._sessions["persistent"]
    await eventually(lambda: session.transitions.state != "connected")

    publisher = device("publisher", "pub-offline")
    assert await publisher.connect()
    payloads = [f"while-away-{i}".encode() for i in range(5)]
    await publish_all(publisher, "fan/offline", payloads, qos=1)
    await eventually(lambda: session.retained_messages.qsize() == len(payloads))

    again = device("subscriber", "persistent", clean_session=False)
    received = record_with_qos(again)
    assert await again.connect()  # no new SUBSCRIBE
    await eventually(lambda: len(received) >= len(payloads))
    assert received == [("fan/offline", payload, 1) for payload in payloads]
    await publish_all(publisher, "fan/offline", [b"live"], qos=1)
    await eventually(lambda: len(received) > len(payloads))
    assert received[-1] == ("fan/offline", b"live", 1)


async def test_messages_queued_for_an_offline_session_arrive_without_the_retain_flag(
    broker: EmbeddedBroker, device: DeviceFactory
) -> None:
    """MQTT-3.3.1-9: a queued message matched an existing subscription, so it is delivered with RETAIN=0."""
    first = device("subscriber", "persistent-retain", clean_session=False)
    assert await first.connect()
    assert await first.subscribe("fan/queued", qos=1) == [1]
    first.close()
    session, _ = amqtt_broker(broker)._sessions["persistent-retain"]
    await eventually(lambda: session.transitions.state != "connected")
    publisher = device("publisher", "pub-queued")
    assert await publisher.connect()
    await publish_all(publisher, "fan/queued", [b"a", b"b"], qos=1)
    await eventually(lambda: session.retained_messages.qsize() == 2)

    again = device("subscriber", "persistent-retain", clean_session=False)
    flags: list[tuple[bytes, bool]] = []
    again.client.on_message = lambda _c, _u, m: flags.append((m.payload, m.retain))
    assert await again.connect()
    await eventually(lambda: len(flags) == 2)
    assert flags == [(b"a", False), (b"b", False)]
