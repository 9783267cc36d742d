"""Billing (cloud/billing): plan catalogue, accounts, subscriptions, daily usage and its batches, invoices with
their lines, credit notes.

The database enforces what the period close relies on: one invoice per subscription and period, and gap-free
invoice and credit note numbers per tenant (each number above 1 references its predecessor).

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-06
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0008"
down_revision: str | None = "0007"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "billing_plans",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("code", sa.String(length=32), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=100), nullable=False),
        sa.Column("currency", sa.String(length=3), nullable=False),
        sa.Column("monthly_price", sa.BigInteger(), nullable=False),
        sa.Column("yearly_price", sa.BigInteger(), nullable=False),
        sa.Column("included_cameras", sa.Integer(), nullable=False),
        sa.Column("included_doors", sa.Integer(), nullable=False),
        sa.Column("included_devices", sa.Integer(), nullable=False),
        sa.Column("included_events", sa.BigInteger(), nullable=False),
        sa.Column("snapshot_bytes", sa.BigInteger(), nullable=False),
        sa.Column("retention_days", sa.Integer(), nullable=False),
        sa.Column("camera_overage_price", sa.BigInteger(), nullable=False),
        sa.Column("door_overage_price", sa.BigInteger(), nullable=False),
        sa.Column("events_overage_price", sa.BigInteger(), nullable=False),
        sa.Column("trial_days", sa.Integer(), nullable=False),
        sa.Column("site_limit", sa.Integer(), nullable=True),
        sa.Column("overage_policy", sa.String(length=8), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.CheckConstraint("overage_policy IN ('bill', 'block')", name=op.f("ck_billing_plans_overage_policy")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_billing_plans")),
        sa.UniqueConstraint("code", "version", name="uq_billing_plans_code_version"),
    )
    op.create_table(
        "billing_accounts",
        sa.Column("tenant_id", sa.String(length=32), nullable=False),
        sa.Column("currency", sa.String(length=3), nullable=False),
        sa.Column("tax_rate_bp", sa.Integer(), nullable=False),
        sa.Column("last_invoice_number", sa.Integer(), nullable=False),
        sa.Column("last_credit_note_number", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["tenant_id"], ["tenants.id"], name=op.f("fk_billing_accounts_tenant_id_tenants"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("tenant_id", name=op.f("pk_billing_accounts")),
    )
    op.create_table(
        "billing_subscriptions",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("tenant_id", sa.String(length=32), nullable=False),
        sa.Column("plan_id", sa.Integer(), nullable=False),
        sa.Column("interval", sa.String(length=8), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("started_on", sa.Date(), nullable=False),
        sa.Column("trial_ends_on", sa.Date(), nullable=False),
        sa.Column("period_start", sa.Date(), nullable=False),
        sa.Column("period_end", sa.Date(), nullable=False),
        sa.Column("cancel_at_period_end", sa.Boolean(), nullable=False),
        sa.Column("canceled_on", sa.Date(), nullable=True),
        sa.CheckConstraint("interval IN ('month', 'year')", name=op.f("ck_billing_subscriptions_interval")),
        sa.CheckConstraint(
            "status IN ('trialing', 'active', 'canceled')", name=op.f("ck_billing_subscriptions_status")
        ),
        sa.ForeignKeyConstraint(
            ["plan_id"], ["billing_plans.id"], name=op.f("fk_billing_subscriptions_plan_id_billing_plans")
        ),
        sa.ForeignKeyConstraint(
            ["tenant_id"], ["tenants.id"], name=op.f("fk_billing_subscriptions_tenant_id_tenants"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_billing_subscriptions")),
        sa.UniqueConstraint("tenant_id", name=op.f("uq_billing_subscriptions_tenant_id")),
    )
    op.create_table(
        "billing_invoices",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("tenant_id", sa.String(length=32), nullable=False),
        sa.Column("subscription_id", sa.Integer(), nullable=False),
        sa.Column("plan_id", sa.Integer(), nullable=False),
        sa.Column("period_start", sa.Date(), nullable=False),
        sa.Column("period_end", sa.Date(), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("number", sa.Integer(), nullable=True),
        sa.Column("previous_number", sa.Integer(), nullable=True),
        sa.Column("currency", sa.String(length=3), nullable=False),
        sa.Column("tax_rate_bp", sa.Integer(), nullable=False),
        sa.Column("subtotal", sa.BigInteger(), nullable=False),
        sa.Column("tax", sa.BigInteger(), nullable=False),
        sa.Column("total", sa.BigInteger(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("finalized_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("paid_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("voided_at", sa.DateTime(timezone=True), nullable=True),
        sa.CheckConstraint(
            "(number IS NULL AND previous_number IS NULL AND status = 'draft') OR "
            "(number = 1 AND previous_number IS NULL AND status <> 'draft') OR "
            "(number > 1 AND previous_number = number - 1 AND status <> 'draft')",
            name=op.f("ck_billing_invoices_gap_free"),
        ),
        sa.CheckConstraint("status IN ('draft', 'finalized', 'paid', 'void')", name=op.f("ck_billing_invoices_status")),
        sa.ForeignKeyConstraint(
            ["plan_id"], ["billing_plans.id"], name=op.f("fk_billing_invoices_plan_id_billing_plans")
        ),
        sa.ForeignKeyConstraint(
            ["subscription_id"],
            ["billing_subscriptions.id"],
            name=op.f("fk_billing_invoices_subscription_id_billing_subscriptions"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["tenant_id", "previous_number"],
            ["billing_invoices.tenant_id", "billing_invoices.number"],
            name="fk_billing_invoices_previous_number",
        ),
        sa.ForeignKeyConstraint(
            ["tenant_id"], ["tenants.id"], name=op.f("fk_billing_invoices_tenant_id_tenants"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_billing_invoices")),
        sa.UniqueConstraint("subscription_id", "period_start", name="uq_billing_invoices_subscription_id"),
        sa.UniqueConstraint("tenant_id", "number", name="uq_billing_invoices_tenant_id_number"),
    )
    op.create_table(
        "billing_subscription_plans",
        sa.Column("subscription_id", sa.Integer(), nullable=False),
        sa.Column("effective_on", sa.Date(), nullable=False),
        sa.Column("plan_id", sa.Integer(), nullable=False),
        sa.Column("changed_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["plan_id"], ["billing_plans.id"], name=op.f("fk_billing_subscription_plans_plan_id_billing_plans")
        ),
        sa.ForeignKeyConstraint(
            ["subscription_id"],
            ["billing_subscriptions.id"],
            name=op.f("fk_billing_subscription_plans_subscription_id_billing_subscriptions"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("subscription_id", "effective_on", name=op.f("pk_billing_subscription_plans")),
    )
    op.create_table(
        "billing_usage_days",
        sa.Column("site_id", sa.String(length=32), nullable=False),
        sa.Column("day", sa.Date(), nullable=False),
        sa.Column("tenant_id", sa.String(length=32), nullable=False),
        sa.Column("cameras", sa.Integer(), nullable=False),
        sa.Column("doors", sa.Integer(), nullable=False),
        sa.Column("devices", sa.Integer(), nullable=False),
        sa.Column("events", sa.BigInteger(), nullable=False),
        sa.Column("snapshot_bytes", sa.BigInteger(), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["site_id"], ["sites.id"], name=op.f("fk_billing_usage_days_site_id_sites"), ondelete="CASCADE"
        ),
        sa.ForeignKeyConstraint(
            ["tenant_id"], ["tenants.id"], name=op.f("fk_billing_usage_days_tenant_id_tenants"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("site_id", "day", name=op.f("pk_billing_usage_days")),
    )
    with op.batch_alter_table("billing_usage_days", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_billing_usage_days_tenant_id"), ["tenant_id"], unique=False)

    op.create_table(
        "billing_credit_notes",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("tenant_id", sa.String(length=32), nullable=False),
        sa.Column("invoice_id", sa.Integer(), nullable=False),
        sa.Column("number", sa.Integer(), nullable=False),
        sa.Column("previous_number", sa.Integer(), nullable=True),
        sa.Column("reason", sa.String(length=500), nullable=False),
        sa.Column("amount", sa.BigInteger(), nullable=False),
        sa.Column("tax", sa.BigInteger(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("created_by", sa.String(length=320), nullable=False),
        sa.CheckConstraint(
            "(number = 1 AND previous_number IS NULL) OR (number > 1 AND previous_number = number - 1)",
            name=op.f("ck_billing_credit_notes_gap_free"),
        ),
        sa.CheckConstraint("amount > 0", name=op.f("ck_billing_credit_notes_positive")),
        sa.ForeignKeyConstraint(
            ["invoice_id"],
            ["billing_invoices.id"],
            name=op.f("fk_billing_credit_notes_invoice_id_billing_invoices"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["tenant_id", "previous_number"],
            ["billing_credit_notes.tenant_id", "billing_credit_notes.number"],
            name="fk_billing_credit_notes_previous_number",
        ),
        sa.ForeignKeyConstraint(
            ["tenant_id"], ["tenants.id"], name=op.f("fk_billing_credit_notes_tenant_id_tenants"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_billing_credit_notes")),
        sa.UniqueConstraint("tenant_id", "number", name="uq_billing_credit_notes_tenant_id_number"),
    )
    with op.batch_alter_table("billing_credit_notes", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_billing_credit_notes_invoice_id"), ["invoice_id"], unique=False)

    op.create_table(
        "billing_invoice_lines",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), autoincrement=True, nullable=False),
        sa.Column("invoice_id", sa.Integer(), nullable=False),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("item", sa.String(length=16), nullable=False),
        sa.Column("description", sa.String(length=300), nullable=False),
        sa.Column("site_id", sa.String(length=32), nullable=True),
        sa.Column("plan_id", sa.Integer(), nullable=True),
        sa.Column("first_day", sa.Date(), nullable=True),
        sa.Column("last_day", sa.Date(), nullable=True),
        sa.Column("quantity", sa.BigInteger(), nullable=False),
        sa.Column("unit_price", sa.BigInteger(), nullable=False),
        sa.Column("amount", sa.BigInteger(), nullable=False),
        sa.Column("batch_ids", sa.String(length=2000), nullable=False),
        sa.CheckConstraint(
            "kind IN ('base', 'proration', 'overage', 'credit', 'adjustment')",
            name=op.f("ck_billing_invoice_lines_kind"),
        ),
        sa.ForeignKeyConstraint(
            ["invoice_id"],
            ["billing_invoices.id"],
            name=op.f("fk_billing_invoice_lines_invoice_id_billing_invoices"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["plan_id"], ["billing_plans.id"], name=op.f("fk_billing_invoice_lines_plan_id_billing_plans")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_billing_invoice_lines")),
    )
    with op.batch_alter_table("billing_invoice_lines", schema=None) as batch_op:
        batch_op.create_index("ix_billing_invoice_lines_invoice_id_position", ["invoice_id", "position"], unique=False)

    op.create_table(
        "billing_usage_batches",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), autoincrement=True, nullable=False),
        sa.Column("site_id", sa.String(length=32), nullable=False),
        sa.Column("tenant_id", sa.String(length=32), nullable=False),
        sa.Column("day", sa.Date(), nullable=False),
        sa.Column("batch_nonce", sa.String(length=64), nullable=False),
        sa.Column("first_seq", sa.BigInteger(), nullable=False),
        sa.Column("last_seq", sa.BigInteger(), nullable=False),
        sa.Column("events", sa.BigInteger(), nullable=False),
        sa.Column("received_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("invoice_id", sa.Integer(), nullable=True),
        sa.ForeignKeyConstraint(
            ["invoice_id"],
            ["billing_invoices.id"],
            name=op.f("fk_billing_usage_batches_invoice_id_billing_invoices"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["site_id"], ["sites.id"], name=op.f("fk_billing_usage_batches_site_id_sites"), ondelete="CASCADE"
        ),
        sa.ForeignKeyConstraint(
            ["tenant_id"], ["tenants.id"], name=op.f("fk_billing_usage_batches_tenant_id_tenants"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_billing_usage_batches")),
    )
    with op.batch_alter_table("billing_usage_batches", schema=None) as batch_op:
        batch_op.create_index("ix_billing_usage_batches_site_id_day", ["site_id", "day"], unique=False)
        batch_op.create_index(
            "ix_billing_usage_batches_tenant_id_invoice_id", ["tenant_id", "invoice_id"], unique=False
        )


def downgrade() -> None:
    with op.batch_alter_table("billing_usage_batches", schema=None) as batch_op:
        batch_op.drop_index("ix_billing_usage_batches_tenant_id_invoice_id")
        batch_op.drop_index("ix_billing_usage_batches_site_id_day")

    op.drop_table("billing_usage_batches")
    with op.batch_alter_table("billing_invoice_lines", schema=None) as batch_op:
        batch_op.drop_index("ix_billing_invoice_lines_invoice_id_position")

    op.drop_table("billing_invoice_lines")
    with op.batch_alter_table("billing_credit_notes", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_billing_credit_notes_invoice_id"))

    op.drop_table("billing_credit_notes")
    with op.batch_alter_table("billing_usage_days", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_billing_usage_days_tenant_id"))

    op.drop_table("billing_usage_days")
    op.drop_table("billing_subscription_plans")
    op.drop_table("billing_invoices")
    op.drop_table("billing_subscriptions")
    op.drop_table("billing_accounts")
    op.drop_table("billing_plans")
