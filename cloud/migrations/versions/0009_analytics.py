"""Analytics derived on ingest: typed facts, hourly/daily rollups, alarm/device/occupancy state, watermarks.

Every table carries tenant_id first in its primary key (row-level security and distribution by tenant).

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-06
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0009"
down_revision: str | None = "0008"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

TS = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "alarm_state",
        sa.Column("tenant_id", sa.String(length=32), nullable=False),
        sa.Column("site_id", sa.String(length=32), nullable=False),
        sa.Column("alarm_id", sa.BigInteger(), nullable=False),
        sa.Column("door_id", sa.String(length=64), nullable=False),
        sa.Column("alarm", sa.String(length=64), nullable=False),
        sa.Column("raised_at", TS, nullable=True),
        sa.Column("last_raised_at", TS, nullable=True),
        sa.Column("acknowledged_at", TS, nullable=True),
        sa.Column("acknowledged_by", sa.String(length=120), nullable=True),
        sa.Column("cleared_at", TS, nullable=True),
        sa.Column("hq_acknowledged_at", TS, nullable=True),
        sa.Column("hq_acknowledged_by", sa.String(length=320), nullable=True),
        sa.PrimaryKeyConstraint("tenant_id", "site_id", "alarm_id", name=op.f("pk_alarm_state")),
    )
    with op.batch_alter_table("alarm_state", schema=None) as batch_op:
        batch_op.create_index(
            "ix_alarm_state_tenant_id_acknowledged_at", ["tenant_id", "acknowledged_at"], unique=False
        )

    op.create_table(
        "device_state",
        sa.Column("tenant_id", sa.String(length=32), nullable=False),
        sa.Column("site_id", sa.String(length=32), nullable=False),
        sa.Column("device_id", sa.String(length=64), nullable=False),
        sa.Column("device_kind", sa.String(length=32), nullable=True),
        sa.Column("online", sa.Boolean(), nullable=True),
        sa.Column("firmware", sa.String(length=64), nullable=True),
        sa.Column("status_at", TS, nullable=True),
        sa.Column("last_seen_at", TS, nullable=False),
        sa.Column("battery", sa.Float(), nullable=True),
        sa.Column("battery_at", TS, nullable=True),
        sa.PrimaryKeyConstraint("tenant_id", "site_id", "device_id", name=op.f("pk_device_state")),
    )
    op.create_table(
        "fact_access",
        sa.Column("tenant_id", sa.String(length=32), nullable=False),
        sa.Column("site_id", sa.String(length=32), nullable=False),
        sa.Column("seq", sa.BigInteger(), nullable=False),
        sa.Column("occurred_at", TS, nullable=False),
        sa.Column("door_id", sa.String(length=64), nullable=True),
        sa.Column("person_id", sa.String(length=64), nullable=True),
        sa.Column("credential", sa.String(length=128), nullable=True),
        sa.Column("granted", sa.Boolean(), nullable=False),
        sa.Column("reason", sa.String(length=64), nullable=False),
        sa.PrimaryKeyConstraint("tenant_id", "site_id", "seq", name=op.f("pk_fact_access")),
    )
    with op.batch_alter_table("fact_access", schema=None) as batch_op:
        batch_op.create_index(
            "ix_fact_access_tenant_id_site_id_occurred_at", ["tenant_id", "site_id", "occurred_at"], unique=False
        )

    op.create_table(
        "fact_alarm",
        sa.Column("tenant_id", sa.String(length=32), nullable=False),
        sa.Column("site_id", sa.String(length=32), nullable=False),
        sa.Column("seq", sa.BigInteger(), nullable=False),
        sa.Column("occurred_at", TS, nullable=False),
        sa.Column("alarm_id", sa.BigInteger(), nullable=False),
        sa.Column("door_id", sa.String(length=64), nullable=False),
        sa.Column("alarm", sa.String(length=64), nullable=False),
        sa.Column("state", sa.String(length=16), nullable=False),
        sa.Column("by", sa.String(length=120), nullable=True),
        sa.PrimaryKeyConstraint("tenant_id", "site_id", "seq", name=op.f("pk_fact_alarm")),
    )
    op.create_table(
        "fact_detection",
        sa.Column("tenant_id", sa.String(length=32), nullable=False),
        sa.Column("site_id", sa.String(length=32), nullable=False),
        sa.Column("seq", sa.BigInteger(), nullable=False),
        sa.Column("occurred_at", TS, nullable=False),
        sa.Column("event", sa.String(length=16), nullable=False),
        sa.Column("camera_id", sa.String(length=64), nullable=False),
        sa.Column("zone", sa.String(length=64), nullable=True),
        sa.Column("category", sa.String(length=32), nullable=False),
        sa.Column("region", sa.String(length=64), nullable=True),
        sa.Column("direction", sa.String(length=8), nullable=True),
        sa.Column("count", sa.Integer(), nullable=True),
        sa.Column("started_at", TS, nullable=True),
        sa.Column("dwell_s", sa.Float(), nullable=True),
        sa.PrimaryKeyConstraint("tenant_id", "site_id", "seq", name=op.f("pk_fact_detection")),
    )
    with op.batch_alter_table("fact_detection", schema=None) as batch_op:
        batch_op.create_index(
            "ix_fact_detection_tenant_id_site_id_occurred_at", ["tenant_id", "site_id", "occurred_at"], unique=False
        )

    op.create_table(
        "fact_device_status",
        sa.Column("tenant_id", sa.String(length=32), nullable=False),
        sa.Column("site_id", sa.String(length=32), nullable=False),
        sa.Column("seq", sa.BigInteger(), nullable=False),
        sa.Column("occurred_at", TS, nullable=False),
        sa.Column("device_id", sa.String(length=64), nullable=False),
        sa.Column("device_kind", sa.String(length=32), nullable=True),
        sa.Column("online", sa.Boolean(), nullable=False),
        sa.Column("firmware", sa.String(length=64), nullable=True),
        sa.PrimaryKeyConstraint("tenant_id", "site_id", "seq", name=op.f("pk_fact_device_status")),
    )
    op.create_table(
        "fact_sensor",
        sa.Column("tenant_id", sa.String(length=32), nullable=False),
        sa.Column("site_id", sa.String(length=32), nullable=False),
        sa.Column("seq", sa.BigInteger(), nullable=False),
        sa.Column("metric", sa.String(length=64), nullable=False),
        sa.Column("occurred_at", TS, nullable=False),
        sa.Column("device_id", sa.String(length=64), nullable=False),
        sa.Column("value", sa.Float(), nullable=False),
        sa.PrimaryKeyConstraint("tenant_id", "site_id", "seq", "metric", name=op.f("pk_fact_sensor")),
    )
    op.create_table(
        "occupancy_now",
        sa.Column("tenant_id", sa.String(length=32), nullable=False),
        sa.Column("site_id", sa.String(length=32), nullable=False),
        sa.Column("camera_id", sa.String(length=64), nullable=False),
        sa.Column("category", sa.String(length=32), nullable=False),
        sa.Column("zone", sa.String(length=64), nullable=True),
        sa.Column("count", sa.Integer(), nullable=False),
        sa.Column("as_of", TS, nullable=False),
        sa.PrimaryKeyConstraint("tenant_id", "site_id", "camera_id", "category", name=op.f("pk_occupancy_now")),
    )
    op.create_table(
        "rollup_daily",
        sa.Column("tenant_id", sa.String(length=32), nullable=False),
        sa.Column("site_id", sa.String(length=32), nullable=False),
        sa.Column("scope", sa.String(length=16), nullable=False),
        sa.Column("metric", sa.String(length=64), nullable=False),
        sa.Column("day", sa.Date(), nullable=False),
        sa.Column("scope_id", sa.String(length=140), nullable=False),
        sa.Column("n", sa.BigInteger(), nullable=False),
        sa.Column("total_milli", sa.BigInteger(), nullable=False),
        sa.Column("peak", sa.Float(), nullable=True),
        sa.Column("low", sa.Float(), nullable=True),
        sa.PrimaryKeyConstraint(
            "tenant_id", "site_id", "scope", "metric", "day", "scope_id", name=op.f("pk_rollup_daily")
        ),
    )
    with op.batch_alter_table("rollup_daily", schema=None) as batch_op:
        batch_op.create_index("ix_rollup_daily_tenant_id_metric_day", ["tenant_id", "metric", "day"], unique=False)

    op.create_table(
        "rollup_hourly",
        sa.Column("tenant_id", sa.String(length=32), nullable=False),
        sa.Column("site_id", sa.String(length=32), nullable=False),
        sa.Column("scope", sa.String(length=16), nullable=False),
        sa.Column("metric", sa.String(length=64), nullable=False),
        sa.Column("bucket", TS, nullable=False),
        sa.Column("scope_id", sa.String(length=140), nullable=False),
        sa.Column("n", sa.BigInteger(), nullable=False),
        sa.Column("total_milli", sa.BigInteger(), nullable=False),
        sa.Column("peak", sa.Float(), nullable=True),
        sa.Column("low", sa.Float(), nullable=True),
        sa.PrimaryKeyConstraint(
            "tenant_id", "site_id", "scope", "metric", "bucket", "scope_id", name=op.f("pk_rollup_hourly")
        ),
    )
    with op.batch_alter_table("rollup_hourly", schema=None) as batch_op:
        batch_op.create_index(
            "ix_rollup_hourly_tenant_id_metric_bucket", ["tenant_id", "metric", "bucket"], unique=False
        )

    op.create_table(
        "site_ingest_daily",
        sa.Column("tenant_id", sa.String(length=32), nullable=False),
        sa.Column("site_id", sa.String(length=32), nullable=False),
        sa.Column("day", sa.Date(), nullable=False),
        sa.Column("records", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("tenant_id", "site_id", "day", name=op.f("pk_site_ingest_daily")),
    )
    op.create_table(
        "site_watermark",
        sa.Column("tenant_id", sa.String(length=32), nullable=False),
        sa.Column("site_id", sa.String(length=32), nullable=False),
        sa.Column("complete_up_to", TS, nullable=False),
        sa.Column("reported_at", TS, nullable=False),
        sa.PrimaryKeyConstraint("tenant_id", "site_id", name=op.f("pk_site_watermark")),
    )


def downgrade() -> None:
    op.drop_table("site_watermark")
    op.drop_table("site_ingest_daily")
    with op.batch_alter_table("rollup_hourly", schema=None) as batch_op:
        batch_op.drop_index("ix_rollup_hourly_tenant_id_metric_bucket")

    op.drop_table("rollup_hourly")
    with op.batch_alter_table("rollup_daily", schema=None) as batch_op:
        batch_op.drop_index("ix_rollup_daily_tenant_id_metric_day")

    op.drop_table("rollup_daily")
    op.drop_table("occupancy_now")
    op.drop_table("fact_sensor")
    op.drop_table("fact_device_status")
    with op.batch_alter_table("fact_detection", schema=None) as batch_op:
        batch_op.drop_index("ix_fact_detection_tenant_id_site_id_occurred_at")

    op.drop_table("fact_detection")
    op.drop_table("fact_alarm")
    with op.batch_alter_table("fact_access", schema=None) as batch_op:
        batch_op.drop_index("ix_fact_access_tenant_id_site_id_occurred_at")

    op.drop_table("fact_access")
    op.drop_table("device_state")
    with op.batch_alter_table("alarm_state", schema=None) as batch_op:
        batch_op.drop_index("ix_alarm_state_tenant_id_acknowledged_at")

    op.drop_table("alarm_state")
