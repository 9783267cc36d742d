"""Billing settings of the cloud process (the `[billing]` table of cloud.toml)."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field


class BillingSettings(BaseModel):
    """When the period close runs and how long invoices wait for late site data."""

    model_config = ConfigDict(extra="forbid")

    close_interval_s: int = Field(
        default=3600,
        ge=0,
        le=86_400,
        description="Run the period close this often (APScheduler, in the cloud process); 0 disables the job",
    )
    grace_days: int = Field(
        default=3, ge=0, le=60, description="Days an ended period's invoice stays draft so late site data is included"
    )
