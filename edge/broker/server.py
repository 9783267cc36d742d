"""The site broker's interface, and the embedded amqtt broker that implements it by default."""

from __future__ import annotations

import asyncio
import logging
import socket
from collections import Counter
from pathlib import Path
from typing import Any, Protocol

from edge.broker.amqtt_broker import OutpostBroker
from edge.broker.directory import BrokerDirectory
from edge.broker.local import LocalHub

log = logging.getLogger(__name__)


def free_port(host: str = "127.0.0.1") -> int:
    """Return a TCP port that is free right now on `host`."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        return int(sock.getsockname()[1])


class SiteBroker(Protocol):
    """What the edge needs from its MQTT broker, embedded (amqtt) or external (Mosquitto)."""

    directory: BrokerDirectory
    port: int
    client_host: str
    """Address the site core's own clients connect to."""

    @property
    def local(self) -> LocalHub | None:
        """In-process connections for the site core's adapters (embedded broker only; None = connect over TCP)."""

    @property
    def refused_connects(self) -> Counter[str]:
        """CONNECTs refused, by reason (embedded broker; an external Mosquitto logs its own and leaves this empty)."""

    async def start(self) -> None:
        """Start (or attach to) the broker; return once clients can connect."""

    async def stop(self) -> None:
        """Stop the broker (or stop following it)."""


class EmbeddedBroker:
    """The site's MQTT broker: TCP listener, Outpost auth + ACL, optional session persistence."""

    def __init__(
        self,
        directory: BrokerDirectory,
        *,
        host: str,
        port: int,
        session_db: Path | None = None,
    ) -> None:
        self.directory = directory
        self.host = host
        self.client_host = "127.0.0.1" if host in ("0.0.0.0", "::", "") else host
        self.port = port or free_port(self.client_host)
        self._session_db = session_db
        self.local = LocalHub(directory)
        self.refused_connects: Counter[str] = Counter()
        self._broker: OutpostBroker | None = None

    def _config(self) -> dict[str, Any]:
        plugins: dict[str, Any] = {
            "edge.broker.plugin.OutpostAuthPlugin": {"directory": self.directory},
            "edge.broker.plugin.OutpostTopicPlugin": {"directory": self.directory},
        }
        if self._session_db is not None:
            plugins["amqtt.contrib.persistence.SessionDBPlugin"] = {
                # timeout: wait for the lock up to 30 s (sqlite3's default is 5 s): when a few hundred devices
                # connect at once (a site's power comes back), the plugin's concurrent writes of sessions and
                # retained messages otherwise fail with "database is locked" and those retained messages are lost.
                "connection": f"sqlite+aiosqlite:///{self._session_db}?timeout=30",
                "clear_on_shutdown": False,
            }
        return {
            "listeners": {"default": {"type": "tcp", "bind": f"{self.host}:{self.port}"}},
            "plugins": plugins,
        }

    async def start(self) -> None:
        """Start listening."""
        self._broker = OutpostBroker(self._config(), self.directory, self.local, self.refused_connects)
        await self._broker.start()
        log.info("MQTT broker listening on %s:%d", self.host, self.port)

    async def stop(self) -> None:
        """Disconnect clients and stop listening."""
        if self._broker is not None:
            try:
                await asyncio.wait_for(self._broker.shutdown(), 10)
            except TimeoutError:
                log.warning("MQTT broker did not shut down within 10 s")
            self._broker = None
