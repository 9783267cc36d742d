"""In-process clients of the embedded broker: the site core's adapters, without a TCP connection.

The site core runs in the broker's process. Over TCP each badge read would cross the broker twice more than it
needs to (broker -> core socket, core's MQTT client, core -> broker socket, with a PUBACK each way), all on the
same event loop. A `LocalConnection` is an MQTT client in all that matters to the site: it has a broker account,
its subscriptions and publishes pass the same ACL decisions (`BrokerDirectory`), it receives matching retained
messages when it subscribes, and what it publishes reaches TCP subscribers (and other local ones) through the
broker's normal fan-out. Messages are handed over as (topic, payload) calls, in the order the broker routes them.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Iterable, Mapping, Sequence

from edge.broker.acl import is_valid_topic_name, topic_matches
from edge.broker.directory import BrokerDirectory

log = logging.getLogger(__name__)

LocalHandler = Callable[[str, bytes], None]
"""Called synchronously with (topic, payload) for each message routed to the connection; must not block."""
Publish = Callable[[str, bytes, int, bool], Awaitable[None]]
"""The broker's own publish: (topic, payload, qos, retain), after the ACL check."""


class LocalHub:
    """The embedded broker's in-process connections (one per adapter account)."""

    def __init__(self, directory: BrokerDirectory) -> None:
        self.directory = directory
        self._connections: list[LocalConnection] = []
        self._publish: Publish | None = None
        self._retained: Callable[[], Mapping[str, bytes]] = dict

    def bind(self, publish: Publish, retained: Callable[[], Mapping[str, bytes]]) -> None:
        """Called by the broker when it starts: how to publish, and what is retained now."""
        self._publish = publish
        self._retained = retained

    def unbind(self) -> None:
        """Called by the broker when it stops: local publishes fail from now on."""
        self._publish = None
        self._retained = dict

    @property
    def running(self) -> bool:
        """True while the broker accepts local publishes."""
        return self._publish is not None

    def connect(self, username: str, on_message: LocalHandler) -> LocalConnection:
        """Open a connection as broker account `username` (which must exist)."""
        if username not in self.directory.users:
            raise PermissionError(f"no broker account {username!r}")
        if self._publish is None:
            raise ConnectionError("the embedded broker is not running")
        connection = LocalConnection(self, username, on_message)
        self._connections.append(connection)
        return connection

    def route(self, topic: str, payload: bytes) -> None:
        """Hand a message the broker accepted to every local connection subscribed to it (once each)."""
        for connection in list(self._connections):
            try:
                connection.offer(topic, payload)
            except Exception:  # supervision point: one local handler failing must not cut off the publisher
                log.exception("local connection %s failed to take a message on %s", connection.username, topic)

    def _close(self, connection: LocalConnection) -> None:
        if connection in self._connections:
            self._connections.remove(connection)

    @property
    def connection_count(self) -> int:
        """Open local connections."""
        return len(self._connections)

    @property
    def accounts(self) -> list[str]:
        """The broker accounts of the open local connections (one entry per connection)."""
        return [connection.username for connection in self._connections]


class LocalConnection:
    """One in-process client (see the module docstring). Not thread-safe: use it on the broker's loop."""

    def __init__(self, hub: LocalHub, username: str, on_message: LocalHandler) -> None:
        self._hub = hub
        self.username = username
        self._on_message = on_message
        self._filters: list[str] = []
        self.closed = False

    def subscribe(self, filters: Sequence[str]) -> None:
        """Subscribe (all or nothing); raise PermissionError for a filter the account may not use.

        Matching retained messages the account may receive are handed over at once, as a broker sends them.
        """
        directory = self._hub.directory
        denied = [f for f in filters if not directory.may_subscribe(self.username, f)]
        if denied:
            raise PermissionError(f"{self.username} may not subscribe to {', '.join(denied)}")
        new = [f for f in filters if f not in self._filters]
        self._filters.extend(new)
        for topic, payload in list(self._hub._retained().items()):
            if any(topic_matches(f, topic) for f in new) and directory.may_receive(self.username, topic):
                self._on_message(topic, payload)

    def unsubscribe(self, filters: Iterable[str]) -> None:
        """Stop receiving on `filters` (messages already handed over are not taken back)."""
        drop = set(filters)
        self._filters = [f for f in self._filters if f not in drop]

    def offer(self, topic: str, payload: bytes) -> None:
        """Hand over `payload` if a filter matches and the account may receive it."""
        if self.closed or not any(topic_matches(f, topic) for f in self._filters):
            return
        if self._hub.directory.may_receive(self.username, topic):
            self._on_message(topic, payload)

    async def publish(self, topic: str, payload: bytes, qos: int = 1, retain: bool = False) -> None:
        """Publish through the broker; raise PermissionError if the account may not, ConnectionError if closed."""
        publish = self._hub._publish
        if self.closed or publish is None:
            raise ConnectionError(f"{self.username}: local broker connection is closed")
        if not is_valid_topic_name(topic):
            raise ValueError(f"invalid topic name {topic!r}")
        if not self._hub.directory.may_publish(self.username, topic):
            raise PermissionError(f"{self.username} may not publish to {topic}")
        await publish(topic, payload, qos, retain)

    def close(self) -> None:
        """Unsubscribe from everything and leave the hub."""
        self.closed = True
        self._filters.clear()
        self._hub._close(self)
