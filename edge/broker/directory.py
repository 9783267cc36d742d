"""Who may connect to the broker and which topics each user may use."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

from edge.broker.acl import filter_covers, is_valid_topic_name, topic_matches

log = logging.getLogger(__name__)
_hasher = PasswordHasher()


@dataclass(frozen=True)
class BrokerUser:
    """A broker account: an argon2 password hash and the topic filters it may use."""

    username: str
    password_hash: str
    publish: tuple[str, ...]
    subscribe: tuple[str, ...]


@dataclass
class BrokerDirectory:
    """Accounts plus the client-id -> username bindings that survive broker restarts.

    A client id is bound to the first user that authenticates with it; another user may not
    take it over. Restored persistent sessions carry no username, so ACL checks resolve it
    through the binding instead of failing.
    """

    users: dict[str, BrokerUser] = field(default_factory=dict)
    bindings: dict[str, str] = field(default_factory=dict)
    persist_binding: Callable[[str, str], Awaitable[None]] | None = None
    denied: int = 0

    def add(self, user: BrokerUser) -> None:
        """Add or replace an account."""
        self.users[user.username] = user

    async def authenticate(self, client_id: str, username: str | None, password: str | None) -> bool:
        """Check credentials and the client-id binding; bind a new client id."""
        user = self.users.get(username or "")
        if user is None or password is None:
            return False
        loop = asyncio.get_running_loop()
        try:
            # argon2 is deliberately slow: keep it off the event loop.
            await loop.run_in_executor(None, _hasher.verify, user.password_hash, password)
        except (VerificationError, InvalidHashError):
            return False
        bound = self.bindings.get(client_id)
        if bound is not None and bound != user.username:
            log.warning("client id %r belongs to %r; refused for %r", client_id, bound, user.username)
            return False
        if bound is None:
            self.bindings[client_id] = user.username
            if self.persist_binding is not None:
                await self.persist_binding(client_id, user.username)
        return True

    def username_for(self, client_id: str, session_username: str | None) -> str | None:
        """Resolve the account of a session (restored sessions have no username)."""
        return session_username or self.bindings.get(client_id)

    def may_publish(self, username: str | None, topic: str) -> bool:
        """Return True if `username` may publish to the topic name `topic`."""
        user = self.users.get(username or "")
        ok = (
            user is not None
            and is_valid_topic_name(topic)
            and any(topic_matches(f, topic) for f in user.publish)
        )
        self.denied += not ok
        return ok

    def may_subscribe(self, username: str | None, topic_filter: str) -> bool:
        """Return True if `username` may subscribe with `topic_filter`."""
        user = self.users.get(username or "")
        ok = user is not None and any(filter_covers(f, topic_filter) for f in user.subscribe)
        self.denied += not ok
        return ok

    def may_receive(self, username: str | None, topic: str) -> bool:
        """Return True if a message on `topic` may be delivered to `username`."""
        user = self.users.get(username or "")
        return user is not None and any(topic_matches(f, topic) for f in user.subscribe)


def hash_password(password: str) -> str:
    """Return an argon2 hash of `password`."""
    return _hasher.hash(password)
