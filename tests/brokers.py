"""A standalone embedded broker for tests that need the broker without the whole edge app."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterable
from contextlib import asynccontextmanager

from edge.broker.directory import BrokerDirectory, BrokerUser
from edge.broker.passwords import HashScheme
from edge.broker.server import EmbeddedBroker


@asynccontextmanager
async def running_broker(users: Iterable[BrokerUser], scheme: HashScheme = "argon2") -> AsyncIterator[EmbeddedBroker]:
    """An EmbeddedBroker on a free loopback port with exactly `users`; stopped on exit."""
    directory = BrokerDirectory(password_scheme=scheme)
    for user in users:
        directory.add(user)
    broker = EmbeddedBroker(directory, host="127.0.0.1", port=0)
    await broker.start()
    try:
        yield broker
    finally:
        await broker.stop()
