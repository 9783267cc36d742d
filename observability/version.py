"""The installed software's version (shown in /metrics, carried by every sync batch, shown on the portal)."""

from __future__ import annotations

from functools import cache
from importlib import metadata


@cache
def software_version() -> str:
    """The installed outpost package's version ("unknown" when run from a tree that is not installed)."""
    try:
        return metadata.version("outpost")
    except metadata.PackageNotFoundError:
        return "unknown"
