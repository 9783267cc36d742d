"""The fleet tables as flat CSV rows (one model per export; lists joined with spaces)."""

from __future__ import annotations

from datetime import date, datetime

from pydantic import BaseModel

from cloud.fleet.api_models import AssignmentOut, DocumentOut, GateEventOut, VehicleOut, VisitOut
from cloud.fleet.maintenance_models import AlertOut, ScheduleOut, WorkOrderOut


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


class ScheduleRow(BaseModel):
    id: str
    name: str
    vehicle_id: str | None
    site_id: str | None
    device_id: str | None
    every_days: int | None
    every_trips: int | None
    every_service_days: int | None
    last_done_on: date | None
    since: date | None
    state: str
    due_on: date | None
    days_left: int | None
    trips_left: int | None
    service_days_left: int | None
    reason: str

    @classmethod
    def of(cls, s: ScheduleOut) -> ScheduleRow:
        return cls(**s.model_dump(include=set(cls.model_fields)))


class WorkOrderRow(BaseModel):
    id: str
    title: str
    vehicle_id: str | None
    site_id: str | None
    device_id: str | None
    schedule_id: str | None
    assignee: str | None
    status: str
    state: str
    tasks_done: int
    tasks: int
    cost: str
    due_on: date | None
    completed_on: date | None
    created_at: datetime

    @classmethod
    def of(cls, w: WorkOrderOut) -> WorkOrderRow:
        return cls(
            **w.model_dump(include=set(cls.model_fields) - {"tasks", "cost"}),
            tasks=len(w.tasks),
            tasks_done=sum(1 for t in w.tasks if t.done),
            cost=f"{w.cost_cents // 100}.{w.cost_cents % 100:02d}",
        )


class AlertRow(BaseModel):
    kind: str
    state: str
    ref: str
    vehicle_id: str | None
    site_id: str | None
    device_id: str | None
    message: str
    due_on: date | None

    @classmethod
    def of(cls, a: AlertOut) -> AlertRow:
        return cls(**a.model_dump())
