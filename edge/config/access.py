"""Access control policy: levels, lockdown overrides, lock command delivery, PINs."""

from __future__ import annotations

import re
from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field, field_validator

from edge.config.base import SLUG, Section
from sync.policy import AccessLevel as AccessLevelConfig
from sync.policy import Vehicle as VehicleConfig

__all__ = ["AccessConfig", "AccessLevelConfig", "PlateGateConfig", "VehicleConfig"]


class PlateGateConfig(BaseModel):
    """When plate reads at a vehicle gate count, and what an unknown plate does."""

    model_config = ConfigDict(extra="forbid")

    min_reads: int = Field(default=2, ge=2, le=20, description="Frames that must read the same plate")
    min_confidence: float = Field(default=0.8, ge=0.0, le=1.0, description="OCR confidence a read must reach")
    window_s: float = Field(default=10.0, gt=0, le=300, description="The reads must fall within this many seconds")
    repeat_s: float = Field(
        default=30.0, ge=0, le=3600, description="The same plate at the same gate is decided again only after this"
    )
    unknown_plate_hours: str | None = Field(
        default=None,
        description="Schedule of the site's hours: an unknown plate outside it raises unknown_plate "
        "(None: unknown plates are only logged)",
    )


class AccessConfig(Section):
    """Access control policy: levels, lockdown overrides, lock command delivery, PIN key."""

    levels: dict[str, AccessLevelConfig] = Field(
        default_factory=dict,
        description="Access levels by id; with none defined every valid credential opens every door "
        "(within the door's schedule)",
    )
    lockdown_override_roles: list[str] = Field(
        default_factory=list, description="Person roles whose valid badges still open doors in lockdown"
    )
    command_ack_timeout_s: float = Field(
        default=1.0, gt=0, le=30, description="Wait this long for a lock's ack before resending (doubles)"
    )
    command_retries: int = Field(default=3, ge=0, le=10, description="Resends before a command is a fault")
    release_grace_s: float = Field(
        default=2.0, ge=0, le=60, description="Extra time after a grant's unlock_s in which opening is not forced"
    )
    pin_key_file: Path | None = Field(
        default=None,
        description="File with the site's PIN hashing key (mode 0600; created if missing); default "
        "<data_dir>/access-pin.key",
    )
    pin_lockout_attempts: int = Field(
        default=5,
        ge=0,
        le=100,
        description="Wrong PINs in a row (within pin_lockout_window_s) that lock a credential out at every "
        "door; 0 turns the lockout off",
    )
    pin_lockout_window_s: float = Field(
        default=300, gt=0, le=86_400, description="The wrong PINs that count are those of the last this many seconds"
    )
    pin_lockout_s: float = Field(
        default=300, gt=0, le=604_800, description="How long a PIN lockout lasts (unless an operator clears it)"
    )

    vehicles: list[VehicleConfig] = Field(
        default_factory=list, description="Vehicles allowed at the site (plates opening vehicle gates)"
    )
    plate_gate: PlateGateConfig = Field(default_factory=PlateGateConfig, description="Vehicle gate plate reads")

    @field_validator("vehicles")
    @classmethod
    def _plates_unique(cls, vehicles: list[VehicleConfig]) -> list[VehicleConfig]:
        plates = [v.plate for v in vehicles]
        dupes = sorted({p for p in plates if plates.count(p) > 1})
        if dupes:
            raise ValueError(f"vehicles: plate listed twice: {dupes}")
        return vehicles

    @field_validator("levels")
    @classmethod
    def _level_ids(cls, levels: dict[str, AccessLevelConfig]) -> dict[str, AccessLevelConfig]:
        for level_id in levels:
            if not re.match(SLUG, level_id):
                raise ValueError(f"level id {level_id!r} must match {SLUG}")
        return levels

    @field_validator("lockdown_override_roles")
    @classmethod
    def _role_names(cls, roles: list[str]) -> list[str]:
        for role in roles:
            if not re.match(SLUG, role):
                raise ValueError(f"role {role!r} must match {SLUG}")
        return roles
