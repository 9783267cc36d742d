"""The test site with an adapter's own devices, doors and broker accounts."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

from edge.app import EdgeRunner
from tests.edge.site import site_config_dict


def adapter_site(
    data_dir: Path, devices: list[dict[str, Any]], doors: list[dict[str, Any]], accounts: list[dict[str, Any]] = ()
) -> dict[str, Any]:
    """The test site (one zone 'lobby') with the given devices, doors and extra broker accounts."""
    return site_config_dict(
        data_dir,
        devices=devices,
        doors=doors,
        mqtt={"host": "127.0.0.1", "port": 0, "accounts": list(accounts)},
    )


EdgeStarter = Callable[[dict[str, Any]], Awaitable[EdgeRunner]]
