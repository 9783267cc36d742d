"""ORM models of the cloud database.

Events are not a table of their own: they are `records` rows with ``kind == "event"`` (the API filters
with ``?kind=event``), so every record kind shares one ingest path and one idempotency key.
"""

from __future__ import annotations

import secrets
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    CheckConstraint,
    DateTime,
    Dialect,
    Float,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    UniqueConstraint,
)
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column
from sqlalchemy.types import TypeDecorator

from cloud.permissions import ROLES

ROLE_CHECK = "role IN (" + ", ".join(f"'{r}'" for r in ROLES) + ")"

NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


# Lower-case letters and digits without look-alikes (no i, l, o, 0, 1): safe to read aloud or retype.
SLUG_ALPHABET = "abcdefghjkmnpqrstuvwxyz23456789"


def new_slug() -> str:
    """Return a short random identifier: 12 characters, about 59 bits."""
    # No parameters on purpose: SQLAlchemy passes an execution context to column defaults that take one.
    return "".join(secrets.choice(SLUG_ALPHABET) for _ in range(12))


def utcnow() -> datetime:
    """Return the current time as an aware UTC datetime."""
    return datetime.now(UTC)


class UTCDateTime(TypeDecorator[datetime]):
    """An aware-UTC datetime on every backend (SQLite stores naive UTC text)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetimes are ambiguous; pass an aware datetime")
        value = value.astimezone(UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is UTC:  # asyncpg's timestamptz: already aware UTC (this runs once per row read)
            return value
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


# JSONB on PostgreSQL (indexable, compact); JSON text elsewhere.
PayloadJSON = JSON().with_variant(JSONB(), "postgresql")
# SQLite only auto-increments an INTEGER PRIMARY KEY (the rowid alias).
RecordId = BigInteger().with_variant(Integer(), "sqlite")


class Base(DeclarativeBase):
    """Declarative base with deterministic constraint names (Alembic needs them)."""

    metadata = MetaData(naming_convention=NAMING_CONVENTION)


class Tenant(Base):
    """A customer organisation; owns users, sites and enrollment codes."""

    __tablename__ = "tenants"

    id: Mapped[str] = mapped_column(String(32), primary_key=True, default=new_slug)
    name: Mapped[str] = mapped_column(String(200), unique=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)


class User(Base):
    """A portal user of one tenant; the password is an argon2 hash (empty until an invitation is accepted).

    `site_ids` limits the user to those of the tenant's sites (None: all of them); a disabled user cannot log in.
    """

    __tablename__ = "users"
    __table_args__ = (CheckConstraint(ROLE_CHECK, name="role"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    tenant_id: Mapped[str] = mapped_column(ForeignKey("tenants.id", ondelete="CASCADE"), index=True)
    email: Mapped[str] = mapped_column(String(320), unique=True)
    password_hash: Mapped[str] = mapped_column(String(255))
    role: Mapped[str] = mapped_column(String(16))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    site_ids: Mapped[list[str] | None] = mapped_column(JSON, nullable=True)
    disabled_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)


class UserSession(Base):
    """A server-side login session; only a keyed digest of the cookie token is stored (the CSRF token is derived
    from the cookie token, never stored)."""

    __tablename__ = "sessions"

    token_digest: Mapped[str] = mapped_column(String(64), primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime())


class Site(Base):
    """An enrolled edge appliance; `secret` keys the HMAC of its sync batches.

    A revoked site (`revoked_at` set) keeps its records but can no longer sync; revocation is final.
    """

    __tablename__ = "sites"

    id: Mapped[str] = mapped_column(String(32), primary_key=True, default=new_slug)
    tenant_id: Mapped[str] = mapped_column(ForeignKey("tenants.id", ondelete="CASCADE"), index=True)
    name: Mapped[str] = mapped_column(String(200))
    timezone: Mapped[str] = mapped_column(String(64), default="UTC")
    secret: Mapped[str] = mapped_column(String(64))
    enrolled_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    hostname: Mapped[str] = mapped_column(String(255), default="")
    last_sync_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    last_seq: Mapped[int] = mapped_column(BigInteger, default=0)
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    # Who revoked it: the admin's e-mail, or "cli:<name>" for the command line (kept if the user goes).
    revoked_by: Mapped[str | None] = mapped_column(String(320), nullable=True)
    # Secret rotation (cloud/secret_rotation.py): the replaced secret still verifies until previous_secret_until.
    previous_secret: Mapped[str | None] = mapped_column(String(64), nullable=True)
    previous_secret_until: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    secret_rotated_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)


class EnrollmentCode(Base):
    """A one-time code that lets a box claim a new site; only its sha256 is stored."""

    __tablename__ = "enrollment_codes"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    code_hash: Mapped[str] = mapped_column(String(64), unique=True)
    tenant_id: Mapped[str] = mapped_column(ForeignKey("tenants.id", ondelete="CASCADE"), index=True)
    site_name: Mapped[str] = mapped_column(String(200))
    timezone: Mapped[str] = mapped_column(String(64), default="UTC")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime())
    used_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    site_id: Mapped[str | None] = mapped_column(ForeignKey("sites.id", ondelete="SET NULL"), nullable=True)


class OfflineEnrollment(Base):
    """An enrollment file issued for a site without internet (`sync.enrollment_file`).

    The site row exists from issue on, with a secret nobody knows; the box's first sync batch carries its claim,
    and the site's secret becomes the one derived from `enrollment_secret` and that claim (`used_at` set).
    """

    __tablename__ = "offline_enrollments"

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    tenant_id: Mapped[str] = mapped_column(ForeignKey("tenants.id", ondelete="CASCADE"), index=True)
    site_id: Mapped[str] = mapped_column(ForeignKey("sites.id", ondelete="CASCADE"), unique=True)
    enrollment_secret: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    created_by: Mapped[str] = mapped_column(String(320))
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime())
    used_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)


class Record(Base):
    """One synced outbox record, keyed by (tenant_id, site_id, seq, occurred_at): the idempotency key of ingest.

    A record never changes at the edge, so a replay carries the same occurred_at; the key holds it because
    PostgreSQL range-partitions the table by it (migration 0021, `cloud.analytics.partitions`).
    """

    __tablename__ = "records"
    __table_args__ = (Index("ix_records_site_id_kind_occurred_at", "site_id", "kind", "occurred_at"),)

    tenant_id: Mapped[str] = mapped_column(ForeignKey("tenants.id", ondelete="CASCADE"), primary_key=True)
    site_id: Mapped[str] = mapped_column(ForeignKey("sites.id", ondelete="CASCADE"), primary_key=True)
    seq: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    occurred_at: Mapped[datetime] = mapped_column(UTCDateTime(), primary_key=True)
    kind: Mapped[str] = mapped_column(String(32))
    payload: Mapped[dict[str, Any]] = mapped_column(PayloadJSON)
    received_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)


# --- Configuration managed by HQ (issue 10: cloud -> edge documents) ---------------------------------------
#
# People and badges belong to the tenant (one record across all its sites) and apply to the sites listed in
# `person_sites`; access levels, schedules, holiday calendars and door policies are defined per site
# (`site_policies`, one row per object, its body validated with the sync.policy models). Every row carries
# tenant_id, and every query of them starts from `cloud.tenancy` (the one tenant filter).

POLICY_KINDS = ("access_level", "schedule", "holiday", "door")


class Person(Base):
    """A person HQ manages; `id` is the id the sites know (ConfigPerson.id), unique within the tenant.

    A removed person is kept (`removed_at`) so that a later edit from a box cannot bring them back: a revoke
    always wins (docs/SYNC.md, "Downlink").
    """

    __tablename__ = "people"
    __table_args__ = (UniqueConstraint("tenant_id", "id", name="uq_people_tenant_id_id"),)

    pk: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    tenant_id: Mapped[str] = mapped_column(ForeignKey("tenants.id", ondelete="CASCADE"))
    id: Mapped[str] = mapped_column(String(64), default=new_slug)
    name: Mapped[str] = mapped_column(String(120))
    active: Mapped[bool] = mapped_column(default=True)
    # Who suspended the person: "hq" or the id of the site whose box did (None while active). A box may lift
    # only its own suspension (cloud/reconcile.py).
    suspended_by: Mapped[str | None] = mapped_column(String(32), nullable=True)
    role: Mapped[str | None] = mapped_column(String(64), nullable=True)
    valid_from: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    valid_until: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    levels: Mapped[list[str]] = mapped_column(JSON, default=list)
    removed_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)


class Badge(Base):
    """A credential of a person; revoking sets `active` false (the number stays known, never honoured)."""

    __tablename__ = "badges"
    __table_args__ = (UniqueConstraint("person_pk", "number", name="uq_badges_person_pk_number"),)

    pk: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    tenant_id: Mapped[str] = mapped_column(ForeignKey("tenants.id", ondelete="CASCADE"), index=True)
    person_pk: Mapped[int] = mapped_column(ForeignKey("people.pk", ondelete="CASCADE"))
    number: Mapped[str] = mapped_column(String(128))
    active: Mapped[bool] = mapped_column(default=True)
    valid_from: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    valid_until: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)


class PersonSite(Base):
    """A site a person applies to; `hq_version` is the site's document version of HQ's last edit of them.

    Reconciliation compares it with a box edit's base_version: HQ edited the person after the document the
    box had, and the box edited them too -> a conflict listed for HQ.
    """

    __tablename__ = "person_sites"

    person_pk: Mapped[int] = mapped_column(ForeignKey("people.pk", ondelete="CASCADE"), primary_key=True)
    site_id: Mapped[str] = mapped_column(ForeignKey("sites.id", ondelete="CASCADE"), primary_key=True, index=True)
    tenant_id: Mapped[str] = mapped_column(ForeignKey("tenants.id", ondelete="CASCADE"), index=True)
    hq_version: Mapped[int] = mapped_column(BigInteger, default=0)


class SitePolicy(Base):
    """One access level, schedule, holiday calendar or door policy of a site (body: its sync.policy model)."""

    __tablename__ = "site_policies"
    __table_args__ = (CheckConstraint("kind IN ('access_level', 'schedule', 'holiday', 'door')", name="kind"),)

    site_id: Mapped[str] = mapped_column(ForeignKey("sites.id", ondelete="CASCADE"), primary_key=True)
    kind: Mapped[str] = mapped_column(String(16), primary_key=True)
    key: Mapped[str] = mapped_column(String(64), primary_key=True)
    tenant_id: Mapped[str] = mapped_column(ForeignKey("tenants.id", ondelete="CASCADE"), index=True)
    body: Mapped[dict[str, Any]] = mapped_column(JSON)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)


class SiteConfig(Base):
    """A site's configuration document state: its stored version (bumped by every edit affecting the site)
    and the last report of the box about a document (applied, or refused with the reason)."""

    __tablename__ = "site_configs"

    site_id: Mapped[str] = mapped_column(ForeignKey("sites.id", ondelete="CASCADE"), primary_key=True)
    tenant_id: Mapped[str] = mapped_column(ForeignKey("tenants.id", ondelete="CASCADE"), index=True)
    version: Mapped[int] = mapped_column(BigInteger, default=1)
    changed_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    report_version: Mapped[int | None] = mapped_column(BigInteger, nullable=True)
    report_status: Mapped[str | None] = mapped_column(String(16), nullable=True)
    report_reason: Mapped[str | None] = mapped_column(String(2000), nullable=True)
    report_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)


class ConfigConflict(Base):
    """A person edited both at HQ and on a box since the document the box had: resolved by the rule, listed."""

    __tablename__ = "config_conflicts"
    __table_args__ = (Index("ix_config_conflicts_tenant_id_detected_at", "tenant_id", "detected_at"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    tenant_id: Mapped[str] = mapped_column(ForeignKey("tenants.id", ondelete="CASCADE"))
    site_id: Mapped[str] = mapped_column(ForeignKey("sites.id", ondelete="CASCADE"))
    person_id: Mapped[str] = mapped_column(String(64))
    record_seq: Mapped[int] = mapped_column(BigInteger)
    winner: Mapped[str] = mapped_column(String(16))
    reason: Mapped[str] = mapped_column(String(200))
    cloud_state: Mapped[dict[str, Any]] = mapped_column(JSON)
    box_state: Mapped[dict[str, Any]] = mapped_column(JSON)
    detected_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)


class SyncNonce(Base):
    """A batch nonce seen from a site, kept for the signature's time window (replay protection).

    In the database, not in memory, so several cloud workers refuse the same replay; pruned by ingest.
    """

    __tablename__ = "sync_nonces"
    __table_args__ = (Index("ix_sync_nonces_site_id_seen_at", "site_id", "seen_at"),)

    site_id: Mapped[str] = mapped_column(ForeignKey("sites.id", ondelete="CASCADE"), primary_key=True)
    nonce: Mapped[str] = mapped_column(String(64), primary_key=True)
    seen_at: Mapped[datetime] = mapped_column(UTCDateTime())


class SiteSyncState(Base):
    """The uplink as HQ sees it, per site: clock skew, the edge's reported backlog, last success and errors."""

    __tablename__ = "site_sync_state"

    site_id: Mapped[str] = mapped_column(ForeignKey("sites.id", ondelete="CASCADE"), primary_key=True)
    # The site's signed timestamp minus the cloud's clock (seconds, + = the site is ahead).
    clock_skew_s: Mapped[float | None] = mapped_column(Float, nullable=True)
    clock_checked_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    last_batch_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    backlog: Mapped[int | None] = mapped_column(BigInteger, nullable=True)
    oldest_pending_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    quarantined: Mapped[int | None] = mapped_column(BigInteger, nullable=True)
    edge_error: Mapped[str | None] = mapped_column(String(500), nullable=True)
    edge_error_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    # The cloud's last refusal of a batch that was signed by the site (replayed, expired, bad records...).
    refusal: Mapped[str | None] = mapped_column(String(500), nullable=True)
    refusal_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    # The software version the site's last accepted batch carried (upgrades: which box runs what).
    software_version: Mapped[str | None] = mapped_column(String(64), nullable=True)


