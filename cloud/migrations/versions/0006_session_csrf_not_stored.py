"""Session CSRF tokens are no longer stored: they are derived from the session cookie token (webguard.csrf).

The session token itself was already stored only as a keyed digest (`token_digest`), so nothing is rehashed.

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-06
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0006"
down_revision: str | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    # Live sessions survive: their CSRF token is re-derived from the cookie on the next request (the value changes,
    # so a page rendered before the upgrade needs a reload before its next form post).
    # Not batch mode; SQLite >= 3.35 drops a column in place.
    op.drop_column("sessions", "csrf_token")


def downgrade() -> None:
    # The stored CSRF tokens cannot be recovered from the digests: end every session (users log in again) so the
    # column can come back NOT NULL.
    op.execute("DELETE FROM sessions")
    op.add_column("sessions", sa.Column("csrf_token", sa.String(64), nullable=False, server_default=""))
    with op.batch_alter_table("sessions") as batch:
        batch.alter_column("csrf_token", server_default=None)
