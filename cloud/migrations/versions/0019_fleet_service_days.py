"""Fleet maintenance by days in service: `fleet_schedules.every_service_days` (cloud/fleet/models.py).

Revision ID: 0019
Revises: 0018
Create Date: 2026-12-07
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0019"
down_revision: str | None = "0018"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("fleet_schedules") as batch:
        batch.add_column(sa.Column("every_service_days", sa.Integer(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("fleet_schedules") as batch:
        batch.drop_column("every_service_days")
