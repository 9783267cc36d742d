"""Uplink replay protection (seen batch nonces) and per-site sync state (clock skew, backlog, errors).

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-06
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

TS = sa.DateTime(timezone=True)


def _site_fk(table: str) -> sa.ForeignKeyConstraint:
    return sa.ForeignKeyConstraint(["site_id"], ["sites.id"], name=f"fk_{table}_site_id_sites", ondelete="CASCADE")


def upgrade() -> None:
    op.create_table(
        "sync_nonces",
        sa.Column("site_id", sa.String(32), nullable=False),
        sa.Column("nonce", sa.String(64), nullable=False),
        sa.Column("seen_at", TS, nullable=False),
        _site_fk("sync_nonces"),
        sa.PrimaryKeyConstraint("site_id", "nonce", name="pk_sync_nonces"),
    )
    op.create_index("ix_sync_nonces_site_id_seen_at", "sync_nonces", ["site_id", "seen_at"])
    op.create_table(
        "site_sync_state",
        sa.Column("site_id", sa.String(32), nullable=False),
        sa.Column("clock_skew_s", sa.Float(), nullable=True),
        sa.Column("clock_checked_at", TS, nullable=True),
        sa.Column("last_batch_at", TS, nullable=True),
        sa.Column("backlog", sa.BigInteger(), nullable=True),
        sa.Column("oldest_pending_at", TS, nullable=True),
        sa.Column("quarantined", sa.BigInteger(), nullable=True),
        sa.Column("edge_error", sa.String(500), nullable=True),
        sa.Column("edge_error_at", TS, nullable=True),
        sa.Column("refusal", sa.String(500), nullable=True),
        sa.Column("refusal_at", TS, nullable=True),
        _site_fk("site_sync_state"),
        sa.PrimaryKeyConstraint("site_id", name="pk_site_sync_state"),
    )


def downgrade() -> None:
    op.drop_table("site_sync_state")
    op.drop_index("ix_sync_nonces_site_id_seen_at", table_name="sync_nonces")
    op.drop_table("sync_nonces")
