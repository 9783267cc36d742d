"""Bodies and answers of the fleet maintenance API: schedules, work orders, alerts and battery suggestions."""

from __future__ import annotations

from datetime import date, datetime
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from cloud.fleet.api_models import SLUG

State = Literal["ok", "due", "overdue"]
WorkStatus = Literal["open", "in_progress", "done", "cancelled"]


class Subject(BaseModel):
    """What is maintained: a vehicle (`vehicle_id`), or a site's device (`site_id` and `device_id`)."""

    model_config = ConfigDict(extra="forbid")

    vehicle_id: str | None = Field(default=None, pattern=SLUG)
    site_id: str | None = Field(default=None, max_length=32)
    device_id: str | None = Field(default=None, min_length=1, max_length=64)

    @model_validator(mode="after")
    def _one_subject(self) -> Subject:
        device = self.site_id is not None and self.device_id is not None
        if (self.site_id is None) != (self.device_id is None):
            raise ValueError("a device needs both site_id and device_id")
        if (self.vehicle_id is not None) == device:
            raise ValueError("give either vehicle_id, or site_id with device_id")
        return self


class ScheduleIn(Subject):
    """Recurring maintenance: every N calendar days, N gate trips and/or N days in service (at least one)."""

    name: str = Field(min_length=1, max_length=120)
    every_days: int | None = Field(default=None, ge=1, le=3650, description="Calendar days between services")
    every_trips: int | None = Field(default=None, ge=1, le=1_000_000, description="Gate trips (vehicles only)")
    every_service_days: int | None = Field(
        default=None, ge=1, le=3650, description="Days with a gate trip (vehicles only)"
    )
    warn_days: int = Field(default=7, ge=0, le=365, description="Due this many days (or days in service) ahead")
    warn_trips: int = Field(default=5, ge=0, le=1_000_000, description="Due this many trips ahead")
    last_done_on: date | None = Field(default=None, description="Last time it was done (a done work order sets it)")

    @model_validator(mode="after")
    def _limits(self) -> ScheduleIn:
        if self.every_days is None and self.every_trips is None and self.every_service_days is None:
            raise ValueError("give every_days, every_trips or every_service_days")
        if self.vehicle_id is None and (self.every_trips is not None or self.every_service_days is not None):
            raise ValueError("trips and days in service count for vehicles only")
        return self


class ScheduleOut(ScheduleIn):
    id: str
    state: State
    since: date | None = Field(description="Counted from: last done, else the vehicle's first day in service")
    due_on: date | None
    days_left: int | None
    trips_left: int | None
    service_days_left: int | None
    reason: str


class ScheduleList(BaseModel):
    schedules: list[ScheduleOut]


class TaskIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    text: str = Field(min_length=1, max_length=300)
    done: bool = False


class WorkOrderIn(Subject):
    """A maintenance job with tasks, who does it, its status, cost (in cents) and due date."""

    title: str = Field(min_length=1, max_length=200)
    schedule_id: str | None = Field(default=None, pattern=SLUG, description="Done: sets the schedule's last done")
    assignee: str | None = Field(default=None, max_length=320)
    status: WorkStatus = "open"
    tasks: list[TaskIn] = Field(default_factory=list, max_length=50)
    cost_cents: int = Field(default=0, ge=0, le=100_000_000_00)
    due_on: date | None = None
    completed_on: date | None = Field(default=None, description="Set to today when done without one")


class WorkOrderOut(WorkOrderIn):
    id: str
    created_at: datetime
    state: State = Field(description="Open and past its due date: overdue; due within 7 days: due")


class WorkOrderList(BaseModel):
    work_orders: list[WorkOrderOut]


class BatterySuggestion(BaseModel):
    """A device whose battery trend says it dies within 14 days, and the open work order for it, if any."""

    site_id: str
    device_id: str
    device_kind: str | None
    battery: float = Field(description="Last reading (%)")
    per_day: float = Field(description="Fitted change per day (percentage points)")
    dies_at: datetime = Field(description="When the trend reaches the dead level")
    work_order_id: str | None = Field(description="An open work order for the device already exists")


class AlertOut(BaseModel):
    """Something to act on: an expiring document, maintenance due, a late work order, a dying battery."""

    kind: Literal["document", "schedule", "work_order", "battery"]
    state: Literal["due", "overdue"]
    ref: str = Field(description="The document (vehicle/kind), schedule, work order or device (site/device)")
    vehicle_id: str | None
    site_id: str | None
    device_id: str | None
    message: str
    due_on: date | None


class BoardOut(BaseModel):
    alerts: list[AlertOut]
    schedules: list[ScheduleOut]
    work_orders: list[WorkOrderOut]
    battery: list[BatterySuggestion]
