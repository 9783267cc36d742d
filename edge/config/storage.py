"""Where the box keeps its data."""

from __future__ import annotations

from pathlib import Path

from pydantic import Field

from edge.config.base import Section


class StorageConfig(Section):
    """Where the box keeps its database and snapshots."""

    data_dir: Path = Field(default=Path("/var/lib/outpost"), description="Directory for SQLite and snapshots")
    outbox_budget_mb: float = Field(
        default=512.0,
        gt=0,
        le=1_000_000,
        description="Disk budget of the records waiting for the cloud; past it telemetry is thinned (never audit, "
        "alarms or events) and the thinning is reported to the cloud (docs/SYNC.md, Priorities)",
    )
    outbox_check_interval_s: float = Field(
        default=60.0, gt=0, le=86_400, description="How often the outbox budget is checked"
    )

    @property
    def outbox_budget_bytes(self) -> int:
        """The outbox budget in bytes."""
        return int(self.outbox_budget_mb * 1024 * 1024)

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
