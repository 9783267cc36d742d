"""In-process (local) connections of the embedded broker, against real TCP clients (paho, Mosquitto's tools)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable, Iterator

import pytest

from edge.broker.directory import BrokerUser, hash_password
from edge.broker.local import LocalConnection
from edge.broker.server import EmbeddedBroker
from tests.brokers import running_broker
from tests.paho_device import PahoDevice
from tests.polling import eventually

ACCOUNTS: dict[str, tuple[tuple[str, ...], tuple[str, ...]]] = {
    # username: (publish filters, subscribe filters)
    "core": (("outpost/+/command",), ("outpost/+/badge",)),
    "reader-1": (("outpost/reader-1/badge",), ("outpost/reader-1/command",)),
    "reader-2": (("outpost/reader-2/badge",), ("outpost/reader-2/command",)),
    "monitor": (("#",), ("#",)),
}

DeviceFactory = Callable[..., PahoDevice]
LocalFactory = Callable[[str], tuple[LocalConnection, list[tuple[str, bytes]]]]


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


@pytest.fixture
def device(broker: EmbeddedBroker) -> Iterator[DeviceFactory]:
    """Make paho clients (client id = account name unless given); all are closed before the broker stops."""
    made: list[PahoDevice] = []

    def make(username: str, client_id: str | None = None) -> PahoDevice:
        client = PahoDevice(broker.port, client_id or username, username, f"pw-{username}")
        made.append(client)
        return client

    yield make
    for client in made:
        client.close()


@pytest.fixture
def local(broker: EmbeddedBroker) -> Iterator[LocalFactory]:
    """Open local connections that record what is handed to them; all are closed at the end."""
    opened: list[LocalConnection] = []

    def connect(username: str) -> tuple[LocalConnection, list[tuple[str, bytes]]]:
        received: list[tuple[str, bytes]] = []
        connection = broker.local.connect(username, lambda topic, payload: received.append((topic, payload)))
        opened.append(connection)
        return connection, received

    yield connect
    for connection in opened:
        connection.close()


async def test_tcp_burst_reaches_local_connection_in_order(
    broker: EmbeddedBroker, device: DeviceFactory, local: LocalFactory
) -> None:
    """50 QoS 1 badge reads from a paho device arrive at the local core connection, in order."""
    core, received = local("core")
    core.subscribe(["outpost/+/badge"])
    reader = device("reader-1")
    assert await reader.connect()
    infos = [reader.client.publish("outpost/reader-1/badge", f"badge-{i:03d}", qos=1) for i in range(50)]
    await asyncio.get_running_loop().run_in_executor(None, infos[-1].wait_for_publish, 5)
    await eventually(lambda: len(received) >= 50)
    assert received == [("outpost/reader-1/badge", f"badge-{i:03d}".encode()) for i in range(50)]
    assert all(info.is_published() for info in infos)


async def test_local_publish_reaches_paho_subscriber(
    broker: EmbeddedBroker, device: DeviceFactory, local: LocalFactory
) -> None:
    """A local QoS 1 publish is delivered to a TCP subscriber of that account's topic, at QoS 1."""
    core, _ = local("core")
    reader = device("reader-1")
    delivered: list[tuple[str, bytes, int]] = []
    reader.client.on_message = lambda _c, _u, m: delivered.append((m.topic, m.payload, m.qos))
    assert await reader.connect()
    assert await reader.subscribe("outpost/reader-1/command", qos=1) == [1]
    await core.publish("outpost/reader-1/command", b'{"action":"beep"}', qos=1)
    await eventually(lambda: len(delivered) >= 1)
    assert delivered == [("outpost/reader-1/command", b'{"action":"beep"}', 1)]


