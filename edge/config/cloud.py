"""Sync to the cloud aggregator."""

from __future__ import annotations

from pathlib import Path

from pydantic import Field, model_validator

from edge.config.base import Section, check_private


class CloudConfig(Section):
    """Sync to the cloud aggregator; absent url = offline site."""

    url: str | None = Field(default=None, description="Base URL of the cloud aggregator")
    secret: str | None = Field(default=None, repr=False, description="Site HMAC secret (hex), from enrollment")
    secret_file: Path | None = Field(default=None, description="File holding the site secret (mode 0600)")
    enrollment_claim: str | None = Field(
        default=None,
        pattern=r"^[0-9a-f]{32}$",
        description="Set by `outpost-provision enroll --file`: the box's claim of its offline enrollment, sent "
        "with its first sync (the secret is derived from the file and this claim)",
    )
    sync_interval_s: float = Field(default=2.0, gt=0, le=3600, description="Idle time between sync attempts")
    batch_size: int = Field(default=500, ge=1, le=5000, description="Records per sync batch")
    catch_up_batch_size: int = Field(
        default=2000,
        ge=1,
        le=5000,
        description="Largest batch while catching up: batches double from batch_size while they come back full",
    )
    max_backoff_s: float = Field(default=60.0, gt=0, description="Upper bound of the retry backoff")
    config_wait_s: int = Field(
        default=25,
        ge=0,
        le=30,
        description="Long-poll wait of the configuration pull (the cloud answers at once when a newer document "
        "exists, else after this long)",
    )
    stuck_after_s: float = Field(
        default=300.0,
        gt=0,
        description="The console shows 'sync stuck' once the last attempt failed and the oldest waiting record "
        "is older than this",
    )

    @model_validator(mode="after")
    def _secret_with_url(self) -> CloudConfig:
        if self.url and not (self.secret or self.secret_file):
            raise ValueError("cloud.url is set but neither cloud.secret nor cloud.secret_file is")
        return self

    def read_secret(self) -> str | None:
        """Return the secret from the config or its file (which must not be readable by others)."""
        if self.secret:
            return self.secret
        if self.secret_file is None:
            return None
        check_private(self.secret_file)
        return self.secret_file.read_text().strip()
