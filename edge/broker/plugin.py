"""amqtt plugins that delegate authentication and topic checks to a BrokerDirectory."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from amqtt.contexts import Action
from amqtt.plugins.base import BaseAuthPlugin, BaseTopicPlugin
from amqtt.session import Session

from edge.broker.directory import BrokerDirectory


class OutpostAuthPlugin(BaseAuthPlugin):
    """Username/password per device; anonymous connections are refused."""

    @dataclass
    class Config:
        """Holds the shared directory object."""

        directory: Any = None

    async def authenticate(self, *, session: Session) -> bool | None:
        """Return True only for a known user with the right password."""
        directory: BrokerDirectory = self.config.directory
        return await directory.authenticate(session.client_id, session.username, session.password)


class OutpostTopicPlugin(BaseTopicPlugin):
    """Exact MQTT wildcard semantics for publish, subscribe and delivery."""

    @dataclass
    class Config:
        """Holds the shared directory object."""

        directory: Any = None

    async def topic_filtering(
        self, *, session: Session | None = None, topic: str | None = None, action: Action | None = None
    ) -> bool | None:
        """Allow the action only if the session's account may use the topic."""
        return topic_allowed(self.config.directory, session, topic, action)


def topic_allowed(
    directory: BrokerDirectory, session: Session | None, topic: str | None, action: Action | None
) -> bool:
    """The topic decision itself (synchronous): may this session's account do `action` on `topic`?"""
    if session is None or not topic:
        return False
    username = directory.username_for(session.client_id, session.username)
    if action == Action.PUBLISH:
        return directory.may_publish(username, topic)
    if action == Action.SUBSCRIBE:
        return directory.may_subscribe(username, topic)
    if action == Action.RECEIVE:
        return directory.may_receive(username, topic)
    return False