async def test_local_publish_reaches_mosquitto_sub(broker: EmbeddedBroker, local: LocalFactory) -> None:
    """Mosquitto's own subscriber (an independent MQTT implementation) receives a local publish."""
    core, _ = local("core")
    sub = await asyncio.create_subprocess_exec(
        "mosquitto_sub",
        *("-h", "127.0.0.1", "-p", str(broker.port), "-V", "mqttv311"),
        *("-i", "reader-2-mosq", "-u", "reader-2", "-P", "pw-reader-2"),
        *("-t", "outpost/reader-2/command", "-q", "1", "-C", "1", "-W", "5"),
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    try:
        assert broker._broker is not None
        subscriptions = broker._broker._subscriptions
        await eventually(
            lambda: any(
                session.client_id == "reader-2-mosq" for session, _ in subscriptions.get("outpost/reader-2/command", [])
            )
        )
        await core.publish("outpost/reader-2/command", b'{"action":"unlock"}', qos=1)
        out, err = await asyncio.wait_for(sub.communicate(), 10)
    finally:
        if sub.returncode is None:
            sub.kill()
            await sub.wait()
    assert sub.returncode == 0, err.decode()
    assert out.decode().strip() == '{"action":"unlock"}'


async def test_local_subscribe_outside_account_is_refused(broker: EmbeddedBroker, local: LocalFactory) -> None:
    """Subscribing to a filter the account does not hold raises PermissionError and subscribes to nothing."""
    core, received = local("core")
    denied_before = broker.directory.denied
    with pytest.raises(PermissionError):
        core.subscribe(["outpost/#"])
    with pytest.raises(PermissionError):
        core.subscribe(["outpost/reader-1/command"])
    # All or nothing: the allowed filter in a refused request is not subscribed either.
    with pytest.raises(PermissionError):
        core.subscribe(["outpost/+/badge", "outpost/+/command"])
    assert broker.directory.denied >= denied_before + 3
    monitor, _ = local("monitor")
    await monitor.publish("outpost/reader-1/badge", b"read", qos=1)
    await monitor.publish("outpost/reader-1/command", b"cmd", qos=1)
    assert received == []


async def test_local_publish_outside_account_is_refused(
    broker: EmbeddedBroker, device: DeviceFactory, local: LocalFactory
) -> None:
    """A refused local publish raises PermissionError, reaches no one, and is counted as denied."""
    core, _ = local("core")
    watcher_local, watched_locally = local("monitor")
    watcher_local.subscribe(["#"])
    watcher = device("monitor")
    assert await watcher.connect()
    assert await watcher.subscribe("#", qos=1) == [1]
    denied_before = broker.directory.denied
    with pytest.raises(PermissionError):
        await core.publish("outpost/reader-1/badge", b"forged badge", qos=1)
    with pytest.raises(PermissionError):
        await core.publish("elsewhere/command", b"forged", qos=0)
    assert broker.directory.denied == denied_before + 2
    with pytest.raises(ValueError):
        await core.publish("outpost/+/command", b"wildcard", qos=1)
    # An allowed publish after the refused ones: once it has arrived, anything refused would have arrived first.
    await core.publish("outpost/reader-1/command", b"allowed", qos=1)
    await eventually(lambda: len(watcher.messages) >= 1)
    assert watcher.messages == [("outpost/reader-1/command", b"allowed")]
    assert watched_locally == [("outpost/reader-1/command", b"allowed")]


async def test_tcp_retained_message_handed_to_later_local_subscriber(
    broker: EmbeddedBroker, device: DeviceFactory, local: LocalFactory
) -> None:
    """A retained TCP publish is handed over at once when a local connection subscribes later, ACL permitting."""
    reader = device("reader-1")
    monitor = device("monitor")
    assert await reader.connect()
    assert await monitor.connect()
    info = reader.client.publish("outpost/reader-1/badge", "last badge", qos=1, retain=True)
    await asyncio.get_running_loop().run_in_executor(None, info.wait_for_publish, 5)
    # Retained topics the core account may not receive: a command (outside its subscribe grants) and a status.
    for topic in ("outpost/reader-2/command", "outpost/reader-2/status"):
        info = monitor.client.publish(topic, "secret", qos=1, retain=True)
        await asyncio.get_running_loop().run_in_executor(None, info.wait_for_publish, 5)
    assert broker._broker is not None
    await eventually(lambda: len(broker._broker._retained_messages) == 3)  # type: ignore[union-attr]

    core, received = local("core")
    with pytest.raises(PermissionError):
        core.subscribe(["outpost/+/badge", "outpost/#"])
    assert received == []  # a refused request hands nothing over
    core.subscribe(["outpost/+/badge"])
    assert received == [("outpost/reader-1/badge", b"last badge")]  # synchronously, inside subscribe

    everything, seen_by_monitor = local("monitor")
    everything.subscribe(["#"])
    assert sorted(seen_by_monitor) == [
        ("outpost/reader-1/badge", b"last badge"),
        ("outpost/reader-2/command", b"secret"),
        ("outpost/reader-2/status", b"secret"),
    ]


async def test_local_retained_publish_reaches_later_tcp_subscriber(
    broker: EmbeddedBroker, device: DeviceFactory, local: LocalFactory
) -> None:
    """A retained local publish is sent to a TCP client that subscribes afterwards, and to no one else."""
    core, _ = local("core")
    await core.publish("outpost/reader-1/command", b'{"action":"led","color":"green"}', qos=1, retain=True)
    other = device("reader-2")
    assert await other.connect()
    assert await other.subscribe("outpost/reader-2/command", qos=1) == [1]
    reader = device("reader-1")
    retained_flags: list[bool] = []
    delivered: list[tuple[str, bytes]] = []

    def on_message(_c: object, _u: object, message: object) -> None:
        delivered.append((message.topic, message.payload))  # type: ignore[attr-defined]
        retained_flags.append(message.retain)  # type: ignore[attr-defined]

    reader.client.on_message = on_message
    assert await reader.connect()
    assert await reader.subscribe("outpost/reader-1/command", qos=1) == [1]
    await eventually(lambda: len(delivered) >= 1)
    assert delivered == [("outpost/reader-1/command", b'{"action":"led","color":"green"}')]
    assert retained_flags == [True]
    # Barrier for reader-2: a live message on its own topic arrives, and the retained one for reader-1 did not.
    await core.publish("outpost/reader-2/command", b"live", qos=1)
    await eventually(lambda: len(other.messages) >= 1)
    assert other.messages == [("outpost/reader-2/command", b"live")]


async def test_stopped_broker_refuses_local_publish_and_connect(broker: EmbeddedBroker, local: LocalFactory) -> None:
    """After the broker stops, a local publish raises ConnectionError and so does opening a connection."""
    core, _ = local("core")
    assert broker.local.running
    await broker.stop()
    assert not broker.local.running
    with pytest.raises(ConnectionError):
        await core.publish("outpost/reader-1/command", b"too late", qos=1)
    with pytest.raises(ConnectionError):
        broker.local.connect("core", lambda _topic, _payload: None)


async def test_closed_local_connection_refuses_publish_and_receives_nothing(
    broker: EmbeddedBroker, local: LocalFactory
) -> None:
    """A closed local connection raises ConnectionError on publish and is no longer routed to."""
    core, received = local("core")
    core.subscribe(["outpost/+/badge"])
    core.close()
    assert broker.local.connection_count == 0
    with pytest.raises(ConnectionError):
        await core.publish("outpost/reader-1/command", b"closed", qos=1)
    monitor, _ = local("monitor")
    await monitor.publish("outpost/reader-1/badge", b"read", qos=1)
    assert received == []


async def test_unknown_account_cannot_connect_locally(broker: EmbeddedBroker) -> None:
    """`hub.connect` with an account the directory does not hold raises PermissionError."""
    with pytest.raises(PermissionError):
        broker.local.connect("nobody", lambda _topic, _payload: None)
    assert broker.local.connection_count == 0
