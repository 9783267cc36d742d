"""The rules section: where notifications go (channels) and how long run history is kept."""

from __future__ import annotations

import base64
import binascii
from pathlib import Path
from typing import Annotated, Literal

from pydantic import AnyHttpUrl, Field, field_validator

from edge.config.base import ConfigError, Section, check_private
from sync.mqtt_topics import device_topic_root

WEBHOOK_SECRET_PREFIX = "whsec_"


def _read_private(path: Path) -> str:
    check_private(path)
    return path.read_text().strip()


class WebhookChannel(Section):
    """HTTP POST of a JSON body signed the Standard Webhooks way (webhook-id, -timestamp, -signature)."""

    type: Literal["webhook"] = "webhook"
    url: AnyHttpUrl = Field(description="Where to POST")
    secret_file: Path = Field(description="File (mode 0600) holding the signing secret, 'whsec_<base64>'")
    timeout_s: float = Field(default=10, gt=0, le=120, description="Per-attempt timeout")

    def read_key(self) -> bytes:
        """The HMAC key: the base64 part of the secret file's 'whsec_...' secret."""
        secret = _read_private(self.secret_file)
        try:
            return base64.b64decode(secret.removeprefix(WEBHOOK_SECRET_PREFIX), validate=True)
        except (binascii.Error, ValueError) as err:
            raise ConfigError(f"{self.secret_file}: not a 'whsec_<base64>' webhook secret") from err


class EmailChannel(Section):
    """E-mail over SMTP (STARTTLS when the server offers it, or implicit TLS)."""

    type: Literal["email"] = "email"
    host: str = Field(min_length=1, max_length=253, description="SMTP server")
    port: int = Field(default=587, ge=1, le=65535, description="SMTP port")
    tls: Literal["starttls", "implicit", "none"] = Field(default="starttls", description="Transport security")
    username: str | None = Field(default=None, max_length=254, description="SMTP login, if the server wants one")
    password_file: Path | None = Field(default=None, description="File (mode 0600) holding the SMTP password")
    sender: str = Field(min_length=3, max_length=254, description="From address")
    to: list[str] = Field(min_length=1, max_length=50, description="Recipients")
    timeout_s: float = Field(default=20, gt=0, le=120, description="Per-attempt timeout")

    @field_validator("to")
    @classmethod
    def _addresses(cls, values: list[str]) -> list[str]:
        for value in values:
            if "@" not in value or any(c in value for c in " \r\n,;"):
                raise ValueError(f"{value!r} is not one e-mail address")
        return values

    def read_password(self) -> str | None:
        """The SMTP password from its file, or None."""
        return None if self.password_file is None else _read_private(self.password_file)


class MqttChannel(Section):
    """A JSON message on the site's broker."""

    type: Literal["mqtt"] = "mqtt"
    topic: str = Field(min_length=1, max_length=256, description="Topic (no wildcards)")
    retain: bool = Field(default=False, description="Retained message")

    @field_validator("topic")
    @classmethod
    def _no_wildcards(cls, value: str) -> str:
        if "+" in value or "#" in value:
            raise ValueError("topic must not contain MQTT wildcards")
        if root := device_topic_root(value):
            raise ValueError(f"topic must not start with {root!r}: that level belongs to the site's devices")
        return value


Channel = Annotated[WebhookChannel | EmailChannel | MqttChannel, Field(discriminator="type")]


class RulesConfig(Section):
    """Notification channels the rules name, and the delivery and history policy."""

    channels: dict[str, Channel] = Field(default_factory=dict, description="Notification channels by id")
    retry_for_s: float = Field(
        default=86400, gt=0, le=7 * 86400, description="Keep retrying a notification this long, then give up"
    )
    first_retry_s: float = Field(default=5, gt=0, le=3600, description="First retry delay (doubles each time)")
    max_retry_s: float = Field(default=1800, gt=0, le=86400, description="Longest delay between retries")
    history_per_rule: int = Field(default=500, ge=10, le=100_000, description="Run history rows kept per rule")
