"""The site's inventory record (kind ``inventory``): what the box has, reported at least daily for billing.

The cloud meters cameras, doors and devices per site and day from these records (cloud/billing/metering.py),
keeping the day's highest count. The journal adds its bookkeeping keys (``journal_id``, ``source``, ``summary``)
to every payload, so unknown keys are ignored here rather than refused.
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field

# Reported at start-up and then this often: at least daily even if a report is lost with a crash.
INVENTORY_INTERVAL_S = 6 * 3600
MAX_COUNT = 100_000


class InventoryReport(BaseModel):
    """How many cameras, doors and devices the site has configured."""

    model_config = ConfigDict(extra="ignore")

    cameras: int = Field(ge=0, le=MAX_COUNT, description="Configured cameras (enabled or not)")
    doors: int = Field(ge=0, le=MAX_COUNT, description="Configured doors")
    devices: int = Field(ge=0, le=MAX_COUNT, description="Configured MQTT devices")
