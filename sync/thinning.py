"""The thinning report: what the edge dropped from its outbox under the disk budget, so HQ sees the hole.

Travels up as an outbox record of kind ``thinning`` (payload `ThinningReport`); the cloud stores it like any
record and the portal's site page lists the reports (docs/SYNC.md, "Priorities").
"""

from __future__ import annotations

from pydantic import AwareDatetime, Field, model_validator

from sync.wire import RecordKind, WireModel


class ThinningReport(WireModel):
    """Records of one kind dropped from the outbox in one thinning pass."""

    thinned_kind: RecordKind = Field(description="Kind of the dropped records (only telemetry is ever thinned)")
    count: int = Field(ge=1, description="How many records were dropped")
    first_at: AwareDatetime = Field(description="When the oldest dropped record happened")
    last_at: AwareDatetime = Field(description="When the newest dropped record happened")
    kept: str = Field(max_length=200, description="What was kept of them, e.g. 'the last per device per 60 s'")
    budget_bytes: int = Field(ge=0, description="The outbox budget that was exceeded")

    @model_validator(mode="after")
    def _ordered(self) -> ThinningReport:
        if self.last_at < self.first_at:
            raise ValueError("last_at is before first_at")
        return self
