"""The site's MQTT broker and its extra accounts."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import Field, field_validator, model_validator

from edge.broker.acl import is_valid_filter
from edge.config.base import Section
from firmware_adapters.messages import DEVICE_ID_PATTERN


class MqttConfig(Section):
    """The site's MQTT broker: embedded (amqtt, the default) or an external Mosquitto for large sites."""

    mode: Literal["embedded", "external"] = Field(
        default="embedded",
        description="'embedded': the edge's own broker; 'external': Mosquitto fed from the same accounts "
        "(large sites; every password hash must then be a Mosquitto $7$ hash). See docs/MQTT.md",
    )
    host: str = Field(default="0.0.0.0", description="Address the broker listens on (embedded or managed Mosquitto)")
    port: int = Field(default=1883, ge=0, le=65535, description="Broker TCP port; 0 picks a free port")
    persist_sessions: bool = Field(default=True, description="Keep persistent sessions across restarts")
    core_in_process: bool = Field(
        default=True,
        description="Embedded mode: the site core's adapters join the broker in-process (no socket) instead of "
        "connecting over TCP like a device; same accounts and ACLs. Off only for debugging or comparison",
    )
    accounts: list[MqttAccountConfig] = Field(default_factory=list, description="Extra broker accounts")
    external_manage: bool = Field(
        default=True,
        description="External mode: run and supervise a private mosquitto on host/port (true), or only write "
        "the password and ACL files for a system-managed Mosquitto at external_host/external_port (false)",
    )
    external_binary: Path = Field(default=Path("/usr/sbin/mosquitto"), description="mosquitto executable to run")
    external_host: str = Field(default="127.0.0.1", description="Address of a system-managed Mosquitto")
    external_port: int = Field(default=1883, ge=1, le=65535, description="Port of a system-managed Mosquitto")
    external_files_dir: Path | None = Field(
        default=None, description="Where to write passwd and acl for a system Mosquitto (default <data_dir>/mosquitto)"
    )
    external_reload_command: list[str] = Field(
        default_factory=list,
        description="Command that makes a system-managed Mosquitto reread its files after the edge rewrote them, "
        'e.g. ["systemctl", "reload", "mosquitto"] (no sudo under NoNewPrivileges: see docs/MQTT.md)',
    )

    @model_validator(mode="after")
    def _system_broker_reloads(self) -> MqttConfig:
        if self.mode == "external" and not self.external_manage and not self.external_reload_command:
            raise ValueError("external_reload_command is required when external_manage is false")
        return self


class MqttAccountConfig(Section):
    """An extra broker account, e.g. for a Zigbee2MQTT bridge or an integration."""

    username: str = Field(pattern=DEVICE_ID_PATTERN, description="MQTT username (and client id prefix)")
    password_hash: str = Field(
        repr=False, description="argon2 or Mosquitto $7$ hash of the password (outpost-edge hash-password)"
    )
    publish: list[str] = Field(default_factory=list, description="Topic filters it may publish to")
    subscribe: list[str] = Field(default_factory=list, description="Topic filters it may subscribe to")

    @field_validator("publish", "subscribe")
    @classmethod
    def _valid_filters(cls, filters: list[str]) -> list[str]:
        for item in filters:
            if not is_valid_filter(item):
                raise ValueError(f"{item!r} is not a valid MQTT topic filter")
        return filters