# --- Tenant administration (issue 11: users, invitations, API keys, audit log) --------------------------------


class UserToken(Base):
    """A one-time link for a user: an invitation (sets the first password) or a password reset.

    Only the sha256 of the token is stored; it works once (`used_at`) and until `expires_at`.
    """

    __tablename__ = "user_tokens"
    __table_args__ = (CheckConstraint("purpose IN ('invite', 'reset')", name="purpose"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    tenant_id: Mapped[str] = mapped_column(ForeignKey("tenants.id", ondelete="CASCADE"), index=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    purpose: Mapped[str] = mapped_column(String(8))
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    created_by: Mapped[str] = mapped_column(String(320))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime())
    used_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)


class ApiKey(Base):
    """An integration's key for the JSON API (`Authorization: Bearer`); only the sha256 of its secret is stored.

    Scoped to `permissions` (a subset of its creator's) and to `site_ids` (None: all the tenant's sites).
    """

    __tablename__ = "api_keys"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    tenant_id: Mapped[str] = mapped_column(ForeignKey("tenants.id", ondelete="CASCADE"), index=True)
    key_id: Mapped[str] = mapped_column(String(32), unique=True, default=new_slug)
    secret_hash: Mapped[str] = mapped_column(String(64))
    name: Mapped[str] = mapped_column(String(120))
    permissions: Mapped[list[str]] = mapped_column(JSON)
    site_ids: Mapped[list[str] | None] = mapped_column(JSON, nullable=True)
    created_by: Mapped[str] = mapped_column(String(320))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    last_used_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)


