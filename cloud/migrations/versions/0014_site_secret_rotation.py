"""Site secret rotation: the replaced secret verifies until the end of its grace window.

Revision ID: 0014
Revises: 0013
Create Date: 2026-12-06
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0014"
down_revision: str | None = "0013"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

TS = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.add_column("sites", sa.Column("previous_secret", sa.String(64), nullable=True))
    op.add_column("sites", sa.Column("previous_secret_until", TS, nullable=True))
    op.add_column("sites", sa.Column("secret_rotated_at", TS, nullable=True))


def downgrade() -> None:
    # Not batch mode: rebuilding `sites` on SQLite (foreign_keys=ON) would cascade-delete its records.
    # SQLite >= 3.35 drops a column in place.
    op.drop_column("sites", "secret_rotated_at")
    op.drop_column("sites", "previous_secret_until")
    op.drop_column("sites", "previous_secret")
