"""An edge box with the plaza camera, started from a config file on disk (the console saves camera zones there)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import tomli_w

from edge.app import EdgeRunner
from edge.config import load_config
from tests.edge.site import site_config_dict


def write_camera_site(tmp_path: Path, camera: dict[str, Any], **overrides: Any) -> Path:
    """Write the test site with `camera` as its one camera to ``tmp_path/edge.toml`` (mode 0600); return the path."""
    data = site_config_dict(tmp_path / "edge", cameras=[camera], **overrides)
    path = tmp_path / "edge.toml"
    path.write_text(tomli_w.dumps(data))
    path.chmod(0o600)
    return path


@asynccontextmanager
async def edge_from_file(path: Path) -> AsyncIterator[EdgeRunner]:
    """Start the edge from the config file at `path`, as `outpost-edge --config` does."""
    runner = EdgeRunner(load_config(path), path)
    await runner.start()
    try:
        yield runner
    finally:
        await runner.stop()
