"""Fleet: vehicles, documents, driver assignments, gate directions, maintenance schedules, work orders
(cloud/fleet/models.py).

Revision ID: 0018
Revises: 0017
Create Date: 2026-12-07
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from cloud.db.rls import disable_statements, enable_statements, tenant_condition

revision: str = "0018"
down_revision: str | None = "0017"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

TABLES = (
    "fleet_vehicles",
    "fleet_documents",
    "fleet_assignments",
    "fleet_gates",
    "fleet_schedules",
    "fleet_work_orders",
)


def upgrade() -> None:
    op.create_table(
        "fleet_vehicles",
        sa.Column("tenant_id", sa.String(32), primary_key=True),
        sa.Column("id", sa.String(64), primary_key=True),
        sa.Column("plate", sa.String(16), nullable=False),
        sa.Column("name", sa.String(200), nullable=False),
        sa.Column("type", sa.String(16), nullable=False),
        sa.Column("home_site_id", sa.String(32), nullable=True),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("in_service_from", sa.Date(), nullable=True),
        sa.Column("levels", sa.JSON(), nullable=False),
        sa.UniqueConstraint("tenant_id", "plate", name="uq_fleet_vehicles_tenant_id_plate"),
    )
    op.create_table(
        "fleet_documents",
        sa.Column("tenant_id", sa.String(32), primary_key=True),
        sa.Column("vehicle_id", sa.String(64), primary_key=True),
        sa.Column("kind", sa.String(64), primary_key=True),
        sa.Column("number", sa.String(120), nullable=False),
        sa.Column("expires_on", sa.Date(), nullable=False),
        sa.Column("alert_days", sa.Integer(), nullable=False),
    )
    op.create_table(
        "fleet_assignments",
        sa.Column("tenant_id", sa.String(32), primary_key=True),
        sa.Column("vehicle_id", sa.String(64), primary_key=True),
        sa.Column("id", sa.String(64), primary_key=True),
        sa.Column("person_id", sa.String(64), nullable=False),
        sa.Column("start", sa.DateTime(timezone=True), nullable=False),
        sa.Column("end", sa.DateTime(timezone=True), nullable=True),
    )
    op.create_table(
        "fleet_gates",
        sa.Column("tenant_id", sa.String(32), primary_key=True),
        sa.Column("site_id", sa.String(32), primary_key=True),
        sa.Column("door_id", sa.String(64), primary_key=True),
        sa.Column("direction", sa.String(4), nullable=False),
    )
    op.create_table(
        "fleet_schedules",
        sa.Column("tenant_id", sa.String(32), primary_key=True),
        sa.Column("id", sa.String(64), primary_key=True),
        sa.Column("name", sa.String(120), nullable=False),
        sa.Column("vehicle_id", sa.String(64), nullable=True),
        sa.Column("site_id", sa.String(32), nullable=True),
        sa.Column("device_id", sa.String(64), nullable=True),
        sa.Column("every_days", sa.Integer(), nullable=True),
        sa.Column("every_trips", sa.Integer(), nullable=True),
        sa.Column("warn_days", sa.Integer(), nullable=False),
        sa.Column("warn_trips", sa.Integer(), nullable=False),
        sa.Column("last_done_on", sa.Date(), nullable=True),
    )
    op.create_table(
        "fleet_work_orders",
        sa.Column("tenant_id", sa.String(32), primary_key=True),
        sa.Column("id", sa.String(64), primary_key=True),
        sa.Column("title", sa.String(200), nullable=False),
        sa.Column("vehicle_id", sa.String(64), nullable=True),
        sa.Column("site_id", sa.String(32), nullable=True),
        sa.Column("device_id", sa.String(64), nullable=True),
        sa.Column("schedule_id", sa.String(64), nullable=True),
        sa.Column("assignee", sa.String(320), nullable=True),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("tasks", sa.JSON(), nullable=False),
        sa.Column("cost_cents", sa.Integer(), nullable=False),
        sa.Column("due_on", sa.Date(), nullable=True),
        sa.Column("completed_on", sa.Date(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
    )
    if op.get_bind().dialect.name == "postgresql":
        for table in TABLES:
            for statement in enable_statements(table, tenant_condition()):
                op.execute(statement)


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        for table in TABLES:
            for statement in disable_statements(table):
                op.execute(statement)
    for table in reversed(TABLES):
        op.drop_table(table)