class AuditEntry(Base):
    """One admin action: who (user e-mail or API key), what, on what, when, and from where (IP, user agent)."""

    __tablename__ = "audit_log"
    __table_args__ = (Index("ix_audit_log_tenant_id_at", "tenant_id", "at"),)

    id: Mapped[int] = mapped_column(RecordId, primary_key=True, autoincrement=True)
    tenant_id: Mapped[str] = mapped_column(ForeignKey("tenants.id", ondelete="CASCADE"))
    at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    actor: Mapped[str] = mapped_column(String(320))
    action: Mapped[str] = mapped_column(String(64))
    target: Mapped[str] = mapped_column(String(500), default="")
    detail: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    ip: Mapped[str] = mapped_column(String(64), default="")
    user_agent: Mapped[str] = mapped_column(String(300), default="")


# Billing's tables live with their package (cloud/billing/models.py) and register on this metadata when imported;
# imported here so that everything that sees the schema (Alembic, the migration tests) sees them too.
from cloud.billing import models as _billing_models  # noqa: E402,F401

# The analytics tables share this metadata (Alembic compares it with the database): registered on import.
from cloud.db import analytics_models as analytics_models  # noqa: E402

# Fleet's tables (cloud/fleet/models.py) register on this metadata too.
from cloud.fleet import models as _fleet_models  # noqa: E402,F401

# HR's tables (cloud/hr/models.py) register on this metadata too.
from cloud.hr import models as _hr_models  # noqa: E402,F401
