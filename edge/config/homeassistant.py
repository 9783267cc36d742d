"""Home Assistant MQTT discovery: off unless enabled; Home Assistant reads only, unless doors or lockdown are named."""

from __future__ import annotations

from pydantic import Field, model_validator

from edge.config.base import Section
from firmware_adapters.messages import DEVICE_ID_PATTERN
from sync.mqtt_topics import DEVICE_TOPIC_ROOTS

# Home Assistant's discovery topic levels allow only these characters (node_id and object_id).
HA_ID = r"^[a-zA-Z0-9_-]{1,64}$"
TOPIC_ROOT = r"^[a-zA-Z0-9_-]{1,64}$"


class HomeAssistantConfig(Section):
    """Publish the box's doors, sensors, cameras and lockdown to Home Assistant (docs/HOME_ASSISTANT.md)."""

    enabled: bool = Field(default=False, description="Publish MQTT discovery and states for Home Assistant")
    discovery_prefix: str = Field(
        default="homeassistant", pattern=TOPIC_ROOT, description="Home Assistant's discovery prefix"
    )
    node_id: str | None = Field(
        default=None,
        pattern=HA_ID,
        description="Node id in discovery topics and unique ids (default: the site id, which enrollment changes); "
        "keep it stable, Home Assistant knows the entities by it",
    )
    state_prefix: str = Field(
        default="outpost-ha",
        pattern=TOPIC_ROOT,
        description="First topic level of the states and commands: <state_prefix>/<node_id>/...",
    )
    username: str = Field(
        default="homeassistant", pattern=DEVICE_ID_PATTERN, description="Broker account Home Assistant logs in with"
    )
    password_hash: str | None = Field(
        default=None,
        repr=False,
        description="Hash of Home Assistant's broker password (outpost-edge hash-password; "
        "--format mosquitto with mqtt.mode = 'external'); required when enabled",
    )
    doors: list[str] = Field(default_factory=lambda: ["*"], description="Doors exposed ('*': all)")
    devices: list[str] = Field(
        default_factory=lambda: ["*"], description="Devices whose readings are exposed as sensors ('*': all)"
    )
    cameras: list[str] = Field(default_factory=lambda: ["*"], description="Cameras exposed ('*': all)")
    command_doors: list[str] = Field(
        default_factory=list,
        description="Doors Home Assistant may lock and unlock ('*': every exposed door); default none: read-only",
    )
    command_lockdown: bool = Field(
        default=False, description="Home Assistant may start and lift the site lockdown (a switch)"
    )
    image_interval_s: float = Field(
        default=10.0, ge=1.0, le=3600.0, description="How often each camera's latest annotated frame is published"
    )

    @model_validator(mode="after")
    def _enabled_has_password(self) -> HomeAssistantConfig:
        if self.enabled and not self.password_hash:
            raise ValueError("password_hash is required when enabled (outpost-edge hash-password)")
        if self.state_prefix in DEVICE_TOPIC_ROOTS or self.state_prefix == self.discovery_prefix:
            raise ValueError(f"state_prefix: {self.state_prefix!r} is used by devices or by discovery; pick another")
        for key, ids in (("doors", self.doors), ("command_doors", self.command_doors)):
            if "*" in ids and len(ids) > 1:
                raise ValueError(f"{key}: '*' stands alone")
        return self

    def exposes_door(self, door_id: str) -> bool:
        """True if the door's entities are published."""
        return "*" in self.doors or door_id in self.doors

    def exposes_device(self, device_id: str) -> bool:
        """True if the device's readings are published."""
        return "*" in self.devices or device_id in self.devices

    def exposes_camera(self, camera_id: str) -> bool:
        """True if the camera's entities are published."""
        return "*" in self.cameras or camera_id in self.cameras

    def commands_door(self, door_id: str) -> bool:
        """True if Home Assistant may lock and unlock the (exposed) door."""
        return self.exposes_door(door_id) and ("*" in self.command_doors or door_id in self.command_doors)
