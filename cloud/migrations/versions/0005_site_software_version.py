"""Per-site software version, from the version every sync batch carries.

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-06
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0005"
down_revision: str | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column("site_sync_state", sa.Column("software_version", sa.String(64), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("site_sync_state") as batch:
        batch.drop_column("software_version")
