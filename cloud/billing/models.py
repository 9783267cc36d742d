"""ORM models of billing: the plan catalogue, accounts, subscriptions, daily usage, invoices and credit notes.

Every amount is an integer count of minor units; every rate is integer basis points (1/100 of a percent).
The database holds the guarantees the close relies on: one invoice per subscription and period
(`uq_billing_invoices_subscription_id`), one usage row per site and day, and gap-free invoice numbers per
tenant (a number > 1 must name its predecessor, which must exist: a self-referencing foreign key).
"""

from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import (
    BigInteger,
    CheckConstraint,
    Date,
    ForeignKey,
    ForeignKeyConstraint,
    Index,
    Integer,
    String,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column

from cloud.db.models import Base, RecordId, UTCDateTime, utcnow

INTERVALS = ("month", "year")
OVERAGE_POLICIES = ("bill", "block")
SUBSCRIPTION_STATUSES = ("trialing", "active", "canceled")
INVOICE_STATUSES = ("draft", "finalized", "paid", "void")
LINE_KINDS = ("base", "proration", "overage", "credit", "adjustment")


class Plan(Base):
    """One version of a plan; a row is never updated once used: changing a plan adds version + 1."""

    __tablename__ = "billing_plans"
    __table_args__ = (
        UniqueConstraint("code", "version", name="uq_billing_plans_code_version"),
        CheckConstraint("overage_policy IN ('bill', 'block')", name="overage_policy"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    code: Mapped[str] = mapped_column(String(32))
    version: Mapped[int] = mapped_column(Integer)
    name: Mapped[str] = mapped_column(String(100))
    currency: Mapped[str] = mapped_column(String(3))
    monthly_price: Mapped[int] = mapped_column(BigInteger)
    yearly_price: Mapped[int] = mapped_column(BigInteger)
    included_cameras: Mapped[int] = mapped_column(Integer)
    included_doors: Mapped[int] = mapped_column(Integer)
    included_devices: Mapped[int] = mapped_column(Integer)
    included_events: Mapped[int] = mapped_column(BigInteger)
    snapshot_bytes: Mapped[int] = mapped_column(BigInteger)
    retention_days: Mapped[int] = mapped_column(Integer)
    camera_overage_price: Mapped[int] = mapped_column(BigInteger)
    door_overage_price: Mapped[int] = mapped_column(BigInteger)
    events_overage_price: Mapped[int] = mapped_column(BigInteger)
    trial_days: Mapped[int] = mapped_column(Integer)
    site_limit: Mapped[int | None] = mapped_column(Integer, nullable=True)
    overage_policy: Mapped[str] = mapped_column(String(8))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)


class BillingAccount(Base):
    """A tenant's billing settings and its invoice number counters."""

    __tablename__ = "billing_accounts"

    tenant_id: Mapped[str] = mapped_column(ForeignKey("tenants.id", ondelete="CASCADE"), primary_key=True)
    currency: Mapped[str] = mapped_column(String(3))
    tax_rate_bp: Mapped[int] = mapped_column(Integer)
    last_invoice_number: Mapped[int] = mapped_column(Integer, default=0)
    last_credit_note_number: Mapped[int] = mapped_column(Integer, default=0)


class Subscription(Base):
    """A tenant's subscription; the plan in force on a day is in `billing_subscription_plans`."""

    __tablename__ = "billing_subscriptions"
    __table_args__ = (
        CheckConstraint("interval IN ('month', 'year')", name="interval"),
        CheckConstraint("status IN ('trialing', 'active', 'canceled')", name="status"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    tenant_id: Mapped[str] = mapped_column(ForeignKey("tenants.id", ondelete="CASCADE"), unique=True)
    plan_id: Mapped[int] = mapped_column(ForeignKey("billing_plans.id"))
    interval: Mapped[str] = mapped_column(String(8))
    status: Mapped[str] = mapped_column(String(16))
    started_on: Mapped[date] = mapped_column(Date)
    trial_ends_on: Mapped[date] = mapped_column(Date)
    period_start: Mapped[date] = mapped_column(Date)
    period_end: Mapped[date] = mapped_column(Date)
    cancel_at_period_end: Mapped[bool] = mapped_column(default=False)
    canceled_on: Mapped[date | None] = mapped_column(Date, nullable=True)


class SubscriptionPlan(Base):
    """From `effective_on` (inclusive) the subscription is on `plan_id`, until a later row."""

    __tablename__ = "billing_subscription_plans"

    subscription_id: Mapped[int] = mapped_column(
        ForeignKey("billing_subscriptions.id", ondelete="CASCADE"), primary_key=True
    )
    effective_on: Mapped[date] = mapped_column(Date, primary_key=True)
    plan_id: Mapped[int] = mapped_column(ForeignKey("billing_plans.id"))
    changed_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)


class UsageDay(Base):
    """What one site used on one UTC day; one row per (site, day), updated in place (idempotent upserts)."""

    __tablename__ = "billing_usage_days"

    site_id: Mapped[str] = mapped_column(ForeignKey("sites.id", ondelete="CASCADE"), primary_key=True)
    day: Mapped[date] = mapped_column(Date, primary_key=True)
    tenant_id: Mapped[str] = mapped_column(ForeignKey("tenants.id", ondelete="CASCADE"), index=True)
    cameras: Mapped[int] = mapped_column(Integer, default=0)
    doors: Mapped[int] = mapped_column(Integer, default=0)
    devices: Mapped[int] = mapped_column(Integer, default=0)
    events: Mapped[int] = mapped_column(BigInteger, default=0)
    snapshot_bytes: Mapped[int] = mapped_column(BigInteger, default=0)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)


class UsageBatch(Base):
    """The events one synced batch added to one site's day: the drill-down behind every usage line.

    `invoice_id` is the invoice that billed them (set at finalisation), so late rows are billed exactly once.
    """

    __tablename__ = "billing_usage_batches"
    __table_args__ = (
        Index("ix_billing_usage_batches_site_id_day", "site_id", "day"),
        Index("ix_billing_usage_batches_tenant_id_invoice_id", "tenant_id", "invoice_id"),
    )

    id: Mapped[int] = mapped_column(RecordId, primary_key=True, autoincrement=True)
    site_id: Mapped[str] = mapped_column(ForeignKey("sites.id", ondelete="CASCADE"))
    tenant_id: Mapped[str] = mapped_column(ForeignKey("tenants.id", ondelete="CASCADE"))
    day: Mapped[date] = mapped_column(Date)
    batch_nonce: Mapped[str] = mapped_column(String(64))
    first_seq: Mapped[int] = mapped_column(BigInteger)
    last_seq: Mapped[int] = mapped_column(BigInteger)
    events: Mapped[int] = mapped_column(BigInteger)
    received_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    invoice_id: Mapped[int | None] = mapped_column(
        ForeignKey("billing_invoices.id", ondelete="SET NULL"), nullable=True
    )


class Invoice(Base):
    """One invoice per subscription and period; a number only once finalised, gap-free per tenant."""

    __tablename__ = "billing_invoices"
    __table_args__ = (
        UniqueConstraint("subscription_id", "period_start", name="uq_billing_invoices_subscription_id"),
        UniqueConstraint("tenant_id", "number", name="uq_billing_invoices_tenant_id_number"),
        ForeignKeyConstraint(
            ["tenant_id", "previous_number"],
            ["billing_invoices.tenant_id", "billing_invoices.number"],
            name="fk_billing_invoices_previous_number",
        ),
        CheckConstraint("status IN ('draft', 'finalized', 'paid', 'void')", name="status"),
        CheckConstraint(
            "(number IS NULL AND previous_number IS NULL AND status = 'draft') OR "
            "(number = 1 AND previous_number IS NULL AND status <> 'draft') OR "
            "(number > 1 AND previous_number = number - 1 AND status <> 'draft')",
            name="gap_free",
        ),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    tenant_id: Mapped[str] = mapped_column(ForeignKey("tenants.id", ondelete="CASCADE"))
    subscription_id: Mapped[int] = mapped_column(ForeignKey("billing_subscriptions.id", ondelete="CASCADE"))
    plan_id: Mapped[int] = mapped_column(ForeignKey("billing_plans.id"))
    period_start: Mapped[date] = mapped_column(Date)
    period_end: Mapped[date] = mapped_column(Date)
    status: Mapped[str] = mapped_column(String(16))
    number: Mapped[int | None] = mapped_column(Integer, nullable=True)
    previous_number: Mapped[int | None] = mapped_column(Integer, nullable=True)
    currency: Mapped[str] = mapped_column(String(3))
    tax_rate_bp: Mapped[int] = mapped_column(Integer)
    subtotal: Mapped[int] = mapped_column(BigInteger, default=0)
    tax: Mapped[int] = mapped_column(BigInteger, default=0)
    total: Mapped[int] = mapped_column(BigInteger, default=0)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    finalized_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    paid_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    voided_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)


class InvoiceLine(Base):
    """One line of an invoice; `site_id` and the day range say which usage rows are behind it."""

    __tablename__ = "billing_invoice_lines"
    __table_args__ = (
        CheckConstraint("kind IN ('base', 'proration', 'overage', 'credit', 'adjustment')", name="kind"),
        Index("ix_billing_invoice_lines_invoice_id_position", "invoice_id", "position"),
    )

    id: Mapped[int] = mapped_column(RecordId, primary_key=True, autoincrement=True)
    invoice_id: Mapped[int] = mapped_column(ForeignKey("billing_invoices.id", ondelete="CASCADE"))
    position: Mapped[int] = mapped_column(Integer)
    kind: Mapped[str] = mapped_column(String(16))
    item: Mapped[str] = mapped_column(String(16))
    description: Mapped[str] = mapped_column(String(300))
    site_id: Mapped[str | None] = mapped_column(String(32), nullable=True)
    plan_id: Mapped[int | None] = mapped_column(ForeignKey("billing_plans.id"), nullable=True)
    first_day: Mapped[date | None] = mapped_column(Date, nullable=True)
    last_day: Mapped[date | None] = mapped_column(Date, nullable=True)
    quantity: Mapped[int] = mapped_column(BigInteger)
    unit_price: Mapped[int] = mapped_column(BigInteger)
    amount: Mapped[int] = mapped_column(BigInteger)
    batch_ids: Mapped[str] = mapped_column(String(2000), default="")


class CreditNote(Base):
    """A correction of a finalised invoice (never edited): numbered gap-free per tenant like invoices."""

    __tablename__ = "billing_credit_notes"
    __table_args__ = (
        UniqueConstraint("tenant_id", "number", name="uq_billing_credit_notes_tenant_id_number"),
        ForeignKeyConstraint(
            ["tenant_id", "previous_number"],
            ["billing_credit_notes.tenant_id", "billing_credit_notes.number"],
            name="fk_billing_credit_notes_previous_number",
        ),
        CheckConstraint(
            "(number = 1 AND previous_number IS NULL) OR (number > 1 AND previous_number = number - 1)",
            name="gap_free",
        ),
        CheckConstraint("amount > 0", name="positive"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    tenant_id: Mapped[str] = mapped_column(ForeignKey("tenants.id", ondelete="CASCADE"))
    invoice_id: Mapped[int] = mapped_column(ForeignKey("billing_invoices.id", ondelete="CASCADE"), index=True)
    number: Mapped[int] = mapped_column(Integer)
    previous_number: Mapped[int | None] = mapped_column(Integer, nullable=True)
    reason: Mapped[str] = mapped_column(String(500))
    amount: Mapped[int] = mapped_column(BigInteger)
    tax: Mapped[int] = mapped_column(BigInteger)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    created_by: Mapped[str] = mapped_column(String(320))
