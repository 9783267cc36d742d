"""HR, slice 2: dated rosters, site holidays, leave requests, overtime rules and timesheets (cloud/hr/models.py).

Revision ID: 0020
Revises: 0019
Create Date: 2026-12-07
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from cloud.db.rls import disable_statements, enable_statements, tenant_condition

revision: str = "0020"
down_revision: str | None = "0019"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

TABLES = ("hr_rosters", "hr_holidays", "hr_leave", "hr_overtime_rules", "hr_timesheets")


def _decision() -> list[sa.Column[object]]:
    return [
        sa.Column("decided_by", sa.String(320), nullable=True),
        sa.Column("decided_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("decision_note", sa.String(500), nullable=False),
    ]


def upgrade() -> None:
    op.create_table(
        "hr_rosters",
        sa.Column("tenant_id", sa.String(32), primary_key=True),
        sa.Column("id", sa.String(64), primary_key=True),
        sa.Column("person_id", sa.String(64), nullable=False, index=True),
        sa.Column("shift_id", sa.String(64), nullable=False),
        sa.Column("starts_on", sa.Date(), nullable=False),
        sa.Column("ends_on", sa.Date(), nullable=True),
    )
    op.create_table(
        "hr_holidays",
        sa.Column("tenant_id", sa.String(32), primary_key=True),
        sa.Column("site_id", sa.String(32), primary_key=True),
        sa.Column("day", sa.Date(), primary_key=True),
        sa.Column("name", sa.String(120), nullable=False),
    )
    op.create_table(
        "hr_leave",
        sa.Column("tenant_id", sa.String(32), primary_key=True),
        sa.Column("id", sa.String(32), primary_key=True),
        sa.Column("person_id", sa.String(64), nullable=False, index=True),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("first_day", sa.Date(), nullable=False),
        sa.Column("last_day", sa.Date(), nullable=False),
        sa.Column("note", sa.String(500), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("requested_by", sa.String(320), nullable=False),
        sa.Column("requested_at", sa.DateTime(timezone=True), nullable=False),
        *_decision(),
    )
    op.create_table(
        "hr_overtime_rules",
        sa.Column("tenant_id", sa.String(32), primary_key=True),
        sa.Column("daily_minutes", sa.Integer(), nullable=False),
        sa.Column("weekly_minutes", sa.Integer(), nullable=False),
    )
    op.create_table(
        "hr_timesheets",
        sa.Column("tenant_id", sa.String(32), primary_key=True),
        sa.Column("person_id", sa.String(64), primary_key=True),
        sa.Column("period", sa.String(5), primary_key=True),
        sa.Column("starts_on", sa.Date(), primary_key=True),
        sa.Column("status", sa.String(16), nullable=False),
        *(
            sa.Column(name, sa.Integer(), nullable=False)
            for name in ("counted_minutes", "regular_minutes", "overtime_minutes", "leave_days", "holiday_days")
        ),
        sa.Column("submitted_by", sa.String(320), nullable=False),
        sa.Column("submitted_at", sa.DateTime(timezone=True), nullable=False),
        *_decision(),
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
