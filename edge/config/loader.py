"""Load the config file: TOML, merged with ``OUTPOST_EDGE__SECTION__KEY=value`` env overrides, then validated.

Env override values are parsed as TOML scalars when possible, e.g. ``OUTPOST_EDGE__WEB__PORT=8080``.
"""

from __future__ import annotations

import os
import re
import tomllib
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from edge.config.base import ConfigError, check_private
from edge.config.root import EdgeConfig

ENV_PREFIX = "OUTPOST_EDGE__"


def _env_overrides(environ: dict[str, str]) -> dict[str, Any]:
    tree: dict[str, Any] = {}
    for name, raw in environ.items():
        if not name.startswith(ENV_PREFIX):
            continue
        keys = [k.lower() for k in name[len(ENV_PREFIX) :].split("__") if k]
        try:
            value: Any = tomllib.loads(f"v = {raw}")["v"]
        except tomllib.TOMLDecodeError:
            value = raw
        node = tree
        for key in keys[:-1]:
            node = node.setdefault(key, {})
        node[keys[-1]] = value
    return tree


def _merge(base: dict[str, Any], extra: dict[str, Any]) -> dict[str, Any]:
    out = dict(base)
    for key, value in extra.items():
        if isinstance(value, dict) and isinstance(out.get(key), dict):
            out[key] = _merge(out[key], value)
        else:
            out[key] = value
    return out


def format_validation_error(err: ValidationError) -> str:
    """Render pydantic errors as 'dotted.key: message' lines."""
    lines = []
    for item in err.errors():
        key = ".".join(str(p) for p in item["loc"]) or "(top level)"
        msg = re.sub(r"^Value error, ", "", item["msg"])
        lines.append(f"{key}: {msg}")
    return "\n".join(lines)


def load_config(path: Path, environ: dict[str, str] | None = None) -> EdgeConfig:
    """Load, merge env overrides and validate the config file at `path`."""
    try:
        raw = tomllib.loads(path.read_text())
    except FileNotFoundError as err:
        raise ConfigError(f"{path}: no such config file") from err
    except tomllib.TOMLDecodeError as err:
        raise ConfigError(f"{path}: not valid TOML: {err}") from err
    data = _merge(raw, _env_overrides(dict(os.environ) if environ is None else environ))
    try:
        config = EdgeConfig.model_validate(data)
    except ValidationError as err:
        raise ConfigError(f"{path}: invalid configuration\n{format_validation_error(err)}") from err
    if config.cloud.secret:
        check_private(path)
    return config
