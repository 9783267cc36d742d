"""Change the edge config file while the box runs: validated as a whole `EdgeConfig`, then replaced atomically.

The console saves what an admin draws on a camera image (its zones and lines) through here, so the file stays
the one place the box's configuration lives and a restart comes back with what was saved.
"""

from __future__ import annotations

import os
import threading
import tomllib
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import tomli_w
from pydantic import ValidationError

from edge.config.base import ConfigError
from edge.config.loader import format_validation_error
from edge.config.root import EdgeConfig

T = TypeVar("T")
# Edits run in worker threads (camera zones, device pairing, ...): one read-change-write at a time in this process,
# so two edits at once both land instead of the second overwriting the first with what it read before.
_EDIT_LOCK = threading.Lock()


class ConfigFileInvalid(ConfigError):
    """The change would make the config file invalid; nothing was written. The message names the key."""


def edit_config_file(path: Path, change: Callable[[dict[str, Any]], T]) -> tuple[T, EdgeConfig]:
    """Apply `change` to the TOML at `path`, validate the result and replace the file (blocking: use a thread).

    Returns what `change` returned and the validated new config. The new text goes to a temporary file beside
    the config (mode 0600 from the first byte, fsynced) that is renamed over it, so a reader or a power cut sees
    the old file or the new one, never half of it. Raises `ConfigError` when the file cannot be read and
    `ConfigFileInvalid` when the changed document is not a valid `EdgeConfig`, `ConfigError` when it cannot be written.
    """
    with _EDIT_LOCK:
        return _edit(path, change)


def _edit(path: Path, change: Callable[[dict[str, Any]], T]) -> tuple[T, EdgeConfig]:
    try:
        data: dict[str, Any] = tomllib.loads(path.read_text())
    except OSError as err:
        raise ConfigError(f"{path}: cannot read the config file ({err.strerror})") from err
    except tomllib.TOMLDecodeError as err:
        raise ConfigError(f"{path}: not valid TOML ({err})") from err
    result = change(data)
    try:
        config = EdgeConfig.model_validate(data)
    except ValidationError as err:
        raise ConfigFileInvalid(format_validation_error(err)) from err
    try:
        _replace(path, tomli_w.dumps(data))
    except OSError as err:
        raise ConfigError(f"{path}: cannot write the config file ({err.strerror}); may the service write it?") from err
    return result, config


def _replace(path: Path, text: str) -> None:
    tmp = path.with_name(f".{path.name}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    try:
        with os.fdopen(fd, "w") as handle:
            handle.write(text)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    directory = os.open(path.parent, os.O_RDONLY)
    try:
        os.fsync(directory)  # the rename itself survives a power cut
    finally:
        os.close(directory)
