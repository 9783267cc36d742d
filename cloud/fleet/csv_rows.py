"""The fleet tables as flat CSV rows (one model per export; lists joined with spaces)."""

from __future__ import annotations

from datetime import date, datetime

from pydantic import BaseModel

from cloud.fleet.api_models import AssignmentOut, DocumentOut, GateEventOut, VehicleOut, VisitOut


class VehicleRow(BaseModel):
    id: str
    plate: str
    name: str
    type: str
    home_site_id: str | None
    status: str
    in_service_from: date | None
    levels: str
    driver: str | None

    @classmethod
    def of(cls, v: VehicleOut) -> VehicleRow:
        return cls(**v.model_dump(include=set(cls.model_fields) - {"levels"}), levels=" ".join(v.levels))


class DocumentRow(BaseModel):
    vehicle_id: str
    kind: str
    number: str
    expires_on: date
    alert_days: int
    status: str
    days_left: int

    @classmethod
    def of(cls, d: DocumentOut) -> DocumentRow:
        return cls(**d.model_dump(include=set(cls.model_fields)))


class AssignmentRow(BaseModel):
    id: str
    vehicle_id: str
    person_id: str
    person_name: str
    start: datetime
    end: datetime | None

    @classmethod
    def of(cls, a: AssignmentOut) -> AssignmentRow:
        return cls(**a.model_dump(include=set(cls.model_fields)))


class GateEventRow(BaseModel):
    at: datetime
    site_id: str
    door_id: str
    movement: str
    plate_read: str
    read_confidence: float
    vehicle_id: str | None
    plate: str | None
    match: str
    match_confidence: float
    candidates: str
    granted: bool

    @classmethod
    def of(cls, e: GateEventOut) -> GateEventRow:
        return cls(**e.model_dump(include=set(cls.model_fields) - {"candidates"}), candidates=" ".join(e.candidates))


class VisitRow(BaseModel):
    vehicle_id: str | None
    plate: str
    site_id: str
    arrived: datetime | None
    departed: datetime | None
    minutes_on_site: int | None
    unknown: bool

    @classmethod
    def of(cls, v: VisitOut) -> VisitRow:
        return cls(**v.model_dump(include=set(cls.model_fields)))
