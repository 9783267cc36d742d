"""Where the box keeps its data."""

from __future__ import annotations

from pathlib import Path

from pydantic import Field

from edge.config.base import Section


class StorageConfig(Section):
    """Where the box keeps its database and snapshots."""

    data_dir: Path = Field(default=Path("/var/lib/outpost"), description="Directory for SQLite and snapshots")

    @property
    def database_path(self) -> Path:
        """Path of the SQLite database file."""
        return self.data_dir / "edge.db"

    @property
    def console_key_path(self) -> Path:
        """Key signing the console's known-client cookies (created mode 0600 on first start)."""
        return self.data_dir / "console_key"

    @property
    def snapshot_dir(self) -> Path:
        """Directory of annotated camera snapshots."""
        return self.data_dir / "snapshots"

    @property
    def clip_dir(self) -> Path:
        """Directory of event clips."""
        return self.data_dir / "clips"
