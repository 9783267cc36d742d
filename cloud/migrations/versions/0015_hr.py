"""HR, slice 1: people's HR fields with their weekly shift, shifts, entry/exit doors (cloud/hr/models.py).

Revision ID: 0015
Revises: 0014
Create Date: 2026-12-07
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from cloud.db.rls import disable_statements, enable_statements, tenant_condition

revision: str = "0015"
down_revision: str | None = "0014"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

TABLES = ("hr_profiles", "hr_shifts", "hr_doors")


def upgrade() -> None:
    op.create_table(
        "hr_profiles",
        sa.Column("tenant_id", sa.String(32), primary_key=True),
        sa.Column("person_id", sa.String(64), primary_key=True),
        sa.Column("department", sa.String(120), nullable=True),
        sa.Column("job_title", sa.String(120), nullable=True),
        sa.Column("employed_from", sa.Date(), nullable=True),
        sa.Column("employed_until", sa.Date(), nullable=True),
        sa.Column("home_site_id", sa.String(32), nullable=True),
        sa.Column("shift_id", sa.String(64), nullable=True),
    )
    op.create_table(
        "hr_shifts",
        sa.Column("tenant_id", sa.String(32), primary_key=True),
        sa.Column("id", sa.String(64), primary_key=True),
        sa.Column("name", sa.String(120), nullable=False),
        sa.Column("site_id", sa.String(32), nullable=False),
        sa.Column("start", sa.String(5), nullable=False),
        sa.Column("end", sa.String(5), nullable=False),
        sa.Column("weekdays", sa.JSON(), nullable=False),
        sa.Column("grace_minutes", sa.Integer(), nullable=False),
    )
    op.create_table(
        "hr_doors",
        sa.Column("tenant_id", sa.String(32), primary_key=True),
        sa.Column("site_id", sa.String(32), primary_key=True),
        sa.Column("door_id", sa.String(64), primary_key=True),
        sa.Column("direction", sa.String(3), nullable=False),
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
