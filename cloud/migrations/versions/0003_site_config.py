"""HQ-managed site configuration: people, badges, person sites, site policies, document state, conflicts.

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-06
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

TS = sa.DateTime(timezone=True)


def _tenant_fk(table: str) -> sa.ForeignKeyConstraint:
    return sa.ForeignKeyConstraint(
        ["tenant_id"], ["tenants.id"], name=f"fk_{table}_tenant_id_tenants", ondelete="CASCADE"
    )


def _site_fk(table: str) -> sa.ForeignKeyConstraint:
    return sa.ForeignKeyConstraint(["site_id"], ["sites.id"], name=f"fk_{table}_site_id_sites", ondelete="CASCADE")


def upgrade() -> None:
    op.create_table(
        "people",
        sa.Column("pk", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("tenant_id", sa.String(32), nullable=False),
        sa.Column("id", sa.String(64), nullable=False),
        sa.Column("name", sa.String(120), nullable=False),
        sa.Column("active", sa.Boolean(), nullable=False),
        sa.Column("role", sa.String(64), nullable=True),
        sa.Column("valid_from", TS, nullable=True),
        sa.Column("valid_until", TS, nullable=True),
        sa.Column("levels", sa.JSON(), nullable=False),
        sa.Column("removed_at", TS, nullable=True),
        sa.Column("updated_at", TS, nullable=False),
        _tenant_fk("people"),
        sa.PrimaryKeyConstraint("pk", name="pk_people"),
        sa.UniqueConstraint("tenant_id", "id", name="uq_people_tenant_id_id"),
    )
    op.create_table(
        "badges",
        sa.Column("pk", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("tenant_id", sa.String(32), nullable=False),
        sa.Column("person_pk", sa.Integer(), nullable=False),
        sa.Column("number", sa.String(128), nullable=False),
        sa.Column("active", sa.Boolean(), nullable=False),
        sa.Column("valid_from", TS, nullable=True),
        sa.Column("valid_until", TS, nullable=True),
        _tenant_fk("badges"),
        sa.ForeignKeyConstraint(["person_pk"], ["people.pk"], name="fk_badges_person_pk_people", ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("pk", name="pk_badges"),
        sa.UniqueConstraint("person_pk", "number", name="uq_badges_person_pk_number"),
    )
    op.create_index("ix_badges_tenant_id", "badges", ["tenant_id"])
    op.create_table(
        "person_sites",
        sa.Column("person_pk", sa.Integer(), nullable=False),
        sa.Column("site_id", sa.String(32), nullable=False),
        sa.Column("tenant_id", sa.String(32), nullable=False),
        sa.Column("hq_version", sa.BigInteger(), nullable=False),
        sa.ForeignKeyConstraint(
            ["person_pk"], ["people.pk"], name="fk_person_sites_person_pk_people", ondelete="CASCADE"
        ),
        _site_fk("person_sites"),
        _tenant_fk("person_sites"),
        sa.PrimaryKeyConstraint("person_pk", "site_id", name="pk_person_sites"),
    )
    op.create_index("ix_person_sites_site_id", "person_sites", ["site_id"])
    op.create_index("ix_person_sites_tenant_id", "person_sites", ["tenant_id"])
    op.create_table(
        "site_policies",
        sa.Column("site_id", sa.String(32), nullable=False),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("key", sa.String(64), nullable=False),
        sa.Column("tenant_id", sa.String(32), nullable=False),
        sa.Column("body", sa.JSON(), nullable=False),
        sa.Column("updated_at", TS, nullable=False),
        sa.CheckConstraint("kind IN ('access_level', 'schedule', 'holiday', 'door')", name="ck_site_policies_kind"),
        _site_fk("site_policies"),
        _tenant_fk("site_policies"),
        sa.PrimaryKeyConstraint("site_id", "kind", "key", name="pk_site_policies"),
    )
    op.create_index("ix_site_policies_tenant_id", "site_policies", ["tenant_id"])
    op.create_table(
        "site_configs",
        sa.Column("site_id", sa.String(32), nullable=False),
        sa.Column("tenant_id", sa.String(32), nullable=False),
        sa.Column("version", sa.BigInteger(), nullable=False),
        sa.Column("changed_at", TS, nullable=False),
        sa.Column("report_version", sa.BigInteger(), nullable=True),
        sa.Column("report_status", sa.String(16), nullable=True),
        sa.Column("report_reason", sa.String(2000), nullable=True),
        sa.Column("report_at", TS, nullable=True),
        _site_fk("site_configs"),
        _tenant_fk("site_configs"),
        sa.PrimaryKeyConstraint("site_id", name="pk_site_configs"),
    )
    op.create_index("ix_site_configs_tenant_id", "site_configs", ["tenant_id"])
    op.create_table(
        "config_conflicts",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("tenant_id", sa.String(32), nullable=False),
        sa.Column("site_id", sa.String(32), nullable=False),
        sa.Column("person_id", sa.String(64), nullable=False),
        sa.Column("record_seq", sa.BigInteger(), nullable=False),
        sa.Column("winner", sa.String(16), nullable=False),
        sa.Column("reason", sa.String(200), nullable=False),
        sa.Column("cloud_state", sa.JSON(), nullable=False),
        sa.Column("box_state", sa.JSON(), nullable=False),
        sa.Column("detected_at", TS, nullable=False),
        _tenant_fk("config_conflicts"),
        _site_fk("config_conflicts"),
        sa.PrimaryKeyConstraint("id", name="pk_config_conflicts"),
    )
    op.create_index("ix_config_conflicts_tenant_id_detected_at", "config_conflicts", ["tenant_id", "detected_at"])


def downgrade() -> None:
    op.drop_index("ix_config_conflicts_tenant_id_detected_at", table_name="config_conflicts")
    op.drop_table("config_conflicts")
    op.drop_index("ix_site_configs_tenant_id", table_name="site_configs")
    op.drop_table("site_configs")
    op.drop_index("ix_site_policies_tenant_id", table_name="site_policies")
    op.drop_table("site_policies")
    op.drop_index("ix_person_sites_tenant_id", table_name="person_sites")
    op.drop_index("ix_person_sites_site_id", table_name="person_sites")
    op.drop_table("person_sites")
    op.drop_index("ix_badges_tenant_id", table_name="badges")
    op.drop_table("badges")
    op.drop_table("people")
