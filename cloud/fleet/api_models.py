"""Bodies and answers of the fleet JSON API: vehicles, documents, assignments, gates and the gate log
(validated with pydantic; they appear in the OpenAPI document)."""

from __future__ import annotations

import re
from datetime import date, datetime, timedelta
from typing import Literal

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, field_validator, model_validator

from cloud.fleet.plates import normalise

SLUG = r"^[A-Za-z0-9][A-Za-z0-9_.:-]{0,63}$"
VehicleType = Literal["van", "truck", "car", "motorbike", "trailer", "other"]
VehicleStatus = Literal["active", "workshop", "retired"]
MAX_LOG_DAYS = 31


class VehicleIn(BaseModel):
    """A vehicle of the register (replaces the stored one). Its plate goes to every site's vehicle gates."""

    model_config = ConfigDict(extra="forbid")

    plate: str = Field(min_length=4, max_length=16, description="Licence plate; spaces and dashes are ignored")
    name: str = Field(default="", max_length=200, description="What the vehicle is called (e.g. 'Van 12')")
    type: VehicleType = Field(default="van", description="Kind of vehicle")
    home_site_id: str | None = Field(default=None, max_length=32, description="The site it is based at")
    status: VehicleStatus = Field(default="active", description="retired: left out of the sites' documents")
    in_service_from: date | None = Field(default=None, description="First day in service (usage schedules)")
    levels: list[str] = Field(
        default_factory=list, max_length=64, description="Access levels that open the sites' vehicle gates"
    )

    @field_validator("plate")
    @classmethod
    def _plate(cls, plate: str) -> str:
        text = normalise(plate)
        if not 4 <= len(text) <= 10:
            raise ValueError(f"plate {plate!r} must have 4-10 letters and digits")
        return text

    @field_validator("levels")
    @classmethod
    def _levels(cls, levels: list[str]) -> list[str]:
        if any(re.fullmatch(SLUG, level) is None for level in levels):
            raise ValueError("levels must be access level ids (letters, digits, _.:-)")
        return levels


class DocumentIn(BaseModel):
    """A vehicle's document with an expiry date; alerts start `alert_days` before it."""

    model_config = ConfigDict(extra="forbid")

    number: str = Field(default="", max_length=120, description="Document or policy number")
    expires_on: date = Field(description="Last day the document is valid")
    alert_days: int = Field(default=30, ge=0, le=366, description="Days before expiry the alert starts")


class DocumentOut(DocumentIn):
    vehicle_id: str
    kind: str
    status: Literal["valid", "expiring", "expired"] = Field(description="As of today (UTC)")
    days_left: int = Field(description="Days from today until expiry (negative: expired)")


class AssignmentIn(BaseModel):
    """A driver's assignment to a vehicle from `start` until `end` (null: still assigned)."""

    model_config = ConfigDict(extra="forbid")

    person_id: str = Field(pattern=SLUG, description="The person (cloud people id) who drives")
    start: AwareDatetime
    end: AwareDatetime | None = None

    @model_validator(mode="after")
    def _in_order(self) -> AssignmentIn:
        if self.end is not None and self.end <= self.start:
            raise ValueError("end must be after start")
        return self


class AssignmentOut(AssignmentIn):
    id: str
    vehicle_id: str
    person_name: str


class AssignmentList(BaseModel):
    assignments: list[AssignmentOut]


class VehicleOut(VehicleIn):
    id: str
    driver: str | None = Field(default=None, description="Who is assigned now (name)")
    documents: list[DocumentOut] = Field(default_factory=list)


class VehicleList(BaseModel):
    vehicles: list[VehicleOut]


class DocumentList(BaseModel):
    documents: list[DocumentOut]


class GateIn(BaseModel):
    """Which way a vehicle gate counts: arrivals (`in`), departures (`out`) or either way (`both`)."""

    model_config = ConfigDict(extra="forbid")

    direction: Literal["in", "out", "both"]


class GateOut(GateIn):
    site_id: str
    door_id: str


class GateList(BaseModel):
    gates: list[GateOut]


class GateLogQuery(BaseModel):
    """A period of whole UTC days (`from` to `to`, inclusive; at most 31 days), optionally one site."""

    model_config = ConfigDict(extra="forbid", populate_by_name=True)

    from_: date = Field(alias="from")
    to: date
    site: str | None = Field(default=None, max_length=32)
    vehicle: str | None = Field(default=None, pattern=SLUG)
    table: Literal["events", "visits"] = Field(default="events", description="Which table the CSV export holds")

    @model_validator(mode="after")
    def _period(self) -> GateLogQuery:
        if self.to < self.from_:
            raise ValueError("to is before from")
        if self.to - self.from_ > timedelta(days=MAX_LOG_DAYS - 1):
            raise ValueError(f"at most {MAX_LOG_DAYS} days at a time")
        return self


class GateEventOut(BaseModel):
    """One plate read at a gate, placed in the log."""

    at: datetime
    site_id: str
    door_id: str
    plate_read: str = Field(description="The plate as the camera read it")
    read_confidence: float = Field(description="The reader's own confidence")
    vehicle_id: str | None
    plate: str | None = Field(description="The registered plate it was matched to")
    match: Literal["exact", "fuzzy", "ambiguous", "unknown"]
    match_confidence: float = Field(description="1.0 exact; under 1 for a plate misread by one character")
    candidates: list[str] = Field(description="Registered plates one character away (ambiguous: several)")
    movement: Literal["arrival", "departure"]
    granted: bool = Field(description="Whether the gate opened")


class VisitOut(BaseModel):
    """A vehicle on a site from an arrival to a departure; a missing end stays empty."""

    vehicle_id: str | None
    plate: str
    site_id: str
    arrived: datetime | None
    departed: datetime | None
    minutes_on_site: int | None
    unknown: bool = Field(description="The plate matched no vehicle of the register")


class GateLogOut(BaseModel):
    events: list[GateEventOut]
    visits: list[VisitOut]
