"""Row-level security on PostgreSQL: every tenant-owned table shows a transaction only its tenant's rows.

The tenant comes from the transaction's `app.tenant_id` setting (cloud.db.tenant_context); see cloud/db/rls.py.
SQLite has no row-level security: this revision does nothing there.

Revision ID: 0012
Revises: 0011
Create Date: 2026-12-06
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from cloud.db.rls import disable_statements, enable_statements, parent_condition, tenant_condition

revision: str = "0012"
down_revision: str | None = "0011"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

TENANT_TABLES = (
    "users",
    "sites",
    "enrollment_codes",
    "people",
    "badges",
    "person_sites",
    "site_policies",
    "site_configs",
    "config_conflicts",
    "user_tokens",
    "api_keys",
    "audit_log",
    # Billing (cloud/billing, Alembic 0008).
    "billing_accounts",
    "billing_subscriptions",
    "billing_usage_days",
    "billing_usage_batches",
    "billing_invoices",
    "billing_credit_notes",
    # Offline enrollment (Alembic 0010).
    "offline_enrollments",
    # Analytics (cloud/analytics, Alembic 0009).
    "fact_access",
    "fact_detection",
    "fact_alarm",
    "fact_device_status",
    "fact_sensor",
    "rollup_hourly",
    "rollup_daily",
    "alarm_state",
    "device_state",
    "occupancy_now",
    "site_ingest_daily",
    "site_watermark",
)
# Tables tied to a tenant through a parent: (table, column, parent).
CHILD_TABLES = (
    ("records", "site_id", "sites"),
    ("site_sync_state", "site_id", "sites"),
    ("sync_nonces", "site_id", "sites"),
    ("sessions", "user_id", "users"),
    ("billing_subscription_plans", "subscription_id", "billing_subscriptions"),
    ("billing_invoice_lines", "invoice_id", "billing_invoices"),
)


def _policies() -> list[tuple[str, str]]:
    return (
        [("tenants", tenant_condition("id"))]
        + [(t, tenant_condition()) for t in TENANT_TABLES]
        + [(t, parent_condition(t, column, parent)) for t, column, parent in CHILD_TABLES]
    )


def upgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    for table, condition in _policies():
        for statement in enable_statements(table, condition):
            op.execute(sa.text(statement))


def downgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    for table, _ in reversed(_policies()):
        for statement in disable_statements(table):
            op.execute(sa.text(statement))
