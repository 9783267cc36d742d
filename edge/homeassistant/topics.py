"""Every MQTT topic of the Home Assistant integration, and the broker accounts that may use them."""

from __future__ import annotations

from dataclasses import dataclass

from edge.broker.directory import BrokerUser
from edge.config import EdgeConfig

# The box's own account for discovery, states and commands (a device id cannot start with "_").
BRIDGE_USERNAME = "_outpost-homeassistant"


@dataclass(frozen=True)
class HaTopics:
    """Discovery topics under Home Assistant's prefix; states and commands under <state_prefix>/<node>."""

    discovery_prefix: str
    node: str
    base: str

    @classmethod
    def of(cls, config: EdgeConfig) -> HaTopics:
        """The topics of this box."""
        ha = config.homeassistant
        node = ha.node_id or config.site.id
        return cls(ha.discovery_prefix, node, f"{ha.state_prefix}/{node}")

    def discovery(self, component: str, object_id: str) -> str:
        """Where an entity's discovery config is retained."""
        return f"{self.discovery_prefix}/{component}/{self.node}/{object_id}/config"

    @property
    def discovery_filter(self) -> str:
        """Every discovery config of this box."""
        return f"{self.discovery_prefix}/+/{self.node}/+/config"

    @property
    def ha_status(self) -> str:
        """Home Assistant's birth and last will ("online" / "offline")."""
        return f"{self.discovery_prefix}/status"

    @property
    def status(self) -> str:
        """The box's availability: "online" retained while it runs, "offline" its last will."""
        return f"{self.base}/status"

    @property
    def alarms(self) -> str:
        """Active alarms of the whole site (JSON)."""
        return f"{self.base}/alarms"

    def door(self, door_id: str, channel: str) -> str:
        """A door's `state`, `contact`, `alarms`, `set` (commands) or `ack` topic."""
        return f"{self.base}/door/{door_id}/{channel}"

    def device(self, device_id: str) -> str:
        """A device's online flag and latest readings (JSON)."""
        return f"{self.base}/device/{device_id}/state"

    def camera(self, camera_id: str, channel: str) -> str:
        """A camera's `analytics` (JSON) or `image` (JPEG bytes) topic."""
        return f"{self.base}/camera/{camera_id}/{channel}"

    def lockdown(self, channel: str) -> str:
        """The site lockdown's `state`, `set` (commands) or `ack` topic."""
        return f"{self.base}/lockdown/{channel}"


def home_assistant_user(config: EdgeConfig) -> BrokerUser:
    """Home Assistant's account: reads discovery and states; commands only the doors and lockdown allowed."""
    ha = config.homeassistant
    topics = HaTopics.of(config)
    assert ha.password_hash is not None  # the config requires it when enabled
    publish = [topics.ha_status]
    publish += [topics.door(d.id, "set") for d in config.doors if ha.commands_door(d.id)]
    if ha.command_lockdown:
        publish.append(topics.lockdown("set"))
    subscribe = (f"{topics.discovery_prefix}/#", f"{topics.base}/#")
    return BrokerUser(ha.username, ha.password_hash, tuple(publish), subscribe)


def bridge_acl(topics: HaTopics) -> tuple[tuple[str, ...], tuple[str, ...]]:
    """The box's own account: publish discovery and states; read commands and Home Assistant's birth."""
    publish = (topics.discovery_filter, f"{topics.base}/#")
    subscribe = (topics.door("+", "set"), topics.lockdown("set"), topics.ha_status)
    return publish, subscribe
