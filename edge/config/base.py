"""What every config section shares: the strict base model, the id pattern, the error type, secret-file checks."""

from __future__ import annotations

import stat
from pathlib import Path

from pydantic import BaseModel, ConfigDict

SLUG = r"^[a-z0-9][a-z0-9_-]{0,63}$"


class ConfigError(Exception):
    """The configuration file is missing, unreadable or invalid; the message names the bad key."""


class Section(BaseModel):
    """Base of every config section: unknown keys are errors."""

    model_config = ConfigDict(extra="forbid")


def check_private(path: Path) -> None:
    """Raise ConfigError if a secret-bearing file is readable by group or others."""
    try:
        mode = path.stat().st_mode
    except OSError as err:
        raise ConfigError(f"{path}: cannot read ({err.strerror})") from err
    if mode & (stat.S_IRWXG | stat.S_IRWXO):
        raise ConfigError(f"{path}: holds a secret but has mode {oct(mode & 0o777)}; run: chmod 600 {path}")
