"""Who may connect to the broker and which topics each user may use."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Literal

from edge.broker.acl import filter_covers, is_valid_topic_name, topic_matches
from edge.broker.passwords import HashScheme, verify_password
from edge.broker.passwords import hash_password as _hash_password

log = logging.getLogger(__name__)

TopicAction = Literal["publish", "subscribe", "receive"]
# Decisions are memoised per (action, user, topic). A site has a bounded set of topics (devices x channels),
# so this stays small; the bound only guards against a client publishing to endless distinct topics.
ACL_CACHE_SIZE = 16384


@dataclass(frozen=True)
class BrokerUser:
    """A broker account: a password hash (argon2 or Mosquitto `$7$`) and the topic filters it may use."""

    username: str
    password_hash: str
    publish: tuple[str, ...]
    subscribe: tuple[str, ...]


@dataclass
class BrokerDirectory:
    """Accounts plus the client-id -> username bindings that survive broker restarts.

    A client id is bound to the first user that authenticates with it; another user may not
    take it over. A client id that is an account's username belongs to that account from the start.
    Restored persistent sessions carry no username, so ACL checks resolve it
    through the binding instead of failing.

    Change accounts only through `add`/`remove`: they drop memoised ACL decisions and tell listeners
    (an external Mosquitto rewrites its password and ACL files).
    """

    users: dict[str, BrokerUser] = field(default_factory=dict)
    bindings: dict[str, str] = field(default_factory=dict)
    persist_binding: Callable[[str, str], Awaitable[None]] | None = None
    password_scheme: HashScheme = "argon2"
    denied: int = 0
    version: int = 0
    _acl_cache: dict[tuple[TopicAction, str, str], bool] = field(default_factory=dict, repr=False)
    _listeners: list[Callable[[], None]] = field(default_factory=list, repr=False)

    def add(self, user: BrokerUser) -> None:
        """Add or replace an account."""
        self.users[user.username] = user
        self._changed()

    def remove(self, username: str) -> None:
        """Remove an account (its existing connections are not dropped)."""
        if self.users.pop(username, None) is not None:
            self._changed()

    def hash_password(self, password: str) -> str:
        """Hash a password for a new account in the format this directory's broker checks."""
        return _hash_password(password, self.password_scheme)

    def on_change(self, listener: Callable[[], None]) -> Callable[[], None]:
        """Call `listener` after every account change; return a function that unsubscribes it."""
        self._listeners.append(listener)
        return lambda: self._listeners.remove(listener)

    def _changed(self) -> None:
        self.version += 1
        self._acl_cache.clear()
        for listener in list(self._listeners):
            listener()

    async def authenticate(self, client_id: str, username: str | None, password: str | None) -> bool:
        """Check credentials and the client-id binding; bind a new client id."""
        user = self.users.get(username or "")
        if user is None or password is None:
            return False
        loop = asyncio.get_running_loop()
        # Password hashes are deliberately slow: keep them off the event loop.
        if not await loop.run_in_executor(None, verify_password, user.password_hash, password):
            return False
        # An account's name, as a client id, is that account's own (devices use their id for both): nobody else
        # may claim it first and keep it from its device, or from an adapter that later connects over TCP.
        bound = client_id if client_id in self.users else self.bindings.get(client_id)
        if bound is not None and bound != user.username:
            log.warning("client id %r belongs to %r; refused for %r", client_id, bound, user.username)
            return False
        if client_id not in self.bindings:
            self.bindings[client_id] = user.username
            if self.persist_binding is not None:
                await self.persist_binding(client_id, user.username)
        return True

    def username_for(self, client_id: str, session_username: str | None) -> str | None:
        """Resolve the account of a session (restored sessions have no username)."""
        if session_username:
            return session_username
        return client_id if client_id in self.users else self.bindings.get(client_id)

    def may_publish(self, username: str | None, topic: str) -> bool:
        """Return True if `username` may publish to the topic name `topic`."""
        ok = self._decide("publish", username, topic)
        self.denied += not ok
        return ok

    def may_subscribe(self, username: str | None, topic_filter: str) -> bool:
        """Return True if `username` may subscribe with `topic_filter`."""
        ok = self._decide("subscribe", username, topic_filter)
        self.denied += not ok
        return ok

    def may_receive(self, username: str | None, topic: str) -> bool:
        """Return True if a message on `topic` may be delivered to `username`."""
        return self._decide("receive", username, topic)

    def _decide(self, action: TopicAction, username: str | None, topic: str) -> bool:
        # Every message costs a publish check plus a receive check per matching subscriber; the
        # answer only changes with the accounts, so it is memoised until the next add/remove.
        key = (action, username or "", topic)
        ok = self._acl_cache.get(key)
        if ok is None:
            ok = self._evaluate(action, self.users.get(username or ""), topic)
            if len(self._acl_cache) >= ACL_CACHE_SIZE:
                del self._acl_cache[next(iter(self._acl_cache))]
            self._acl_cache[key] = ok
        return ok

    @staticmethod
    def _evaluate(action: TopicAction, user: BrokerUser | None, topic: str) -> bool:
        if user is None:
            return False
        if action == "publish":
            return is_valid_topic_name(topic) and any(topic_matches(f, topic) for f in user.publish)
        if action == "subscribe":
            return any(filter_covers(f, topic) for f in user.subscribe)
        return any(topic_matches(f, topic) for f in user.subscribe)


def hash_password(password: str) -> str:
    """Return an argon2 hash of `password`."""
    return _hash_password(password, "argon2")
