"""Site revocation: when and by whom a site was revoked.

Revision ID: 0002
Revises: 0001
Create Date: 2025-02-01
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

TS = sa.DateTime(timezone=True)


def upgrade() -> None:
    # Nullable columns without server defaults: a plain ALTER TABLE ADD COLUMN on both backends.
    op.add_column("sites", sa.Column("revoked_at", TS, nullable=True))
    op.add_column("sites", sa.Column("revoked_by", sa.String(320), nullable=True))


def downgrade() -> None:
    # Not batch mode: rebuilding `sites` on SQLite (foreign_keys=ON) would cascade-delete its records.
    # SQLite >= 3.35 drops a column in place.
    op.drop_column("sites", "revoked_by")
    op.drop_column("sites", "revoked_at")
