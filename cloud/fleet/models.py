"""Fleet tables: vehicles, their documents and driver assignments, gate directions, maintenance schedules and
work orders.

Every table is keyed by tenant first (row-level security, Alembic 0018). The gate log itself is never stored: it
is computed on read from the synced ``plate_decision`` audit records (cloud/fleet/gatelog_load.py), so a batch
from a site that was offline changes the log as soon as it is ingested.
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from sqlalchemy import JSON, Date, Integer, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from cloud.db.models import Base, UTCDateTime


class FleetVehicle(Base):
    """A vehicle of the register; its plate is unique within the tenant and goes to every site's document."""

    __tablename__ = "fleet_vehicles"
    __table_args__ = (UniqueConstraint("tenant_id", "plate", name="uq_fleet_vehicles_tenant_id_plate"),)

    tenant_id: Mapped[str] = mapped_column(String(32), primary_key=True)
    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    plate: Mapped[str] = mapped_column(String(16))  # normalised: A-Z and 0-9 only
    name: Mapped[str] = mapped_column(String(200), default="")
    type: Mapped[str] = mapped_column(String(16))
    home_site_id: Mapped[str | None] = mapped_column(String(32), nullable=True)
    status: Mapped[str] = mapped_column(String(16))  # active | workshop | retired
    in_service_from: Mapped[date | None] = mapped_column(Date, nullable=True)
    # Access levels at the sites' vehicle gates (a level a site does not define is left out of its document).
    levels: Mapped[list[str]] = mapped_column(JSON, default=list)


class FleetDocument(Base):
    """A vehicle's document with an expiry (registration, insurance, inspection ...)."""

    __tablename__ = "fleet_documents"

    tenant_id: Mapped[str] = mapped_column(String(32), primary_key=True)
    vehicle_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    kind: Mapped[str] = mapped_column(String(64), primary_key=True)
    number: Mapped[str] = mapped_column(String(120), default="")
    expires_on: Mapped[date] = mapped_column(Date)
    alert_days: Mapped[int] = mapped_column(Integer, default=30)


class FleetAssignment(Base):
    """Who drove a vehicle from `start` until `end` (None: still assigned); never overlapping per vehicle."""

    __tablename__ = "fleet_assignments"

    tenant_id: Mapped[str] = mapped_column(String(32), primary_key=True)
    vehicle_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    person_id: Mapped[str] = mapped_column(String(64))
    start: Mapped[datetime] = mapped_column(UTCDateTime())
    end: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)


class FleetGate(Base):
    """A vehicle gate's direction: reads there are arrivals (`in`), departures (`out`) or either (`both`)."""

    __tablename__ = "fleet_gates"

    tenant_id: Mapped[str] = mapped_column(String(32), primary_key=True)
    site_id: Mapped[str] = mapped_column(String(32), primary_key=True)
    door_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    direction: Mapped[str] = mapped_column(String(4))


class MaintenanceSchedule(Base):
    """Recurring maintenance of a vehicle or of a site's device: every N days, N gate trips, N days in service."""

    __tablename__ = "fleet_schedules"

    tenant_id: Mapped[str] = mapped_column(String(32), primary_key=True)
    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    name: Mapped[str] = mapped_column(String(120))
    vehicle_id: Mapped[str | None] = mapped_column(String(64), nullable=True)
    site_id: Mapped[str | None] = mapped_column(String(32), nullable=True)
    device_id: Mapped[str | None] = mapped_column(String(64), nullable=True)
    every_days: Mapped[int | None] = mapped_column(Integer, nullable=True)
    every_trips: Mapped[int | None] = mapped_column(Integer, nullable=True)
    # Days on which the vehicle passed a gate (usage), Alembic 0019.
    every_service_days: Mapped[int | None] = mapped_column(Integer, nullable=True)
    warn_days: Mapped[int] = mapped_column(Integer, default=7)
    warn_trips: Mapped[int] = mapped_column(Integer, default=5)
    last_done_on: Mapped[date | None] = mapped_column(Date, nullable=True)


class WorkOrder(Base):
    """A maintenance job: what (a vehicle or a site's device), its tasks, who does it, status, cost, due date."""

    __tablename__ = "fleet_work_orders"

    tenant_id: Mapped[str] = mapped_column(String(32), primary_key=True)
    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    title: Mapped[str] = mapped_column(String(200))
    vehicle_id: Mapped[str | None] = mapped_column(String(64), nullable=True)
    site_id: Mapped[str | None] = mapped_column(String(32), nullable=True)
    device_id: Mapped[str | None] = mapped_column(String(64), nullable=True)
    schedule_id: Mapped[str | None] = mapped_column(String(64), nullable=True)
    assignee: Mapped[str | None] = mapped_column(String(320), nullable=True)
    status: Mapped[str] = mapped_column(String(16))  # open | in_progress | done | cancelled
    tasks: Mapped[list[dict[str, Any]]] = mapped_column(JSON, default=list)
    cost_cents: Mapped[int] = mapped_column(Integer, default=0)
    due_on: Mapped[date | None] = mapped_column(Date, nullable=True)
    completed_on: Mapped[date | None] = mapped_column(Date, nullable=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
