"""Change the edge config file the way an installer would by hand, but validated and atomic."""

from __future__ import annotations

import tomllib
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import tomli_w
from pydantic import ValidationError

from edge.config import EdgeConfig
from edge.config.loader import format_validation_error
from edge.devices.pairing import ensure_zone
from provisioning.enroll import write_private

T = TypeVar("T")

__all__ = ["ConfigEditError", "edit_config", "ensure_zone"]


class ConfigEditError(Exception):
    """The config cannot be read, or the change would make it invalid; the message names the key and the fix."""


def edit_config(path: Path, change: Callable[[dict[str, Any]], T], owner: str | None = None) -> T:
    """Apply `change` to the config at `path`, validate the result as an `EdgeConfig`, and replace the file.

    The file is written only when the whole new config is valid, through a temporary file and a rename (mode
    0600), so the box never sees half a change.
    """
    try:
        data: dict[str, Any] = tomllib.loads(path.read_text())
    except FileNotFoundError as err:
        raise ConfigEditError(
            f"{path}: no such config; set the box up first (outpost-provision enroll or init-local)"
        ) from err
    except tomllib.TOMLDecodeError as err:
        raise ConfigEditError(f"{path}: not valid TOML ({err}); fix it first") from err
    result = change(data)
    try:
        EdgeConfig.model_validate(data)
    except ValidationError as err:
        raise ConfigEditError(
            f"the change would make {path} invalid, nothing was written:\n{format_validation_error(err)}"
        ) from err
    write_private(path, tomli_w.dumps(data), owner)
    return result
