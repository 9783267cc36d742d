"""Record who suspended a person (`people.suspended_by`: "hq" or the site id of the box that did it).

Lets the reconciliation of box edits tell a box's own suspension (which that box may lift) from HQ's or another
box's (which wins). People already suspended are marked as suspended by HQ: their origin is unknown, and an HQ
suspension is the one that keeps winning (a revoke always wins).

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-06
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0007"
down_revision: str | None = "0006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column("people", sa.Column("suspended_by", sa.String(32), nullable=True))
    op.execute(sa.text("UPDATE people SET suspended_by = 'hq' WHERE NOT active"))


def downgrade() -> None:
    # Not batch mode; SQLite >= 3.35 drops a column in place.
    op.drop_column("people", "suspended_by")
