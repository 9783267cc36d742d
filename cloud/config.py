"""Cloud aggregator configuration: one pydantic model, loaded from TOML plus environment overrides."""

from __future__ import annotations

import os
import tomllib
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from cloud.billing.settings import BillingSettings

ENV_PREFIX = "OUTPOST_CLOUD__"
_PATH_KEYS = ("data_dir", "session_secret_file", "media_dir")


class ConfigError(Exception):
    """The configuration file or environment is invalid; the message names each bad key."""


class SmtpSettings(BaseModel):
    """The SMTP server that sends invitations and password-reset links (`[smtp]` in the config file)."""

    model_config = ConfigDict(extra="forbid")

    host: str = Field(min_length=1, description="SMTP server host name or address")
    port: int = Field(default=587, ge=1, le=65535, description="SMTP server port")
    sender: str = Field(
        min_length=3, pattern=r"^[^@\s]+@[^@\s]+$", description="From address, e.g. outpost@example.com"
    )
    starttls: bool = Field(default=True, description="Upgrade the connection with STARTTLS before sending")
    username: str | None = Field(default=None, description="Login name, if the server needs one")
    password_file: Path | None = Field(default=None, description="File holding the SMTP password (mode 0600)")
    timeout_s: float = Field(default=15.0, gt=0, le=120, description="Connect and send timeout, in seconds")


class CloudConfig(BaseModel):
    """Settings of one cloud aggregator process."""

    model_config = ConfigDict(extra="forbid")

    data_dir: Path = Field(description="Directory for the SQLite database and generated secrets")
    database_url: str = Field(
        default="",
        description=(
            "SQLAlchemy async URL, e.g. postgresql+asyncpg://user@host/db; "
            "empty means sqlite+aiosqlite:///<data_dir>/cloud.db"
        ),
    )
    host: str = Field(default="127.0.0.1", description="Address the HTTP server binds to")
    port: int = Field(default=8600, ge=0, le=65535, description="TCP port of the HTTP server (0: any free port)")
    public_url: str | None = Field(
        default=None,
        description="External base URL (https://... marks session cookies Secure and is shown to admins)",
    )
    session_secret_file: Path | None = Field(
        default=None,
        description=(
            "File holding the secret that keys session-token digests; "
            "if unset, one is generated in <data_dir>/session_secret (mode 0600)"
        ),
    )
    media_dir: Path | None = Field(
        default=None,
        description="Directory of uploaded snapshots and clips (created mode 0700); if unset, <data_dir>/media",
    )

    smtp: SmtpSettings | None = Field(
        default=None,
        description="SMTP server for invitation and password-reset e-mails; without one the link is shown once",
    )

    rate_limit_attempts: int = Field(
        default=10,
        ge=1,
        le=10_000,
        description=(
            "Login and enrollment attempts allowed per client IP, per login e-mail and per enrollment code "
            "within rate_limit_window_s; further attempts get 429 with Retry-After"
        ),
    )
    rate_limit_window_s: int = Field(
        default=300, ge=1, le=86_400, description="Length of the rate-limit sliding window, in seconds"
    )

    billing: BillingSettings = Field(
        default_factory=BillingSettings, description="Billing: period close schedule and grace days"
    )

    @model_validator(mode="after")
    def _default_database_url(self) -> CloudConfig:
        if not self.database_url:
            self.database_url = f"sqlite+aiosqlite:///{self.data_dir / 'cloud.db'}"
        if not self.database_url.startswith(("sqlite+aiosqlite://", "postgresql+asyncpg://")):
            raise ValueError("database_url must use sqlite+aiosqlite:// or postgresql+asyncpg://")
        if self.public_url is not None and not self.public_url.startswith(("http://", "https://")):
            raise ValueError("public_url must start with http:// or https://")
        return self

    @property
    def media_path(self) -> Path:
        """Where uploaded media is stored."""
        return self.media_dir if self.media_dir is not None else self.data_dir / "media"

    @property
    def secure_cookies(self) -> bool:
        """Whether cookies must carry the Secure flag (served over HTTPS)."""
        return bool(self.public_url and self.public_url.startswith("https://"))


def env_overrides(environ: Mapping[str, str]) -> dict[str, str]:
    """Return config keys set through OUTPOST_CLOUD__<FIELD> variables."""
    return {key[len(ENV_PREFIX) :].lower(): value for key, value in environ.items() if key.startswith(ENV_PREFIX)}


def format_validation_error(err: ValidationError, root: str = "(config)") -> str:
    """Render a pydantic error as `key: message` lines (`root` stands for the whole document)."""
    lines = []
    for problem in err.errors():
        key = ".".join(str(part) for part in problem["loc"]) or root
        lines.append(f"{key}: {problem['msg']}")
    return "\n".join(lines)


def build_config(values: Mapping[str, Any]) -> CloudConfig:
    """Validate a mapping into a CloudConfig, raising ConfigError that names each bad key."""
    try:
        return CloudConfig.model_validate(dict(values))
    except ValidationError as err:
        raise ConfigError(format_validation_error(err)) from err


def load_config(path: Path | str, environ: Mapping[str, str] | None = None) -> CloudConfig:
    """Load a TOML file and apply OUTPOST_CLOUD__<FIELD> environment overrides."""
    path = Path(path)
    try:
        values: dict[str, Any] = tomllib.loads(path.read_text(encoding="utf-8"))
    except OSError as err:
        raise ConfigError(f"{path}: cannot read: {err.strerror}") from err
    except tomllib.TOMLDecodeError as err:
        raise ConfigError(f"{path}: invalid TOML: {err}") from err
    values.update(env_overrides(os.environ if environ is None else environ))
    # Relative paths are relative to the config file, so a unit file can run from any cwd.
    for key in _PATH_KEYS:
        value = values.get(key)
        if isinstance(value, str) and value and not Path(value).is_absolute():
            values[key] = str(path.parent / value)
    return build_config(values)
